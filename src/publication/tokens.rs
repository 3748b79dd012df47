//! Token usage per caller, kept in the bot's results bucket: one empty object per model call that reported
//! its usage, named `tokens/{owner}/{day}/{request id}.{attempt}.{input}.{output}`. Writing it is one
//! conditional PUT (If-None-Match), so a call is counted exactly once however often the write is retried,
//! and a request answered again after its worker died counts only the calls the model answered. A total is
//! a listing: the counts are in the names, so no object is read, and days list in order.
//!
//! Why objects rather than counters: S3 is already the bot's store, every write is independent (no two
//! workers ever contend for one counter), and nothing is lost between two writes, since there is one.

use std::collections::BTreeMap;

use serde::Serialize;

use super::days::date_of;
use super::results::send_conditional;
use crate::aws::{Aws, AwsContext};

/// What a model call used, as the model reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// The `usage` of a result (`{input_tokens, output_tokens}`), when it states either.
    pub fn of(usage: &serde_json::Value) -> Option<Tokens> {
        let count = |name: &str| usage[name].as_u64();
        match (count("input_tokens"), count("output_tokens")) {
            (None, None) => None,
            (input, output) => Some(Tokens {
                input_tokens: input.unwrap_or(0),
                output_tokens: output.unwrap_or(0),
            }),
        }
    }
}

impl std::ops::AddAssign for Tokens {
    fn add_assign(&mut self, other: Tokens) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// The caller a request without an owner (asked before answers had owners) is counted under.
pub const NO_OWNER: &str = "_";

const PREFIX: &str = "tokens/";

/// One counted model call.
pub struct Call<'a> {
    pub owner: Option<&'a str>,
    pub request_id: &'a str,
    pub attempt: u32,
    /// When it was answered, in seconds since the Unix epoch: the day it counts for.
    pub at: i64,
    pub tokens: Tokens,
}

impl Call<'_> {
    fn key(&self) -> String {
        format!(
            "{PREFIX}{}/{}/{}.{}.{}.{}",
            self.owner.unwrap_or(NO_OWNER),
            date_of(self.at),
            self.request_id,
            self.attempt,
            self.tokens.input_tokens,
            self.tokens.output_tokens
        )
    }
}

/// Counts a model call, once: a second write of the same call (a retry whose first answer was lost) finds
/// it there and leaves it.
pub async fn record(aws: &Aws, bucket: &str, call: &Call<'_>) -> anyhow::Result<()> {
    let put = aws
        .s3
        .put_object()
        .bucket(bucket)
        .key(call.key())
        .if_none_match("*")
        .body(Vec::new().into());
    // Already there (`Conflict`): the call is counted.
    let _already_counted = send_conditional(put, || {
        format!("recording the token usage of {}", call.request_id)
    })
    .await?;
    Ok(())
}

/// Every caller's tokens per day, from `from` to `to` (`YYYY-MM-DD`, both included); one caller's with
/// `owner`.
pub async fn per_day(
    aws: &Aws,
    bucket: &str,
    owner: Option<&str>,
    from: &str,
    to: &str,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, Tokens>>> {
    let prefix = match owner {
        Some(owner) => format!("{PREFIX}{owner}/"),
        None => PREFIX.to_string(),
    };
    // One caller's days are listed in order from `from`, and the listing stops after `to`.
    let start_after = owner.map(|_| format!("{prefix}{from}"));
    let mut totals: BTreeMap<String, BTreeMap<String, Tokens>> = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&prefix)
            .set_start_after(start_after.clone())
            .set_continuation_token(token.take())
            .send()
            .await
            .aws("listing token usage")?;
        for (owner_of, day, tokens) in page.contents().iter().filter_map(|o| parse(o.key()?)) {
            if owner.is_some() && day.as_str() > to {
                return Ok(totals);
            }
            if day.as_str() >= from && day.as_str() <= to {
                *totals.entry(owner_of).or_default().entry(day).or_default() += tokens;
            }
        }
        match page.next_continuation_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(totals),
        }
    }
}

/// Owner, day and tokens of a usage object's key.
fn parse(key: &str) -> Option<(String, String, Tokens)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (owner, rest) = rest.split_once('/')?;
    let (day, name) = rest.split_once('/')?;
    let mut parts = name.rsplitn(3, '.');
    let output_tokens = parts.next()?.parse().ok()?;
    let input_tokens = parts.next()?.parse().ok()?;
    Some((
        owner.to_string(),
        day.to_string(),
        Tokens {
            input_tokens,
            output_tokens,
        },
    ))
}
