//! `status`, `list` and `unpublish`: what is published, and taking it down.

use botpub::aws::Aws;
use botpub::cloudformation::stack;
use botpub::outcome::{self, Blocked};
use botpub::publication::bot_stack::BotStack;
use botpub::publication::{status, unpublish};
use botpub::toolkit::{self, remote};
use serde_json::json;

use super::args::{ListArgs, Output, StatusArgs, UnpublishArgs};
use super::setup::{confirm, connect, start};

pub fn not_published(
    bot_id: &str,
    stack_name: &str,
    region: &str,
    output: Output,
) -> anyhow::Result<u8> {
    match output {
        Output::Json => println!("{}", json!({"bot_id": bot_id, "published": false})),
        Output::Text => {
            eprintln!("{bot_id} is not published (there is no stack {stack_name} in {region})")
        }
    }
    Ok(outcome::ERROR)
}

pub async fn status(args: &StatusArgs, output: Output) -> anyhow::Result<u8> {
    let (bot_id, prefix) = (args.bot_id.as_str(), &args.target.prefix);
    let aws = connect(&args.aws, None).await?;
    let stack_name = format!("{prefix}-{bot_id}");
    let (publication, build) = futures::join!(
        status::publication(&aws, &stack_name, bot_id),
        latest_build(&aws, prefix, bot_id)
    );
    let publication = publication?;
    // The remote build is extra information: a role that cannot read the toolkit still gets the status.
    let build = build.unwrap_or_else(|error| {
        eprintln!("warning: cannot read {bot_id}'s latest remote build: {error:#}");
        None
    });
    let Some(mut p) = publication else {
        if let Some((id, status)) = build {
            let status = status.as_deref().unwrap_or("unknown");
            match output {
                Output::Json => println!(
                    "{}",
                    json!({"bot_id": bot_id, "published": false, "codebuild_id": id, "codebuild_status": status})
                ),
                Output::Text => eprintln!(
                    "{bot_id} is not published (there is no stack {stack_name} in {}); its latest remote build {id} is {status}",
                    aws.region
                ),
            }
            return Ok(outcome::ERROR);
        }
        return not_published(bot_id, &stack_name, &aws.region, output);
    };
    if let Some((id, status)) = build {
        p.codebuild_id = Some(id);
        p.codebuild_status = status;
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&p)?),
        Output::Text => {
            let dash = |v: Option<&str>| v.unwrap_or("-").to_string();
            println!(
                "{}: published ({}, last updated {})",
                p.bot_id,
                p.cfn_status,
                dash(p.last_updated.as_deref())
            );
            println!("  stack:           {}", p.stack_name);
            println!("  endpoint:        {}", dash(p.endpoint.as_deref()));
            if p.api_endpoint != p.endpoint {
                println!("  api endpoint:    {}", dash(p.api_endpoint.as_deref()));
            }
            if let Some(url) = &p.openapi_url {
                println!("  description:     {url} (OpenAPI, no key needed)");
            }
            println!("  stage:           {}", dash(p.stage.as_deref()));
            if let Some(t) = &p.throttle {
                println!(
                    "  throttle:        {} requests/s, burst {}",
                    t.rate_limit, t.burst_limit
                );
            }
            match &p.quota {
                Some(q) => println!(
                    "  quota:           {} per {} (offset {})",
                    q.limit, q.period, q.offset
                ),
                None => println!("  quota:           none"),
            }
            println!("  allowed origins: {}", p.allowed_origins.join(", "));
            println!("  api key ids:     {}", p.api_key_ids.join(", "));
            println!("  queue:           {}", dash(p.queue_url.as_deref()));
            if let Some(q) = &p.queue {
                println!(
                    "  requests:        {} waiting, {} in flight, {} in the dead-letter queue",
                    q.waiting, q.in_flight, q.dead_letters
                );
            }
            if !p.alarms.is_empty() {
                let quiet: Vec<String> = p
                    .alarms
                    .iter()
                    .filter(|a| !a.is_raised())
                    .map(|a| format!("{} {}", short_alarm(&p.stack_name, &a.name), a.state))
                    .collect();
                println!("  alarms:          {}", quiet.join(", "));
                for alarm in p.alarms.iter().filter(|a| a.is_raised()) {
                    println!(
                        "  ALARM:           {}: {}",
                        short_alarm(&p.stack_name, &alarm.name),
                        alarm.reason.as_deref().unwrap_or("no reason given")
                    );
                }
            }
            match (&p.codebuild_id, &p.codebuild_status) {
                (Some(id), status) => println!(
                    "  remote build:    {id} {}",
                    status
                        .as_deref()
                        .unwrap_or("(no longer known to CodeBuild)")
                ),
                (None, _) => println!("  remote build:    -"),
            }
        }
    }
    Ok(outcome::OK)
}

