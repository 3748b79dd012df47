//! Deploying: plan every stack through change sets, execute them in order (the shared firewall first,
//! since bots import from it) and wait, then read back what was published.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetError;
use aws_sdk_cloudformation::types::ChangeSetSummary;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::DateTime;
use serde::Serialize;

use crate::aws::{Aws, AwsContext, MAX_ATTEMPTS, is_transient, retry_delay};
use crate::changeset::{self, StackPlan};
use crate::events::{self, Finished, Operation};
use crate::outcome::{Blocked, DeploymentFailed};
use crate::plan::{PLAN_FORMAT, Plan};
use crate::progress::Progress;
use crate::stack;
use crate::synth::{Stack, StackKind};
use crate::toolkit::{self, Toolkit};
use futures::stream::{self, StreamExt};
use tokio::sync::OnceCell;

/// One command's connection, display and identity. The run id makes every idempotency token of this run
/// unique, and lets this run's events be told from any other's.
pub struct Run {
    pub aws: Aws,
    pub progress: Progress,
    pub timeout: Option<Duration>,
    /// The stack prefix, for the `botpub watch` hints.
    pub prefix: String,
    /// How many bot stacks are planned or deployed at once (the shared firewall always goes alone, first).
    pub concurrency: usize,
    /// The change sets are for a plan file, to be applied later, rather than executed by this run.
    pub saved_plan: bool,
    run_id: String,
    toolkit: OnceCell<Toolkit>,
}

/// A fleet deploys several bots at once, but not so many that CloudFormation starts throttling.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// What became of one stack's change set.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub stack_name: String,
    pub bot_id: Option<String>,
    /// `created`, `updated`, `unchanged`, `failed`, `error` (an AWS call failed), `blocked` (another
    /// deployment was running), `skipped` (the firewall failed first), or `deploying` (with `--detach`).
    pub result: String,
    pub status: Option<String>,
    /// The root cause and the failures after it, when it failed.
    pub failure: Option<String>,
}

impl Applied {
    fn new(planned: &StackPlan, result: &str) -> Applied {
        Applied {
            stack_name: planned.stack_name.clone(),
            bot_id: planned.bot_id.clone(),
            result: result.to_string(),
            status: None,
            failure: None,
        }
    }
}

impl Run {
    pub fn new(aws: Aws, progress: Progress, timeout: Option<Duration>, prefix: &str) -> Run {
        let millis = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        Run {
            aws,
            progress,
            timeout,
            prefix: prefix.to_string(),
            concurrency: DEFAULT_CONCURRENCY,
            saved_plan: false,
            toolkit: OnceCell::new(),
            run_id: format!("{millis:x}{:06x}", fastrand::u32(..0x100_0000)),
        }
    }

    /// A client request token unique to this run and purpose; CloudFormation also stamps it on every
    /// event the request causes.
    pub fn token(&self, purpose: &str) -> String {
        format!("botpub-{}-{purpose}", self.run_id)
    }

    /// The command that re-attaches to a stack's deployment.
    pub fn watch_hint(&self, stack_name: &str) -> String {
        let id = stack_name
            .strip_prefix(&format!("{}-", self.prefix))
            .unwrap_or(stack_name);
        let prefix = if self.prefix == crate::spec::model::DEFAULT_PREFIX {
            String::new()
        } else {
            format!(" --prefix {}", self.prefix)
        };
        format!("botpub watch {id}{prefix} --region {}", self.aws.region)
    }

