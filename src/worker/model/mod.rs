//! Answering from a model with no code of the user's: the glue every team publishing a model would
//! otherwise write. It turns the request document into the model's messages (a system prompt, the
//! conversation's earlier turns in order, alternating and starting with the user, trimmed oldest first to
//! a token budget), passes the client's `temperature` and `max_tokens` on (capped by the worker), and
//! turns the model's answer into seed 000's result fields: `response`, `usage: {input_tokens,
//! output_tokens}`, `model`, `stop_reason`. Each backend ([`bedrock`], [`agentcore`], [`openai`]) speaks
//! one wire protocol and says whether a failure is worth another attempt (throttling, 5xx, time-outs) or
//! final (a request the model refuses, access denied, an unknown model).

pub mod agentcore;
pub mod bedrock;
pub mod openai;

use serde_json::{Map, Value, json};

use super::partial::Partial;
use super::reply::Failure;

/// A model and how the worker asks it.
#[derive(Debug, Clone)]
pub struct Model {
    pub backend: Backend,
    /// The system prompt, if any.
    pub system: Option<String>,
    /// The most output tokens a client may ask for (and what is asked when the client says nothing).
    pub max_tokens: Option<u32>,
    /// The most tokens (estimated) of system prompt, history and question sent to the model.
    pub max_history_tokens: u32,
}

/// Where the model is.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Amazon Bedrock's Converse API, for a model id, inference profile id or ARN.
    Bedrock {
        client: aws_sdk_bedrockruntime::Client,
        model_id: String,
    },
    /// An agent on Amazon Bedrock AgentCore Runtime.
    AgentCore {
        client: aws_sdk_bedrockagentcore::Client,
        runtime_arn: String,
        qualifier: Option<String>,
    },
    /// An OpenAI-compatible `POST {base_url}/chat/completions`.
    OpenAi {
        base_url: String,
        model: String,
        api_key: Option<String>,
    },
}

/// Whose turn a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of the conversation as a model takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

/// What the worker asks the model: the messages and the client's options, already capped.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub system: Option<String>,
    /// Oldest first, alternating, starting and ending with the user.
    pub turns: Vec<Turn>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
}

/// The model's answer, before it becomes result fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub model: String,
    pub stop_reason: Option<String>,
}

impl Reply {
    /// A streamed answer before its first chunk.
    pub fn nothing_yet(model: &str) -> Reply {
        Reply {
            text: String::new(),
            input_tokens: None,
            output_tokens: None,
            model: model.to_string(),
            stop_reason: None,
        }
    }
}

/// How many history tokens a worker sends by default: room for a long conversation with any current
/// model, at a bounded cost per request.
pub const DEFAULT_MAX_HISTORY_TOKENS: u32 = 8_000;

impl Model {
    /// Asks the model one request document; the result fields, or why the attempt failed.
    pub async fn call(
        &self,
        document: &Value,
        timeout: std::time::Duration,
        partial: &Partial,
    ) -> Result<Map<String, Value>, Failure> {
        let prompt = self.prompt(document);
        let call = async {
            match &self.backend {
                Backend::Bedrock { client, model_id } => {
                    bedrock::converse(client, model_id, &prompt, partial)
                        .await
                        .map(fields)
                }
                Backend::AgentCore {
                    client,
                    runtime_arn,
                    qualifier,
                } => {
                    agentcore::invoke(
                        client,
                        runtime_arn,
                        qualifier.as_deref(),
                        document,
                        &prompt,
                        partial,
                    )
                    .await
                }
                Backend::OpenAi {
                    base_url,
                    model,
                    api_key,
                } => {
                    let (base_url, model) = (base_url.clone(), model.clone());
                    let (api_key, prompt) = (api_key.clone(), prompt.clone());
                    let partial = partial.clone();
                    // ureq blocks; its own timeout ends the call, so the thread never outlives it.
                    tokio::task::spawn_blocking(move || {
                        openai::complete(
                            &base_url,
                            &model,
                            api_key.as_deref(),
                            &prompt,
                            timeout,
                            &partial,
                        )
                    })
                    .await
                    .map_err(|e| Failure::retry(format!("the model call stopped: {e}")))?
                    .map(fields)
                }
            }
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(answered) => answered,
            Err(_) => Err(Failure::retry(format!(
                "the model did not answer within {}",
                humantime::format_duration(timeout)
            ))),
        }
    }

    /// The messages and options for one request document.
    pub fn prompt(&self, document: &Value) -> Prompt {
        let request = &document["request"];
        let mut turns: Vec<Turn> = document["history"]
            .as_array()
            .map(|history| history.iter().filter_map(turn).collect())
            .unwrap_or_default();
        let question = match &request["message"] {
            Value::String(text) => text.clone(),
            message => text_of(&message["content"]),
        };
        turns.push(Turn {
            role: Role::User,
            text: question,
        });
        let turns = trim(
            alternate(turns),
            self.max_history_tokens
                .saturating_sub(self.system.as_deref().map_or(0, estimate)),
        );
        let asked = request["max_tokens"]
            .as_u64()
            .map(|n| n.min(u64::from(u32::MAX)) as u32);
        Prompt {
            system: self.system.clone(),
            turns,
            temperature: request["temperature"].as_f64(),
            max_tokens: match (asked, self.max_tokens) {
                (Some(asked), Some(cap)) => Some(asked.min(cap)),
                (asked, cap) => asked.or(cap),
            },
        }
    }
}

