//! The toolkit stack that `botpub bootstrap` deploys once per account, region and prefix: its artifacts
//! bucket ([`bucket`]: templates too large to pass inline, specs and the binary for remote builds, build
//! records) and publishing through its CodeBuild project ([`remote`]).
//!
//! Uses `cloudformation` to deploy itself and to run remote builds' stacks; provides the
//! [`crate::cloudformation::changeset::TemplateStore`] for large templates.

pub mod bucket;
pub mod remote;

pub use bucket::{BuildRecord, Toolkit, attach_for_large_templates, find, require};
