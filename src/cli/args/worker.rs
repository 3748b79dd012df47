//! The options of the commands that run a published bot or talk to it: `worker`, `ask` and `dlq`. The
//! worker's options for answering from a model are in [`super::model`].

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{AwsArgs, ModelArgs, Target};

/// `botpub worker`: the bot (exactly one of a command, `--http` or a model backend, the group `bot`
/// that spans this struct and [`ModelArgs`]), and how the worker takes and answers requests.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("bot").required(true)))]
pub struct WorkerArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    /// POST each request to this bot server instead of running a command.
    #[arg(long, value_name = "URL", group = "bot")]
    pub http: Option<String>,
    #[command(flatten)]
    pub model: Box<ModelArgs>,
    /// Requests worked on at once (1 to 1000).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub concurrency: u16,
    /// Longest one attempt may take (e.g. 5m); then the bot is stopped and the attempt fails.
    /// Default: 15 minutes, or the queue's visibility timeout if longer.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// After Ctrl-C or SIGTERM, how long running requests may finish.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Stop after taking this many requests, once they are answered.
    #[arg(long, value_name = "N")]
    pub max_requests: Option<u64>,
    /// Stop once the queue has been empty, with nothing running, for this long (e.g. 30s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub idle_exit: Option<Duration>,
    /// While a streaming bot writes, store its text so far for clients at most this often (e.g.
    /// 250ms); 0 stores only the final answer.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub flush_interval: Duration,
    /// One line per request on stderr: text, or JSON (request_id, correlation_id, attempt, duration_ms,
    /// outcome, error). Never the request or the answer.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The bot: a command and its arguments, run once per request.
    #[arg(last = true, value_name = "COMMAND", group = "bot")]
    pub command: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `botpub ask`: the bot, the question, the API key, and how to wait for the answer.
#[derive(Args)]
pub struct AskArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    #[arg(value_name = "MESSAGE")]
    pub message: String,
    /// The environment variable that holds the API key.
    #[arg(
        long,
        value_name = "VAR",
        default_value = "BOTPUB_API_KEY",
        conflicts_with = "key"
    )]
    pub key_env: String,
    /// The API key itself (visible in the process list: prefer --key-env).
    #[arg(long)]
    pub key: Option<String>,
    /// Give up waiting for the answer after this long.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Continue this conversation (bots with `contract: conversation`); without it a new one starts.
    #[arg(long, value_name = "CONVERSATION_ID")]
    pub conversation: Option<String>,
    /// Print only the final answer, not the text as the bot writes it.
    #[arg(long)]
    pub no_stream: bool,
    /// Sign every request with AWS Signature Version 4 and the credentials of your AWS configuration,
    /// for a bot with `auth: iam` (no key needed) or `both` (the key is sent too).
    #[arg(long)]
    pub sigv4: bool,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `botpub dlq`: the bot, and whether to move its dead letters back.
#[derive(Args)]
pub struct DlqArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    /// Move every dead letter back to the work queue, so a running worker answers it.
    #[arg(long)]
    pub redrive: bool,
    /// Do not ask for confirmation before --redrive.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}
