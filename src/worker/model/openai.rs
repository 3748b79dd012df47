//! The OpenAI-compatible chat completions API (`POST {base_url}/chat/completions`), which vLLM, Ollama,
//! llama.cpp's server and LiteLLM serve: one JSON request, one JSON answer with the usage in it — or, when
//! clients read the answer as it is written, a stream of chunks (`stream: true`) ending with the usage.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Prompt, Reply};
use crate::worker::partial::Partial;
use crate::worker::reply::{EventData, Failure};

/// Asks the server once (blocking); with `partial` on, the answer is streamed and its text so far
/// reported as it comes.
pub fn complete(
    base_url: &str,
    model: &str,
    api_key: Option<&str>,
    prompt: &Prompt,
    timeout: Duration,
    partial: &Partial,
) -> Result<Reply, Failure> {
    let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.post(&url).header("content-type", "application/json");
    if let Some(key) = api_key {
        request = request.header("authorization", &format!("Bearer {key}"));
    }
    let mut asked = body(model, prompt);
    if partial.is_on() {
        asked["stream"] = json!(true);
        asked["stream_options"] = json!({"include_usage": true});
    }
    let mut answer = request
        .send(asked.to_string().as_bytes())
        .map_err(|e| Failure::retry(format!("the model server at {url}: {e}")))?;
    let status = answer.status().as_u16();
    let streams = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if (200..300).contains(&status) && streams {
        let reader = answer
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .reader();
        return streamed(reader, model, partial);
    }
    let text = answer
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| Failure::retry(format!("reading the model's answer: {e}")))?;
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        return Err(refusal(status, &doc, &text, model));
    }
    reply(&doc, model).ok_or_else(|| {
        Failure::retry(format!(
            "the model server's answer has no choices[0].message: {}",
            cut(&text)
        ))
    })
}

/// The chat completions request: the system prompt first, then the turns; options only when set.
fn body(model: &str, prompt: &Prompt) -> Value {
    let mut messages = Vec::with_capacity(prompt.turns.len() + 1);
    if let Some(system) = &prompt.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for turn in &prompt.turns {
        messages.push(json!({"role": turn.role.name(), "content": turn.text}));
    }
    let mut body = json!({"model": model, "messages": messages});
    if let Some(temperature) = prompt.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(max_tokens) = prompt.max_tokens {
        body["max_tokens"] = json!(max_tokens);
    }
    body
}

/// The answer's text, usage, model and why it stopped (OpenAI's `stop`/`length` named as Bedrock names
/// them, so results read the same whatever the backend).
fn reply(doc: &Value, model: &str) -> Option<Reply> {
    let choice = doc["choices"].get(0)?;
    let text = match &choice["message"]["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        Value::Null => String::new(),
        _ => return None,
    };
    let stop_reason = choice["finish_reason"].as_str().map(bedrock_name);
    Some(Reply {
        text,
        input_tokens: doc["usage"]["prompt_tokens"].as_u64(),
        output_tokens: doc["usage"]["completion_tokens"].as_u64(),
        model: doc["model"].as_str().unwrap_or(model).to_string(),
        stop_reason,
    })
}

/// A stop reason as Bedrock names it.
fn bedrock_name(reason: &str) -> String {
    match reason {
        "stop" => "end_turn",
        "length" => "max_tokens",
        other => other,
    }
    .to_string()
}

/// A streamed answer: each chunk's text appended and reported, the model, stop reason and usage taken
/// from the chunks that carry them. A stream that ends before a chunk says why it stopped was cut off:
/// another attempt may go better.
fn streamed(
    mut reader: impl std::io::Read,
    model: &str,
    partial: &Partial,
) -> Result<Reply, Failure> {
    let mut reply = Reply::nothing_yet(model);
    let mut events = EventData::default();
    let mut bytes = vec![0u8; 8192];
    loop {
        let read = reader
            .read(&mut bytes)
            .map_err(|e| Failure::retry(format!("the model's answer stopped: {e}")))?;
        let data = match read {
            0 => std::mem::take(&mut events).finish().into_iter().collect(),
            _ => events.feed(&bytes[..read]),
        };
        let before = reply.text.len();
        for chunk in data {
            take_chunk(&mut reply, &chunk)?;
        }
        if reply.text.len() > before {
            partial.set(&reply.text);
        }
        if read == 0 {
            return match reply.stop_reason {
                Some(_) => Ok(reply),
                None => Err(Failure::retry(
                    "the model's answer stopped before its end (no finish_reason)",
                )),
            };
        }
    }
}

