//! Waiting for a stack operation to finish.
//!
//! Only new events are fetched (pages stop at the first event already seen), polling starts fast and backs
//! off with jitter to a steady rate below one call per second, and events are attributed to this run by
//! its client request token, so another run's events never appear. When the operation fails, the report
//! leads with the root cause: the earliest failure that is not a cancellation caused by another.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudformation::types::{ResourceStatus, StackEvent};
use aws_smithy_types::DateTime;
use tokio::time::Instant;

use super::outcome::{StackAction, StatusClass};
use crate::aws::{Aws, AwsContext};
use crate::outcome::{Interrupted, StillGoing};
use crate::signals::signalled;

/// One resource or stack event, as botpub shows it.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub time: DateTime,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    pub token: Option<String>,
}

impl Event {
    fn from_sdk(event: &StackEvent) -> Event {
        Event {
            id: event.event_id().unwrap_or_default().to_string(),
            time: event.timestamp().copied().unwrap_or(DateTime::from_secs(0)),
            logical_id: event.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: event.resource_type().unwrap_or_default().to_string(),
            status: event
                .resource_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            reason: event.resource_status_reason().map(str::to_string),
            token: event.client_request_token().map(str::to_string),
        }
    }

    /// The stack's own event (as opposed to one of its resources').
    pub fn is_stack_event(&self, stack_name: &str) -> bool {
        self.resource_type == "AWS::CloudFormation::Stack" && self.logical_id == stack_name
    }

    pub fn is_failure(&self) -> bool {
        use ResourceStatus::*;
        matches!(
            ResourceStatus::from(self.status.as_str()),
            CreateFailed
                | DeleteFailed
                | ExportFailed
                | ExportRollbackFailed
                | ImportFailed
                | ImportRollbackFailed
                | RollbackFailed
                | UpdateFailed
                | UpdateRollbackFailed
        )
    }

    /// A failure that only follows from another one (CloudFormation says so in the reason only).
    fn is_cancellation(&self) -> bool {
        self.reason
            .as_deref()
            .is_some_and(|r| r.to_ascii_lowercase().contains("cancelled"))
    }

    pub fn line(&self, stack_name: &str) -> String {
        let reason = self
            .reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        if self.is_stack_event(stack_name) {
            format!("{} {stack_name} {}{reason}", clock(&self.time), self.status)
        } else {
            format!(
                "{} {stack_name} {} ({}) {}{reason}",
                clock(&self.time),
                self.logical_id,
                self.resource_type,
                self.status
            )
        }
    }
}

/// `HH:MM:SS` (UTC) of an AWS timestamp.
fn clock(time: &DateTime) -> String {
    let secs = time.secs().rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

pub fn clock_now() -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    clock(&DateTime::from_secs(now.as_secs() as i64))
}

/// What the waiter reports while it waits. The display implements it
/// ([`super::progress::StackProgress`]); a wait nobody watches passes `&mut ()`.
pub trait Watcher {
    /// One of this run's events, in order.
    fn event(&mut self, event: &Event);
    /// Called at every poll with the stack's latest status.
    fn heartbeat(&mut self, status: &str);
    /// The wait is over, with this final word.
    fn finish(&mut self, status: &str);
}

impl Watcher for () {
    fn event(&mut self, _: &Event) {}
    fn heartbeat(&mut self, _: &str) {}
    fn finish(&mut self, _: &str) {}
}

/// An operation in progress on one stack.
pub struct Operation {
    pub stack_name: String,
    /// The stack id (ARN): unlike the name, it still finds a stack that was deleted.
    pub stack_id: String,
    /// Events with a different token belong to another run.
    pub token: Option<String>,
    /// Events older than this belong to earlier operations.
    pub since: DateTime,
}

/// How an operation ended.
#[derive(Debug)]
pub struct Finished {
    pub status: String,
    pub reason: Option<String>,
    /// This run's events, oldest first.
    pub events: Vec<Event>,
}

impl Finished {
    pub fn class(&self) -> StatusClass {
        StatusClass::of(&self.status)
    }

