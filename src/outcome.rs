//! How a command ends: one error type per failure mode, each with a stable exit code (documented in
//! `botpub --help` and the README), so CI pipelines can tell "blocked" from "failed" from "broken".

use std::fmt;

use crate::aws::{AwsError, Fact};

/// Success.
pub const OK: u8 = 0;
/// An error: invalid input, a refused request, an unreachable endpoint.
pub const ERROR: u8 = 1;
/// `plan` found changes (Terraform's convention).
pub const CHANGES: u8 = 2;
/// A deployment failed and was rolled back (or, for a new stack, removed).
pub const FAILED: u8 = 3;
/// Nothing was done because something stands in the way: a busy stack, a stale plan, a confirmation.
pub const BLOCKED: u8 = 4;

/// A deployment ran and failed; the message already names the root cause.
#[derive(Debug)]
pub struct DeploymentFailed(pub String);

/// botpub declined to act; the message says what stands in the way and how to clear it.
#[derive(Debug)]
pub struct Blocked(pub String);

/// The user stopped botpub (Ctrl-C, SIGTERM) while AWS went on working.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: &'static str,
    pub code: u8,
    pub message: String,
    /// The stack whose operation goes on in AWS, when there is one to follow.
    pub follow: Option<String>,
}

/// botpub will not touch a stack while another operation runs on it; nothing was done.
#[derive(Debug)]
pub struct Busy {
    pub stack: String,
    pub message: String,
}

/// botpub stopped waiting (a timeout, AWS out of reach) while the operation on the stack goes on in AWS.
#[derive(Debug)]
pub struct StillGoing {
    pub stack: String,
    pub message: String,
}

impl fmt::Display for DeploymentFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.signal, self.message)
    }
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for StillGoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeploymentFailed {}
impl std::error::Error for Blocked {}
impl std::error::Error for Interrupted {}
impl std::error::Error for Busy {}
impl std::error::Error for StillGoing {}

/// The stack the user can follow after this error: its operation goes on in AWS (botpub stopped waiting,
/// or another deployment holds it). The engine names the stack; the command line says which of its
/// commands follows it.
pub fn stack_to_follow(error: &anyhow::Error) -> Option<&str> {
    error.chain().find_map(|cause| {
        if let Some(busy) = cause.downcast_ref::<Busy>() {
            Some(busy.stack.as_str())
        } else if let Some(going) = cause.downcast_ref::<StillGoing>() {
            Some(going.stack.as_str())
        } else {
            cause.downcast_ref::<Interrupted>()?.follow.as_deref()
        }
    })
}

/// Whether botpub itself declined to act ([`Blocked`], [`Busy`]).
pub fn declined(error: &anyhow::Error) -> bool {
    error.downcast_ref::<Blocked>().is_some() || error.downcast_ref::<Busy>().is_some()
}

/// Whether the error is a refusal that changed nothing (exit code [`BLOCKED`]): botpub declined, or AWS
/// refused because another operation on the stack is under way.
pub fn is_blocked(error: &anyhow::Error) -> bool {
    declined(error)
        || error
            .downcast_ref::<AwsError>()
            .is_some_and(|aws| aws.fact == Fact::Busy)
}

/// The exit code for an error that ended a command.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<DeploymentFailed>().is_some() {
        FAILED
    } else if is_blocked(error) {
        BLOCKED
    } else if let Some(interrupted) = error.downcast_ref::<Interrupted>() {
        interrupted.code
    } else {
        ERROR
    }
}

/// Shorthand for returning [`Blocked`].
pub fn blocked<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(Blocked(message.into()).into())
}
