//! The spec file as written: the types that define the YAML format and its JSON Schema.
//!
//! Every field is optional at this layer (with `#[schemars(required)]` where the format demands it) so that
//! reading never stops at the first missing field: `validate` checks presence and meaning, and reports all
//! problems at once. Doc comments here become the schema's descriptions, which editors show on hover.

use std::collections::BTreeMap;

use schemars::JsonSchema;

use super::limits;
use serde::Deserialize;

/// A botpub publication spec (version 1): the bots to publish as REST APIs, and the shared firewall.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "botpub publication spec")]
pub struct SpecFile {
    /// Spec format version. Only `1` exists.
    #[schemars(required, range(min = 1, max = 1))]
    pub version: Option<u64>,
    /// AWS region to publish in, e.g. `us-east-1`. Optional: otherwise `--region` or the AWS configuration decides.
    #[schemars(pattern(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"))]
    pub region: Option<String>,
    /// Prefix of every stack name: `<prefix>-<bot id>`, `<prefix>-firewall`, `<prefix>-domain-<name>`,
    /// `<prefix>-toolkit`. Default `BotPub`.
    #[schemars(pattern(r"^[A-Za-z][A-Za-z0-9-]*$"), length(max = 64))]
    pub stack_prefix: Option<String>,
    /// One WAF web ACL shared by every API published in the account and region: only these ranges may call them.
    pub firewall: Option<Firewall>,
    /// Custom domain names that bots are served under (`https://NAME/BASE_PATH`). Each becomes its own
    /// stack, `<prefix>-domain-<name with dots as hyphens>`, shared by the bots whose `domain` names it;
    /// as many as API Gateway's default quota allows.
    #[schemars(length(max = limits::DOMAINS))]
    pub domains: Option<Vec<Domain>>,
    /// The bots to publish, each as its own REST API and stack.
    #[schemars(required, length(min = 1, max = limits::BOTS))]
    pub bots: Option<Vec<Bot>>,
}

/// IP allow-lists. Requests from other addresses are blocked by the web ACL.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Firewall {
    /// IPv4 ranges in CIDR form, e.g. `203.0.113.0/24`.
    #[schemars(length(max = limits::RANGES))]
    #[serde(default)]
    pub allowed_ipv4: Vec<String>,
    /// IPv6 ranges in CIDR form, e.g. `2001:db8::/32`.
    #[schemars(length(max = limits::RANGES))]
    #[serde(default)]
    pub allowed_ipv6: Vec<String>,
}

/// A custom domain name: an API Gateway regional domain name with its certificate.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// The host name clients call, e.g. `bots.example.com`: lower case, at most 253 characters.
    #[schemars(required, length(max = 253))]
    pub name: Option<String>,
    /// An ACM certificate for `name`, in the region the bots are published in (regional endpoint).
    #[schemars(
        required,
        pattern(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$")
    )]
    pub certificate_arn: Option<String>,
    /// Optional: the Route 53 hosted zone of `name`; botpub then creates the alias record that points
    /// `name` at API Gateway. Without it, point `name` at the domain stack's `RegionalDomainName` yourself.
    #[schemars(pattern(r"^[A-Z0-9]{1,32}$"))]
    pub hosted_zone_id: Option<String>,
    /// The TLS versions the domain accepts. Default `TLS_1_2`.
    pub security_policy: Option<SecurityPolicy>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
pub enum SecurityPolicy {
    /// TLS 1.2 and later.
    #[default]
    #[serde(rename = "TLS_1_2")]
    Tls12,
    /// TLS 1.0 and later, for old clients only.
    #[serde(rename = "TLS_1_0")]
    Tls10,
}

/// Where a bot is served on a custom domain.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotDomain {
    /// One of the names declared under the top-level `domains`.
    #[schemars(required)]
    pub name: Option<String>,
    /// The first path segment that leads to this bot: `https://NAME/BASE_PATH/...`. Default: the bot id.
    /// `(none)` maps the bot at the domain's root (one bot per domain at most).
    #[schemars(length(min = 1, max = 128), pattern(r"^(\(none\)|[A-Za-z0-9._-]+)$"))]
    pub base_path: Option<String>,
}

