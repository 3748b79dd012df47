//! `botpub keys ...`: the command-line side of API key management (the work is in `botpub::publication::keys`).
//!
//! A key's value reaches stdout in exactly two places: the answer to `create`/`rotate`, and `get --reveal`.

use botpub::cloudformation::deploy::Run;
use botpub::outcome::{self, Blocked};
use botpub::publication::bot_stack::BotStack;
use botpub::publication::keys::{self, Key};
use serde_json::json;

use super::args::{
    AwsArgs, KeysCommand, KeysCreateArgs, KeysDeleteArgs, KeysGetArgs, KeysListArgs,
    KeysRotateArgs, Output, Target,
};
use super::setup::{confirm, start};

pub async fn run(command: &KeysCommand, output: Output) -> anyhow::Result<u8> {
    match command {
        KeysCommand::Create(args) => create(args, output).await,
        KeysCommand::List(args) => list(args, output).await,
        KeysCommand::Get(args) => get(args, output).await,
        KeysCommand::Delete(args) => delete(args, output).await,
        KeysCommand::Rotate(args) => rotate(args, output).await,
    }
}

async fn create(args: &KeysCreateArgs, output: Output) -> anyhow::Result<u8> {
    let bot_id = &args.bot_id;
    let (run, bot) = published(&args.aws, &args.target, bot_id, output).await?;
    ensure_budgeted(&run, &bot, args.token_budget).await?;
    let name = request_name(&run, bot_id);
    let key = keys::create(&run.aws, &bot, &args.description, &name, args.token_budget).await?;
    show_new(&key, bot_id, None, output)
}

async fn list(args: &KeysListArgs, output: Output) -> anyhow::Result<u8> {
    let bot_id = &args.bot_id;
    let (run, bot) = published(&args.aws, &args.target, bot_id, output).await?;
    let listed = keys::list(&run.aws, &bot).await?;
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"bot_id": bot_id, "keys": listed}))?
        ),
        Output::Text => {
            println!(
                "{:<12} {:<8} {:<22} {:>13} DESCRIPTION",
                "ID", "ENABLED", "CREATED", "TOKEN BUDGET"
            );
            for key in &listed {
                let created = key
                    .created_date
                    .map(aws_smithy_types::DateTime::from_secs)
                    .as_ref()
                    .map(botpub::cloudformation::stack::timestamp);
                let default = if key.default {
                    " (default key of the stack)"
                } else {
                    ""
                };
                let budget = key.token_budget.map(|b| b.to_string());
                println!(
                    "{:<12} {:<8} {:<22} {:>13} {}{default}",
                    key.id,
                    key.enabled,
                    created.unwrap_or_default(),
                    budget.as_deref().unwrap_or("-"),
                    key.description.as_deref().unwrap_or("")
                );
            }
            println!("{} key(s)", listed.len());
        }
    }
    Ok(outcome::OK)
}

async fn get(args: &KeysGetArgs, output: Output) -> anyhow::Result<u8> {
    let (run, bot) = published(&args.aws, &args.target, &args.bot_id, output).await?;
    let key = keys::get(&run.aws, &bot, &args.key_id, args.reveal).await?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&key)?),
        Output::Text => {
            println!("id:          {}", key.id);
            println!("description: {}", key.description.as_deref().unwrap_or(""));
            println!("enabled:     {}", key.enabled);
            println!("value:       {}", key.value.as_deref().unwrap_or("-"));
            if !args.reveal {
                eprintln!("(the value is masked; add --reveal to print it)");
            }
        }
    }
    Ok(outcome::OK)
}

async fn delete(args: &KeysDeleteArgs, output: Output) -> anyhow::Result<u8> {
    let (bot_id, key_id) = (&args.bot_id, &args.key_id);
    let (run, bot) = published(&args.aws, &args.target, bot_id, output).await?;
    keys::ensure_own(&run.aws, &bot, key_id).await?;
    if bot.default_key_id.as_deref() == Some(key_id.as_str()) {
        eprintln!(
            "note: {key_id} is the default key that the stack created; the stack's DefaultApiKeyId output will name a deleted key"
        );
    }
    if !confirm(
        &format!("Delete key {key_id} of {bot_id}? Clients using it are refused at once."),
        args.yes,
    )
    .await?
    {
        return Err(Blocked("not confirmed; the key was kept".into()).into());
    }
    keys::delete(&run.aws, &bot, key_id).await?;
    match output {
        Output::Json => println!("{}", json!({"bot_id": bot_id, "deleted": key_id})),
        Output::Text => println!("Deleted key {key_id} of {bot_id}."),
    }
    Ok(outcome::OK)
}

