//! Requests per API key per day, from a bot's usage plan (API Gateway's GetUsage, all pages), with each
//! key's remaining quota when the plan has one, and the model tokens each key's requests spent
//! ([`super::tokens`]) with what is left of the bot's token budget (`botpub usage`). Keys are named by id,
//! name and description, never by value.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::bot_stack::BotStack;
use super::days::{self, dates};
use super::keys::{self, Bot, Key};
use super::tokens::{self, Tokens};
use crate::aws::{Aws, AwsContext};
use crate::cloudformation::stack::timestamp;
use crate::spec::model::{Period, TokenBudget};

/// What `botpub usage` shows of the bot `bot_id` (stack prefix `prefix`) from `from` to `to`
/// (`YYYY-MM-DD`, both included), for every key or the one `key_id`, on the day `today` (seconds since
/// the epoch): one look at the stack, one listing of the keys and one of the tokens. When the requests
/// cannot be read, the usage says why ([`Usage::requests_unknown`]) and has the tokens all the same.
pub async fn report(
    aws: &Aws,
    prefix: &str,
    bot_id: &str,
    (from, to): (&str, &str),
    key_id: Option<&str>,
    today: i64,
) -> anyhow::Result<Usage> {
    let stack = BotStack::find(aws, prefix, bot_id).await?;
    let bot = Bot::of(&stack, bot_id)?;
    let listed = keys::list(aws, &bot).await?;
    if let Some(key_id) = key_id
        && !listed.iter().any(|k| k.id == key_id)
    {
        return Err(keys::not_own(&bot, key_id));
    }
    let read = match read(aws, &bot, from, to, key_id, &listed).await {
        Ok(read) => read,
        Err(e) => Usage::without_requests(&bot, from, to, format!("{e:#}")),
    };
    // The tokens its callers spent, for a bot with a queue (a Lambda bot's answers are its own).
    let Some(bucket) = stack.results_bucket() else {
        return Ok(read);
    };
    let period = stack.token_budget().and_then(|limit| {
        let (first, last, renews) = days::period_of(limit.period, &days::date_of(today))?;
        Some((limit, first, last, renews))
    });
    // One listing covers both the days shown and the budget's period.
    let (first, last) = match &period {
        Some((_, first, last, _)) => (from.min(first.as_str()), to.max(last.as_str())),
        None => (from, to),
    };
    let mut per_day = tokens::per_day(aws, bucket, key_id, first, last).await?;
    let budget = period.map(|(limit, first, last, renews)| {
        let in_period: BTreeMap<String, u64> = per_day
            .iter()
            .map(|(owner, days)| {
                let spent = days
                    .range(first.clone()..=last.clone())
                    .map(|(_, t)| t.total());
                (owner.clone(), spent.sum())
            })
            .collect();
        let renews = timestamp(&aws_smithy_types::DateTime::from_secs(renews));
        (limit, in_period, renews)
    });
    for days in per_day.values_mut() {
        days.retain(|day, _| day.as_str() >= from && day.as_str() <= to);
    }
    per_day.retain(|_, days| !days.is_empty());
    let own_limits = listed
        .into_iter()
        .filter_map(|key| Some((key.id, key.token_budget?)))
        .collect();
    let read = read.with_tokens(&TokenUse {
        per_day: &per_day,
        budget: budget
            .as_ref()
            .map(|(limit, spent, renews)| (*limit, spent, renews.clone())),
        own_limits: &own_limits,
    });
    Ok(read)
}

/// One key's requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyUsage {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Requests per day, `from` to `to`.
    pub days: Vec<Day>,
    pub total: i64,
    /// What the quota leaves for the current period (as of the last day), when the plan has a quota.
    pub remaining: Option<i64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// What the key spent of the bot's token budget this period, when the bot has one.
    pub budget: Option<BudgetSpent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub date: String,
    /// Requests.
    pub used: i64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One key's spend of the token budget in the current period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetSpent {
    pub limit: u64,
    pub period: Period,
    pub spent: u64,
    pub left: u64,
    pub renews_at: String,
}

