//! The connection to AWS: configuration resolved as the AWS CLI resolves it (profiles, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`), botpub's own overrides, bounded retries, and one
//! interceptor that counts every request and, with `--verbose`, logs it. What a failed call means is
//! [`error`]'s.

mod error;

pub use error::{AwsContext, AwsError, Fact, explain, fact, is_transient};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// How to reach AWS, from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub verbose: bool,
}

/// Clients for the services botpub uses, sharing one configuration and one request log.
#[derive(Clone)]
pub struct Aws {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub s3: aws_sdk_s3::Client,
    pub codebuild: aws_sdk_codebuild::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub region: String,
    /// The custom endpoint every service is reached through (LocalStack, a proxy), if any.
    pub endpoint_url: Option<String>,
    /// Whether that endpoint is LocalStack, once asked.
    localstack: Arc<tokio::sync::OnceCell<bool>>,
    /// The S3 endpoint when it is not AWS's own (LocalStack, a proxy): template URLs must point there.
    pub s3_endpoint: Option<String>,
    requests: Arc<Recorder>,
    /// What every client is made from, for the clients only some commands need (the model backends).
    config: aws_config::SdkConfig,
}

/// A model call's timeouts: connecting is quick, answering is the worker's `--timeout` to bound.
fn model_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .disable_operation_attempt_timeout()
        .build()
}

/// Fails within two seconds when the host of a custom endpoint does not resolve.
async fn resolves(url: &str) -> anyhow::Result<()> {
    let Some(rest) = url.split_once("://").map(|(_, rest)| rest) else {
        anyhow::bail!(
            "the endpoint `{url}` is not a URL (expected http://HOST[:PORT] or https://...)"
        );
    };
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = match authority.rsplit_once(':') {
        Some((_, port))
            if port.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']') =>
        {
            authority.to_string()
        }
        _ if url.starts_with("https://") => format!("{authority}:443"),
        _ => format!("{authority}:80"),
    };
    match tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host(host_port)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => anyhow::bail!("the endpoint `{url}` does not resolve: {error}"),
        Err(_) => anyhow::bail!("the endpoint `{url}` did not resolve within 2 s"),
    }
}

/// Throttling and transient faults are retried with exponential backoff and jitter; this many attempts
/// spans about a minute of a throttled API before an operation gives up.
pub const MAX_ATTEMPTS: u32 = 10;

/// Every request is tried up to [`MAX_ATTEMPTS`] times, with backoff capped at 8 s.
fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_max_backoff(Duration::from_secs(8))
}

/// A connection is quick to make; an attempt that takes half a minute will not answer.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(30))
        .build()
}

/// The pause before botpub resends such a request: exponential from 200 ms, capped near the SDK's own.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(200 << attempt.min(5)).mul_f64(0.8 + fastrand::f64() * 0.4)
}

