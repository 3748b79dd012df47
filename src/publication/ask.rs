//! The client side of the published API in one call: `POST /predict`, then `GET /result/{request_id}`
//! (seed 000), or `POST /conversation`, then `GET /conversation/{conversation_id}/{message_id}` (seed 003),
//! with a backoff that starts near 100 ms and settles near 2 s, until the answer says `completed` or `failed`.
//! While the bot writes, the text so far (a partial answer) is handed on as it grows, and polls stay quick.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::results::Status;
use crate::spec::model::Contract;

/// How an asked question ended.
#[derive(Debug)]
pub enum Answer {
    /// The result document, `status: completed`.
    Completed(Value),
    /// The result document, `status: failed`, after the bot's last attempt.
    Failed(Value),
}

impl Answer {
    /// The answer's text: a predict result's `response`, or the text items of a conversation's message.
    pub fn text(doc: &Value) -> String {
        if let Some(content) = doc["message"]["content"].as_array() {
            return content
                .iter()
                .filter(|item| item["content_type"] == "text")
                .filter_map(|item| item["body"].as_str())
                .collect::<Vec<_>>()
                .join("\n");
        }
        match &doc["response"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

/// What to ask, and of which API.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub message: &'a str,
    pub contract: Contract,
    /// The conversation to continue (the conversation contract); none starts a new one.
    pub conversation_id: Option<&'a str>,
}

impl Question<'_> {
    /// The POST's path and body.
    fn post(&self) -> (&'static str, String) {
        match self.contract {
            Contract::Predict => ("predict", json!({ "message": self.message }).to_string()),
            Contract::Conversation => {
                let mut body = json!({
                    "message": {"content": [{"content_type": "text", "body": self.message}]}
                });
                if let Some(id) = self.conversation_id {
                    body["conversation_id"] = json!(id);
                }
                ("conversation", body.to_string())
            }
        }
    }

    /// Where the answer to an accepted POST is read, and the id that names it.
    fn answer_path(&self, accepted: &Value) -> Option<(String, String)> {
        match self.contract {
            Contract::Predict => {
                let id = accepted["request_id"].as_str()?;
                Some((format!("result/{id}"), id.to_string()))
            }
            Contract::Conversation => {
                let conversation = accepted["conversation_id"].as_str()?;
                let message = accepted["message_id"].as_str()?;
                Some((
                    format!("conversation/{conversation}/{message}"),
                    message.to_string(),
                ))
            }
        }
    }
}

/// How each request proves who calls: a key of the bot's usage plan, an AWS Signature Version 4 of the
/// caller's credentials (bots with `auth: iam` or `both`), or both.
#[derive(Clone, Default)]
pub struct Caller {
    pub key: Option<String>,
    pub signer: Option<Signer>,
}

/// Signs requests for API Gateway (`execute-api`) with the AWS SDK's own SigV4 signer.
#[derive(Clone)]
pub struct Signer {
    identity: aws_smithy_runtime_api::client::identity::Identity,
    region: String,
}

impl Signer {
    /// The credentials the AWS configuration resolves to (environment, profile, SSO, instance role...).
    pub async fn from_config(
        config: &aws_config::SdkConfig,
        region: &str,
    ) -> anyhow::Result<Signer> {
        use aws_credential_types::provider::ProvideCredentials;
        let provider = config
            .credentials_provider()
            .ok_or_else(|| anyhow::anyhow!("--sigv4: no AWS credentials are configured"))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| anyhow::anyhow!("--sigv4: no AWS credentials to sign with: {e}"))?;
        Ok(Signer {
            identity: credentials.into(),
            region: region.to_string(),
        })
    }

    /// Adds the signature's headers (`authorization`, `x-amz-date`, `x-amz-security-token`) to a request
    /// whose other headers are final: they are signed too.
    fn sign(&self, request: &mut ureq::http::Request<Vec<u8>>) -> anyhow::Result<()> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers.into_iter(),
            SignableBody::Bytes(request.body()),
        )?;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("execute-api")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let (instructions, _) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// The API answered with an error status: a refused key or signature (403), the throttle (429), ...
