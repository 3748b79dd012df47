//! Amazon Bedrock AgentCore Runtime's `InvokeAgentRuntime`: the agent gets the request in the shape the
//! AgentCore samples take (`{"prompt": ...}` plus the client's other fields) within a session that is the
//! same for every message of one conversation, so the agent keeps its own memory of it; it answers with
//! JSON or a `text/event-stream`, whose text so far is reported as it arrives.

use aws_sdk_bedrockagentcore::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockagentcore::operation::invoke_agent_runtime::InvokeAgentRuntimeError;
use serde_json::{Map, Value, json};

use super::Prompt;
use crate::worker::partial::Partial;
use crate::worker::reply::{EventText, Failure, answer_of, response};

/// AgentCore refuses a session id shorter than this.
const SESSION_ID_MIN: usize = 33;

/// Invokes the agent once with one request document: the newest message as `prompt` (the agent keeps
/// the conversation in its session), the client's other fields as they are, `max_tokens` capped.
pub async fn invoke(
    client: &aws_sdk_bedrockagentcore::Client,
    runtime_arn: &str,
    qualifier: Option<&str>,
    document: &Value,
    prompt: &Prompt,
    partial: &Partial,
) -> Result<Map<String, Value>, Failure> {
    let mut payload = match &document["request"] {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    payload.remove("message");
    let question = prompt.turns.last().map_or("", |t| t.text.as_str());
    payload.insert("prompt".into(), json!(question));
    if let Some(max_tokens) = prompt.max_tokens {
        payload.insert("max_tokens".into(), json!(max_tokens));
    }
    let answer = client
        .invoke_agent_runtime()
        .agent_runtime_arn(runtime_arn)
        .set_qualifier(qualifier.map(str::to_string))
        .runtime_session_id(session_id(document))
        .content_type("application/json")
        .accept("application/json, text/event-stream")
        .payload(aws_smithy_types::Blob::new(
            Value::Object(payload).to_string(),
        ))
        .send()
        .await
        .map_err(|e| refusal(e, runtime_arn))?;
    let content_type = answer.content_type.clone();
    let mut body = answer.response;
    let reading = |e| Failure::retry(format!("reading the agent's answer: {e}"));
    if content_type.starts_with("text/event-stream") {
        let mut events = EventText::default();
        while let Some(bytes) = body.try_next().await.map_err(reading)? {
            if events.feed(&bytes) {
                partial.set(events.text());
            }
        }
        return Ok(response(json!(events.finish())));
    }
    let body = body.collect().await.map_err(reading)?.into_bytes();
    Ok(answer_of(&content_type, &String::from_utf8_lossy(&body)))
}

/// The session of a request: one per conversation (its id), one per request for the predict contract;
/// padded with a hash of it to AgentCore's minimum length, so that any id gives a valid, stable session.
pub fn session_id(document: &Value) -> String {
    let (kind, id) = match document["conversation_id"].as_str() {
        Some(conversation) => ("conversation", conversation),
        None => (
            "request",
            document["request_id"].as_str().unwrap_or_default(),
        ),
    };
    let mut session = format!("botpub-{kind}-{id}");
    if session.len() < SESSION_ID_MIN {
        let digest = crate::synth::sha256_hex(id.as_bytes());
        session.push('-');
        session.push_str(&digest[..SESSION_ID_MIN - session.len()]);
    }
    session
}

/// A failed invocation: throttling, conflicts and faults are worth another attempt; a refused request,
/// access denied or an unknown runtime are final, in AgentCore's own words.
fn refusal(error: SdkError<InvokeAgentRuntimeError>, runtime_arn: &str) -> Failure {
    let Some(service) = error.as_service_error() else {
        return Failure::retry(format!(
            "calling AgentCore: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&error)
        ));
    };
    let code = service.code().unwrap_or("an unnamed error");
    let said = service.message().unwrap_or("no message");
    match service {
        InvokeAgentRuntimeError::ValidationException(_) => {
            Failure::refused(format!("the agent refused the request ({code}): {said}"))
        }
        InvokeAgentRuntimeError::AccessDeniedException(_) => Failure::refused(format!(
            "AgentCore denied access ({code}): {said}; allow the worker's role bedrock-agentcore:InvokeAgentRuntime on {runtime_arn} (and its endpoints, {runtime_arn}/runtime-endpoint/*)"
        )),
        InvokeAgentRuntimeError::ResourceNotFoundException(_) => Failure::refused(format!(
            "AgentCore has no runtime {runtime_arn} ({code}): {said}"
        )),
        _ => Failure::retry(format!("AgentCore answered {code}: {said}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_stable_per_conversation_and_long_enough() {
        let one = session_id(&json!({"conversation_id": "c1", "request_id": "r1"}));
        let again = session_id(&json!({"conversation_id": "c1", "request_id": "r2"}));
        assert_eq!(one, again);
        assert!(one.len() >= SESSION_ID_MIN, "{one}");
        assert!(one.starts_with("botpub-conversation-c1-"));
        let predict = session_id(&json!({"request_id": "1764000000000-abc"}));
        assert!(predict.len() >= SESSION_ID_MIN && predict.contains("request-1764000000000-abc"));
        assert_ne!(session_id(&json!({"conversation_id": "c2"})), one);
    }
}
