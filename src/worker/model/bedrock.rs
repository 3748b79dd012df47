//! Amazon Bedrock Runtime's Converse API: one call for any Bedrock model (model ids, inference profile ids
//! and ARNs), the system prompt and inference options in Bedrock's own fields, the usage in its answer —
//! or ConverseStream, when clients read the answer as it is written.

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseOutput, ConverseStreamOutput,
    InferenceConfiguration, Message, SystemContentBlock,
};

use super::{Prompt, Reply, Role};
use crate::worker::partial::Partial;
use crate::worker::reply::Failure;

/// Asks the model once; with `partial` on, through ConverseStream, reporting the text so far as it comes
/// (a role that may call InvokeModel only gets the whole answer at once, through Converse).
pub async fn converse(
    client: &aws_sdk_bedrockruntime::Client,
    model_id: &str,
    prompt: &Prompt,
    partial: &Partial,
) -> Result<Reply, Failure> {
    let request = Request::of(prompt)?;
    if partial.is_on() {
        let started = client
            .converse_stream()
            .model_id(model_id)
            .set_messages(Some(request.messages.clone()))
            .set_system(request.system.clone())
            .set_inference_config(request.inference.clone())
            .send()
            .await;
        match started {
            Ok(answer) => return streamed(answer.stream, model_id, partial).await,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| Refusal::of_converse_stream(e) == Refusal::AccessDenied) => {}
            Err(error) => {
                let action = "bedrock:InvokeModelWithResponseStream";
                return Err(refusal(
                    error,
                    Refusal::of_converse_stream,
                    action,
                    model_id,
                ));
            }
        }
    }
    let answer = client
        .converse()
        .model_id(model_id)
        .set_messages(Some(request.messages))
        .set_system(request.system)
        .set_inference_config(request.inference)
        .send()
        .await
        .map_err(|e| refusal(e, Refusal::of_converse, "bedrock:InvokeModel", model_id))?;
    let text = match answer.output() {
        Some(ConverseOutput::Message(message)) => message
            .content()
            .iter()
            .filter_map(|block| block.as_text().ok())
            .map(String::as_str)
            .collect(),
        _ => String::new(),
    };
    Ok(Reply {
        text,
        input_tokens: answer.usage().map(|u| u.input_tokens().max(0) as u64),
        output_tokens: answer.usage().map(|u| u.output_tokens().max(0) as u64),
        model: model_id.to_string(),
        stop_reason: Some(answer.stop_reason().as_str().to_string()),
    })
}