#[derive(Debug)]
pub struct Refused {
    pub request: String,
    pub status: u16,
    pub body: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} answered {}: {}",
            self.request,
            self.status,
            self.body.trim()
        )
    }
}

impl std::error::Error for Refused {}

/// One HTTP exchange's status and body.
struct Reply {
    status: u16,
    body: String,
}

/// How soon to poll again while the answer's text is growing.
const WHILE_WRITTEN: Duration = Duration::from_millis(150);

/// Asks the question at the API under `base_url` as `caller`, waiting at most `timeout` for the answer;
/// `written` gets the answer's text so far each time it changed while the bot writes.
pub async fn ask(
    base_url: &str,
    caller: &Caller,
    question: Question<'_>,
    timeout: Duration,
    mut written: impl FnMut(&str),
) -> anyhow::Result<Answer> {
    let started = Instant::now();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let base = base_url.trim_end_matches('/');
    let (path, body) = question.post();
    let posted = call(
        &agent,
        "POST",
        &format!("{base}/{path}"),
        caller,
        Some(body),
    )
    .await?;
    let accepted: Value = serde_json::from_str(&posted.body).unwrap_or(Value::Null);
    let (answer_path, request_id) = match (posted.status, question.answer_path(&accepted)) {
        (200..=299, Some(found)) => found,
        _ => {
            return Err(Refused {
                request: format!("POST {base}/{path}"),
                status: posted.status,
                body: posted.body,
            }
            .into());
        }
    };
    let url = format!("{base}/{answer_path}");
    let mut delay = Duration::from_millis(100);
    let mut so_far = String::new();
    loop {
        let reply = call(&agent, "GET", &url, caller, None).await?;
        let doc: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        match (reply.status, Status::of(&doc)) {
            (200, Some(Status::Completed)) => return Ok(Answer::Completed(doc)),
            (200, Some(Status::Failed)) => return Ok(Answer::Failed(doc)),
            (200..=299, _) => {}
            (status, _) => {
                return Err(Refused {
                    request: format!("GET {url}"),
                    status,
                    body: reply.body,
                }
                .into());
            }
        }
        let text = Answer::text(&doc);
        if doc["sequence"].is_u64() && text != so_far {
            written(&text);
            so_far = text;
            delay = WHILE_WRITTEN;
        }
        if started.elapsed() + delay > timeout {
            anyhow::bail!(
                "no answer to request {request_id} after {}: the bot's worker may not be running (`botpub worker`); ask for it later at GET {url}",
                humantime::format_duration(Duration::from_secs(timeout.as_secs()))
            );
        }
        tokio::time::sleep(delay).await;
        delay = delay.mul_f64(1.5).min(Duration::from_secs(2));
    }
}

/// One request, on a thread of its own (the HTTP client blocks).
async fn call(
    agent: &ureq::Agent,
    method: &'static str,
    url: &str,
    caller: &Caller,
    body: Option<String>,
) -> anyhow::Result<Reply> {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(key) = &caller.key {
        request = request.header("x-api-key", key);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let mut request = request
        .body(body.unwrap_or_default().into_bytes())
        .map_err(|e| anyhow::anyhow!("{method} {url}: {e}"))?;
    if let Some(signer) = &caller.signer {
        signer
            .sign(&mut request)
            .map_err(|e| anyhow::anyhow!("{method} {url}: signing: {e}"))?;
    }
    let (agent, url) = (agent.clone(), url.to_string());
    tokio::task::spawn_blocking(move || {
        let mut reply = agent
            .run(request)
            .map_err(|e| anyhow::anyhow!("{method} {url}: {e}"))?;
        let status = reply.status().as_u16();
        let body = reply
            .body_mut()
            .read_to_string()
            .map_err(|e| anyhow::anyhow!("{method} {url}: reading the answer: {e}"))?;
        Ok(Reply { status, body })
    })
    .await?
}
