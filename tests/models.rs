//! `botpub worker --bedrock | --agentcore | --openai`: a published bot answers from a model with no code,
//! through its API as a client calls it, on LocalStack. The model is a stand-in of this project's
//! (tests/support/model_standin.py) that speaks each service's real wire protocol, so the real clients
//! (the AWS SDK's Bedrock Runtime and AgentCore clients, the worker's chat completions client) run end to
//! end, and records what it was sent. One publish serves every test of this file; each test runs every backend in
//! turn on its own bot, each with a stand-in of its own.

use crate::common;

use std::process::Child;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{World, finish, http};
use serde_json::{Value, json};

/// The three ways a worker reaches a model.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Bedrock,
    AgentCore,
    OpenAi,
}

const BACKENDS: [Backend; 3] = [Backend::Bedrock, Backend::AgentCore, Backend::OpenAi];

const BEDROCK_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const AGENT_RUNTIME: &str =
    "arn:aws:bedrock-agentcore:us-east-1:000000000000:runtime/standin_agent-a1b2c3d4e5";

impl Backend {
    /// The model named in a result: the model the server says answered, or Bedrock's model id.
    fn model(self) -> Option<&'static str> {
        match self {
            Backend::Bedrock => Some(BEDROCK_MODEL),
            Backend::AgentCore => None,
            Backend::OpenAi => Some("stand-in-model"),
        }
    }

    /// The answer of the stand-in to `text` with this many messages sent before it (system prompt
    /// included): a model echoes what it got; an agent, which keeps the conversation itself, the prompt.
    fn answer(self, text: &str, messages: usize) -> String {
        match self {
            Backend::AgentCore => format!("You said: {text}"),
            _ => {
                let turns = messages.saturating_sub(2);
                format!("You said: {text} ({messages} messages, {turns} turns before)")
            }
        }
    }
}

struct Fleet {
    world: World,
    /// Base URL and key of each bot's API.
    apis: std::collections::HashMap<String, (String, String)>,
}

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let world = World::with_toolkit();
        let bot = |id: &str, contract: &str| {
            format!(
                "  - id: {id}\n    contract: {contract}\n    allowed_origins: [\"https://app.example.com\"]\n    queue: {{ visibility_timeout_seconds: 10, max_receive_count: 3 }}\n    monitoring: {{ enabled: false }}\n"
            )
        };
        let spec = world.spec(
            "models.yaml",
            &[
                bot("llm", "predict"),
                bot("llm-faults", "predict"),
                bot("llm-door", "predict"),
                bot("llm-chat", "conversation"),
            ]
            .concat(),
        );
        world.publish(&spec).expect(0);
        let apis = world.apis(&["llm", "llm-faults", "llm-door", "llm-chat"]);
        Fleet { world, apis }
    })
}

/// The model stand-in (tests/support/model_standin.py) on a free loopback port; killed when dropped.
struct Standin(common::LoopbackServer);

impl Standin {
    fn start() -> Standin {
        Standin(common::LoopbackServer::start(
            "tests/support/model_standin.py",
        ))
    }

    fn url(&self) -> &str {
        &self.0.url
    }

    /// The chat completions requests it received, in order.
    fn calls(&self) -> Vec<Value> {
        http("GET", &format!("{}/_standin/calls", self.url()), &[], None)
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The next `times` calls answer this HTTP status with this message.
    fn fail(&self, status: u16, message: &str, times: u32) {
        let body = json!({"status": status, "message": message, "times": times}).to_string();
        http(
            "POST",
            &format!("{}/_standin/fail", self.url()),
            &[],
            Some(&body),
        );
    }
}

impl Fleet {
    /// `botpub worker BOT` answering from `backend`, served by the stand-in, with `more` options.
    fn worker(&self, bot_id: &str, backend: Backend, standin: &Standin, more: &[&str]) -> Child {
        let base = format!("{}/v1", standin.url());
        // The AWS SDK's clients find the stand-in as they would find any custom endpoint.
        let (mut args, env) = match backend {
            Backend::Bedrock => (
                vec!["--bedrock", BEDROCK_MODEL],
                vec![("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", standin.url())],
            ),
            Backend::AgentCore => (
                vec!["--agentcore", AGENT_RUNTIME, "--qualifier", "DEFAULT"],
                vec![("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", standin.url())],
            ),
            Backend::OpenAi => (vec!["--openai", &base, "--model", "stand-in-model"], vec![]),
        };
        args.extend_from_slice(more);
        self.world.worker_with_env(bot_id, &args, &[], &env)
    }

