//! `botpub worker`: answers a published bot's requests. It receives them from the bot's queue, calls the
//! user's bot ([`bot`]) with a heartbeat that keeps each message hidden while it runs, writes the result
//! document before deleting the message (at-least-once delivery, answered once), and on Ctrl-C or SIGTERM
//! stops receiving, lets running requests finish, and releases what it cannot finish ([`run`]).
//!
//! Uses the publication's queues and result documents (`publication`); nothing above it uses the worker.

pub mod bot;
pub mod run;

pub use bot::Bot;
pub use run::{LogFormat, Options, Summary, work};
