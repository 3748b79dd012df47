//! A published bot and what can be done to it: its stack read through its outputs ([`bot_stack`]), its
//! publication read live from AWS and the list of every published bot ([`status`]), its API keys
//! ([`keys`]), what it has been doing ([`metrics`], [`usage`], the tokens its callers spent: [`tokens`]),
//! taking it down cleanly ([`unpublish`]),
//! and what LocalStack makes of an update ([`localstack`]).
//!
//! Built on the deployed stacks (`cloudformation`); it never plans or changes a template.

pub mod ask;
pub mod bot_stack;
pub mod conversations;
pub mod days;
pub mod dead_letters;
pub mod keys;
pub mod localstack;
pub mod metrics;
pub mod queue;
pub mod results;
pub mod status;
pub mod tokens;
pub mod unpublish;
pub mod usage;