    /// Plans every stack: the firewall first, then the bots, several at a time. A bot that imports a
    /// firewall this plan creates is planned once the firewall exists (CloudFormation refuses to import an
    /// export that does not exist yet), from the same template.
    pub async fn plan(&self, specs: &[PathBuf], stacks: &[Stack]) -> anyhow::Result<Plan> {
        // Before any change set: a template too large for any engine, or one that needs the toolkit
        // bucket when there is none, stops the run while nothing has been touched.
        for stack in stacks {
            changeset::check_size(stack)?;
        }
        if stacks.iter().any(changeset::needs_upload) {
            self.toolkit().await?;
        }
        let (firewalls, bots): (Vec<&Stack>, Vec<&Stack>) =
            stacks.iter().partition(|s| s.kind == StackKind::Firewall);
        let mut planned = Vec::with_capacity(stacks.len());
        for stack in &firewalls {
            planned.push(self.plan_stack(stack, "plan-firewall").await?);
        }
        let firewall_created = planned.iter().any(|p| p.action == "create");
        let bot_plans: Vec<anyhow::Result<StackPlan>> = stream::iter(bots.iter().enumerate())
            .map(|(i, stack)| async move {
                if firewall_created && stack.imports_firewall() {
                    let exists = stack::describe(&self.aws, &stack.name).await?.is_some();
                    Ok(StackPlan::after_firewall(stack, &self.aws.region, exists))
                } else {
                    self.plan_stack(stack, &format!("plan{i}")).await
                }
            })
            .buffered(self.concurrency.max(1))
            .collect()
            .await;
        for bot_plan in bot_plans {
            planned.push(bot_plan?);
        }
        Ok(Plan {
            format: PLAN_FORMAT,
            specs: specs.to_vec(),
            stacks: planned,
        })
    }

    async fn plan_stack(&self, stack: &Stack, purpose: &str) -> anyhow::Result<StackPlan> {
        let hint = self.watch_hint(&stack.name);
        let toolkit = match changeset::needs_upload(stack) {
            true => Some(self.toolkit().await?),
            false => None,
        };
        changeset::plan_stack(
            &self.aws,
            stack,
            &self.token(purpose),
            match self.saved_plan {
                true => changeset::SAVED,
                false => changeset::TO_EXECUTE,
            },
            &self.progress,
            &hint,
            toolkit,
        )
        .await
    }

    /// The toolkit of this run's prefix, looked up once; an error says to bootstrap when there is none.
    pub async fn toolkit(&self) -> anyhow::Result<&Toolkit> {
        self.toolkit
            .get_or_try_init(|| {
                toolkit::require(
                    &self.aws,
                    &self.prefix,
                    "a template over 51,200 bytes (CloudFormation's inline limit)",
                )
            })
            .await
    }

    /// Refuses a plan whose change sets can no longer be executed as planned.
    pub async fn ensure_current(&self, plan: &Plan, stacks: &[Stack]) -> anyhow::Result<()> {
        for planned in plan.stacks.iter() {
            let Some(stack) = stacks.iter().find(|s| s.name == planned.stack_name) else {
                return Err(Blocked(format!(
                    "stale plan: the specs no longer define {}; run `botpub plan` again",
                    planned.stack_name
                ))
                .into());
            };
            if stack.template_hash() != planned.template_sha256 {
                return Err(Blocked(format!(
                    "stale plan: the template of {} changed since the plan was made (the spec or botpub changed); run `botpub plan` again",
                    planned.stack_name
                ))
                .into());
            }
            let Some(id) = &planned.change_set_id else {
                continue;
            };
            let described = self
                .aws
                .cloudformation
                .describe_change_set()
                .change_set_name(id)
                .send()
                .await;
            let status = match described {
                Ok(d) => d
                    .execution_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                Err(e) if crate::aws::error_code(&e) == Some("ChangeSetNotFound") => {
                    "DELETED".to_string()
                }
                Err(e) => {
                    return Err(e).aws(format!(
                        "reading the planned change set of {}",
                        planned.stack_name
                    ));
                }
            };
            if status != "AVAILABLE" {
                return Err(Blocked(format!(
                    "stale plan: the change set of {} is {status} (the stack changed or the plan was applied); run `botpub plan` again",
                    planned.stack_name
                ))
                .into());
            }
        }
        Ok(())
    }