/// One bot, published as a standalone REST API with API keys, a usage plan and a work queue.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bot {
    /// Bot id: letters, digits and `-`, starting with a letter or digit. Names the stack `<prefix>-<id>`.
    #[schemars(required, pattern(r"^[A-Za-z0-9][A-Za-z0-9-]*$"))]
    pub id: Option<String>,
    /// Free text shown as the REST API's description.
    pub description: Option<String>,
    /// API Gateway stage name; part of the endpoint URL. Default `api`.
    #[schemars(pattern(r"^[A-Za-z0-9_-]+$"), length(max = 128))]
    pub stage: Option<String>,
    /// Request rate limits for the whole API (requests per second). Default 50 rps, burst 100.
    pub throttle: Option<Throttle>,
    /// Total requests allowed per period, across all keys of this bot. Default: no quota.
    pub quota: Option<Quota>,
    /// Browser origins allowed by CORS: `https://host[:port]` or `http://host[:port]`, or `["*"]` for any.
    #[schemars(required, length(min = 1, max = limits::ORIGINS))]
    pub allowed_origins: Option<Vec<String>>,
    /// The API clients call: `predict` (default: `POST /predict`, then `GET /result/{request_id}`) or
    /// `conversation` (Bedrock Chat's published API: `POST /conversation`, `GET /conversation/{id}`,
    /// `GET /conversation/{id}/{message_id}`, the history kept and given to the bot). Needs the queue backend.
    pub contract: Option<Contract>,
    /// What answers the API's requests. Default `{type: queue}`.
    pub backend: Option<Backend>,
    /// The SQS work queue that receives each accepted request.
    pub queue: Option<QueueSettings>,
    /// The results bucket that `GET /result/{request_id}` reads.
    pub results: Option<ResultsSettings>,
    /// Tags applied to the bot's stack and, through it, to its resources.
    pub tags: Option<BTreeMap<String, String>>,
    /// CloudWatch alarms and a dashboard for the bot, and who is told when an alarm goes off. On by default.
    pub monitoring: Option<Monitoring>,
    /// Serve the bot on a custom domain declared under `domains`, e.g. `{name: bots.example.com, base_path: support}`.
    pub domain: Option<BotDomain>,
    /// Who may call the API: an API key (default), an AWS SigV4 signature of an allowed IAM principal, or both.
    pub auth: Option<Auth>,
    /// The most model tokens (input plus output) each caller may spend per period, e.g.
    /// `{limit: 1000000, period: MONTH}`. A caller past it gets `failed` with `token_budget_exceeded`
    /// until the next period, without a model call. Default: no budget.
    pub token_budget: Option<TokenBudget>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBudget {
    /// Tokens (input plus output) per caller and period.
    #[schemars(required, range(min = 1, max = limits::TOKEN_BUDGET_MAX))]
    pub limit: Option<u64>,
    /// The period the limit applies to, in UTC: a day, a week from Monday, or a calendar month.
    #[schemars(required)]
    pub period: Option<Period>,
}

/// How callers prove who they are. Answers and conversations belong to the caller that asked: its API key,
/// or, with `type: iam`, its IAM principal.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `api_key` (default): each call carries a key of the bot's usage plan. `iam`: each call is signed
    /// (SigV4) by an allowed principal, and needs no key. `both`: signed, and a key that the usage plan meters.
    #[serde(rename = "type")]
    pub kind: Option<AuthKind>,
    /// IAM roles and users that may call (`iam`, `both`): `arn:aws:iam::123456789012:role/NAME`,
    /// `arn:aws:iam::123456789012:user/NAME`, or `arn:aws:iam::123456789012:root` for the whole account.
    #[schemars(length(max = limits::PRINCIPALS))]
    pub allowed_principals: Option<Vec<String>>,
    /// AWS accounts (12 digits) whose principals may call, as far as their own IAM policies allow.
    #[schemars(length(max = limits::ACCOUNTS))]
    pub allowed_accounts: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    #[default]
    ApiKey,
    Iam,
    Both,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// `false` leaves out the alarms, the dashboard and the notification topic. Default true.
    pub enabled: Option<bool>,
    /// Minutes the oldest waiting request may wait before the "no worker is answering" alarm.
    #[schemars(range(min = limits::MAX_WAIT_MINUTES.min, max = limits::MAX_WAIT_MINUTES.max))]
    #[schemars(extend("default" = limits::MAX_WAIT_MINUTES.default))]
    pub max_wait_minutes: Option<u64>,
    /// 5XX responses within 5 minutes that raise the server-error alarm.
    #[schemars(range(min = limits::MAX_5XX.min, max = limits::MAX_5XX.max))]
    #[schemars(extend("default" = limits::MAX_5XX.default))]
    pub max_5xx: Option<u64>,
    /// Share of 4XX responses within 5 minutes, in percent, above which the client-error alarm goes off
    /// (when at least 10 requests came in).
    #[schemars(range(min = limits::MAX_4XX_PERCENT.min, max = limits::MAX_4XX_PERCENT.max))]
    #[schemars(extend("default" = limits::MAX_4XX_PERCENT.default))]
    pub max_4xx_percent: Option<f64>,
    /// Model tokens (input plus output, every caller together) within an hour above which the token-spend
    /// alarm goes off. Default: no such alarm.
    #[schemars(range(min = 1, max = limits::TOKEN_BUDGET_MAX))]
    pub max_tokens_per_hour: Option<u64>,
    /// Email addresses told about alarms, through an encrypted SNS topic created for the bot.
    #[schemars(length(max = limits::EMAILS))]
    pub email: Option<Vec<String>>,
    /// An existing SNS topic to tell instead (not with `email`).
    #[schemars(pattern(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$"))]
    pub topic_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    /// Sustained requests per second.
    #[schemars(range(min = 0.0), extend("default" = limits::RATE_LIMIT_DEFAULT))]
    pub rate_limit: Option<f64>,
    /// Requests allowed in a burst (a whole number).
    #[schemars(range(min = 1, max = limits::COUNT_MAX))]
    #[schemars(extend("default" = limits::BURST_LIMIT_DEFAULT))]
    pub burst_limit: Option<u64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Requests allowed per period.
    #[schemars(required, range(min = 1, max = limits::COUNT_MAX))]
    pub limit: Option<u64>,
    /// The period the limit applies to.
    #[schemars(required)]
    pub period: Option<Period>,
    /// Requests subtracted from the first period's limit (0 ≤ offset < limit). Default 0.
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
pub enum Period {
    #[serde(rename = "DAY")]
    Day,
    #[serde(rename = "WEEK")]
    Week,
    #[serde(rename = "MONTH")]
    Month,
}

