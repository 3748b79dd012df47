//! The options of the commands that change what is published and wait for it: `plan`, `apply`,
//! `publish`, `bootstrap`, `watch` and `unpublish`.

use std::path::PathBuf;

use clap::Args;

use super::{AwsArgs, FleetArgs, Target, WaitArgs};

/// `botpub plan`: the specs, and the plan file to keep.
#[derive(Args)]
pub struct PlanArgs {
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    /// Keep the change sets and write a plan file for `botpub apply`.
    #[arg(long = "out", value_name = "PLAN.json")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `botpub apply`: the plan file.
#[derive(Args)]
pub struct ApplyArgs {
    #[arg(value_name = "PLAN.json")]
    pub plan: PathBuf,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `botpub publish`: the specs, and whether to deploy from here or in the toolkit's CodeBuild project.
#[derive(Args)]
pub struct PublishArgs {
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    /// Do not ask for confirmation (needed without a terminal, e.g. in CI).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Return once the deployment has started; `botpub watch` follows it.
    #[arg(long)]
    pub detach: bool,
    /// Deploy inside AWS, in the toolkit's CodeBuild project (see `botpub bootstrap`): this machine
    /// needs only the rights to upload to the toolkit bucket and start and read builds.
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `botpub bootstrap`: the toolkit's prefix and the botpub executable it runs.
#[derive(Args)]
pub struct BootstrapArgs {
    /// Do not ask for confirmation (needed without a terminal, e.g. in CI).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// The botpub executable the remote publisher runs (default: this one). It must be a Linux
    /// x86-64 build.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `botpub watch`: the bot (or shared stack) whose deployment to follow.
#[derive(Args)]
pub struct WatchArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `botpub unpublish`: the bot, and whether its custom domain may go too.
#[derive(Args)]
pub struct UnpublishArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    /// Do not ask for confirmation (needed without a terminal, e.g. in CI).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also delete the stack of the bot's custom domain when no other bot is served on it any more.
    #[arg(long)]
    pub remove_domain: bool,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}
