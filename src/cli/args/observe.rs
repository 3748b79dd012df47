//! The options of the commands that read what is published: `status`, `list`, `metrics` and `usage`.

use std::time::Duration;

use clap::Args;

use super::{AwsArgs, Target};

/// `botpub status`: the bot.
#[derive(Args)]
pub struct StatusArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `botpub list`: the region (through the AWS options).
#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `botpub metrics`: the bot, and the time span and resolution of its series.
#[derive(Args)]
pub struct MetricsArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    /// How far back to look.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub since: Duration,
    /// The length of one data point (whole minutes).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub period: Duration,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `botpub usage`: the bot, the days, and optionally one key.
#[derive(Args)]
pub struct UsageArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    /// First day (YYYY-MM-DD); default six days before --to.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD); default today.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Only this key (its id).
    #[arg(long, value_name = "KEY_ID")]
    pub key: Option<String>,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}
