//! Token budgets and token metrics in the worker: before the bot is called, whether the request's caller has spent its
//! bot's `token_budget` for the period; after, the model call's usage counted for the caller (once, see
//! `publication::tokens`). A caller past its budget gets no more model calls until the period renews; the
//! call that crosses it finishes (a soft cap).
//!
//! A key's own budget (`keys create --token-budget`, a tag of the key) takes the place of the bot's limit.
//! What a caller has spent, and its own budget, are read at most every [`REFRESH`] and kept up to date with
//! this worker's own calls meanwhile, so a budget costs one listing per caller and period now and then,
//! not one per request; the calls of other workers are seen within [`REFRESH`].
//!
//! The tokens counted are also published as CloudWatch metrics ([`Meter`]: `botpub` / `InputTokens`,
//! `OutputTokens` by `Bot`, the stack's name), summed over a minute, for the dashboard and the bot's
//! `tokens` alarm (`monitoring.max_tokens_per_hour`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::aws::Aws;
use crate::cloudformation::stack::timestamp;
use crate::publication::days::{date_of, period_of};
use crate::publication::keys;
use crate::publication::tokens::{self, NO_OWNER, Tokens};
use crate::spec::model::TokenBudget;
use crate::synth::tokens_metric;

/// How old a caller's spend may be before it is listed again.
pub const REFRESH: Duration = Duration::from_secs(10);

/// The stable error code of a request refused for its caller's budget.
pub const EXCEEDED: &str = "token_budget_exceeded";

/// What each caller has spent in the current period, and its own limit, as last seen.
#[derive(Default)]
pub struct Spent {
    seen: Mutex<HashMap<CallerPeriod, Seen>>,
}

/// A caller, and the first day of a budget period.
type CallerPeriod = (String, String);

/// The tokens a caller spent, the key's own limit (`keys create --token-budget`), and when they were read.
type Seen = (u64, Option<u64>, Instant);

/// A caller past its budget: what it spent, and when the budget renews.
pub struct Exceeded {
    pub spent: u64,
    pub budget: TokenBudget,
    pub renews_at: String,
}

impl Exceeded {
    pub fn message(&self) -> String {
        format!(
            "token budget exceeded: {} of {} tokens spent this {}; it renews at {}",
            self.spent,
            self.budget.limit,
            self.budget.period.as_str().to_ascii_lowercase(),
            self.renews_at
        )
    }

