//! What a bot or a model gave back: its answer as result fields (a JSON object with `response`, other
//! JSON or text as the `response`, an event stream's chunks joined), or a failed attempt that says whether
//! another attempt may go better.

use serde_json::{Map, Value, json};

/// A failed attempt: why, in one line (the bot's last stderr line, the HTTP status, the timeout, the
/// model's own message), and whether another attempt may go better.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    /// False when the request is refused for good (a model's bad request, access denied): it fails at
    /// once, with no further calls.
    pub retry: bool,
}

impl Failure {
    /// A failure another attempt may not have (a crash, a time-out, throttling, a server fault).
    pub fn retry(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retry: true,
        }
    }

    /// A request refused for good: trying again would only be refused again.
    pub fn refused(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retry: false,
        }
    }
}

/// A bot server's or an agent's answer as result fields: a JSON object with `response` as it is, other
/// JSON or text as the `response`, and an event stream's `data:` chunks joined.
pub fn answer_of(content_type: &str, body: &str) -> Map<String, Value> {
    if content_type.starts_with("text/event-stream") {
        return response(json!(joined_events(body)));
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(fields)) if fields.contains_key("response") => fields,
        Ok(other) => response(other),
        Err(_) => response(json!(body)),
    }
}

/// The text of a server-sent event stream: its `data:` chunks joined, each a JSON string's content when
/// it is one (AgentCore streams quoted chunks), as sent otherwise.
pub fn joined_events(body: &str) -> String {
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| data.strip_prefix(' ').unwrap_or(data))
        .filter(|data| *data != "[DONE]")
        .map(|data| match serde_json::from_str::<Value>(data) {
            Ok(Value::String(text)) => text,
            _ => data.to_string(),
        })
        .collect()
}

/// Result fields with only a `response`.
pub fn response(response: Value) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("response".into(), response);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_stream_is_its_data_chunks_joined() {
        let body = "data: \"Hel\"\n\ndata: \"lo\"\n\n: comment\ndata: [DONE]\n";
        assert_eq!(joined_events(body), "Hello");
        assert_eq!(joined_events("data:plain\ndata: text\n"), "plaintext");
    }
}