impl Aws {
    pub async fn connect(options: &Options) -> anyhow::Result<Aws> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retries())
            .timeout_config(timeouts());
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let Some(region) = config.region().map(|r| r.to_string()) else {
            anyhow::bail!(
                "no AWS region: pass --region, set AWS_REGION, or set `region` in the spec"
            );
        };
        // Fail at once where every request could only fail after retried DNS look-ups: a region AWS does
        // not have (unless a custom endpoint serves it), or a custom endpoint whose host does not resolve.
        let service_endpoints =
            std::env::vars().any(|(k, v)| k.starts_with("AWS_ENDPOINT_URL_") && !v.is_empty());
        match config.endpoint_url() {
            None if !service_endpoints && !crate::regions::is_known(&region) => {
                anyhow::bail!("{}", crate::regions::unknown(&region))
            }
            Some(url) => resolves(url).await?,
            None => {}
        }
        // A custom endpoint (LocalStack, a proxy) has no per-bucket DNS names: address buckets by path.
        let s3_endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .filter(|url| !url.is_empty() && options.endpoint_url.is_none())
            .or_else(|| config.endpoint_url().map(str::to_string));
        Ok(Aws::from_config(
            config,
            region,
            s3_endpoint,
            options.verbose,
        ))
    }

    /// Clients whose every request `answer` answers, with botpub's own retries and timeouts: the
    /// in-process tests of retry, give-up and lost-contact paths run on it, in paused time.
    #[cfg(test)]
    pub fn scripted(
        answer: impl Fn(http::Request<aws_smithy_types::body::SdkBody>) -> http::Response<String>
        + Send
        + Sync
        + 'static,
    ) -> Aws {
        Aws::scripted_after(move |request| (Duration::ZERO, answer(request)))
    }

    /// [`Aws::scripted`], each answer given after the time the script says (as a long poll waits for
    /// messages), on tokio's clock.
    #[cfg(test)]
    pub fn scripted_after(
        answer: impl Fn(
            http::Request<aws_smithy_types::body::SdkBody>,
        ) -> (Duration, http::Response<String>)
        + Send
        + Sync
        + 'static,
    ) -> Aws {
        use aws_sdk_cloudformation::config::{Credentials, SharedCredentialsProvider};
        let config = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "scripted",
            )))
            .http_client(scripted::Script(std::sync::Arc::new(answer)))
            .retry_config(retries())
            .timeout_config(timeouts())
            .build();
        Aws::from_config(config, "us-east-1".to_string(), None, false)
    }

    /// The clients, made from a loaded configuration.
    fn from_config(
        config: aws_config::SdkConfig,
        region: String,
        s3_endpoint: Option<String>,
        verbose: bool,
    ) -> Aws {
        let requests = Arc::new(Recorder {
            verbose,
            requests: AtomicU64::new(0),
        });
        let recorder = RecorderHandle(requests.clone());
        let cloudformation = aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::config::Builder::from(&config)
                .interceptor(recorder.clone())
                .build(),
        );
        let apigateway = aws_sdk_apigateway::Client::from_conf(
            aws_sdk_apigateway::config::Builder::from(&config)
                .interceptor(recorder.clone())
                .build(),
        );
        let codebuild = aws_sdk_codebuild::Client::from_conf(
            aws_sdk_codebuild::config::Builder::from(&config)
                .interceptor(recorder.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config)
                .interceptor(recorder.clone())
                .build(),
        );
        let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&config)
                .interceptor(recorder.clone())
                .build(),
        );
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(s3_endpoint.is_some())
                .interceptor(recorder)
                .build(),
        );
        Aws {
            cloudformation,
            apigateway,
            s3,
            codebuild,
            sqs,
            cloudwatch,
            region,
            endpoint_url: config.endpoint_url().map(str::to_string),
            localstack: Arc::default(),
            s3_endpoint,
            requests,
            config,
        }
    }

    /// The AWS configuration every client is made from: its credentials sign `ask --sigv4`'s requests.
    pub fn config(&self) -> &aws_config::SdkConfig {
        &self.config
    }

    /// A Bedrock Runtime client (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME` reaches a stand-in). A model may take
    /// minutes: the worker's own timeout ends a call, and throttling is retried three times here.
    pub fn bedrock_runtime(&self) -> aws_sdk_bedrockruntime::Client {
        aws_sdk_bedrockruntime::Client::from_conf(
            aws_sdk_bedrockruntime::config::Builder::from(&self.config)
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .timeout_config(model_timeouts())
                .interceptor(RecorderHandle(self.requests.clone()))
                .build(),
        )
    }

    /// An AgentCore client (`AWS_ENDPOINT_URL_BEDROCK_AGENTCORE` reaches a stand-in), timed and retried as
    /// [`Aws::bedrock_runtime`].
    pub fn agentcore(&self) -> aws_sdk_bedrockagentcore::Client {
        aws_sdk_bedrockagentcore::Client::from_conf(
            aws_sdk_bedrockagentcore::config::Builder::from(&self.config)
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .timeout_config(model_timeouts())
                .interceptor(RecorderHandle(self.requests.clone()))
                .build(),
        )
    }

    /// The URL clients call a published API at. On AWS that is the stack's `Endpoint` output
    /// (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`); through a custom endpoint such as
    /// LocalStack, that host answers nothing, and the API is served under the endpoint itself, at
    /// `{endpoint}/_aws/execute-api/{api}/{stage}`.
    pub fn api_url(&self, aws_endpoint: &str) -> String {
        let Some(custom) = &self.endpoint_url else {
            return aws_endpoint.to_string();
        };
        let Some((host, stage)) = aws_endpoint
            .strip_prefix("https://")
            .and_then(|rest| rest.split_once('/'))
        else {
            return aws_endpoint.to_string();
        };
        let api_id = host.split('.').next().unwrap_or(host);
        format!(
            "{}/_aws/execute-api/{api_id}/{stage}",
            custom.trim_end_matches('/')
        )
    }

    /// Whether the engine behind the custom endpoint is LocalStack, which has behaviours of its own that
    /// users must be warned of. It is asked, not guessed from the URL: `GET /_localstack/health` is
    /// LocalStack's own status page, which AWS does not have, and which a proxy that forwards everything to
    /// LocalStack passes on (rightly: the engine behind it is what behaves so). No custom endpoint: false.
    pub async fn is_localstack(&self) -> bool {
        let Some(endpoint) = self.endpoint_url.clone() else {
            return false;
        };
        *self
            .localstack
            .get_or_init(|| async move {
                let url = format!("{}/_localstack/health", endpoint.trim_end_matches('/'));
                tokio::task::spawn_blocking(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .timeout_global(Some(Duration::from_secs(2)))
                        .build()
                        .into();
                    agent
                        .get(&url)
                        .call()
                        .ok()
                        .and_then(|mut reply| reply.body_mut().read_to_string().ok())
                        .is_some_and(|body| body.contains("\"services\""))
                })
                .await
                .unwrap_or(false)
            })
            .await
    }

    /// Requests sent so far (each operation once, however many attempts it took).
    pub fn requests(&self) -> u64 {
        self.requests.requests.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Recorder {
    verbose: bool,
    requests: AtomicU64,
}

#[derive(Debug, Clone)]
struct RecorderHandle(Arc<Recorder>);

/// Per-operation state kept in the request's config bag between hooks.
#[derive(Debug, Clone)]
struct Flight {
    started: Instant,
    attempts: u32,
    target: String,
}

impl Storable for Flight {
    type Storer = StoreReplace<Self>;
}

impl Intercept for RecorderHandle {
    fn name(&self) -> &'static str {
        "botpub-request-recorder"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Flight {
            started: Instant::now(),
            attempts: 0,
            target: String::new(),
        });
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(mut flight) = cfg.load::<Flight>().cloned() {
            flight.attempts += 1;
            if flight.target.is_empty() {
                let request = context.request();
                flight.target = target(request.uri(), request.body().bytes());
            }
            cfg.interceptor_state().store_put(flight);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        if self.0.verbose {
            let operation = cfg
                .load::<Metadata>()
                .map(|m| format!("{}.{}", m.service(), m.name()))
                .unwrap_or_default();
            let status = context
                .response()
                .map(|r| format!("HTTP {}", r.status().as_u16()))
                .unwrap_or_else(|| "no response".to_string());
            if let Some(flight) = cfg.load::<Flight>() {
                let plural = if flight.attempts == 1 { "" } else { "s" };
                eprintln!(
                    "aws: {operation} {} {} ms, {} attempt{plural}, {status}",
                    flight.target,
                    flight.started.elapsed().as_millis(),
                    flight.attempts
                );
            }
        }
        Ok(())
    }
}