    /// Executes the plan: the firewall first (its failure stops the run: the bots depend on it), then the
    /// bots, several at a time; one failing bot neither stops nor disturbs the others.
    pub async fn apply(
        &self,
        plan: &Plan,
        stacks: &[Stack],
        detach: bool,
    ) -> anyhow::Result<Vec<Applied>> {
        let mut applied = Vec::with_capacity(plan.stacks.len());
        type Indexed<'a> = Vec<(usize, &'a StackPlan)>;
        let (firewalls, bots): (Indexed, Indexed) = plan
            .stacks
            .iter()
            .enumerate()
            .partition(|(_, p)| p.bot_id.is_none());
        for (i, planned) in firewalls {
            let outcome = self.apply_stack(planned, stacks, i, false).await?;
            let failed = outcome.result == "failed";
            applied.push(outcome);
            if failed {
                applied.extend(bots.iter().map(|(_, p)| Applied::new(p, "skipped")));
                return Ok(applied);
            }
        }
        let results: Vec<anyhow::Result<Applied>> = stream::iter(bots)
            .map(|(i, planned)| async move {
                self.apply_stack(planned, stacks, i, detach)
                    .await
                    .or_else(|error| {
                        // Ctrl-C stops everything; any other error is this bot's alone.
                        if error
                            .downcast_ref::<crate::outcome::Interrupted>()
                            .is_some()
                        {
                            return Err(error);
                        }
                        let result = if error.downcast_ref::<Blocked>().is_some() {
                            "blocked"
                        } else {
                            "error"
                        };
                        let mut outcome = Applied::new(planned, result);
                        outcome.failure = Some(format!("{error:#}"));
                        Ok(outcome)
                    })
            })
            .buffered(self.concurrency.max(1))
            .collect()
            .await;
        for result in results {
            applied.push(result?);
        }
        Ok(applied)
    }

    async fn apply_stack(
        &self,
        planned: &StackPlan,
        stacks: &[Stack],
        index: usize,
        detach: bool,
    ) -> anyhow::Result<Applied> {
        let late;
        let planned = if planned.after_firewall {
            let Some(stack) = stacks.iter().find(|s| s.name == planned.stack_name) else {
                anyhow::bail!("the specs no longer define {}", planned.stack_name);
            };
            late = self.plan_stack(stack, &format!("plan-late{index}")).await?;
            &late
        } else {
            planned
        };
        match &planned.change_set_id {
            Some(id) => self.execute(planned, id, index, detach).await,
            None => Ok(Applied::new(planned, "unchanged")),
        }
    }

    async fn execute(
        &self,
        planned: &StackPlan,
        change_set_id: &str,
        index: usize,
        detach: bool,
    ) -> anyhow::Result<Applied> {
        let token = self.token(&format!("apply{index}"));
        // The stack id keeps every later read on this stack, even if one of its name replaces it.
        let stack_id = self
            .ensure_first(planned, change_set_id)
            .await?
            .unwrap_or_else(|| planned.stack_name.clone());
        let since = DateTime::from(SystemTime::now() - Duration::from_secs(2));
        if let Err(error) = self.start_execution(change_set_id, &stack_id, &token).await {
            let text = crate::aws::explain(&error);
            let cleared = self.abandon(planned, change_set_id).await;
            if text.contains("IN_PROGRESS") || text.contains("InvalidChangeSetStatus") {
                return Err(Blocked(format!(
                    "{} is busy: another deployment started first ({text}); follow it with `{}`",
                    planned.stack_name,
                    self.watch_hint(&planned.stack_name)
                ))
                .into());
            }
            anyhow::bail!(
                "executing the change set of {}: {text}; {}",
                planned.stack_name,
                match cleared {
                    Ok(()) => "nothing was changed, and its change set was removed: run botpub again once AWS answers".to_string(),
                    Err(cleanup) => format!(
                        "botpub could not remove the change set either ({cleanup:#}): check with `{}`, and if nothing runs, remove it with `aws cloudformation delete-change-set --change-set-name {change_set_id}`",
                        self.watch_hint(&planned.stack_name)
                    ),
                }
            );
        }
        let mut applied = Applied::new(planned, "deploying");
        if detach {
            self.progress.say(&format!(
                "{}: deploying in the background; follow it with `{}`",
                planned.stack_name,
                self.watch_hint(&planned.stack_name)
            ));
            return Ok(applied);
        }
        let op = Operation {
            stack_name: planned.stack_name.clone(),
            stack_id,
            token: Some(token),
            since,
            watch_hint: self.watch_hint(&planned.stack_name),
        };
        let expected = planned.changes.len().max(1);
        let mut display = self.progress.stack(&planned.stack_name, Some(expected));
        let finished = events::wait(&self.aws, &op, &mut display, self.timeout).await?;
        applied.status = Some(finished.status.clone());
        match finished.status.as_str() {
            "CREATE_COMPLETE" => applied.result = "created".to_string(),
            "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => applied.result = "updated".to_string(),
            _ => {
                applied.result = "failed".to_string();
                applied.failure = Some(describe_failure(
                    &planned.stack_name,
                    &planned.action,
                    &finished,
                ));
            }
        }
        Ok(applied)
    }

    /// Refuses to execute when another deployment of the stack is running or about to: another publish's
    /// change set made earlier (in the last ten minutes) and not yet spent, or a stack already in progress.
    /// Of two runs racing on one stack, exactly one goes ahead, whatever the engine would allow. Saved
    /// plans wait for `botpub apply`, maybe for hours, so their change sets are not taken for a race.
    async fn ensure_first(
        &self,
        planned: &StackPlan,
        change_set_id: &str,
    ) -> anyhow::Result<Option<String>> {
        // The stack first, then its change sets by its id: an engine may answer a name with an earlier,
        // deleted stack of that name.
        let described = stack::describe(&self.aws, &planned.stack_name).await?;
        let stack_id = described.as_ref().map(|s| s.id.clone());
        let busy = described
            .filter(|s| s.state == stack::State::Busy)
            .map(|s| s.status);
        let summaries = changeset::list(
            &self.aws,
            stack_id.as_deref().unwrap_or(&planned.stack_name),
            &planned.stack_name,
        )
        .await?;
        let key = |s: &ChangeSetSummary| {
            (
                s.creation_time().map(|t| t.as_nanos()).unwrap_or(0),
                s.change_set_id().unwrap_or("").to_string(),
            )
        };
        let mine = summaries
            .iter()
            .find(|s| s.change_set_id() == Some(change_set_id));
        let mut rival = None;
        if let Some(mine) = mine {
            // A change set named like this run's is this run's: a retried CreateChangeSet whose first
            // answer was lost, on an engine that ignores the client token. It is removed, not a rival.
            let (own, others): (Vec<&ChangeSetSummary>, Vec<&ChangeSetSummary>) = summaries
                .iter()
                .filter(|s| s.change_set_id() != Some(change_set_id))
                .partition(|s| s.change_set_name() == mine.change_set_name());
            for duplicate in own.iter().filter_map(|s| s.change_set_id()) {
                // Best effort: left over, it is listed as this run's and never blocks anyone for long.
                let _ =
                    changeset::delete_change_set(&self.aws, duplicate, &planned.stack_name).await;
            }
            let mine = key(mine);
            let recent = mine.0 - RIVAL_WINDOW.as_nanos() as i128;
            rival = others.into_iter().find(|s| {
                let status = s.execution_status().map(|e| e.as_str()).unwrap_or("");
                let theirs = key(s);
                s.description() == Some(changeset::TO_EXECUTE)
                    && (status == "EXECUTE_IN_PROGRESS"
                        || (status == "AVAILABLE" && theirs < mine && theirs.0 >= recent))
            });
        }
        let hint = self.watch_hint(&planned.stack_name);
        let why = match (busy, rival) {
            (None, None) => return Ok(stack_id),
            (Some(status), _) => format!("it is {status}; follow that deployment with `{hint}`"),
            (None, Some(rival)) => {
                let name = rival.change_set_name().unwrap_or_default();
                let made = rival
                    .creation_time()
                    .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                    .unwrap_or_default();
                format!(
                    "another botpub run made change set {name} at {made} and has not executed it yet. If that run is still going, follow it with `{hint}`; if it was abandoned, remove its change set with `aws cloudformation delete-change-set --stack-name {} --change-set-name {name}` (botpub ignores it {} minutes after it was made)",
                    planned.stack_name,
                    RIVAL_WINDOW.as_secs() / 60
                )
            }
        };
        changeset::delete_change_set(&self.aws, change_set_id, &planned.stack_name).await?;
        Err(Blocked(format!(
            "{} is busy: {why}; nothing was changed by this run",
            planned.stack_name
        ))
        .into())
    }

    /// Executes a change set, once. botpub resends the request itself rather than leave it to the SDK: an
    /// engine that ignores the client request token would run a blind retry a second time, racing the
    /// first. Before each resend the change set is read, to see whether an attempt whose answer was lost
    /// got through after all.
    async fn start_execution(
        &self,
        change_set_id: &str,
        stack_id: &str,
        token: &str,
    ) -> Result<(), SdkError<ExecuteChangeSetError, HttpResponse>> {
        let mut attempt = 1;
        loop {
            let sent = self
                .aws
                .cloudformation
                .execute_change_set()
                .change_set_name(change_set_id)
                .client_request_token(token)
                .customize()
                .config_override(
                    aws_sdk_cloudformation::config::Config::builder()
                        .retry_config(aws_config::retry::RetryConfig::disabled()),
                )
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(error) if self.executing(change_set_id, stack_id, &error).await => {
                    return Ok(());
                }
                Err(error) if !is_transient(&error) || attempt >= MAX_ATTEMPTS => {
                    return Err(error);
                }
                Err(_) => tokio::time::sleep(retry_delay(attempt)).await,
            }
            attempt += 1;
        }
    }

    /// Whether a failed ExecuteChangeSet took effect after all. The change set's execution status says so
    /// on AWS; an engine that leaves it AVAILABLE until the end shows the start only on the stack, which
    /// counts when the answer was lost rather than refused (ensure_first has just seen the stack idle).
    async fn executing(
        &self,
        change_set_id: &str,
        stack_id: &str,
        error: &SdkError<ExecuteChangeSetError, HttpResponse>,
    ) -> bool {
        let described = self
            .aws
            .cloudformation
            .describe_change_set()
            .change_set_name(change_set_id)
            .send()
            .await;
        match described {
            Ok(d)
                if d.execution_status()
                    .is_some_and(|s| s.as_str().starts_with("EXECUTE_")) =>
            {
                true
            }
            Ok(_) if !matches!(error, SdkError::ServiceError(_)) => {
                stack::describe(&self.aws, stack_id)
                    .await
                    .is_ok_and(|s| s.is_some_and(|s| s.state == stack::State::Busy))
            }
            _ => false,
        }
    }

    /// Removes a change set that will not be executed, and the empty stack a CREATE change set brought
    /// into being (unless another run's change set waits on it), so nothing is left behind.
    async fn abandon(&self, planned: &StackPlan, change_set_id: &str) -> anyhow::Result<()> {
        changeset::delete_change_set(&self.aws, change_set_id, &planned.stack_name).await?;
        if planned.action != "create" {
            return Ok(());
        }
        let Some(described) = stack::describe(&self.aws, &planned.stack_name).await? else {
            return Ok(());
        };
        if described.state != stack::State::Review {
            return Ok(());
        }
        if !changeset::list(&self.aws, &described.id, &planned.stack_name)
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let token = self.token(&format!("discard{}", planned.stack_name.len()));
        let hint = self.watch_hint(&planned.stack_name);
        stack::delete_and_wait(&self.aws, &described.id, &planned.stack_name, &token, &hint).await
    }

    /// Removes the change sets of a plan that will not be applied, and the empty stacks that CREATE
    /// change sets brought into being, so a declined publish leaves nothing behind.
    pub async fn discard(&self, plan: &Plan) -> anyhow::Result<()> {
        for planned in &plan.stacks {
            if let Some(id) = &planned.change_set_id {
                self.abandon(planned, id).await?;
            }
        }
        Ok(())
    }
}

