//! botpub publishes chatbots as standalone, rate-limited REST APIs on AWS.
//!
//! The crate reads like the pipeline it runs: [`spec`] (file → validated model) → [`synth`] (model →
//! CloudFormation templates) → deployment commands built on top of them.

pub mod aws;
pub mod changeset;
pub mod deploy;
pub mod diff;
pub mod events;
pub mod keys;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod remote;
pub mod spec;
pub mod stack;
pub mod status;
pub mod synth;
pub mod toolkit;
pub mod unpublish;