/// ConverseStream's events: the text deltas appended and reported, the stop reason and usage from the
/// events that carry them. A stream that ends before its stop event was cut off, and an error event
/// mid-stream (throttling, a model stream error) fails the attempt: another may go better.
async fn streamed(
    mut stream: aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver<
        ConverseStreamOutput,
        ConverseStreamOutputError,
    >,
    model_id: &str,
    partial: &Partial,
) -> Result<Reply, Failure> {
    let mut reply = Reply::nothing_yet(model_id);
    loop {
        let event = stream.recv().await.map_err(|e| {
            Failure::retry(format!(
                "the model's answer stopped: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ))
        })?;
        match event {
            Some(ConverseStreamOutput::ContentBlockDelta(delta)) => {
                if let Some(ContentBlockDelta::Text(text)) = delta.delta() {
                    reply.text.push_str(text);
                    partial.set(&reply.text);
                }
            }
            Some(ConverseStreamOutput::MessageStop(stop)) => {
                reply.stop_reason = Some(stop.stop_reason().as_str().to_string());
            }
            Some(ConverseStreamOutput::Metadata(metadata)) => {
                let usage = metadata.usage();
                reply.input_tokens = usage.map(|u| u.input_tokens().max(0) as u64);
                reply.output_tokens = usage.map(|u| u.output_tokens().max(0) as u64);
            }
            Some(_) => {}
            None if reply.stop_reason.is_some() => return Ok(reply),
            None => {
                return Err(Failure::retry(
                    "the model's answer stopped before its end (no messageStop)",
                ));
            }
        }
    }
}

/// What Converse and ConverseStream are asked alike: the turns, the system prompt, the options set.
struct Request {
    messages: Vec<Message>,
    system: Option<Vec<SystemContentBlock>>,
    inference: Option<InferenceConfiguration>,
}

impl Request {
    fn of(prompt: &Prompt) -> Result<Request, Failure> {
        let messages = prompt
            .turns
            .iter()
            .map(|turn| {
                Message::builder()
                    .role(match turn.role {
                        Role::User => ConversationRole::User,
                        Role::Assistant => ConversationRole::Assistant,
                    })
                    .content(ContentBlock::Text(turn.text.clone()))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::refused(format!("building the Converse request: {e}")))?;
        let inference = (prompt.temperature.is_some() || prompt.max_tokens.is_some()).then(|| {
            InferenceConfiguration::builder()
                .set_max_tokens(prompt.max_tokens.map(|n| n.min(i32::MAX as u32) as i32))
                .set_temperature(prompt.temperature.map(|t| t as f32))
                .build()
        });
        Ok(Request {
            messages,
            system: prompt
                .system
                .clone()
                .map(|system| vec![SystemContentBlock::Text(system)]),
            inference,
        })
    }
}

/// Why Bedrock refused a call, whichever of its operations it was.
#[derive(PartialEq)]
enum Refusal {
    Invalid,
    AccessDenied,
    NoSuchModel,
    /// Throttling, time-outs, faults: worth another attempt.
    Passing,
}

impl Refusal {
    fn of_converse(error: &ConverseError) -> Refusal {
        match error {
            ConverseError::ValidationException(_) => Refusal::Invalid,
            ConverseError::AccessDeniedException(_) => Refusal::AccessDenied,
            ConverseError::ResourceNotFoundException(_) => Refusal::NoSuchModel,
            _ => Refusal::Passing,
        }
    }

    fn of_converse_stream(error: &ConverseStreamError) -> Refusal {
        match error {
            ConverseStreamError::ValidationException(_) => Refusal::Invalid,
            ConverseStreamError::AccessDeniedException(_) => Refusal::AccessDenied,
            ConverseStreamError::ResourceNotFoundException(_) => Refusal::NoSuchModel,
            _ => Refusal::Passing,
        }
    }
}

/// A failed Converse or ConverseStream call: throttling, time-outs and faults are worth another attempt;
/// a request the model refuses, access denied or an unknown model are final, in Bedrock's own words.
fn refusal<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: SdkError<E>,
    why: fn(&E) -> Refusal,
    action: &str,
    model_id: &str,
) -> Failure {
    let Some(service) = error.as_service_error() else {
        return Failure::retry(format!(
            "calling Bedrock: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&error)
        ));
    };
    let code = service.code().unwrap_or("an unnamed error");
    let said = service.message().unwrap_or("no message");
    match why(service) {
        Refusal::Invalid => {
            Failure::refused(format!("the model refused the request ({code}): {said}"))
        }
        Refusal::AccessDenied => Failure::refused(format!(
            "Bedrock denied access ({code}): {said}; allow the worker's role {action} on {}",
            resource(model_id)
        )),
        Refusal::NoSuchModel => Failure::refused(format!(
            "Bedrock has no model `{model_id}` here ({code}): {said}"
        )),
        Refusal::Passing => Failure::retry(format!("Bedrock answered {code}: {said}")),
    }
}

/// The resource an IAM policy must name for a model: the ARN as given, an inference profile (ids with a
/// geography prefix such as `us.`), or a foundation model.
fn resource(model_id: &str) -> String {
    if model_id.starts_with("arn:") {
        model_id.to_string()
    } else if model_id.split('.').count() > 2 {
        format!(
            "arn:aws:bedrock:REGION:ACCOUNT:inference-profile/{model_id} and the foundation models it routes to"
        )
    } else {
        format!("arn:aws:bedrock:REGION::foundation-model/{model_id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_names_the_resource_to_allow() {
        assert_eq!(
            resource("anthropic.claude-3-haiku-20240307-v1:0"),
            "arn:aws:bedrock:REGION::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert!(
            resource("us.anthropic.claude-3-haiku-20240307-v1:0").contains("inference-profile/")
        );
        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc";
        assert_eq!(resource(arn), arn);
    }
}