/// How long an unexecuted botpub change set counts as another run's deployment about to start.
const RIVAL_WINDOW: Duration = Duration::from_secs(600);

/// Root cause first, for a stack operation that did not succeed.
pub fn describe_failure(stack_name: &str, action: &str, finished: &Finished) -> String {
    let what = match finished.status.as_str() {
        "DELETE_COMPLETE" if action == "create" => {
            "failed to create and was removed (nothing is left behind)".to_string()
        }
        "ROLLBACK_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE" => {
            format!("failed and was rolled back ({})", finished.status)
        }
        status => format!("failed ({status})"),
    };
    format!("{stack_name} {what}\n{}", finished.failure_report())
}

/// The exit-code error for a run in which some stacks did not make it. The worst outcome decides: a
/// failed deployment (exit 3), then an error (exit 1), then a stack that was busy (exit 4).
pub fn failures(applied: &[Applied]) -> anyhow::Result<()> {
    let failed: Vec<&str> = applied
        .iter()
        .filter_map(|a| a.failure.as_deref())
        .collect();
    let any = |result: &str| applied.iter().any(|a| a.result == result);
    let message = failed.join("\n\n");
    if failed.is_empty() {
        Ok(())
    } else if any("failed") {
        Err(DeploymentFailed(message).into())
    } else if any("error") {
        Err(anyhow::anyhow!(message))
    } else {
        Err(Blocked(message).into())
    }
}

