//! Command-line arguments: the global options, the list of commands, and the options several commands
//! share. Each command's own options are one struct in the file of its family. Every command's `--help`
//! carries an example.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use deploy::{ApplyArgs, BootstrapArgs, PlanArgs, PublishArgs, UnpublishArgs, WatchArgs};
pub use keys::{
    KeysCommand, KeysCreateArgs, KeysDeleteArgs, KeysGetArgs, KeysListArgs, KeysRotateArgs,
};
pub use model::ModelArgs;
pub use observe::{ListArgs, MetricsArgs, StatusArgs, UsageArgs};
pub use offline::{CompletionsArgs, ManArgs, OpenapiArgs, SynthArgs, ValidateArgs};
pub use worker::{AskArgs, DlqArgs, LogFormat, WorkerArgs};

mod deploy;
mod keys;
mod model;
mod observe;
mod offline;
mod worker;

#[derive(Parser)]
#[command(
    name = "botpub",
    version,
    about = "Publish chatbots as standalone, rate-limited REST APIs on AWS",
    after_help = "Exit codes: 0 success, 1 error or invalid input, 2 plan has changes, 3 deployment failed and \
                  rolled back, 4 blocked (stack busy, stale plan, confirmation needed).\n\
                  Results go to stdout; diagnostics and progress go to stderr."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Output format of the command's result on stdout (`markdown`: `plan` only, for pull requests).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Colour: `auto` only on a terminal, and never with NO_COLOR set or TERM=dumb.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

impl From<ColorArg> for botpub::terminal::Color {
    fn from(color: ColorArg) -> Self {
        match color {
            ColorArg::Auto => botpub::terminal::Color::Auto,
            ColorArg::Always => botpub::terminal::Color::Always,
            ColorArg::Never => botpub::terminal::Color::Never,
        }
    }
}

