//! Deploying: plan every stack through change sets, execute them in order (the shared firewall first,
//! since bots import from it) and wait, then read back what was published.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudformation::types::ExecutionStatus;
use aws_smithy_types::DateTime;

use futures::stream::{self, StreamExt};

use super::changeset::{self, StackPlan};
use super::events::{self, Finished, Operation};
pub use super::execute::Applied;
use super::outcome::{ApplyResult, StackAction, StatusClass};
use super::plan::{PLAN_FORMAT, Plan};
pub use super::run::{DEFAULT_CONCURRENCY, Run};
use super::stack;
use crate::aws::{AwsContext, Fact};
use crate::outcome::{Blocked, DeploymentFailed, Interrupted, declined, stack_to_follow};
use crate::signals;
use crate::synth::{Stack, StackKind};

impl Run {
    /// Plans every stack (see [`Run::plan_all`]). Stopped by Ctrl-C or SIGTERM before anything was
    /// executed, it removes every change set this run made and the empty stacks they created, so that
    /// nothing is left behind and a rerun is not refused as busy.
    pub async fn plan(&self, specs: &[PathBuf], stacks: &[Stack]) -> anyhow::Result<Plan> {
        let planned = self.plan_all(specs, stacks).await;
        let Some((signal, code)) = signals::caught() else {
            return planned;
        };
        signals::only_new_signals();
        self.progress.say(&format!(
            "{signal}: removing the change sets this run made (a second signal stops that)"
        ));
        let removed = self.withdraw(stacks).await?;
        Err(Interrupted {
            signal,
            code,
            message: format!(
                "stopped while planning; removed the {removed} change set(s) this run had made: nothing was changed"
            ),
            follow: None,
        }
        .into())
    }