/// What a published bot offers its clients, read from its stack.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub bot_id: String,
    pub stack_name: String,
    pub status: String,
    pub endpoint: Option<String>,
    pub stage: Option<String>,
    pub default_key_id: Option<String>,
    pub queue_url: Option<String>,
}

pub async fn published(
    aws: &Aws,
    stack_name: &str,
    bot_id: &str,
) -> anyhow::Result<Option<Published>> {
    Ok(stack::describe(aws, stack_name).await?.map(|s| Published {
        bot_id: bot_id.to_string(),
        stack_name: s.name.clone(),
        endpoint: s.output("Endpoint").map(str::to_string),
        stage: s.output("Stage").map(str::to_string),
        default_key_id: s.output("DefaultApiKeyId").map(str::to_string),
        queue_url: s.output("QueueUrl").map(str::to_string),
        status: s.status,
    }))
}

/// How `watch` found a stack.
pub enum Watched {
    NotPublished,
    /// Nothing was in progress; the stack's status as it is.
    Idle(String),
    /// An operation was in progress and has now finished.
    Finished(Finished),
}

impl Run {
    /// Attaches to the operation in progress on a stack (after `--detach` or an interrupted run) and waits
    /// for it; the operation's own first event names its token, so only its events are shown.
    pub async fn watch(&self, stack_name: &str) -> anyhow::Result<Watched> {
        let Some(described) = stack::describe(&self.aws, stack_name).await? else {
            return Ok(Watched::NotPublished);
        };
        if described.state != stack::State::Busy {
            return Ok(Watched::Idle(described.status));
        }
        let start = self
            .aws
            .cloudformation
            .describe_stack_events()
            .stack_name(&described.id)
            .send()
            .await
            .aws(format!("reading events of {stack_name}"))?
            .stack_events()
            .iter()
            .find(|e| {
                e.logical_resource_id() == Some(stack_name)
                    && e.resource_status()
                        .is_some_and(|s| s.as_str().ends_with("_IN_PROGRESS"))
                    && e.resource_status_reason()
                        .is_some_and(|r| r.contains("User Initiated"))
            })
            .map(|e| {
                (
                    e.client_request_token().map(str::to_string),
                    e.timestamp().copied(),
                )
            });
        let (token, since) = start.unwrap_or((None, None));
        let op = Operation {
            stack_name: stack_name.to_string(),
            stack_id: described.id.clone(),
            token,
            since: since
                .unwrap_or_else(|| DateTime::from(SystemTime::now() - Duration::from_secs(3600))),
            watch_hint: self.watch_hint(stack_name),
        };
        self.progress.say(&format!(
            "{stack_name}: {} in progress; waiting",
            described.status
        ));
        let mut display = self.progress.stack(stack_name, None);
        Ok(Watched::Finished(
            events::wait(&self.aws, &op, &mut display, self.timeout).await?,
        ))
    }
}
