//! Amazon Bedrock Runtime's Converse API: one call for any Bedrock model (model ids, inference profile ids
//! and ARNs), the system prompt and inference options in Bedrock's own fields, the usage in its answer.

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message,
    SystemContentBlock,
};

use super::{Prompt, Reply, Role};
use crate::worker::reply::Failure;

/// Asks the model once.
pub async fn converse(
    client: &aws_sdk_bedrockruntime::Client,
    model_id: &str,
    prompt: &Prompt,
) -> Result<Reply, Failure> {
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
    let mut request = client
        .converse()
        .model_id(model_id)
        .set_messages(Some(messages));
    if let Some(system) = &prompt.system {
        request = request.system(SystemContentBlock::Text(system.clone()));
    }
    if prompt.temperature.is_some() || prompt.max_tokens.is_some() {
        request = request.inference_config(
            InferenceConfiguration::builder()
                .set_max_tokens(prompt.max_tokens.map(|n| n.min(i32::MAX as u32) as i32))
                .set_temperature(prompt.temperature.map(|t| t as f32))
                .build(),
        );
    }
    let answer = request.send().await.map_err(|e| refusal(e, model_id))?;
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

/// A failed Converse call: throttling, time-outs and faults are worth another attempt; a request the model
/// refuses, access denied or an unknown model are final, in Bedrock's own words.
fn refusal(error: SdkError<ConverseError>, model_id: &str) -> Failure {
    let Some(service) = error.as_service_error() else {
        return Failure::retry(format!(
            "calling Bedrock: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&error)
        ));
    };
    let code = service.code().unwrap_or("an unnamed error");
    let said = service.message().unwrap_or("no message");
    match service {
        ConverseError::ValidationException(_) => {
            Failure::refused(format!("the model refused the request ({code}): {said}"))
        }
        ConverseError::AccessDeniedException(_) => Failure::refused(format!(
            "Bedrock denied access ({code}): {said}; allow the worker's role bedrock:InvokeModel on {}",
            resource(model_id)
        )),
        ConverseError::ResourceNotFoundException(_) => Failure::refused(format!(
            "Bedrock has no model `{model_id}` here ({code}): {said}"
        )),
        _ => Failure::retry(format!("Bedrock answered {code}: {said}")),
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
