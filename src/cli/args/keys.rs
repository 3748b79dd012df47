//! The options of `botpub keys` and its subcommands: `create`, `list`, `get`, `delete` and `rotate`.

use clap::{Args, Subcommand};

use super::{AwsArgs, Target};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key, attach it to the bot's usage plan, and print its value (the only time it is shown).
    #[command(
        after_help = "Example:\n  botpub keys create support-bot --description \"Production web app\""
    )]
    Create(KeysCreateArgs),

    /// List every key on the bot's usage plan (ids, descriptions, state; never values).
    #[command(after_help = "Example:\n  botpub keys list support-bot --output json")]
    List(KeysListArgs),

    /// Show one key, its value masked unless --reveal is given.
    #[command(
        after_help = "Example:\n  botpub keys get support-bot k1a2b3c4\n  botpub keys get support-bot k1a2b3c4 --reveal"
    )]
    Get(KeysGetArgs),

    /// Delete one of the bot's keys: clients using it are refused from then on.
    #[command(after_help = "Example:\n  botpub keys delete support-bot k1a2b3c4 --yes")]
    Delete(KeysDeleteArgs),

    /// Create a replacement for a key and print it; the old key keeps working until you delete it.
    #[command(
        after_help = "Example:\n  botpub keys rotate support-bot k1a2b3c4\n  # once clients use the new key:\n  botpub keys delete support-bot k1a2b3c4 --yes"
    )]
    Rotate(KeysRotateArgs),
}

/// `botpub keys create`: the bot, and what the new key is for.
#[derive(Args)]
pub struct KeysCreateArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    /// What the key is for (e.g. the client application).
    #[arg(long)]
    pub description: String,
    /// This key's own token budget per period, in place of the bot's `token_budget.limit` (the bot
    /// needs a `token_budget`, whose period it keeps).
    #[arg(long, value_name = "TOKENS", value_parser = clap::value_parser!(u64).range(1..))]
    pub token_budget: Option<u64>,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `botpub keys list`: the bot.
#[derive(Args)]
pub struct KeysListArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `botpub keys get`: the bot and the key, and whether to show its value.
#[derive(Args)]
pub struct KeysGetArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    #[arg(value_name = "KEY_ID")]
    pub key_id: String,
    /// Print the key's value in full.
    #[arg(long)]
    pub reveal: bool,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `botpub keys delete`: the bot and the key.
#[derive(Args)]
pub struct KeysDeleteArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    #[arg(value_name = "KEY_ID")]
    pub key_id: String,
    /// Do not ask for confirmation (needed without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `botpub keys rotate`: the bot, the key to replace, and the new key's description.
#[derive(Args)]
pub struct KeysRotateArgs {
    #[arg(value_name = "BOT_ID")]
    pub bot_id: String,
    #[arg(value_name = "KEY_ID")]
    pub key_id: String,
    /// Description of the new key (default: that of the old one).
    #[arg(long)]
    pub description: Option<String>,
    /// The new key's own token budget per period (default: that of the old one, if it had one).
    #[arg(long, value_name = "TOKENS", value_parser = clap::value_parser!(u64).range(1..))]
    pub token_budget: Option<u64>,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub aws: AwsArgs,
}
