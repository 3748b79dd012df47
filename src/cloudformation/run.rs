//! One command's run: its connection, display, limits and identity. The run id makes every idempotency
//! token of this run unique, and lets this run's events be told from any other's.

use std::time::SystemTime;

use super::changeset::TemplateStore;
use super::events::Patience;
use super::progress::Progress;
use crate::aws::Aws;

/// One command's connection, display and identity. The run id makes every idempotency token of this run
/// unique, and lets this run's events be told from any other's.
pub struct Run {
    pub aws: Aws,
    pub progress: Progress,
    /// How long to wait for an operation, and for a CloudFormation that stopped answering.
    pub patience: Patience,
    /// The prefix of the stacks botpub owns (the toolkit's among them).
    pub prefix: String,
    /// How many bot stacks are planned or deployed at once (the shared firewall always goes alone, first).
    pub concurrency: usize,
    /// The change sets are for a plan file, to be applied later, rather than executed by this run.
    pub saved_plan: bool,
    /// Where templates too large to pass inline go; without one, such a template stops the plan.
    pub templates: Option<Box<dyn TemplateStore>>,
    run_id: String,
}

/// A fleet deploys several bots at once, but not so many that CloudFormation starts throttling.
pub const DEFAULT_CONCURRENCY: usize = 4;

impl Run {
    pub fn new(aws: Aws, progress: Progress, patience: Patience, prefix: &str) -> Run {
        let millis = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        Run {
            aws,
            progress,
            patience,
            prefix: prefix.to_string(),
            concurrency: DEFAULT_CONCURRENCY,
            saved_plan: false,
            templates: None,
            run_id: format!("{millis:x}{:06x}", fastrand::u32(..0x100_0000)),
        }
    }

    /// A client request token unique to this run and purpose; CloudFormation also stamps it on every
    /// event the request causes.
    pub fn token(&self, purpose: &str) -> String {
        format!("botpub-{}-{purpose}", self.run_id)
    }
}