    fn post(&self, bot_id: &str, path: &str, body: &Value) -> common::Reply {
        let (url, key) = &self.apis[bot_id];
        http(
            "POST",
            &format!("{url}{path}"),
            &[("x-api-key", key)],
            Some(&body.to_string()),
        )
    }

    /// GET until the document is no longer processing.
    fn poll(&self, bot_id: &str, path: &str, within: Duration) -> Value {
        let (url, key) = &self.apis[bot_id];
        let started = Instant::now();
        loop {
            let doc = http("GET", &format!("{url}{path}"), &[("x-api-key", key)], None).json();
            if doc["status"] != "processing" || started.elapsed() > within {
                return doc;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn predict(&self, bot_id: &str, body: Value) -> String {
        let reply = self.post(bot_id, "/predict", &body);
        assert_eq!(reply.status, 202, "{}", reply.body);
        reply.json()["request_id"].as_str().unwrap().to_string()
    }

    /// One message of a conversation; (conversation id, message id).
    fn say(&self, conversation: Option<&str>, text: &str) -> (String, String) {
        let body = common::conversation_message(conversation, text);
        let reply = self.post("llm-chat", "/conversation", &body);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let doc = reply.json();
        (
            doc["conversation_id"].as_str().unwrap().to_string(),
            doc["message_id"].as_str().unwrap().to_string(),
        )
    }
}

/// A header of a recorded call, whatever the case its client wrote it in.
fn header<'a>(call: &'a Value, name: &str) -> &'a str {
    call["headers"]
        .as_object()
        .and_then(|headers| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, value)| value.as_str())
        })
        .unwrap_or_default()
}