    /// The failures of this run, root cause first, then the rest in time order.
    pub fn failure_report(&self) -> String {
        let failures: Vec<&Event> = self.events.iter().filter(|e| e.is_failure()).collect();
        let resource_failures: Vec<&&Event> = failures
            .iter()
            .filter(|e| e.resource_type != "AWS::CloudFormation::Stack")
            .collect();
        let root = resource_failures
            .iter()
            .find(|e| !e.is_cancellation())
            .or_else(|| resource_failures.first())
            .copied();
        let mut report = String::new();
        if let Some(root) = root {
            report.push_str(&format!(
                "root cause: {} ({}) {}: {}",
                root.logical_id,
                root.resource_type,
                root.status,
                root.reason.as_deref().unwrap_or("no reason given")
            ));
        } else if let Some(reason) = &self.reason {
            report.push_str(&format!("reason: {reason}"));
        }
        let rest: Vec<String> = resource_failures
            .iter()
            .filter(|e| root.is_none_or(|r| r.id != e.id))
            .map(|e| {
                format!(
                    "  {} {} ({}) {}: {}",
                    clock(&e.time),
                    e.logical_id,
                    e.resource_type,
                    e.status,
                    e.reason.as_deref().unwrap_or("")
                )
            })
            .collect();
        if !rest.is_empty() {
            report.push_str("\nthen, in order:\n");
            report.push_str(&rest.join("\n"));
        }
        report
    }
}

/// Root cause first, for a stack operation that did not succeed. `action` is the plan's, when the
/// operation was one (a failed create removes the stack, which is then no failure to delete).
pub fn describe_failure(
    stack_name: &str,
    action: Option<StackAction>,
    finished: &Finished,
) -> String {
    let what = match finished.class() {
        StatusClass::Deleted if action == Some(StackAction::Create) => {
            "failed to create and was removed (nothing is left behind)".to_string()
        }
        StatusClass::RolledBack => {
            format!("failed and was rolled back ({})", finished.status)
        }
        _ => format!("failed ({})", finished.status),
    };
    format!("{stack_name} {what}\n{}", finished.failure_report())
}

/// Poll delays: fast while an operation is likely to be short, then a steady pace near 1.5 s (with jitter)
/// that detects completion within about two seconds and stays under one call per second on average.
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const STEADY: Duration = Duration::from_millis(1500);

    pub fn new() -> Backoff {
        Backoff {
            next: Backoff::FIRST,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        // ×1.5 rather than ×2: completion is seen at most half the time already waited after it happens.
        self.next = self.next.mul_f64(1.5).min(Backoff::STEADY);
        // ±20 % jitter so that many waiting clients do not poll in lockstep.
        base.mul_f64(0.8 + fastrand::f64() * 0.4)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// Sleeps, unless the user interrupts (now or since the run started): then the error says that `what`
/// goes on in AWS, and names the stack that shows it.
pub async fn pause(delay: Duration, what: &str, stack_name: &str) -> anyhow::Result<()> {
    tokio::select! {
        biased;
        (signal, code) = signalled() => Err(Interrupted {
            signal,
            code,
            message: format!("stopped waiting; {what} goes on deploying in AWS"),
            follow: Some(stack_name.to_string()),
        }
        .into()),
        _ = tokio::time::sleep(delay) => Ok(()),
    }
}

/// The stack's status by id, including DELETE_COMPLETE (which `stack::describe` hides).
async fn status(aws: &Aws, stack_id: &str) -> anyhow::Result<(String, Option<String>)> {
    let output = aws
        .cloudformation
        .describe_stacks()
        .stack_name(stack_id)
        .send()
        .await
        .aws(format!("reading stack {stack_id}"))?;
    let stack = output.stacks().first();
    Ok((
        stack
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        stack
            .and_then(|s| s.stack_status_reason())
            .map(str::to_string),
    ))
}

/// How long a wait goes on: at most `timeout` in all (no limit by default), and no longer than
/// `lost_contact` once CloudFormation stops answering (each poll already retries with backoff).
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub timeout: Option<Duration>,
    pub lost_contact: Duration,
}

impl Patience {
    pub const DEFAULT_LOST_CONTACT: Duration = Duration::from_secs(300);
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            timeout: None,
            lost_contact: Patience::DEFAULT_LOST_CONTACT,
        }
    }
}

