//! What a bot or a model gave back: its answer as result fields (a JSON object with `response`, other
//! JSON or text as the `response`, an event stream's chunks joined), or a failed attempt that says whether
//! another attempt may go better.

use serde_json::{Map, Value, json};

use crate::publication::tokens::Tokens;

/// A failed attempt: why, in one line (the bot's last stderr line, the HTTP status, the timeout, the
/// model's own message), whether another attempt may go better, and what the model billed for it when the
/// bot said so.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    /// False when the request is refused for good (a model's bad request, access denied): it fails at
    /// once, with no further calls.
    pub retry: bool,
    /// The `usage` a bot reported beside its failure (its model was called, then something else failed).
    pub usage: Option<Tokens>,
}

impl Failure {
    /// A failure another attempt may not have (a crash, a time-out, throttling, a server fault).
    pub fn retry(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retry: true,
            usage: None,
        }
    }

    /// A request refused for good: trying again would only be refused again.
    pub fn refused(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retry: false,
            usage: None,
        }
    }

    /// The `usage` of a failed answer's JSON object (a bot's stdout, a bot server's error body), if any.
    pub fn billed(mut self, answer: &[u8]) -> Failure {
        self.usage = serde_json::from_slice::<Value>(answer)
            .ok()
            .and_then(|doc| Tokens::of(&doc["usage"]));
        self
    }
}

/// A bot's own failure (its exit, its server's status, a time-out): always worth another attempt, as far
/// as botpub can tell.
impl From<String> for Failure {
    fn from(error: String) -> Failure {
        Failure::retry(error)
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
    let mut events = EventText::default();
    events.feed(body.as_bytes());
    events.finish()
}

/// A server-sent event stream read as it arrives: the `data:` of each line as soon as the line is
/// complete (comments, other fields and OpenAI's closing `[DONE]` left out).
#[derive(Debug, Default)]
pub struct EventData {
    /// The bytes of a line not ended yet.
    pending: Vec<u8>,
}

impl EventData {
    /// Takes the next bytes; the data of the lines they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut data = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            data.extend(data_of(&line));
        }
        data
    }

    /// The data of a last line that had no line break.
    pub fn finish(self) -> Option<String> {
        data_of(&self.pending)
    }
}

fn data_of(line: &[u8]) -> Option<String> {
    let line = String::from_utf8_lossy(line);
    let data = line.trim_end_matches(['\n', '\r']).strip_prefix("data:")?;
    let data = data.strip_prefix(' ').unwrap_or(data);
    (data != "[DONE]").then(|| data.to_string())
}

/// A bot's or an agent's event stream read as it arrives: the text of its chunks so far (see
/// [`joined_events`]).
#[derive(Debug, Default)]
pub struct EventText {
    data: EventData,
    text: String,
}

impl EventText {
    /// Takes the next bytes; true when the text grew.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        let before = self.text.len();
        for data in self.data.feed(bytes) {
            push_chunk(&mut self.text, &data);
        }
        self.text.len() > before
    }

    /// The text so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The whole text, a last line without its line break included.
    pub fn finish(mut self) -> String {
        if let Some(data) = self.data.finish() {
            push_chunk(&mut self.text, &data);
        }
        self.text
    }
}

/// A chunk's text: a JSON string's content when it is one (AgentCore streams quoted chunks), as sent
/// otherwise.
fn push_chunk(text: &mut String, data: &str) {
    match serde_json::from_str::<Value>(data) {
        Ok(Value::String(chunk)) => text.push_str(&chunk),
        _ => text.push_str(data),
    }
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
        assert_eq!(joined_events("data: a\r\ndata: b"), "ab");
    }

    #[test]
    fn an_event_stream_grows_line_by_line_as_bytes_arrive() {
        let mut events = EventText::default();
        assert!(!events.feed(b"data: \"He"));
        assert!(events.feed(b"l\"\n\ndata: \"lo"));
        assert_eq!(events.text(), "Hel");
        assert!(events.feed(b"\"\n"));
        assert_eq!(events.text(), "Hello");
        assert!(!events.feed(b": keep-alive\n\ndata: [DONE]\n"));
        assert_eq!(events.finish(), "Hello");
    }
}
