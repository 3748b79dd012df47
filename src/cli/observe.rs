//! `metrics` and `usage`: what a published bot has been doing, from CloudWatch and its usage plan.

use std::time::{SystemTime, UNIX_EPOCH};

use botpub::outcome;
use botpub::publication::bot_stack::BotStack;
use botpub::publication::metrics::{self, Summary};
use botpub::publication::{days, usage};

use super::args::{MetricsArgs, Output, UsageArgs};
use super::setup::connect;

/// Columns of a sparkline: a day in 5-minute periods shrinks to 48 characters.
const SPARK_WIDTH: usize = 48;

pub async fn metrics(args: &MetricsArgs, output: Output) -> anyhow::Result<u8> {
    let bot_id = args.bot_id.as_str();
    let aws = connect(&args.aws, None).await?;
    let stack = BotStack::find(&aws, &args.target.prefix, bot_id).await?;
    let read = metrics::read(&aws, &stack, bot_id, args.since, args.period).await?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&read)?),
        Output::Text => {
            println!(
                "{bot_id}: {} to {}, {}-second periods",
                read.start, read.end, read.period_seconds
            );
            for series in &read.series {
                let values: Vec<f64> = series.points.iter().map(|p| p.value).collect();
                let word = match series.summary {
                    Summary::Total => "total",
                    Summary::Max => "max",
                    Summary::Last => "last",
                };
                let value = match (&series.error, series.value) {
                    (Some(_), _) => "unreadable".to_string(),
                    (None, Some(v)) => format!("{word} {}{}", number(v), series.unit),
                    (None, None) => "no data".to_string(),
                };
                println!(
                    "  {:<24} {:>18}  {}",
                    series.name,
                    value,
                    metrics::sparkline(series.summary, &values, SPARK_WIDTH)
                );
            }
            if let Some(error) = read.series.iter().find_map(|s| s.error.as_deref()) {
                eprintln!("warning: some series could not be read: {error}");
            }
        }
    }
    Ok(outcome::OK)
}

/// A number as people read it: whole numbers without decimals, others with one.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.1}")
    }
}

pub async fn usage(args: &UsageArgs, output: Output) -> anyhow::Result<u8> {
    let (bot_id, key_id) = (args.bot_id.as_str(), args.key.as_deref());
    let today = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let to = args.to.clone().unwrap_or_else(|| days::date_of(today));
    // A week by default: the last seven days, today included.
    let from = args
        .from
        .clone()
        .unwrap_or_else(|| days::date_of(today - 6 * 86_400));
    for (flag, date) in [("--from", &from), ("--to", &to)] {
        if days::day_start(date).is_none() {
            anyhow::bail!("{flag} {date}: give a date as YYYY-MM-DD");
        }
    }
    if from > to {
        anyhow::bail!("--from {from} is after --to {to}");
    }
    let aws = connect(&args.aws, None).await?;
    let range = (from.as_str(), to.as_str());
    let read = usage::report(&aws, &args.target.prefix, bot_id, range, key_id, today).await?;
    if let Some(why) = &read.requests_unknown {
        eprintln!("warning: the requests per key are not shown: {why}");
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&read)?),
        Output::Text => {
            println!(
                "{bot_id}: requests from {} to {} (UTC days)",
                read.from, read.to
            );
            println!(
                "  {:<12} {:<28} {:>10} {:>10} {:>12} {:>12} {:>12}  PER DAY",
                "KEY ID", "NAME", "TOTAL", "REMAINING", "TOKENS IN", "TOKENS OUT", "BUDGET LEFT"
            );
            let or_dash = |n: Option<String>| n.unwrap_or_else(|| "-".into());
            for key in &read.keys {
                let per_day: Vec<f64> = key.days.iter().map(|d| d.used as f64).collect();
                println!(
                    "  {:<12} {:<28} {:>10} {:>10} {:>12} {:>12} {:>12}  {}",
                    key.id,
                    key.name
                        .as_deref()
                        .or(key.description.as_deref())
                        .unwrap_or("-"),
                    key.total,
                    or_dash(key.remaining.map(|r| r.to_string())),
                    key.input_tokens,
                    key.output_tokens,
                    or_dash(key.budget.as_ref().map(|b| b.left.to_string())),
                    metrics::sparkline(Summary::Total, &per_day, SPARK_WIDTH)
                );
            }
            println!(
                "  {:<12} {:<28} {:>10} {:>10} {:>12} {:>12}",
                "all keys", "", read.total, "", read.input_tokens, read.output_tokens
            );
            let renews = read.keys.iter().find_map(|k| k.budget.as_ref());
            if let (Some(budget), Some(renews)) = (read.token_budget, renews) {
                println!(
                    "  token budget: {} tokens per key per {} (UTC), unless the key has its own; renews at {}",
                    budget.limit,
                    budget.period.as_str(),
                    renews.renews_at
                );
            }
        }
    }
    Ok(outcome::OK)
}