/// An alarm's name without its stack's: `dead-letters` for `BotPub-support-bot-dead-letters`.
fn short_alarm<'a>(stack_name: &str, name: &'a str) -> &'a str {
    name.strip_prefix(stack_name)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(name)
}

/// The id and status of a bot's latest remote build, when it was ever published remotely.
async fn latest_build(
    aws: &Aws,
    prefix: &str,
    bot_id: &str,
) -> anyhow::Result<Option<(String, Option<String>)>> {
    let Some(toolkit) = toolkit::find(aws, prefix).await? else {
        return Ok(None);
    };
    Ok(remote::latest(aws, &toolkit, bot_id)
        .await?
        .map(|(record, state)| (record.build_id, state.map(|s| s.status))))
}

pub async fn list(args: &ListArgs, output: Output) -> anyhow::Result<u8> {
    let aws = connect(&args.aws, None).await?;
    let listed = status::list(&aws).await?;
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"region": aws.region, "bots": listed}))?
        ),
        Output::Text if listed.is_empty() => println!("No bots are published in {}.", aws.region),
        Output::Text => {
            println!(
                "{:<28} {:<28} {:<22} STACK",
                "BOT", "STATUS", "LAST UPDATED"
            );
            for bot in listed {
                let updated = bot.last_updated.as_deref().unwrap_or("-");
                println!(
                    "{:<28} {:<28} {:<22} {}",
                    bot.bot_id, bot.cfn_status, updated, bot.stack_name
                );
            }
        }
    }
    Ok(outcome::OK)
}

pub async fn unpublish(args: &UnpublishArgs, output: Output) -> anyhow::Result<u8> {
    let (bot_id, prefix) = (args.bot_id.as_str(), &args.target.prefix);
    let run = start(&args.aws, None, Some(&args.wait), output, prefix).await?;
    let stack_name = format!("{prefix}-{bot_id}");
    let Some(described) = stack::describe(&run.aws, &stack_name).await? else {
        match output {
            Output::Json => println!(
                "{}",
                json!({"bot_id": bot_id, "published": false, "unpublished": false})
            ),
            Output::Text => println!(
                "{bot_id} is not published in {}; nothing to do",
                run.aws.region
            ),
        }
        return Ok(outcome::OK);
    };
    unpublish::ensure_removable(&described)?;
    // Even a stack only under review goes: unpublishing leaves nothing behind.
    let bot = BotStack(described);
    let endpoint = bot.api_endpoint(&run.aws);
    let endpoint = endpoint.as_deref().unwrap_or("(none)");
    let mapping = match bot.domain_endpoint() {
        Some(url) => format!(", its mapping {url}"),
        None => String::new(),
    };
    eprintln!(
        "Unpublishing {bot_id} deletes stack {stack_name}, its endpoint {endpoint}{mapping}, every API key on its usage plan, its queues and its results."
    );
    if !confirm("Unpublish?", args.yes).await? {
        return Err(Blocked("not confirmed; nothing was removed".into()).into());
    }
    let done = unpublish::unpublish(&run, &bot, prefix, args.remove_domain).await?;
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"bot_id": bot_id, "unpublished": true, "details": done})
            )?
        ),
        Output::Text => println!(
            "{bot_id}: unpublished ({} extra key(s) deleted, {} detached, {} result(s) removed, stack {} deleted)",
            done.deleted_key_ids.len(),
            done.detached_key_ids.len(),
            done.deleted_results,
            done.stack_name
        ),
    }
    if let (Output::Text, Some(domain)) = (output, &done.domain) {
        println!("{}", domain_left(domain, args.remove_domain));
    }
    Ok(outcome::OK)
}

/// What became of the custom domain of an unpublished bot, and how to remove its stack when it is unused.
fn domain_left(domain: &unpublish::DomainLeft, asked: bool) -> String {
    let (name, stack) = (&domain.name, &domain.stack_name);
    if domain.removed {
        format!("{name}: no bot was served on it any more; its stack {stack} is deleted")
    } else if !domain.base_paths.is_empty() {
        let also = if asked {
            " (--remove-domain removes it only once no bot uses it)"
        } else {
            ""
        };
        format!(
            "{name}: its stack {stack} stays, for the other bot(s) mapped on it (base paths {}){also}",
            domain.base_paths.join(", ")
        )
    } else {
        format!(
            "{name}: no bot is served on it any more; its stack {stack} stays. \
             Remove it with `aws cloudformation delete-stack --stack-name {stack}`, or pass --remove-domain when unpublishing the last bot on a domain"
        )
    }
}