async fn rotate(args: &KeysRotateArgs, output: Output) -> anyhow::Result<u8> {
    let (bot_id, key_id) = (&args.bot_id, &args.key_id);
    let (run, bot) = published(&args.aws, &args.target, bot_id, output).await?;
    let old = keys::get(&run.aws, &bot, key_id, false).await?;
    let description = args
        .description
        .clone()
        .or(old.description.clone())
        .unwrap_or_else(|| format!("Replaces {key_id}"));
    let token_budget = args.token_budget.or(old.token_budget);
    ensure_budgeted(&run, &bot, args.token_budget).await?;
    let name = request_name(&run, bot_id);
    let key = keys::create(&run.aws, &bot, &description, &name, token_budget).await?;
    show_new(&key, bot_id, Some(key_id), output)
}

/// A key's own token budget takes the place of its bot's limit, for the bot's period: a bot without a
/// `token_budget` has no period to give it.
async fn ensure_budgeted(
    run: &Run,
    bot: &keys::Bot,
    token_budget: Option<u64>,
) -> anyhow::Result<()> {
    if token_budget.is_none() {
        return Ok(());
    }
    let stack = BotStack::find(&run.aws, &run.prefix, &bot.bot_id).await?;
    if stack.token_budget().is_none() {
        return Err(Blocked(format!(
            "{} has no token_budget: give the bot one in its spec (`token_budget: {{limit: N, period: DAY|WEEK|MONTH}}`) and publish it; --token-budget then sets this key's own limit for that period",
            bot.bot_id
        ))
        .into());
    }
    Ok(())
}

/// Connects, and finds the bot's usage plan (refusing while the bot is unpublished or busy).
async fn published(
    aws: &AwsArgs,
    target: &Target,
    bot_id: &str,
    output: Output,
) -> anyhow::Result<(Run, keys::Bot)> {
    let run = start(aws, None, None, output, &target.prefix).await?;
    let stack_name = format!("{}-{bot_id}", run.prefix);
    let bot = keys::bot(&run.aws, &stack_name, bot_id).await?;
    Ok((run, bot))
}

/// The name a new key carries: unique to this request, so a retried create can find what it made.
fn request_name(run: &Run, bot_id: &str) -> String {
    format!("{}-{bot_id}-{}", run.prefix, run.token("key"))
}

fn show_new(key: &Key, bot_id: &str, replaces: Option<&str>, output: Output) -> anyhow::Result<u8> {
    match output {
        Output::Json => {
            let mut document = json!({
                "id": key.id,
                "description": key.description,
                "value": key.value,
                "enabled": key.enabled,
                "created_date": key.created_date,
            });
            if let Some(old) = replaces {
                document["replaces"] = json!(old);
            }
            if let Some(limit) = key.token_budget {
                document["token_budget"] = json!(limit);
            }
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        Output::Text => {
            println!("id:    {}", key.id);
            println!("value: {}", key.value.as_deref().unwrap_or("-"));
            if let Some(limit) = key.token_budget {
                println!("token budget: {limit} per period");
            }
        }
    }
    eprintln!(
        "Store the value now: botpub shows it only here (and with `botpub keys get {bot_id} {} --reveal`).",
        key.id
    );
    if let Some(old) = replaces {
        eprintln!(
            "The old key {old} still works. Answers belong to the key that asked: poll requests made with {old} \
             with {old}, and start new conversations with the new key (one begun with {old} cannot be read or \
             continued with it). Once nothing is in flight for {old}: botpub keys delete {bot_id} {old}"
        );
    }
    Ok(outcome::OK)
}