/// The tokens of a bot's callers: per caller and day in the range, and, with a budget, per caller in the
/// current period.
pub struct TokenUse<'a> {
    pub per_day: &'a BTreeMap<String, BTreeMap<String, Tokens>>,
    pub budget: Option<(TokenBudget, &'a BTreeMap<String, u64>, String)>,
    /// Keys with a budget of their own (`keys create --token-budget`): their limit.
    pub own_limits: &'a BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub bot_id: String,
    pub usage_plan_id: String,
    pub from: String,
    pub to: String,
    pub has_quota: bool,
    pub keys: Vec<KeyUsage>,
    pub total: i64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub token_budget: Option<TokenBudget>,
    /// Why the requests per key could not be read (API Gateway's GetUsage refused or missing); the tokens
    /// are shown all the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_unknown: Option<String>,
}

/// The requests of a bot's keys (or of one key) from `from` to `to` (`YYYY-MM-DD`, both included), named
/// as `listed`.
async fn read(
    aws: &Aws,
    bot: &Bot,
    from: &str,
    to: &str,
    key_id: Option<&str>,
    listed: &[Key],
) -> anyhow::Result<Usage> {
    let plan = aws
        .apigateway
        .get_usage_plan()
        .usage_plan_id(&bot.usage_plan_id)
        .send()
        .await
        .aws(format!("reading the usage plan of {}", bot.bot_id))?;
    let mut items: HashMap<String, Vec<Vec<i64>>> = HashMap::new();
    let mut position: Option<String> = None;
    loop {
        let page = aws
            .apigateway
            .get_usage()
            .usage_plan_id(&bot.usage_plan_id)
            .start_date(from)
            .end_date(to)
            .set_key_id(key_id.map(str::to_string))
            .limit(500)
            .set_position(position.take())
            .send()
            .await
            .aws(format!("reading the usage of {}", bot.bot_id))?;
        if let Some(page_items) = page.items() {
            for (key, days) in page_items {
                items
                    .entry(key.clone())
                    .or_default()
                    .extend(days.iter().cloned());
            }
        }
        match page.position() {
            Some(next) if page.items().is_some_and(|i| !i.is_empty()) => {
                position = Some(next.to_string())
            }
            _ => break,
        }
    }
    let named = listed
        .iter()
        .map(|k| (k.id.clone(), (k.name.clone(), k.description.clone())))
        .collect();
    Ok(usage(bot, from, to, plan.quota().is_some(), &items, &named))
}

/// The usage document from GetUsage's items (`{key id: [[used, remaining] per day from `from`]}`).
pub fn usage(
    bot: &Bot,
    from: &str,
    to: &str,
    has_quota: bool,
    items: &HashMap<String, Vec<Vec<i64>>>,
    named: &BTreeMap<String, (Option<String>, Option<String>)>,
) -> Usage {
    let dates = dates(from, to);
    let mut keys: Vec<KeyUsage> = items
        .iter()
        .map(|(id, days)| {
            let (name, description) = named.get(id).cloned().unwrap_or_default();
            let days: Vec<Day> = dates
                .iter()
                .zip(days)
                .map(|(date, day)| Day {
                    date: date.clone(),
                    used: day.first().copied().unwrap_or(0),
                    input_tokens: 0,
                    output_tokens: 0,
                })
                .collect();
            KeyUsage {
                total: days.iter().map(|d| d.used).sum(),
                remaining: has_quota
                    .then(|| items[id].last().and_then(|d| d.get(1).copied()))
                    .flatten(),
                id: id.clone(),
                name,
                description,
                days,
                input_tokens: 0,
                output_tokens: 0,
                budget: None,
            }
        })
        .collect();
    keys.sort_by(|a, b| b.total.cmp(&a.total).then(a.id.cmp(&b.id)));
    Usage {
        bot_id: bot.bot_id.clone(),
        usage_plan_id: bot.usage_plan_id.clone(),
        from: from.to_string(),
        to: to.to_string(),
        has_quota,
        total: keys.iter().map(|k| k.total).sum(),
        keys,
        input_tokens: 0,
        output_tokens: 0,
        token_budget: None,
        requests_unknown: None,
    }
}

impl Usage {
    /// A bot's usage when its requests cannot be read: no request figures, and why.
    pub fn without_requests(bot: &Bot, from: &str, to: &str, why: String) -> Usage {
        let mut usage = usage(bot, from, to, false, &HashMap::new(), &BTreeMap::new());
        usage.requests_unknown = Some(why);
        usage
    }
}