/// Waits until the operation settles, handing its events to `watcher`. Its clock is tokio's, so that
/// tests can run the give-up paths in paused time.
pub async fn wait(
    aws: &Aws,
    op: &Operation,
    watcher: &mut dyn Watcher,
    patience: Patience,
) -> anyhow::Result<Finished> {
    let started = Instant::now();
    let mut backoff = Backoff::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut events: Vec<Event> = Vec::new();
    let mut last_status_check = Instant::now();
    let mut status_now = String::from("IN_PROGRESS");
    let mut last_contact = Instant::now();
    loop {
        // A failed poll is not a failed deployment: poll again (the request log has it), unless AWS has
        // been out of reach for so long that waiting on is pointless.
        let fresh: Vec<Event> = match new_events(aws, op, &seen).await {
            Ok(fresh) => {
                last_contact = Instant::now();
                fresh
            }
            Err(error) if last_contact.elapsed() >= patience.lost_contact => {
                watcher.finish("out of contact");
                return Err(StillGoing {
                    stack: op.stack_name.clone(),
                    message: format!(
                        "lost contact with CloudFormation for {} ({error:#}); {} goes on in AWS",
                        humantime::format_duration(Duration::from_secs(
                            patience.lost_contact.as_secs()
                        )),
                        op.stack_name,
                    ),
                }
                .into());
            }
            Err(_) => Vec::new(),
        };
        let settled_hint = take(fresh, op, &mut seen, watcher, &mut events, &mut status_now);
        // Events can be missed or late; check the stack itself when they say it settled, and now and then.
        if settled_hint || last_status_check.elapsed() >= Duration::from_secs(10) {
            last_status_check = Instant::now();
            if let Ok((status, reason)) = status(aws, &op.stack_id).await {
                if !status.is_empty() && StatusClass::of(&status).is_settled() {
                    // The stack may have settled since the events were read: read them once more, so
                    // that the failure that ended it is among them (the root cause of the report).
                    if let Ok(fresh) = new_events(aws, op, &seen).await {
                        take(fresh, op, &mut seen, watcher, &mut events, &mut status_now);
                    }
                    watcher.finish(&status);
                    return Ok(Finished {
                        status,
                        reason,
                        events,
                    });
                }
                status_now = status;
            }
        }
        if let Some(limit) = patience.timeout
            && started.elapsed() >= limit
        {
            watcher.finish("still in progress");
            return Err(StillGoing {
                stack: op.stack_name.clone(),
                message: format!(
                    "stopped waiting after {} (--timeout); {} is still {status_now} and goes on in AWS",
                    humantime::format_duration(Duration::from_secs(limit.as_secs())),
                    op.stack_name,
                ),
            }
            .into());
        }
        watcher.heartbeat(&status_now);
        pause(backoff.next_delay(), &op.stack_name, &op.stack_name).await?;
    }
}

/// Takes newly read events: shows this operation's, keeps them, and follows the stack's own status in
/// `status_now`. True when the stack's own events say it settled.
fn take(
    fresh: Vec<Event>,
    op: &Operation,
    seen: &mut HashSet<String>,
    watcher: &mut dyn Watcher,
    events: &mut Vec<Event>,
    status_now: &mut String,
) -> bool {
    let mut settled = false;
    for event in fresh {
        seen.insert(event.id.clone());
        if !belongs(&event, op) {
            continue;
        }
        watcher.event(&event);
        if event.is_stack_event(&op.stack_name) {
            *status_now = event.status.clone();
            settled |= StatusClass::of(&event.status).is_settled();
        }
        events.push(event);
    }
    settled
}

/// Deletes a stack that holds nothing worth keeping (a failed first create, an unused review stack) and
/// waits until it is gone, so the caller can create it anew or report that nothing is left.
pub async fn delete_and_wait(aws: &Aws, id: &str, name: &str, token: &str) -> anyhow::Result<()> {
    aws.cloudformation
        .delete_stack()
        .stack_name(id)
        .client_request_token(token)
        .send()
        .await
        .aws(format!("deleting {name}"))?;
    let op = Operation {
        stack_name: name.to_string(),
        stack_id: id.to_string(),
        token: Some(token.to_string()),
        since: DateTime::from(std::time::SystemTime::now() - std::time::Duration::from_secs(2)),
    };
    let finished = wait(aws, &op, &mut (), Patience::default()).await?;
    if finished.class() != StatusClass::Deleted {
        anyhow::bail!(
            "could not delete {name} ({}): {}",
            finished.status,
            finished.failure_report()
        );
    }
    Ok(())
}

fn belongs(event: &Event, op: &Operation) -> bool {
    match (&op.token, &event.token) {
        (Some(mine), Some(theirs)) => mine == theirs,
        _ => event.time.secs() >= op.since.secs(),
    }
}

/// Events newer than the ones already seen, oldest first.
async fn new_events(
    aws: &Aws,
    op: &Operation,
    seen: &HashSet<String>,
) -> anyhow::Result<Vec<Event>> {
    let mut fresh = Vec::new();
    let mut next_token: Option<String> = None;
    'pages: loop {
        let page = aws
            .cloudformation
            .describe_stack_events()
            .stack_name(&op.stack_id)
            .set_next_token(next_token.take())
            .send()
            .await
            .aws(format!("reading events of {}", op.stack_name))?;
        for event in page.stack_events() {
            let event = Event::from_sdk(event);
            if seen.contains(&event.id) || event.time.secs() < op.since.secs() {
                break 'pages;
            }
            fresh.push(event);
        }
        match page.next_token() {
            Some(token) => next_token = Some(token.to_string()),
            None => break,
        }
    }
    fresh.reverse();
    Ok(fresh)
}

#[cfg(test)]
mod tests;
