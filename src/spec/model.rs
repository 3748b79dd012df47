//! The validated spec: every default applied, every value checked. Synthesis reads only this.

use std::collections::BTreeMap;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

pub use super::file::{AuthKind, Contract, Period, SecurityPolicy};

pub const DEFAULT_PREFIX: &str = "BotPub";

#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    /// The file the spec came from, as given on the command line.
    #[serde(skip)]
    pub source: String,
    pub region: Option<String>,
    pub stack_prefix: String,
    pub firewall: Option<Firewall>,
    /// The custom domains declared, in spec order; each is a stack of its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<Domain>,
    pub bots: Vec<Bot>,
}

/// A custom domain name, shared by the bots mapped onto it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Domain {
    pub name: String,
    pub certificate_arn: String,
    pub hosted_zone_id: Option<String>,
    pub security_policy: SecurityPolicy,
}

/// A domain name as it appears in its stack's name: dots become hyphens.
pub fn domain_slug(name: &str) -> String {
    name.replace('.', "-")
}

/// The suffix of a domain stack's name (`<prefix>-domain-<slug>`).
pub const DOMAIN_STACK_INFIX: &str = "domain";

/// How a bot asks to be mapped at its domain's root, spelt as API Gateway shows such a mapping.
pub const ROOT_BASE_PATH: &str = "(none)";

/// A bot's place on a custom domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BotDomain {
    pub name: String,
    /// `None` maps the bot at the domain's root.
    pub base_path: Option<String>,
}

impl BotDomain {
    /// The URL clients call: `https://bots.example.com/support`, or `https://bots.example.com` at the root.
    pub fn url(&self) -> String {
        match &self.base_path {
            Some(path) => format!("https://{}/{path}", self.name),
            None => format!("https://{}", self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Firewall {
    pub allowed_ipv4: Vec<Ipv4Net>,
    pub allowed_ipv6: Vec<Ipv6Net>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bot {
    pub id: String,
    pub description: Option<String>,
    pub stage: String,
    pub throttle: Throttle,
    pub quota: Option<Quota>,
    pub allowed_origins: Vec<String>,
    /// Left out of the serialized bot when `predict`, so that the spec hash of every bot published
    /// before contracts existed stays the same.
    #[serde(skip_serializing_if = "Contract::is_predict")]
    pub contract: Contract,
    pub backend: Backend,
    pub queue: Queue,
    pub results_expire_after_days: u64,
    pub tags: BTreeMap<String, String>,
    /// Left out of the serialized bot when it is the default, so that the spec hash of every bot published
    /// before monitoring existed stays the same.
    #[serde(skip_serializing_if = "Monitoring::is_default")]
    pub monitoring: Monitoring,
    /// Left out when absent, so that the spec hash of every bot published before domains existed stays the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<BotDomain>,
    /// Left out when it is the default (API keys), so that the spec hash of every bot published before
    /// IAM callers existed stays the same.
    #[serde(skip_serializing_if = "Auth::is_default")]
    pub auth: Auth,
    /// Left out when absent, so that the spec hash of every bot published before budgets stays the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<TokenBudget>,
}

/// The most tokens each caller of a bot may spend per period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TokenBudget {
    pub limit: u64,
    pub period: Period,
}

/// Who may call a bot's API, and so whom its answers belong to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Auth {
    #[serde(rename = "type")]
    pub kind: AuthKind,
    pub allowed_principals: Vec<String>,
    pub allowed_accounts: Vec<String>,
}

impl Auth {
    pub fn is_default(&self) -> bool {
        *self == Auth::default()
    }

    /// Whether callers sign their requests with SigV4 (`iam` or `both`).
    pub fn signed(&self) -> bool {
        self.kind != AuthKind::ApiKey
    }

    /// Whether callers send an API key (`api_key` or `both`).
    pub fn key_required(&self) -> bool {
        self.kind != AuthKind::Iam
    }
}

/// Alarms, dashboard and notifications of a bot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Monitoring {
    pub enabled: bool,
    pub max_wait_minutes: u64,
    pub max_5xx: u64,
    #[serde(serialize_with = "whole_as_integer")]
    pub max_4xx_percent: f64,
    pub email: Vec<String>,
    pub topic_arn: Option<String>,
    /// Left out when absent, so that the spec hash of every bot published before it stays the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_hour: Option<u64>,
}

impl Default for Monitoring {
    fn default() -> Monitoring {
        Monitoring {
            enabled: true,
            max_wait_minutes: super::limits::MAX_WAIT_MINUTES.default,
            max_5xx: super::limits::MAX_5XX.default,
            max_4xx_percent: super::limits::MAX_4XX_PERCENT.default,
            email: Vec::new(),
            topic_arn: None,
            max_tokens_per_hour: None,
        }
    }
}

impl Monitoring {
    pub fn is_default(&self) -> bool {
        *self == Monitoring::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Throttle {
    #[serde(serialize_with = "whole_as_integer")]
    pub rate_limit: f64,
    pub burst_limit: u64,
}

/// `50` rather than `50.0` in templates: the spec's own spelling, and what every API Gateway
/// implementation parses (LocalStack rejects `20.0` when updating a usage plan).
fn whole_as_integer<S: serde::Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quota {
    pub limit: u64,
    pub period: Period,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Backend {
    Queue {
        worker_function_arn: Option<String>,
    },
    Lambda {
        function_arn: String,
        worker_function_arn: Option<String>,
    },
}

impl Backend {
    pub fn worker_function_arn(&self) -> Option<&str> {
        match self {
            Backend::Queue {
                worker_function_arn,
            }
            | Backend::Lambda {
                worker_function_arn,
                ..
            } => worker_function_arn.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Queue {
    pub visibility_timeout_seconds: u64,
    pub max_receive_count: u64,
    pub retention_seconds: u64,
}

impl Spec {
    pub fn stack_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.stack_prefix)
    }

    /// The stack of a custom domain: `<prefix>-domain-<name with dots as hyphens>`.
    pub fn domain_stack_name(&self, name: &str) -> String {
        domain_stack_name(&self.stack_prefix, name)
    }
}

/// The stack of a custom domain under a stack prefix.
pub fn domain_stack_name(prefix: &str, name: &str) -> String {
    format!("{prefix}-{DOMAIN_STACK_INFIX}-{}", domain_slug(name))
}

impl Bot {
    /// True when browsers from any origin may call the API.
    pub fn any_origin(&self) -> bool {
        self.allowed_origins.iter().any(|o| o == "*")
    }
}