    /// Plans every stack: the firewall first, then the custom domains, then the bots, several at a time. A
    /// bot that imports from a shared stack this plan creates is planned once that stack exists
    /// (CloudFormation refuses to import an export that does not exist yet), from the same template.
    async fn plan_all(&self, specs: &[PathBuf], stacks: &[Stack]) -> anyhow::Result<Plan> {
        // Before any change set: a template too large for any engine stops the run while nothing has
        // been touched.
        for stack in stacks {
            changeset::check_size(stack)?;
            changeset::check_certificate_region(stack, &self.aws.region)?;
        }
        let (mut shared, bots): (Vec<&Stack>, Vec<&Stack>) = stacks
            .iter()
            .partition(|s| matches!(s.kind, StackKind::Firewall | StackKind::Domain { .. }));
        shared.sort_by_key(|s| s.deploy_order());
        let mut planned = Vec::with_capacity(stacks.len());
        let mut created_domains = Vec::new();
        for stack in &shared {
            let purpose = match &stack.kind {
                StackKind::Firewall => "plan-firewall".to_string(),
                _ => format!("plan-shared{}", planned.len()),
            };
            let plan = self.plan_stack(stack, &purpose).await?;
            if plan.action == StackAction::Create {
                created_domains.extend(stack.domain_export());
            }
            planned.push(plan);
        }
        let firewall_created = shared
            .iter()
            .zip(&planned)
            .any(|(s, p)| s.kind == StackKind::Firewall && p.action == StackAction::Create);
        let created_domains = &created_domains;
        let bot_plans: Vec<anyhow::Result<StackPlan>> = stream::iter(bots.iter().enumerate())
            .map(|(i, stack)| async move {
                // After a stop, no stack is planned any more.
                if let Some((signal, code)) = signals::caught() {
                    return Err(Interrupted {
                        signal,
                        code,
                        message: String::new(),
                        follow: None,
                    }
                    .into());
                }
                let after_firewall = firewall_created && stack.imports_firewall();
                let after_domain = stack
                    .imported_domain()
                    .is_some_and(|export| created_domains.contains(&export));
                if after_firewall || after_domain {
                    let exists = stack::describe(&self.aws, &stack.name).await?.is_some();
                    Ok(StackPlan::after_shared(
                        stack,
                        &self.aws.region,
                        exists,
                        after_firewall,
                        after_domain,
                    ))
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
        changeset::plan_stack(
            &self.aws,
            stack,
            &self.token(purpose),
            match self.saved_plan {
                true => changeset::SAVED,
                false => changeset::TO_EXECUTE,
            },
            &self.progress,
            self.templates.as_deref(),
        )
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
            let (available, status) = match described {
                Ok(d) => (
                    d.execution_status() == Some(&ExecutionStatus::Available),
                    d.execution_status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                ),
                Err(e) if crate::aws::fact(&e) == Fact::NotFound => (false, "DELETED".to_string()),
                Err(e) => {
                    return Err(e).aws(format!(
                        "reading the planned change set of {}",
                        planned.stack_name
                    ));
                }
            };
            if !available {
                return Err(Blocked(format!(
                    "stale plan: the change set of {} is {status} (the stack changed or the plan was applied); run `botpub plan` again",
                    planned.stack_name
                ))
                .into());
            }
        }
        Ok(())
    }

    /// Executes the plan: the shared stacks first, in plan order (the firewall, then the domains; a failure
    /// stops the run: the bots depend on them), then the bots, several at a time; one failing bot neither
    /// stops nor disturbs the others.
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
            let failed = outcome.result == ApplyResult::Failed;
            applied.push(outcome);
            if failed {
                applied.extend(
                    bots.iter()
                        .map(|(_, p)| Applied::new(p, ApplyResult::Skipped)),
                );
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
                        let result = if declined(&error) {
                            ApplyResult::Blocked
                        } else {
                            ApplyResult::Error
                        };
                        let mut outcome = Applied::new(planned, result);
                        outcome.failure = Some(format!("{error:#}"));
                        outcome.follow = stack_to_follow(&error).map(str::to_string);
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
        let planned = if planned.planned_late() {
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
            None => Ok(Applied::new(planned, ApplyResult::Unchanged)),
        }
    }

    /// Removes the change sets of a plan that will not be applied, and the empty stacks that CREATE
    /// change sets brought into being, so a declined publish leaves nothing behind.
    pub async fn discard(&self, plan: &Plan) -> anyhow::Result<()> {
        // Declined with Ctrl-C: that signal must not cut the clean-up short.
        if signals::caught().is_some() {
            signals::only_new_signals();
        }
        for planned in &plan.stacks {
            if let Some(id) = &planned.change_set_id {
                self.abandon(planned, id).await?;
            }
        }
        Ok(())
    }
}

/// The exit-code error for a run in which some stacks did not make it. The worst outcome decides: a
/// failed deployment (exit 3), then an error (exit 1), then a stack that was busy (exit 4).
pub fn failures(applied: &[Applied]) -> anyhow::Result<()> {
    let failed: Vec<&str> = applied
        .iter()
        .filter_map(|a| a.failure.as_deref())
        .collect();
    let any = |result: ApplyResult| applied.iter().any(|a| a.result == result);
    let message = failed.join("\n\n");
    if failed.is_empty() {
        Ok(())
    } else if any(ApplyResult::Failed) {
        Err(DeploymentFailed(message).into())
    } else if any(ApplyResult::Error) {
        Err(anyhow::anyhow!(message))
    } else {
        Err(Blocked(message).into())
    }
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
                        .is_some_and(|s| StatusClass::of(s.as_str()) == StatusClass::InProgress)
                    // CloudFormation marks the start of an operation asked for by a caller only so.
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
        };
        self.progress.say(&format!(
            "{stack_name}: {} in progress; waiting",
            described.status
        ));
        let mut display = self.progress.stack(stack_name, None);
        Ok(Watched::Finished(
            events::wait(&self.aws, &op, &mut display, self.patience).await?,
        ))
    }
}
