//! What a failed AWS call means: one error type ([`AwsError`]) that keeps AWS's code, message and the
//! SDK's error, the [`Fact`] botpub acts on, decided once from them, and the one-line explanation a user
//! reads, root cause first.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Whether a failed request is worth sending again: throttled, a fault on the server's side, or no answer
/// at all. For the requests botpub resends itself, because a blind retry of them could act twice.
pub fn is_transient<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error() || fact(error) == Fact::Throttled
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    }
}

/// Root cause first: the service's error code and message, or what went wrong on the way there.
pub fn explain<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let text = match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            match (err.code(), err.message()) {
                (Some(code @ ("ExpiredToken" | "ExpiredTokenException" | "RequestExpired")), _) => {
                    format!("the AWS credentials have expired ({code}); refresh them and run botpub again")
                }
                (Some(code @ ("InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch")), _) => {
                    format!("AWS does not accept these credentials ({code}); check the access key, secret and profile")
                }
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => innermost(error),
            }
        }
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        SdkError::DispatchFailure(failure) if failure.is_io() => format!("cannot connect: {}", innermost(error)),
        _ if innermost(error).contains("no credentials") => {
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile, or run `aws configure`"
                .to_string()
        }
        _ => innermost(error),
    };
    // One line: some errors (the credential chain) explain themselves over many.
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches(':')
        .to_string()
}

/// The last error in the `source()` chain: the one that says what actually happened.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// The error code of a service error, if it is one.
fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// What a failed AWS call means, as far as botpub acts on it. Decided once, here, from the error code
/// and (where AWS has no code of its own for it) the message, so that no caller reads error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// What was asked for does not exist (a stack, change set, resource, key, bucket, object, queue).
    NotFound,
    /// It exists already, or conflicts with what does.
    AlreadyExists,
    /// Another operation on the stack or change set is under way.
    Busy,
    /// The engine does not offer the operation (an emulator's gap).
    Unsupported,
    /// Too many requests.
    Throttled,
    /// No answer: no connection, a timeout, a broken response.
    Unreachable,
    /// Anything else AWS refused or failed.
    Other,
}

impl Fact {
    fn of_service(code: &str, message: &str) -> Fact {
        match code {
            "ChangeSetNotFound"
            | "NotFoundException"
            | "NoSuchBucket"
            | "NoSuchKey"
            | "NotFound"
            | "ResourceNotFoundException"
            | "AWS.SimpleQueueService.NonExistentQueue"
            | "QueueDoesNotExist" => Fact::NotFound,
            "ConflictException" | "AlreadyExistsException" | "BucketAlreadyOwnedByYou" => {
                Fact::AlreadyExists
            }
            "InvalidChangeSetStatus" | "OperationInProgressException" => Fact::Busy,
            "UnsupportedOperation" | "InvalidAction" | "UnknownOperation" | "NotImplemented" => {
                Fact::Unsupported
            }
            "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded" => Fact::Throttled,
            // CloudFormation answers these with a plain ValidationError; only its message tells.
            _ if message.contains("does not exist") => Fact::NotFound,
            _ if message.contains("already exists") => Fact::AlreadyExists,
            _ if message.contains("_IN_PROGRESS") => Fact::Busy,
            _ if message.contains("not implemented") || message.contains("not yet implemented") => {
                Fact::Unsupported
            }
            _ => Fact::Other,
        }
    }
}

/// The fact of a failed call.
pub fn fact<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Fact {
    match error {
        SdkError::ServiceError(service) => Fact::of_service(
            service.err().code().unwrap_or_default(),
            service.err().message().unwrap_or_default(),
        ),
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            Fact::Unreachable
        }
        _ => Fact::Other,
    }
}

/// A failed AWS call: what botpub was doing, AWS's code and message, what that means ([`Fact`]), and the
/// the SDK's error itself. It reads as one line, root cause first.
pub struct AwsError {
    pub doing: String,
    pub code: Option<String>,
    pub message: Option<String>,
    pub fact: Fact,
    explained: String,
    sdk_error: Box<dyn std::error::Error + Send + Sync>,
}

impl AwsError {
    pub fn new<E, R>(error: SdkError<E, R>, doing: impl std::fmt::Display) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        AwsError {
            doing: doing.to_string(),
            code: error_code(&error).map(str::to_string),
            message: match &error {
                SdkError::ServiceError(service) => service.err().message().map(str::to_string),
                _ => None,
            },
            fact: fact(&error),
            explained: explain(&error),
            sdk_error: Box::new(error),
        }
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.doing, self.explained)
    }
}

/// The SDK's error is kept, but not offered as `source()`: reports print the whole source chain (`{:#}`),
/// and the SDK's (the credential chain's above all) runs over many lines that the one-line message
/// already says. `{:?}` shows it, with everything the SDK knows.
impl std::error::Error for AwsError {}

impl std::fmt::Debug for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsError")
            .field("doing", &self.doing)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("fact", &self.fact)
            .field("sdk_error", &self.sdk_error)
            .finish()
    }
}

/// `.aws("what was being done")?` turns an SDK error into an [`AwsError`].
pub trait AwsContext<T> {
    fn aws(self, doing: impl std::fmt::Display) -> anyhow::Result<T>;
}

impl<T, E, R> AwsContext<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn aws(self, doing: impl std::fmt::Display) -> anyhow::Result<T> {
        self.map_err(|error| AwsError::new(error, doing).into())
    }
}

#[cfg(test)]
mod tests {
    use super::Fact;

    #[test]
    fn what_aws_said_becomes_the_fact_botpub_acts_on() {
        let cases = [
            (
                "ValidationError",
                "Stack with id BotPub-a does not exist",
                Fact::NotFound,
            ),
            ("ChangeSetNotFound", "", Fact::NotFound),
            (
                "ValidationError",
                "Stack [BotPub-a] already exists and cannot be created again with the changeSet [c]",
                Fact::AlreadyExists,
            ),
            (
                "ValidationError",
                "Stack:arn:a is in UPDATE_IN_PROGRESS state and can not be updated.",
                Fact::Busy,
            ),
            ("InvalidChangeSetStatus", "", Fact::Busy),
            ("InvalidAction", "", Fact::Unsupported),
            (
                "InternalFailure",
                "API action 'StartMessageMoveTask' is not yet implemented",
                Fact::Unsupported,
            ),
            ("ThrottlingException", "Rate exceeded", Fact::Throttled),
            ("ValidationError", "Template format error", Fact::Other),
        ];
        for (code, message, fact) in cases {
            assert_eq!(Fact::of_service(code, message), fact, "{code}: {message}");
        }
    }
}