/// A history entry as a turn: its role and its text items joined.
fn turn(message: &Value) -> Option<Turn> {
    let role = match message["role"].as_str()? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        _ => return None,
    };
    Some(Turn {
        role,
        text: text_of(&message["content"]),
    })
}

/// The text of seed 003's content items (`[{"content_type": "text", "body": ...}]`), or of plain text.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .filter(|item| item["content_type"].as_str().is_none_or(|t| t == "text"))
            .filter_map(|item| item["body"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Turns as models take them: consecutive turns of one role merged, and the first one the user's.
fn alternate(turns: Vec<Turn>) -> Vec<Turn> {
    let mut merged: Vec<Turn> = Vec::with_capacity(turns.len());
    for turn in turns {
        match merged.last_mut() {
            Some(last) if last.role == turn.role => {
                last.text.push_str("\n\n");
                last.text.push_str(&turn.text);
            }
            None if turn.role == Role::Assistant => {}
            _ => merged.push(turn),
        }
    }
    merged
}

/// The turns that fit `budget` tokens: the oldest exchanges go first, a user turn and the assistant's
/// answer together, so the rest still alternates; the question itself always stays (a model that finds
/// it too long says so, and the request fails for good).
fn trim(mut turns: Vec<Turn>, budget: u32) -> Vec<Turn> {
    let mut total: u32 = turns.iter().map(|t| estimate(&t.text)).sum();
    while total > budget && turns.len() > 1 {
        let dropped = if turns.len() >= 3 { 2 } else { 1 };
        total -= turns
            .drain(..dropped)
            .map(|t| estimate(&t.text))
            .sum::<u32>();
    }
    turns
}

/// Tokens a text takes, estimated the way model providers advise (about four characters a token, plus
/// the message's own framing), without a tokenizer per model.
fn estimate(text: &str) -> u32 {
    (text.chars().count() as u32).div_ceil(4) + 4
}

/// The result fields of a reply, in seed 000's shape.
fn fields(reply: Reply) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("response".into(), json!(reply.text));
    fields.insert(
        "usage".into(),
        json!({"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens}),
    );
    fields.insert("model".into(), json!(reply.model));
    fields.insert("stop_reason".into(), json!(reply.stop_reason));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(budget: u32) -> Model {
        Model {
            backend: Backend::OpenAi {
                base_url: "http://127.0.0.1:1".into(),
                model: "m".into(),
                api_key: None,
            },
            system: Some("Be brief.".into()),
            max_tokens: Some(100),
            max_history_tokens: budget,
        }
    }

    fn exchange(i: usize) -> Vec<Value> {
        vec![
            json!({"role": "user", "content": [{"content_type": "text", "body": format!("question {i}")}]}),
            json!({"role": "assistant", "content": [{"content_type": "text", "body": format!("answer {i}")}]}),
        ]
    }

    #[test]
    fn a_conversation_becomes_alternating_turns_ending_with_the_question() {
        let history: Vec<Value> = (0..2).flat_map(exchange).collect();
        let document = json!({"history": history, "request": {"message": {"content": [{"content_type": "text", "body": "and now?"}]}, "temperature": 0.3, "max_tokens": 500}});
        let prompt = model(8000).prompt(&document);
        let texts: Vec<(&str, &str)> = prompt
            .turns
            .iter()
            .map(|t| (t.role.name(), t.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("user", "question 0"),
                ("assistant", "answer 0"),
                ("user", "question 1"),
                ("assistant", "answer 1"),
                ("user", "and now?")
            ]
        );
        assert_eq!(prompt.system.as_deref(), Some("Be brief."));
        assert_eq!(prompt.temperature, Some(0.3));
        assert_eq!(prompt.max_tokens, Some(100), "capped by the worker");
    }

    #[test]
    fn a_long_history_is_trimmed_oldest_first_and_still_alternates() {
        let history: Vec<Value> = (0..300).flat_map(exchange).collect();
        let document = json!({"history": history, "request": {"message": {"content": [{"content_type": "text", "body": "still there?"}]}}});
        let prompt = model(200).prompt(&document);
        let total: u32 =
            prompt.turns.iter().map(|t| estimate(&t.text)).sum::<u32>() + estimate("Be brief.");
        assert!(total <= 200, "{total}");
        assert!(prompt.turns.len() > 3);
        assert_eq!(prompt.turns[0].role, Role::User);
        assert!(prompt.turns.windows(2).all(|w| w[0].role != w[1].role));
        assert_eq!(prompt.turns[prompt.turns.len() - 2].text, "answer 299");
        assert_eq!(prompt.turns.last().unwrap().text, "still there?");
        assert_eq!(
            prompt.max_tokens,
            Some(100),
            "the worker's cap when the client says nothing"
        );
    }

    #[test]
    fn predict_requests_and_odd_histories_still_make_a_valid_prompt() {
        let prompt = model(8000).prompt(&json!({"request": {"message": "hi"}}));
        assert_eq!(
            prompt.turns,
            [Turn {
                role: Role::User,
                text: "hi".into()
            }]
        );
        let odd = json!({"history": [
            {"role": "assistant", "content": "hello first"},
            {"role": "user", "content": [{"content_type": "text", "body": "a"}]},
            {"role": "user", "content": [{"content_type": "text", "body": "b"}]},
        ], "request": {"message": {"content": [{"content_type": "text", "body": "c"}]}}});
        let prompt = model(8000).prompt(&odd);
        assert_eq!(prompt.turns.len(), 1);
        assert_eq!(prompt.turns[0].text, "a\n\nb\n\nc");
    }
}