    /// The fields a refused request's `failed` document carries besides its error.
    pub fn details(&self) -> Value {
        json!({"error_code": EXCEEDED, "renews_at": self.renews_at})
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl Spent {
    /// Whether `owner` has spent its budget this period.
    pub async fn exceeded(
        &self,
        aws: &Aws,
        bucket: &str,
        owner: Option<&str>,
        budget: TokenBudget,
    ) -> anyhow::Result<Option<Exceeded>> {
        let owner = owner.unwrap_or(NO_OWNER).to_string();
        let Some((first, last, renews)) = period_of(budget.period, &date_of(now_secs())) else {
            return Ok(None);
        };
        let key = (owner.clone(), first.clone());
        let known = self
            .seen
            .lock()
            .unwrap()
            .get(&key)
            .filter(|(_, _, at)| at.elapsed() < REFRESH)
            .map(|(spent, own, _)| (*spent, *own));
        let (spent, own) = match known {
            Some(known) => known,
            None => {
                let days = tokens::per_day(aws, bucket, Some(&owner), &first, &last).await?;
                let spent = days
                    .get(&owner)
                    .map_or(0, |days| days.values().map(Tokens::total).sum());
                let own = match owner.as_str() {
                    NO_OWNER => None,
                    key_id => keys::own_token_budget(aws, key_id).await?,
                };
                let read = (spent, own, Instant::now());
                self.seen.lock().unwrap().insert(key, read);
                (spent, own)
            }
        };
        let budget = TokenBudget {
            limit: own.unwrap_or(budget.limit),
            period: budget.period,
        };
        Ok((spent >= budget.limit).then(|| Exceeded {
            spent,
            budget,
            renews_at: timestamp(&aws_smithy_types::DateTime::from_secs(renews)),
        }))
    }

    /// Counts a model call of `owner` that this worker recorded, until the next listing sees it.
    pub fn add(&self, owner: Option<&str>, budget: TokenBudget, used: Tokens) {
        let owner = owner.unwrap_or(NO_OWNER).to_string();
        if let Some((first, _, _)) = period_of(budget.period, &date_of(now_secs()))
            && let Some((spent, _, _)) = self.seen.lock().unwrap().get_mut(&(owner, first))
        {
            *spent += used.total();
        }
    }
}

/// Counts a model call's usage for its caller, once.
pub async fn record(
    aws: &Aws,
    bucket: &str,
    owner: Option<&str>,
    request_id: &str,
    attempt: u32,
    used: Tokens,
) -> anyhow::Result<()> {
    let call = tokens::Call {
        owner,
        request_id,
        attempt,
        at: now_secs(),
        tokens: used,
    };
    tokens::record(aws, bucket, &call).await
}

/// How often the tokens counted are published.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(60);

/// Tokens counted and not yet published as metrics.
#[derive(Default)]
pub struct Meter {
    pending: Mutex<Tokens>,
}

impl Meter {
    pub fn add(&self, used: Tokens) {
        *self.pending.lock().unwrap() += used;
    }

    /// Publishes every [`PUBLISH_EVERY`] until `stop` is notified. A stop waits for a publish under way:
    /// cut short (in the SDK's retries, say), it would lose the counts it had taken.
    pub async fn publish_until(&self, aws: &Aws, stack_name: &str, stop: &Notify) {
        loop {
            tokio::select! {
                _ = stop.notified() => return,
                _ = tokio::time::sleep(PUBLISH_EVERY) => {}
            }
            self.publish(aws, stack_name).await;
        }
    }

    /// Publishes what was counted since the last time, one sum per metric; kept for the next time when
    /// CloudWatch is out of reach.
    pub async fn publish(&self, aws: &Aws, stack_name: &str) {
        use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
        let taken = std::mem::take(&mut *self.pending.lock().unwrap());
        if taken.total() == 0 {
            return;
        }
        let datum = |name: &str, value: u64| {
            MetricDatum::builder()
                .metric_name(name)
                .dimensions(
                    Dimension::builder()
                        .name(tokens_metric::DIMENSION)
                        .value(stack_name)
                        .build(),
                )
                .value(value as f64)
                .unit(StandardUnit::Count)
                .build()
        };
        let sent = aws
            .cloudwatch
            .put_metric_data()
            .namespace(tokens_metric::NAMESPACE)
            .metric_data(datum(tokens_metric::INPUT, taken.input_tokens))
            .metric_data(datum(tokens_metric::OUTPUT, taken.output_tokens))
            .send()
            .await;
        if sent.is_err() {
            *self.pending.lock().unwrap() += taken;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// CloudWatch's query protocol: one PutMetricData's values, by metric name.
    fn values(body: &[u8]) -> HashMap<String, f64> {
        let body = std::str::from_utf8(body).unwrap();
        let form: HashMap<&str, &str> = body.split('&').filter_map(|p| p.split_once('=')).collect();
        (1..)
            .map_while(|n| {
                let name = form.get(format!("MetricData.member.{n}.MetricName").as_str())?;
                let value = form.get(format!("MetricData.member.{n}.Value").as_str())?;
                Some((name.to_string(), value.parse().unwrap()))
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_during_a_publish_loses_no_tokens() {
        // CloudWatch refuses every call for the first 61 s: the publish at 60 s is in the SDK's
        // retries when the worker stops.
        let (input, output) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (published_input, published_output) = (input.clone(), output.clone());
        let started = tokio::time::Instant::now();
        let aws = Aws::scripted_after(move |request| {
            let up = started.elapsed() >= Duration::from_secs(61);
            if up {
                let sent = values(request.body().bytes().unwrap_or_default());
                published_input.fetch_add(sent[tokens_metric::INPUT] as u64, Ordering::Relaxed);
                published_output.fetch_add(sent[tokens_metric::OUTPUT] as u64, Ordering::Relaxed);
            }
            let (status, body) = match up {
                true => (200, "<PutMetricDataResponse/>"),
                false => (
                    503,
                    "<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>",
                ),
            };
            let response = http::Response::builder()
                .status(status)
                .header("content-type", "text/xml")
                .body(body.to_string())
                .unwrap();
            (Duration::ZERO, response)
        });
        let meter = Arc::new(Meter::default());
        meter.add(Tokens {
            input_tokens: 120,
            output_tokens: 30,
        });
        let stop = Arc::new(Notify::new());
        let metering = tokio::spawn({
            let (meter, aws, stop) = (meter.clone(), aws.clone(), stop.clone());
            async move { meter.publish_until(&aws, "botpub-b", &stop).await }
        });
        tokio::time::sleep(Duration::from_millis(60_500)).await;
        // More tokens counted while the first publish is under way; then the worker stops.
        meter.add(Tokens {
            input_tokens: 5,
            output_tokens: 1,
        });
        stop.notify_one();
        metering.await.unwrap();
        meter.publish(&aws, "botpub-b").await;
        assert_eq!(
            (
                input.load(Ordering::Relaxed),
                output.load(Ordering::Relaxed)
            ),
            (125, 31)
        );
    }
}
