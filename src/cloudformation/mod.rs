//! Deploying templates with CloudFormation: a stack's state ([`stack`]), planning it as a change set
//! ([`changeset`], with botpub's own template [`diff`]), plans shown and saved ([`plan`]), what they lead to ([`outcome`]), waiting for an
//! operation through its events ([`events`]) while [`progress`] shows them, and [`deploy`], which runs all
//! of it for every stack of a command.
//!
//! Uses the spec's names and synth's templates; knows nothing of API keys, the toolkit or the worker. A
//! template too large to pass inline goes to whatever [`changeset::TemplateStore`] the caller provides.
//! Data flows one way: the waiter produces events, the display consumes them.

pub mod changeset;
pub mod deploy;
pub mod diff;
pub mod events;
mod execute;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod run;
pub mod stack;
