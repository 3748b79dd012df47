//! botpub's integration tests, one module per file of `tests/`, compiled and linked as one test binary.
//!
//! `tests/support/run_tests.py` (run by `tests/run.sh`) runs each module as its own job, in its own process
//! with its own LocalStack, longest first; `cargo test --test integration publish::` runs one module.

mod common;

mod browser;
mod ci_examples;
mod cli;
mod connection;
mod conversation;
mod demo;
mod domains;
mod faults;
mod fuzz_regressions;
mod injection;
mod interruption;
mod keys;
mod layout;
mod lint;
mod models;
mod monitoring;
mod openapi;
mod owners;
mod plan_markdown;
mod policies;
mod publish;
mod remote;
mod schemathesis;
mod sigv4;
mod snapshots;
mod spec_corpus;
mod streaming;
mod tokens;
mod worker;
