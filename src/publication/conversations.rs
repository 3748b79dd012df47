//! A conversation bot's documents in its results bucket, in seed 003's shapes: the conversation,
//! `conversations/{conversation_id}.json` (`GET /conversation/{conversation_id}`), and each message's answer,
//! `conversations/{conversation_id}/{message_id}.json` (`GET /conversation/{conversation_id}/{message_id}`).
//!
//! Only the worker writes them, one message of a conversation at a time (the FIFO queue's message group);
//! the conversation is still written only if it is unchanged since it was read (S3's `If-Match`), so two
//! writers could never both append to one history.

use serde_json::{Value, json};

pub use super::results::Written;
use super::results::{SoFar, Status, read_json, write_json_unless_changed};
use crate::aws::Aws;

pub fn conversation_key(conversation_id: &str) -> String {
    format!("conversations/{conversation_id}.json")
}

/// Where the answer to `message_id` is kept: under SQS's id alone, without the time the API put before
/// it, as the API reads it (a retried POST's id differs only in that time).
pub fn message_key(conversation_id: &str, message_id: &str) -> String {
    let stored = match message_id.split_once('-') {
        Some((at, sqs_id))
            if at.len() == 13
                && !at.starts_with('0')
                && at.bytes().all(|b| b.is_ascii_digit())
                && !sqs_id.is_empty() =>
        {
            sqs_id
        }
        _ => message_id,
    };
    format!("conversations/{conversation_id}/{stored}.json")
}

/// A conversation as read, with the version it was read at (`None`: it does not exist yet).
#[derive(Debug, Clone)]
pub struct Conversation {
    pub doc: Value,
    pub etag: Option<String>,
}

impl Conversation {
    /// The messages so far, oldest first.
    pub fn messages(&self) -> &[Value] {
        self.doc["messages"].as_array().map_or(&[], Vec::as_slice)
    }

    /// The assistant message that answers `message_id`, when the conversation already holds it.
    pub fn answer_to(&self, message_id: &str) -> Option<&Value> {
        self.messages()
            .iter()
            .find(|m| m["role"] == "assistant" && m["parent_message_id"] == message_id)
    }

    /// The conversation with one more exchange: the user's message, then the bot's answer.
    pub fn with_exchange(&self, conversation_id: &str, user: Value, assistant: Value) -> Value {
        let mut doc = self.doc.clone();
        if doc.get("messages").is_none() {
            doc = json!({
                "id": conversation_id,
                "conversation_id": conversation_id,
                "create_time": user["create_time"],
                "messages": [],
            });
        }
        doc["last_message_id"] = assistant["message_id"].clone();
        if let Some(messages) = doc["messages"].as_array_mut() {
            messages.push(user);
            messages.push(assistant);
        }
        doc
    }
}

/// The conversation, or an empty one that does not exist yet.
pub async fn read(aws: &Aws, bucket: &str, conversation_id: &str) -> anyhow::Result<Conversation> {
    let key = conversation_key(conversation_id);
    Ok(match read_json(aws, bucket, &key).await? {
        Some((doc, etag)) => Conversation { doc, etag },
        None => Conversation {
            doc: json!({}),
            etag: None,
        },
    })
}

/// Writes the conversation if it is still the version `read` saw (or still absent).
pub async fn write(
    aws: &Aws,
    bucket: &str,
    conversation_id: &str,
    read: &Conversation,
    doc: &Value,
) -> anyhow::Result<Written> {
    let key = conversation_key(conversation_id);
    write_json_unless_changed(aws, bucket, &key, read.etag.as_deref(), doc).await
}

/// A message's answer document, or `None` before there is one.
pub async fn read_message(
    aws: &Aws,
    bucket: &str,
    conversation_id: &str,
    message_id: &str,
) -> anyhow::Result<Option<Value>> {
    let key = message_key(conversation_id, message_id);
    Ok(read_json(aws, bucket, &key).await?.map(|(doc, _)| doc))
}

/// The answer document of a message: seed 003's `{conversation_id, message, create_time}`, plus its id,
/// its status and the correlation id.
pub fn answered(
    conversation_id: &str,
    message_id: &str,
    correlation_id: Option<&str>,
    assistant: &Value,
) -> Value {
    let mut message = json!({"role": "assistant", "content": assistant["content"]});
    for optional in ["model", "usage"] {
        if let Some(value) = assistant.get(optional) {
            message[optional] = value.clone();
        }
    }
    json!({
        "conversation_id": conversation_id,
        "message_id": message_id,
        "status": Status::Completed,
        "message": message,
        "create_time": assistant["create_time"],
        "correlation_id": correlation_id,
    })
}

/// The answer document of a message whose answer is still being written, its text so far as one text
/// item.
pub fn partial(
    conversation_id: &str,
    message_id: &str,
    correlation_id: Option<&str>,
    so_far: SoFar,
) -> Value {
    json!({
        "conversation_id": conversation_id,
        "message_id": message_id,
        "status": Status::Processing,
        "message": {"role": "assistant", "content": [{"content_type": "text", "body": so_far.text}]},
        "sequence": so_far.sequence,
        "attempt": so_far.attempt,
        "correlation_id": correlation_id,
    })
}

/// The answer document of a message whose last allowed attempt failed: clients stop polling.
pub fn failed(
    conversation_id: &str,
    message_id: &str,
    correlation_id: Option<&str>,
    error: &str,
    time: f64,
) -> Value {
    json!({
        "conversation_id": conversation_id,
        "message_id": message_id,
        "status": Status::Failed,
        "error": error,
        "create_time": time,
        "correlation_id": correlation_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_under_sqs_id_without_the_time_before_it() {
        let sqs_id = "5fa2b0c4-8d1e-4c3b-9a7f-0e6d2c1b4a93";
        let expected = format!("conversations/c/{sqs_id}.json");
        assert_eq!(
            message_key("c", &format!("1796601600000-{sqs_id}")),
            expected
        );
        // A message accepted by an API without the time keeps its plain id.
        assert_eq!(message_key("c", sqs_id), expected);
        for odd in ["0796601600000-x", "179660160000-x", "1796601600000-"] {
            assert_eq!(message_key("c", odd), format!("conversations/c/{odd}.json"));
        }
    }
}