/// `--output` as given; [`Output`] is what every command but `plan` can produce.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check spec files and report every problem with file, line, column and field path.
    #[command(
        after_help = "Example:\n  botpub validate examples/full.yaml\n  botpub validate --output json specs/*.yaml"
    )]
    Validate(ValidateArgs),

    /// Write the CloudFormation templates of spec files, one file per stack. Needs no AWS account.
    #[command(
        after_help = "Example:\n  botpub synth examples/quickstart.yaml -o out/\n  botpub synth examples/full.yaml --format yaml"
    )]
    Synth(SynthArgs),

    /// Print the OpenAPI 3 description of a bot's API, read off the template it is published with.
    #[command(
        after_help = "Example:\n  botpub openapi examples/quickstart.yaml > hello-bot.openapi.json\n  \
                      botpub openapi examples/full.yaml --bot support-bot --format yaml\n  \
                      botpub openapi examples/quickstart.yaml --server \"$(botpub status hello-bot --output json | jq -r .endpoint)\""
    )]
    Openapi(OpenapiArgs),

    /// Show what publishing would change: one CloudFormation change set per stack.
    #[command(
        after_help = "Exit codes: 0 no changes, 2 changes, 1 error, 4 blocked.\n\nExample:\n  botpub plan examples/full.yaml --out plan.json\n  botpub apply plan.json"
    )]
    Plan(PlanArgs),

    /// Execute exactly the change sets of a plan file; refuses a stale plan (exit 4).
    #[command(
        after_help = "Example:\n  botpub plan examples/full.yaml --out plan.json && botpub apply plan.json"
    )]
    Apply(ApplyArgs),

    /// Plan, confirm, deploy and wait; then print each bot's endpoint, stage, default key id and queue.
    #[command(
        after_help = "Example:\n  botpub publish examples/quickstart.yaml\n  botpub publish specs/*.yaml --yes --output json"
    )]
    Publish(PublishArgs),

    /// Deploy the toolkit stack of a stack prefix (once per account and region): the bucket for large
    /// templates and remote specs, and the CodeBuild project `<prefix>-publisher` for `publish --remote`.
    #[command(
        after_help = "Re-running it changes nothing unless botpub itself changed.\n\nExample:\n  botpub bootstrap --region eu-west-1\n  botpub bootstrap --prefix Acme --yes"
    )]
    Bootstrap(BootstrapArgs),

    /// Follow a deployment in progress (after --detach or an interrupted run) until it ends.
    #[command(
        after_help = "Example:\n  botpub watch support-bot\n  botpub watch firewall   # the shared firewall stack\n  botpub watch domain-bots-example-com   # the stack of the custom domain bots.example.com"
    )]
    Watch(WatchArgs),

    /// Show a bot's publication: status, endpoint, limits (read live), origins and API key ids.
    #[command(
        after_help = "Exit code 1 when the bot is not published.\n\nExample:\n  botpub status support-bot\n  botpub status support-bot --output json | jq .endpoint"
    )]
    Status(StatusArgs),

    /// A bot's API and queue metrics from CloudWatch: each series with its total or peak and a sparkline.
    #[command(
        after_help = "Series: requests, 4xx, 5xx, latency p50/p99, integration latency p50, waiting requests,\n\
                      age of the oldest request, dead letters. --output json gives every data point.\n\n\
                      Example:\n  botpub metrics support-bot --since 6h --period 1m"
    )]
    Metrics(MetricsArgs),

    /// Requests per API key per day from a bot's usage plan, with each key's remaining quota.
    #[command(
        after_help = "Keys are shown by id and name, never by value. Days are UTC.\n\n\
                      Example:\n  botpub usage support-bot --from 2026-11-01 --to 2026-11-30 --output json"
    )]
    Usage(UsageArgs),

    /// List every bot published in the region.
    #[command(after_help = "Example:\n  botpub list --region eu-west-1 --output json")]
    List(ListArgs),

    /// Remove a bot's API, every API key on its usage plan, its queue and its results.
    #[command(
        after_help = "Example:\n  botpub unpublish support-bot --yes\n  botpub unpublish support-bot --remove-domain --yes   # the last bot on its custom domain"
    )]
    Unpublish(UnpublishArgs),

    /// Manage a published bot's API keys; a key's value is shown only when created, or with `get --reveal`.
    #[command(subcommand)]
    Keys(KeysCommand),

    /// Answer a published bot's requests: receive them from its queue, run your bot on each (a command, an
    /// HTTP bot server, or a model), write the result, until stopped.
    #[command(
        after_help = "The bot gets one JSON document on stdin (exec) or as the POST body (--http): {bot_id, request_id, \
                      correlation_id, attempt, received_at, request}. It answers with a JSON object that has a `response` \
                      field (other fields such as `usage` are kept) or plain text. Exit 0 (or a 2xx answer) is success.\n\
                      Ctrl-C or SIGTERM stops receiving; running requests get --grace to finish, and what is left is handed \
                      back to the queue. A second signal stops at once. Exit 0 after a clean stop.\n\n\
                      A bot streams its answer by answering text/event-stream (--http), or by opening its stdout with the line \
                      `Content-Type: text/event-stream` and a blank line (exec); clients then read the text so far, stored at \
                      most every --flush-interval.\n\n\
                      A model answers with no code: --bedrock MODEL_ID, --agentcore RUNTIME_ARN or --openai BASE_URL --model NAME \
                      (the conversation becomes its messages; the result has response, usage {input_tokens, output_tokens}, \
                      model and stop_reason).\n\n\
                      Example:\n  botpub worker support-bot -- python3 examples/bots/echo.py\n  \
                      botpub worker support-bot --http http://127.0.0.1:8080/invocations --concurrency 16\n  \
                      botpub worker support-bot --bedrock anthropic.claude-3-5-haiku-20241022-v1:0 --system \"Be brief.\"\n  \
                      botpub worker support-bot --openai http://127.0.0.1:11434/v1 --model llama3.2"
    )]
    Worker(WorkerArgs),

    /// Ask a published bot one question through its API, wait for the answer and print it.
    #[command(
        after_help = "Exit codes: 0 answered, 3 the request failed, 1 timeout or HTTP error.\n\n\
                      Example:\n  BOTPUB_API_KEY=... botpub ask support-bot \"What are your opening hours?\"\n  BOTPUB_API_KEY=... botpub ask chat-bot \"And on Sundays?\" --conversation ID\n  botpub ask orders-bot \"Where is order 1234?\" --sigv4   # auth: iam"
    )]
    Ask(AskArgs),

    /// List the requests in a bot's dead-letter queue (they stay there), or move them back to be answered.
    #[command(
        after_help = "Example:\n  botpub dlq support-bot\n  botpub dlq support-bot --redrive --yes   # after fixing the bot"
    )]
    Dlq(DlqArgs),

    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(
        after_help = "Example:\n  source <(botpub completions bash)            # this shell\n  \
                      botpub completions bash > ~/.local/share/bash-completion/completions/botpub\n  \
                      botpub completions zsh > \"${fpath[1]}/_botpub\"\n  \
                      botpub completions fish > ~/.config/fish/completions/botpub.fish"
    )]
    Completions(CompletionsArgs),

    /// Print botpub's man page (roff), or write one page per command into a directory.
    #[command(
        after_help = "Example:\n  botpub man | man -l -\n  botpub man --dir /usr/local/share/man/man1"
    )]
    Man(ManArgs),

    /// Print the JSON Schema of the spec format, for editor completion and checking.
    #[command(
        after_help = "Example:\n  botpub schema > botpub.schema.json\n  # then, in a spec file: # yaml-language-server: $schema=botpub.schema.json"
    )]
    Schema,
}

/// Where AWS is: the usual AWS configuration, with explicit overrides.
#[derive(Args, Clone)]
pub struct AwsArgs {
    /// AWS region; otherwise the spec's `region`, then AWS_REGION or the profile's region.
    #[arg(long)]
    pub region: Option<String>,
    /// Named profile from the AWS config files (otherwise AWS_PROFILE, then default).
    #[arg(long)]
    pub profile: Option<String>,
    /// Send every AWS request to this endpoint (otherwise AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Log each AWS request to stderr: operation, stack, duration, attempts.
    #[arg(short, long)]
    pub verbose: bool,
}

/// How many stacks at once.
#[derive(Args, Clone)]
pub struct FleetArgs {
    /// Bot stacks planned or deployed at once, after the shared firewall (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

/// Which bot's stack a command means.
#[derive(Args, Clone)]
pub struct Target {
    /// The spec's stack_prefix.
    #[arg(long, default_value = "BotPub")]
    pub prefix: String,
}

/// How to wait for deployments.
#[derive(Args, Clone)]
pub struct WaitArgs {
    /// auto: a live view on a terminal, one line per event otherwise.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Stop waiting after this long (e.g. 30m); the deployment goes on in AWS. Default: no limit.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Give up waiting once CloudFormation has not answered for this long (each request is retried
    /// meanwhile); the deployment goes on in AWS.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    pub lost_contact: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Bar,
    Events,
    None,
}
