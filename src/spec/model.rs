//! The validated spec: every default applied, every value checked. Synthesis reads only this.

use std::collections::BTreeMap;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

pub use super::file::{Contract, Period};

pub const DEFAULT_PREFIX: &str = "BotPub";

#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    /// The file the spec came from, as given on the command line.
    #[serde(skip)]
    pub source: String,
    pub region: Option<String>,
    pub stack_prefix: String,
    pub firewall: Option<Firewall>,
    pub bots: Vec<Bot>,
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
}

impl Default for Monitoring {
    fn default() -> Monitoring {
        Monitoring {
            enabled: true,
            max_wait_minutes: 5,
            max_5xx: 5,
            max_4xx_percent: 25.0,
            email: Vec::new(),
            topic_arn: None,
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
}

impl Bot {
    /// True when browsers from any origin may call the API.
    pub fn any_origin(&self) -> bool {
        self.allowed_origins.iter().any(|o| o == "*")
    }
}
