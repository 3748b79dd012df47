//! The names of the token metrics the worker publishes, and the bot's dashboard and `-tokens` alarm read
//! (the template takes them from here, through [`Names`]).

use serde::Serialize;

/// Their namespace; their one dimension is [`DIMENSION`], the bot's stack name.
pub const NAMESPACE: &str = "botpub";
pub const DIMENSION: &str = "Bot";
pub const INPUT: &str = "InputTokens";
pub const OUTPUT: &str = "OutputTokens";

/// The names, as the bot's template sees them.
#[derive(Serialize)]
pub struct Names {
    namespace: &'static str,
    dimension: &'static str,
    input: &'static str,
    output: &'static str,
}

pub const NAMES: Names = Names {
    namespace: NAMESPACE,
    dimension: DIMENSION,
    input: INPUT,
    output: OUTPUT,
};
