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

impl std::error::Error for DeploymentFailed {}
impl std::error::Error for Blocked {}
impl std::error::Error for Interrupted {}

/// The exit code for an error that ended a command.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<DeploymentFailed>().is_some() {
        FAILED
    } else if error.downcast_ref::<Blocked>().is_some() {
        BLOCKED
    } else if error
        .downcast_ref::<AwsError>()
        .is_some_and(|aws| aws.fact == Fact::Busy)
    {
        // AWS refused because another operation on the stack is under way: nothing was done.
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
