//! botpub publishes chatbots as standalone, rate-limited REST APIs on AWS, and runs them.
//!
//! The modules read like the pipeline, each using only those before it:
//! [`spec`] (file → validated model) → [`synth`] (model → CloudFormation templates) → [`cloudformation`]
//! (change sets, waiting, deploying) → [`publication`] (what is published: status, keys, unpublish) →
//! [`toolkit`] (the bucket and CodeBuild project behind large templates and remote publishing) →
//! [`worker`] (answering a published bot's requests). [`aws`], [`outcome`], [`regions`], [`signals`] and
//! [`terminal`] are the plumbing all of them share. The command line (`src/cli/`) sits on top, in the binary.

pub mod aws;
pub mod cloudformation;
pub mod outcome;
pub mod publication;
pub mod regions;
pub mod signals;
pub mod spec;
pub mod synth;
pub mod terminal;
pub mod toolkit;
pub mod worker;