/// What a request is about, for the log: the stack of a CloudFormation request (its form body names it),
/// else the URL path. Never a body or query string: those can carry values that are nobody's business.
fn target(uri: &str, body: Option<&[u8]>) -> String {
    let form = body
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or_default();
    let stack = form
        .split('&')
        .find_map(|pair| pair.strip_prefix("StackName="));
    match stack {
        Some(name) => format!("stack={}", name.replace("%2F", "/").replace("%3A", ":")),
        None => {
            let path = uri
                .split_once("://")
                .map_or(uri, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
            path.split('?').next().unwrap_or(path).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn names_the_stack_or_the_path_and_never_the_query() {
        assert_eq!(
            target(
                "http://127.0.0.1:4566/",
                Some(b"Action=DescribeStacks&StackName=BotPub-a&Version=1")
            ),
            "stack=BotPub-a"
        );
        assert_eq!(
            target(
                "https://apigateway.us-east-1.amazonaws.com/apikeys/k1?includeValue=true",
                None
            ),
            "/apikeys/k1"
        );
        assert_eq!(target("https://x.example", None), "/");
    }
}

/// The HTTP client of [`Aws::scripted_after`].
#[cfg(test)]
mod scripted {
    use std::sync::Arc;
    use std::time::Duration;

    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_runtime_api::http::Response;
    use aws_smithy_types::body::SdkBody;

    type Answer =
        dyn Fn(http::Request<SdkBody>) -> (Duration, http::Response<String>) + Send + Sync;

    #[derive(Clone)]
    pub struct Script(pub Arc<Answer>);

    impl std::fmt::Debug for Script {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Script")
        }
    }

    impl HttpConnector for Script {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let (after, answer) = (self.0)(request.try_into_http1x().unwrap());
            HttpConnectorFuture::new(async move {
                tokio::time::sleep(after).await;
                Ok(Response::try_from(answer.map(SdkBody::from)).unwrap())
            })
        }
    }

    impl HttpClient for Script {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }
}
