//! A deployed stack as botpub sees it: its status, outputs and tags, and what that status allows.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::StackStatus;
use aws_smithy_types::DateTime;

use crate::aws::{Aws, AwsContext, Fact, fact};
use crate::cloudformation::outcome::StatusClass;
use crate::outcome::{Busy, blocked};

/// What a stack's status lets botpub do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Created by a change set that was never executed: a CREATE change set may still be made.
    Review,
    /// Settled after a create or update (successful or rolled back): it can be updated.
    Stable,
    /// The first create failed and rolled back: the stack holds nothing and must be deleted to retry.
    FailedCreate,
    /// An operation is running.
    Busy,
    /// A rollback failed; only `continue-update-rollback` (or a delete) gets it moving again.
    RollbackFailed,
    /// A delete failed; it has to be deleted again.
    DeleteFailed,
}

#[derive(Debug, Clone)]
pub struct Described {
    pub name: String,
    pub id: String,
    pub status: String,
    pub reason: Option<String>,
    pub state: State,
    pub outputs: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub termination_protection: bool,
    /// Last update, or creation if never updated.
    pub last_updated: Option<DateTime>,
}

impl Described {
    pub fn output(&self, key: &str) -> Option<&str> {
        self.outputs.get(key).map(String::as_str)
    }

    /// Refuses (saying what clears the way) unless the stack may be planned or changed.
    pub fn ensure_ready(&self) -> anyhow::Result<()> {
        match self.state {
            State::Busy => Err(Busy {
                stack: self.name.clone(),
                message: format!(
                    "stack {} is busy ({}): another deployment is running",
                    self.name, self.status
                ),
            }
            .into()),
            State::RollbackFailed => blocked(format!(
                "stack {} is stuck in {}{}; recover it with `aws cloudformation continue-update-rollback --stack-name {}`, then run botpub again",
                self.name,
                self.status,
                self.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                self.name
            )),
            State::DeleteFailed => blocked(format!(
                "stack {} is in DELETE_FAILED{}; delete it again (`botpub unpublish`, or `aws cloudformation delete-stack --stack-name {}`)",
                self.name,
                self.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                self.name
            )),
            State::Review | State::Stable | State::FailedCreate => Ok(()),
        }
    }
}

fn classify(status: &StackStatus) -> State {
    match status {
        StackStatus::ReviewInProgress => State::Review,
        StackStatus::RollbackComplete => State::FailedCreate,
        StackStatus::UpdateRollbackFailed
        | StackStatus::RollbackFailed
        | StackStatus::ImportRollbackFailed => State::RollbackFailed,
        StackStatus::DeleteFailed => State::DeleteFailed,
        other if !StatusClass::of(other.as_str()).is_settled() => State::Busy,
        _ => State::Stable,
    }
}

/// The stack, or `None` when it does not exist (or only as a deleted stack).
pub async fn describe(aws: &Aws, name_or_id: &str) -> anyhow::Result<Option<Described>> {
    let result = aws
        .cloudformation
        .describe_stacks()
        .stack_name(name_or_id)
        .send()
        .await;
    let output = match result {
        Ok(output) => output,
        Err(e) if fact(&e) == Fact::NotFound => return Ok(None),
        Err(e) => return Err(e).aws(format!("reading stack {name_or_id}")),
    };
    let Some(stack) = output.stacks().first() else {
        return Ok(None);
    };
    let stack_status = stack
        .stack_status()
        .cloned()
        .unwrap_or_else(|| StackStatus::from(""));
    // Looked up by id, a deleted stack is still found; by name it is not. Treat both alike.
    if stack_status == StackStatus::DeleteComplete {
        return Ok(None);
    }
    let status = stack_status.as_str().to_string();
    Ok(Some(Described {
        name: stack.stack_name().unwrap_or(name_or_id).to_string(),
        id: stack.stack_id().unwrap_or(name_or_id).to_string(),
        state: classify(&stack_status),
        reason: stack.stack_status_reason().map(str::to_string),
        status,
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        tags: stack
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
        termination_protection: stack.enable_termination_protection().unwrap_or(false),
        last_updated: stack.last_updated_time().or(stack.creation_time()).copied(),
    }))
}

/// An RFC 3339 rendering of an AWS timestamp.
pub fn timestamp(time: &DateTime) -> String {
    time.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}
