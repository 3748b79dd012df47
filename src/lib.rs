//! botpub publishes chatbots as standalone, rate-limited REST APIs on AWS.
//!
//! The crate reads like the pipeline it runs: [`spec`] (file → validated model) → [`synth`] (model →
//! CloudFormation templates) → deployment commands built on top of them.

pub mod spec;
pub mod synth;
