//! `botpub worker`: answers a published bot's requests. It receives them from the bot's queue with a
//! heartbeat that keeps each message hidden while it runs, and on Ctrl-C or SIGTERM stops receiving, lets
//! running requests finish, and releases what it cannot finish ([`run`]). Each message ([`answer`]) goes to
//! the user's bot ([`bot`]) or a model ([`model`]), for a conversation with its history, and its answer is written before the
//! message is deleted (at-least-once delivery, answered once); while a bot streams, its text so far is kept
//! where clients read it ([`partial`]). A request SQS gives up on without an answer
//! (its deliveries reached workers that stopped or died) is marked `failed` ([`given_up`]).
//!
//! Uses the publication's queues and result documents (`publication`); nothing above it uses the worker.

pub mod answer;
pub mod bot;
pub mod budget;
pub mod given_up;
pub mod model;
pub mod partial;
pub mod reply;
pub mod run;

pub use bot::Bot;
pub use run::{LogFormat, Options, Summary, work};