impl Period {
    /// As the spec spells it: `DAY`, `WEEK` or `MONTH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "DAY",
            Period::Week => "WEEK",
            Period::Month => "MONTH",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Contract {
    /// One request, one answer: `POST /predict` → `GET /result/{request_id}`.
    #[default]
    Predict,
    /// Conversations with their history: messages of one conversation answered one at a time, in order.
    Conversation,
}

impl Contract {
    pub fn is_predict(&self) -> bool {
        *self == Contract::Predict
    }

    /// The contract a bot stack's `Contract` output names; stacks published before contracts existed
    /// have no such output, and serve `predict`.
    pub fn from_output(output: Option<&str>) -> Contract {
        match output {
            Some("conversation") => Contract::Conversation,
            _ => Contract::Predict,
        }
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// `queue` (default): requests go straight to SQS and results are polled from S3, with no code in the
    /// request path. `lambda`: every path is proxied to `function_arn`.
    #[serde(rename = "type")]
    pub kind: Option<BackendKind>,
    /// With `type: lambda`: the function that answers every request (AWS_PROXY integration).
    #[schemars(pattern(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$"))]
    pub function_arn: Option<String>,
    /// With `type: lambda`, optional: a function that consumes the work queue (an event source mapping).
    #[schemars(pattern(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$"))]
    pub worker_function_arn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum BackendKind {
    #[serde(rename = "queue")]
    Queue,
    #[serde(rename = "lambda")]
    Lambda,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// Seconds a received message stays hidden from other workers.
    #[schemars(range(
        min = limits::VISIBILITY_TIMEOUT_SECONDS.min,
        max = limits::VISIBILITY_TIMEOUT_SECONDS.max
    ))]
    #[schemars(extend("default" = limits::VISIBILITY_TIMEOUT_SECONDS.default))]
    pub visibility_timeout_seconds: Option<u64>,
    /// Receives before a message moves to the dead-letter queue.
    #[schemars(range(min = limits::MAX_RECEIVE_COUNT.min, max = limits::MAX_RECEIVE_COUNT.max))]
    #[schemars(extend("default" = limits::MAX_RECEIVE_COUNT.default))]
    pub max_receive_count: Option<u64>,
    /// Days a message is kept (1 minute to 14 days; fractions allowed).
    #[schemars(range(min = limits::RETENTION_DAYS.min, max = limits::RETENTION_DAYS.max))]
    #[schemars(extend("default" = limits::RETENTION_DAYS.default))]
    pub retention_days: Option<f64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultsSettings {
    /// Days after which result documents are deleted.
    #[schemars(range(min = limits::EXPIRE_AFTER_DAYS.min, max = limits::EXPIRE_AFTER_DAYS.max))]
    #[schemars(extend("default" = limits::EXPIRE_AFTER_DAYS.default))]
    pub expire_after_days: Option<u64>,
}

/// The JSON Schema of the spec format, for editors (`botpub schema`).
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(SpecFile).to_value()
}
