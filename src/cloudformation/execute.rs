//! Executing a planned change set exactly once, even when an answer is lost (a resent
//! ExecuteChangeSet on an engine that ignores its token starts a second execution), and then waiting
//! for it; or abandoning it, with the empty stack it created, when it cannot run.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetError;
use aws_sdk_cloudformation::types::{ChangeSetSummary, ExecutionStatus};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::DateTime;

use super::changeset::{self, StackPlan};
use super::events::{self, Operation, describe_failure};
use super::outcome::{ApplyResult, StackAction, StatusClass};
use super::run::Run;
use super::stack;
use crate::aws::{Fact, MAX_ATTEMPTS, is_transient, retry_delay};
use crate::outcome::{Busy, StillGoing};
use crate::synth::Stack;

/// How long an unexecuted botpub change set counts as another run's deployment about to start.
const RIVAL_WINDOW: Duration = Duration::from_secs(600);

/// What became of one stack's change set.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub stack_name: String,
    pub bot_id: Option<String>,
    pub result: ApplyResult,
    pub status: Option<String>,
    /// The root cause and the failures after it, when it failed.
    pub failure: Option<String>,
    /// The stack whose operation goes on in AWS after the failure (for the command line to say how to
    /// follow it), when there is one.
    #[serde(skip)]
    pub follow: Option<String>,
}

impl Applied {
    pub(super) fn new(planned: &StackPlan, result: ApplyResult) -> Applied {
        Applied {
            stack_name: planned.stack_name.clone(),
            bot_id: planned.bot_id.clone(),
            result,
            status: None,
            failure: None,
            follow: None,
        }
    }
}

impl Run {
    pub(super) async fn execute(
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
            if crate::aws::fact(&error) == Fact::Busy {
                return Err(Busy {
                    stack: planned.stack_name.clone(),
                    message: format!(
                        "{} is busy: another deployment started first ({text})",
                        planned.stack_name
                    ),
                }
                .into());
            }
            let failed = format!("executing the change set of {}: {text}", planned.stack_name);
            return Err(match cleared {
                Ok(()) => anyhow::anyhow!(
                    "{failed}; nothing was changed, and its change set was removed: run botpub again once AWS answers"
                ),
                // Whether the change set runs after all is for the user to see.
                Err(cleanup) => StillGoing {
                    stack: planned.stack_name.clone(),
                    message: format!(
                        "{failed}; botpub could not remove the change set either ({cleanup:#}): if nothing runs on the stack, remove it with `aws cloudformation delete-change-set --change-set-name {change_set_id}`"
                    ),
                }
                .into(),
            });
        }
        let mut applied = Applied::new(planned, ApplyResult::Deploying);
        if detach {
            return Ok(applied);
        }
        let op = Operation {
            stack_name: planned.stack_name.clone(),
            stack_id,
            token: Some(token),
            since,
        };
        let expected = planned.changes.len().max(1);
        let mut display = self.progress.stack(&planned.stack_name, Some(expected));
        let finished = events::wait(&self.aws, &op, &mut display, self.patience).await?;
        applied.status = Some(finished.status.clone());
        match StatusClass::of(&finished.status) {
            StatusClass::Created => applied.result = ApplyResult::Created,
            StatusClass::Updated => applied.result = ApplyResult::Updated,
            _ => {
                applied.result = ApplyResult::Failed;
                applied.failure = Some(describe_failure(
                    &planned.stack_name,
                    Some(planned.action),
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
        // A stack this run meant to create that is past review was created by another deployment: its change
        // set is spent (AWS refuses to execute it; some engines would run it again).
        let created_already = planned.action == StackAction::Create
            && described
                .as_ref()
                .is_some_and(|s| !matches!(s.state, stack::State::Review | stack::State::Busy));
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
                let theirs = key(s);
                s.description() == Some(changeset::TO_EXECUTE)
                    && match s.execution_status() {
                        Some(ExecutionStatus::ExecuteInProgress) => true,
                        Some(ExecutionStatus::Available) => theirs < mine && theirs.0 >= recent,
                        _ => false,
                    }
            });
        }
        let why = match (busy, rival) {
            (None, None) if created_already => "another deployment created it first".to_string(),
            // Executing a change set removes every other change set of the stack: this run's is gone
            // because another deployment ran first, even while the stack still reads as before (an engine
            // may lag).
            (None, None) if mine.is_none() => {
                "another deployment executed its change set first".to_string()
            }
            (None, None) => return Ok(stack_id),
            (Some(status), _) => format!("it is {status}, in another deployment"),
            (None, Some(rival)) => {
                let name = rival.change_set_name().unwrap_or_default();
                let made = rival
                    .creation_time()
                    .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                    .unwrap_or_default();
                format!(
                    "another botpub run made change set {name} at {made} and has not executed it yet. If that run was abandoned, remove its change set with `aws cloudformation delete-change-set --stack-name {} --change-set-name {name}` (botpub ignores it {} minutes after it was made)",
                    planned.stack_name,
                    RIVAL_WINDOW.as_secs() / 60
                )
            }
        };
        changeset::delete_change_set(&self.aws, change_set_id, &planned.stack_name).await?;
        Err(Busy {
            stack: planned.stack_name.clone(),
            message: format!(
                "{} is busy: {why}; nothing was changed by this run",
                planned.stack_name
            ),
        }
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
                if matches!(
                    d.execution_status(),
                    Some(
                        ExecutionStatus::ExecuteInProgress
                            | ExecutionStatus::ExecuteComplete
                            | ExecutionStatus::ExecuteFailed
                    )
                ) =>
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
    /// Removes the change sets this run made on these stacks (named by its tokens), then the stacks still
    /// under review that those alone had brought into being. Returns how many change sets it removed.
    pub(super) async fn withdraw(&self, stacks: &[Stack]) -> anyhow::Result<usize> {
        let ours = self.token("");
        let mut removed = 0;
        for (i, stack) in stacks.iter().enumerate() {
            let Some(described) = stack::describe(&self.aws, &stack.name).await? else {
                continue;
            };
            let sets = changeset::list(&self.aws, &described.id, &stack.name).await?;
            let mine: Vec<&str> = sets
                .iter()
                .filter(|s| s.change_set_name().is_some_and(|n| n.starts_with(&ours)))
                .filter_map(|s| s.change_set_id())
                .collect();
            for id in &mine {
                changeset::delete_change_set(&self.aws, id, &stack.name).await?;
                removed += 1;
            }
            if described.state == stack::State::Review
                && !mine.is_empty()
                && mine.len() == sets.len()
            {
                let token = self.token(&format!("withdraw{i}"));
                events::delete_and_wait(&self.aws, &described.id, &stack.name, &token).await?;
            }
        }
        Ok(removed)
    }

    pub(super) async fn abandon(
        &self,
        planned: &StackPlan,
        change_set_id: &str,
    ) -> anyhow::Result<()> {
        changeset::delete_change_set(&self.aws, change_set_id, &planned.stack_name).await?;
        if planned.action != StackAction::Create {
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
        events::delete_and_wait(&self.aws, &described.id, &planned.stack_name, &token).await
    }
}