/// One chunk of a streamed answer into the reply so far; an error the server sends mid-stream fails the
/// attempt.
fn take_chunk(reply: &mut Reply, data: &str) -> Result<(), Failure> {
    let chunk: Value = serde_json::from_str(data).map_err(|_| {
        Failure::retry(format!(
            "the model server sent a chunk that is not JSON: {}",
            cut(data)
        ))
    })?;
    if let Some(message) = chunk["error"]["message"].as_str() {
        return Err(Failure::retry(format!(
            "the model server stopped its answer: {message}"
        )));
    }
    if let Some(model) = chunk["model"].as_str() {
        reply.model = model.to_string();
    }
    if let Some(choice) = chunk["choices"].get(0) {
        if let Some(text) = choice["delta"]["content"].as_str() {
            reply.text.push_str(text);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            reply.stop_reason = Some(bedrock_name(reason));
        }
    }
    if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
        reply.input_tokens = usage["prompt_tokens"].as_u64();
        reply.output_tokens = usage["completion_tokens"].as_u64();
    }
    Ok(())
}

/// A non-2xx answer: throttling, time-outs and server faults are worth another attempt; anything else is
/// the model refusing this request for good, in its own words.
fn refusal(status: u16, doc: &Value, text: &str, model: &str) -> Failure {
    let said = doc["error"]["message"]
        .as_str()
        .or(doc["message"].as_str())
        .map_or_else(|| cut(text), str::to_string);
    match status {
        408 | 409 | 429 | 500..=599 => {
            Failure::retry(format!("the model server answered {status}: {said}"))
        }
        401 | 403 => Failure::refused(format!(
            "the model server denied access ({status}): {said}; give the worker a key it accepts with --api-key-env VAR"
        )),
        404 => Failure::refused(format!(
            "the model server does not know model `{model}` or the path /chat/completions ({status}): {said}"
        )),
        _ => Failure::refused(format!("the model refused the request ({status}): {said}")),
    }
}

/// At most 300 characters of an answer that is not what was expected.
fn cut(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::model::{Role, Turn};

    #[test]
    fn the_request_has_the_system_prompt_first_and_only_the_options_set() {
        let prompt = Prompt {
            system: Some("Be brief.".into()),
            turns: vec![Turn {
                role: Role::User,
                text: "hi".into(),
            }],
            temperature: None,
            max_tokens: Some(50),
        };
        assert_eq!(
            body("m", &prompt),
            json!({"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], "max_tokens": 50})
        );
    }

    #[test]
    fn failures_are_retried_or_final_by_status() {
        let doc = json!({"error": {"message": "slow down"}});
        assert!(refusal(429, &doc, "", "m").retry);
        assert!(refusal(503, &doc, "", "m").retry);
        let refused = refusal(
            400,
            &json!({"error": {"message": "bad temperature"}}),
            "",
            "m",
        );
        assert!(!refused.retry);
        assert!(
            refused.error.contains("bad temperature"),
            "{}",
            refused.error
        );
        assert!(refusal(403, &doc, "", "m").error.contains("--api-key-env"));
        assert!(refusal(404, &doc, "", "gpt-x").error.contains("gpt-x"));
    }

    #[test]
    fn the_reply_names_its_stop_reason_as_bedrock_does() {
        let doc = json!({"model": "served", "choices": [{"message": {"content": "ok"}, "finish_reason": "length"}], "usage": {"prompt_tokens": 7, "completion_tokens": 1}});
        let reply = reply(&doc, "asked").unwrap();
        assert_eq!(
            (
                reply.text.as_str(),
                reply.stop_reason.as_deref(),
                reply.model.as_str()
            ),
            ("ok", Some("max_tokens"), "served")
        );
        assert_eq!(
            (reply.input_tokens, reply.output_tokens),
            (Some(7), Some(1))
        );
    }

    #[test]
    fn a_streamed_answer_is_reported_as_it_grows_and_a_cut_one_is_retried() {
        let stream = concat!(
            "data: {\"model\":\"served\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
        );
        let (partial, seen) = Partial::new();
        let reply = streamed(stream.as_bytes(), "asked", &partial).unwrap();
        assert_eq!(
            (
                reply.text.as_str(),
                reply.model.as_str(),
                reply.stop_reason.as_deref()
            ),
            ("Hello", "served", Some("end_turn"))
        );
        assert_eq!(
            (reply.input_tokens, reply.output_tokens),
            (Some(3), Some(2))
        );
        assert_eq!(*seen.borrow(), "Hello");
        let cut = &stream[..stream.find("lo").unwrap()];
        let failure = streamed(cut.as_bytes(), "asked", &Partial::off()).unwrap_err();
        assert!(failure.retry, "{failure:?}");
    }
}