/// A worker that ends by itself after `--max-requests`: its summary and log.
fn done(worker: Child) -> (Value, String) {
    let (code, summary, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    (summary, log)
}

/// The text of each message a model was sent, with its role (OpenAI's and Bedrock's shapes).
fn sent_messages(call: &Value) -> Vec<(String, String)> {
    let body = &call["body"];
    let mut sent = Vec::new();
    if let Some(system) = body["system"].as_array() {
        let text: Vec<&str> = system.iter().filter_map(|s| s["text"].as_str()).collect();
        sent.push(("system".to_string(), text.join(" ")));
    }
    for message in body["messages"].as_array().into_iter().flatten() {
        let text = match &message["content"] {
            Value::String(text) => text.clone(),
            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
            _ => String::new(),
        };
        sent.push((
            message["role"].as_str().unwrap_or_default().to_string(),
            text,
        ));
    }
    sent
}

#[test]
fn a_predict_request_is_answered_by_each_backend_with_usage_and_capped_options() {
    let f = fleet();
    for backend in BACKENDS {
        let standin = Standin::start();
        // An agent is also asked once for an answer it streams.
        let requests = if backend == Backend::AgentCore {
            "2"
        } else {
            "1"
        };
        let worker = f.worker(
            "llm",
            backend,
            &standin,
            &[
                "--system",
                "You are terse.",
                "--max-tokens",
                "200",
                "--max-requests",
                requests,
            ],
        );
        let question = "What is the capital of France?";
        let id = f.predict(
            "llm",
            json!({"message": question, "temperature": 0.2, "max_tokens": 5000, "style": "plain"}),
        );
        let doc = f.poll("llm", &format!("/result/{id}"), Duration::from_secs(30));
        if backend == Backend::AgentCore {
            let streamed = f.predict("llm", json!({"message": "stream it", "stream": true}));
            let streamed = f.poll(
                "llm",
                &format!("/result/{streamed}"),
                Duration::from_secs(30),
            );
            assert_eq!(
                streamed["response"], "You said: stream it ",
                "an event stream's chunks joined: {streamed}"
            );
        }
        let (summary, log) = done(worker);
        assert_eq!(doc["status"], "completed", "{backend:?}: {doc}\n{log}");
        let answer = backend.answer(question, 2);
        assert_eq!(doc["response"], answer.as_str(), "{backend:?}: {doc}");
        assert_eq!(doc["model"].as_str(), backend.model(), "{backend:?}: {doc}");
        assert_eq!(summary["answered"].as_u64(), requests.parse().ok());
        assert!(
            !log.contains("capital of France"),
            "no question in the log: {log}"
        );
        let calls = standin.calls();
        assert_eq!(calls.len().to_string(), requests, "{backend:?}");
        let sent = &calls[0]["body"];
        // The stand-in counts words: input is what it was sent, output its answer.
        let words = |text: &str| text.split_whitespace().count() as u64;
        match backend {
            Backend::AgentCore => {
                assert_eq!(sent["prompt"], question);
                assert_eq!(
                    sent["style"], "plain",
                    "the client's other fields pass through"
                );
                assert_eq!(
                    (sent["temperature"].as_f64(), sent["max_tokens"].as_u64()),
                    (Some(0.2), Some(200))
                );
                let session = header(&calls[0], "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id");
                assert!(session.len() >= 33 && session.contains(&id), "{session}");
                assert!(
                    calls[0]["path"]
                        .as_str()
                        .unwrap()
                        .contains("qualifier=DEFAULT")
                );
                assert_eq!(
                    doc["usage"],
                    json!({"input_tokens": words(question), "output_tokens": words(&answer)})
                );
            }
            _ => {
                assert_eq!(
                    sent_messages(&calls[0]),
                    [
                        ("system".to_string(), "You are terse.".to_string()),
                        ("user".to_string(), question.to_string())
                    ]
                );
                let (temperature, max_tokens) = match backend {
                    Backend::Bedrock => (
                        &sent["inferenceConfig"]["temperature"],
                        &sent["inferenceConfig"]["maxTokens"],
                    ),
                    _ => (&sent["temperature"], &sent["max_tokens"]),
                };
                assert!((temperature.as_f64().unwrap() - 0.2).abs() < 1e-6, "{sent}");
                assert_eq!(max_tokens, 200, "capped by --max-tokens: {sent}");
                assert_eq!(doc["stop_reason"], "end_turn");
                assert_eq!(
                    doc["usage"],
                    json!({"input_tokens": words("You are terse.") + words(question), "output_tokens": words(&answer)}),
                    "{backend:?}: {doc}"
                );
            }
        }
    }
}

#[test]
fn a_bad_temperature_or_max_tokens_is_refused_at_the_front_door_and_nothing_is_queued() {
    let f = fleet();
    for body in [
        json!({"message": "hi", "temperature": "warm"}),
        json!({"message": "hi", "temperature": 3}),
        json!({"message": "hi", "max_tokens": 0}),
        json!({"message": "hi", "max_tokens": 2.5}),
    ] {
        let reply = f.post("llm-door", "/predict", &body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }
    let bad = json!({"message": {"content": [{"content_type": "text", "body": "hi"}]}, "temperature": -1});
    assert_eq!(f.post("llm-chat", "/conversation", &bad).status, 400);
    let status = f
        .world
        .botpub_bot("status", "llm-door", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(status["queue"]["waiting"], 0, "{status}");
}

#[test]
fn a_throttled_model_is_asked_again_and_a_refused_request_fails_after_one_call() {
    let f = fleet();
    for backend in BACKENDS {
        let standin = Standin::start();
        // Throttled twice, then answered on the third call.
        standin.fail(429, "Rate limit reached", 2);
        // The AWS SDK retries throttling within one delivery; the chat completions client leaves it to
        // the queue, so the throttled request is delivered three times.
        let deliveries = if backend == Backend::OpenAi { "4" } else { "2" };
        let worker = f.worker(
            "llm-faults",
            backend,
            &standin,
            &["--max-requests", deliveries],
        );
        let id = f.predict("llm-faults", json!({"message": "third time lucky"}));
        let doc = f.poll(
            "llm-faults",
            &format!("/result/{id}"),
            Duration::from_secs(40),
        );
        assert_eq!(doc["status"], "completed", "{backend:?}: {doc}");
        assert_eq!(standin.calls().len(), 3, "{backend:?}");
        // Refused for good: failed at once with the model's own words, one call, in the dead-letter queue.
        standin.fail(400, "temperature is out of range for this model", 1);
        let refused = f.predict(
            "llm-faults",
            json!({"message": "please", "temperature": 1.9}),
        );
        let doc = f.poll(
            "llm-faults",
            &format!("/result/{refused}"),
            Duration::from_secs(30),
        );
        let (summary, log) = done(worker);
        assert_eq!(doc["status"], "failed", "{backend:?}: {doc}");
        assert!(
            doc["error"]
                .as_str()
                .is_some_and(|e| e.contains("temperature is out of range for this model")),
            "{backend:?}: {doc}"
        );
        assert_eq!(
            standin.calls().len(),
            4,
            "{backend:?}: exactly one call for the refused request"
        );
        assert_eq!(summary["failed"], 1, "{summary}\n{log}");
        let listed = f
            .world
            .botpub_bot("dlq", "llm-faults", &["--output", "json"])
            .expect(0)
            .json();
        let letters = listed["dead_letters"].as_array().unwrap();
        assert!(
            letters.iter().any(|l| l["request_id"] == refused.as_str()),
            "{backend:?}: {listed}"
        );
    }
}

#[test]
fn a_conversation_sends_the_model_its_turns_in_order_and_a_long_one_is_trimmed() {
    let f = fleet();
    let sdk = f.world.sdk();
    let bucket = sdk.output(&f.world.stack("llm-chat"), "ResultsBucket");
    for backend in BACKENDS {
        let standin = Standin::start();
        let worker = f.worker(
            "llm-chat",
            backend,
            &standin,
            &[
                "--system",
                "Remember everything.",
                "--max-history-tokens",
                "2000",
                "--max-requests",
                "4",
            ],
        );
        let questions = ["My name is Ada.", "I like engines.", "What is my name?"];
        let mut conversation: Option<String> = None;
        let mut last = Value::Null;
        for question in questions {
            let (id, message) = f.say(conversation.as_deref(), question);
            last = f.poll(
                "llm-chat",
                &format!("/conversation/{id}/{message}"),
                Duration::from_secs(30),
            );
            assert_eq!(last["status"], "completed", "{backend:?}: {last}");
            conversation = Some(id);
        }
        let conversation = conversation.unwrap();
        assert_eq!(last["message"]["model"].as_str(), backend.model(), "{last}");
        assert!(
            last["message"]["usage"]["input_tokens"].is_u64(),
            "{backend:?}: {last}"
        );
        let calls = standin.calls();
        match backend {
            Backend::AgentCore => {
                // The agent keeps the conversation in its session: one session for all three messages.
                let sessions: Vec<&str> = calls
                    .iter()
                    .map(|c| header(c, "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"))
                    .collect();
                assert!(sessions[0].len() >= 33, "{sessions:?}");
                assert!(sessions.iter().all(|s| *s == sessions[0]), "{sessions:?}");
                let prompts: Vec<&str> = calls
                    .iter()
                    .map(|c| c["body"]["prompt"].as_str().unwrap())
                    .collect();
                assert_eq!(prompts, questions);
            }
            _ => {
                let expected: Vec<(String, String)> = [
                    ("system", "Remember everything.".to_string()),
                    ("user", questions[0].to_string()),
                    ("assistant", backend.answer(questions[0], 2)),
                    ("user", questions[1].to_string()),
                    ("assistant", backend.answer(questions[1], 4)),
                    ("user", questions[2].to_string()),
                ]
                .into_iter()
                .map(|(r, t)| (r.to_string(), t))
                .collect();
                assert_eq!(sent_messages(&calls[2]), expected, "{backend:?}");
            }
        }
        // A 300-turn conversation, written to the store directly, is still answered within the budget.
        let long = format!("long-{conversation}");
        let messages: Vec<Value> = (0..300)
            .flat_map(|i| {
                [
                    json!({"message_id": format!("m{i}"), "role": "user", "content": [{"content_type": "text", "body": format!("question number {i} with some words in it")}], "create_time": i}),
                    json!({"message_id": format!("m{i}-answer"), "parent_message_id": format!("m{i}"), "role": "assistant", "content": [{"content_type": "text", "body": format!("answer number {i} with some more words in it")}], "create_time": i}),
                ]
            })
            .collect();
        let doc = json!({"id": long, "conversation_id": long, "create_time": 0, "last_message_id": "m299-answer", "messages": messages});
        sdk.block_on(
            sdk.s3
                .put_object()
                .bucket(&bucket)
                .key(format!("conversations/{long}.json"))
                .body(doc.to_string().into_bytes().into())
                .send(),
        )
        .unwrap();
        let (_, latest) = f.say(Some(&long), "Do you still follow?");
        let answered = f.poll(
            "llm-chat",
            &format!("/conversation/{long}/{latest}"),
            Duration::from_secs(30),
        );
        let (summary, log) = done(worker);
        assert_eq!(
            answered["status"], "completed",
            "{backend:?}: {answered}\n{summary}\n{log}"
        );
        if backend == Backend::AgentCore {
            continue;
        }
        let sent = sent_messages(standin.calls().last().unwrap());
        assert!(
            sent.len() > 10 && sent.len() < 601,
            "{backend:?}: trimmed, not emptied: {} messages",
            sent.len()
        );
        assert_eq!(sent[0].0, "system");
        assert_eq!(
            sent[1].0, "user",
            "the trimmed history still starts with the user"
        );
        assert_eq!(sent.last().unwrap().1, "Do you still follow?");
        assert_eq!(
            sent[sent.len() - 2].1,
            "answer number 299 with some more words in it",
            "the newest turns are kept"
        );
        let characters: usize = sent.iter().map(|(_, text)| text.chars().count()).sum();
        assert!(characters / 4 <= 2000, "{characters} characters");
    }
}