impl Usage {
    /// Adds the tokens each key spent per day and, with a budget, what each key has left of it. A caller
    /// with tokens but no requests in the range (a deleted key, requests asked before answers had owners:
    /// `_`) gets a row of its own.
    pub fn with_tokens(mut self, tokens: &TokenUse) -> Usage {
        for owner in tokens.per_day.keys() {
            if !self.keys.iter().any(|k| &k.id == owner) {
                let days = dates(&self.from, &self.to);
                self.keys.push(KeyUsage {
                    id: owner.clone(),
                    name: None,
                    description: None,
                    days: days
                        .into_iter()
                        .map(|date| Day {
                            date,
                            used: 0,
                            input_tokens: 0,
                            output_tokens: 0,
                        })
                        .collect(),
                    total: 0,
                    remaining: None,
                    input_tokens: 0,
                    output_tokens: 0,
                    budget: None,
                });
            }
        }
        for key in &mut self.keys {
            let days = tokens.per_day.get(&key.id);
            for day in &mut key.days {
                let spent = days
                    .and_then(|d| d.get(&day.date))
                    .copied()
                    .unwrap_or_default();
                day.input_tokens = spent.input_tokens;
                day.output_tokens = spent.output_tokens;
                key.input_tokens += spent.input_tokens;
                key.output_tokens += spent.output_tokens;
            }
            if let Some((budget, spent, renews_at)) = &tokens.budget {
                let spent = spent.get(&key.id).copied().unwrap_or(0);
                let limit = tokens
                    .own_limits
                    .get(&key.id)
                    .copied()
                    .unwrap_or(budget.limit);
                key.budget = Some(BudgetSpent {
                    limit,
                    period: budget.period,
                    spent,
                    left: limit.saturating_sub(spent),
                    renews_at: renews_at.clone(),
                });
            }
        }
        self.input_tokens = self.keys.iter().map(|k| k.input_tokens).sum();
        self.output_tokens = self.keys.iter().map(|k| k.output_tokens).sum();
        self.token_budget = tokens.budget.as_ref().map(|(budget, _, _)| *budget);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot() -> Bot {
        Bot {
            bot_id: "support-bot".into(),
            stack_name: "BotPub-support-bot".into(),
            usage_plan_id: "plan1".into(),
            default_key_id: Some("k1".into()),
        }
    }

    /// GetUsage's items as AWS documents them: per key, `[used, remaining]` for each day of the range.
    fn items() -> HashMap<String, Vec<Vec<i64>>> {
        serde_json::from_str(
            r#"{"k1": [[10, 990], [0, 990], [25, 965]], "k2": [[1, 999], [2, 997], [3, 994]]}"#,
        )
        .unwrap()
    }

    #[test]
    fn requests_per_key_per_day_with_totals_and_the_remaining_quota() {
        let named = BTreeMap::from([(
            "k1".to_string(),
            (Some("default".to_string()), Some("Default key".to_string())),
        )]);
        let usage = usage(&bot(), "2026-11-27", "2026-11-29", true, &items(), &named);
        assert_eq!(usage.total, 41);
        assert_eq!(usage.keys[0].id, "k1", "the busiest key first");
        assert_eq!(usage.keys[0].total, 35);
        assert_eq!(usage.keys[0].remaining, Some(965));
        assert_eq!(usage.keys[0].name.as_deref(), Some("default"));
        assert_eq!(
            usage.keys[0].days,
            [
                Day {
                    date: "2026-11-27".into(),
                    used: 10,
                    input_tokens: 0,
                    output_tokens: 0
                },
                Day {
                    date: "2026-11-28".into(),
                    used: 0,
                    input_tokens: 0,
                    output_tokens: 0
                },
                Day {
                    date: "2026-11-29".into(),
                    used: 25,
                    input_tokens: 0,
                    output_tokens: 0
                }
            ]
        );
        assert_eq!(
            (usage.keys[1].total, usage.keys[1].remaining),
            (6, Some(994))
        );
        assert_eq!(
            usage.keys[1].name, None,
            "a key no longer listed keeps its id"
        );
        // Without a quota, nothing remains to report.
        let unlimited = super::usage(&bot(), "2026-11-27", "2026-11-29", false, &items(), &named);
        assert_eq!(unlimited.keys[0].remaining, None);
    }
}
