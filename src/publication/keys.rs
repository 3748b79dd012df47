//! API keys of a published bot: every key is one attached to the bot's usage plan, and a key id that is
//! not on that plan is not this bot's to show or delete.
//!
//! A key's value is returned by `create` (and `rotate`) only, or by `get` when revealing is explicitly
//! asked for; nothing else in botpub ever carries it.

use aws_sdk_apigateway::types::ApiKey;
use serde::Serialize;

use super::bot_stack::BotStack;
use crate::aws::{Aws, AwsContext, Fact, MAX_ATTEMPTS, explain, fact, is_transient, retry_delay};
use crate::cloudformation::stack::State;
use crate::outcome::blocked;
use crate::publication::status::usage_plan_keys;

/// The bot whose keys are managed: its stack must be published and settled.
pub struct Bot {
    pub bot_id: String,
    pub stack_name: String,
    pub usage_plan_id: String,
    pub default_key_id: Option<String>,
}

/// A key as botpub shows it. `value` is present only where the user asked for it.
#[derive(Debug, Clone, Serialize)]
pub struct Key {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Unix seconds.
    pub created_date: Option<i64>,
    /// Whether this is the default key the bot's stack created.
    pub default: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// This key's own token budget (`keys create --token-budget`), in place of the bot's limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u64>,
}

/// The tag of an API key that holds its own token budget: the budget lives and dies with its key.
pub const TOKEN_BUDGET_TAG: &str = "botpub:token-budget";

/// A key's own token budget, from its tags.
fn token_budget_of(tags: Option<&std::collections::HashMap<String, String>>) -> Option<u64> {
    tags?.get(TOKEN_BUDGET_TAG)?.parse().ok()
}

impl Key {
    fn from_sdk(key: &ApiKey, bot: &Bot, value: Option<String>) -> Key {
        let id = key.id().unwrap_or_default().to_string();
        Key {
            default: bot.default_key_id.as_deref() == Some(id.as_str()),
            id,
            name: key.name().map(str::to_string),
            description: key.description().map(str::to_string),
            enabled: key.enabled(),
            created_date: key.created_date().map(|d| d.secs()),
            value,
            token_budget: token_budget_of(key.tags()),
        }
    }
}

/// The masked form `get` shows: enough to tell keys apart, not enough to use one.
pub fn mask(value: &str) -> String {
    let tail: String = value
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!(
        "{}{tail}",
        "*".repeat(value.chars().count().saturating_sub(4).clamp(4, 36))
    )
}

/// Finds the bot's usage plan, refusing while the bot is unpublished or its stack busy.
pub async fn bot(aws: &Aws, stack_name: &str, bot_id: &str) -> anyhow::Result<Bot> {
    let Some(described) = BotStack::describe(aws, stack_name).await? else {
        return blocked(format!(
            "{bot_id} is not published (no stack {stack_name} in {}); publish it first",
            aws.region
        ));
    };
    Bot::of(&described, bot_id)
}

impl Bot {
    /// The bot whose stack is `described`, unless the stack is busy or has no usage plan yet.
    pub fn of(described: &BotStack, bot_id: &str) -> anyhow::Result<Bot> {
        let stack_name = &described.0.name;
        if described.0.state == State::Busy {
            return blocked(format!(
                "{stack_name} is busy ({}); manage keys once it settles (`botpub watch {bot_id}`)",
                described.0.status
            ));
        }
        let Some(usage_plan_id) = described.usage_plan_id() else {
            return blocked(format!(
                "{stack_name} has no usage plan yet ({}); publish it first",
                described.0.status
            ));
        };
        Ok(Bot {
            bot_id: bot_id.to_string(),
            stack_name: stack_name.to_string(),
            usage_plan_id: usage_plan_id.to_string(),
            default_key_id: described.default_key_id().map(str::to_string),
        })
    }
}

/// Every key on the bot's usage plan (all pages), without values.
pub async fn list(aws: &Aws, bot: &Bot) -> anyhow::Result<Vec<Key>> {
    let ids = usage_plan_keys(aws, &bot.usage_plan_id).await?;
    let mut keys = Vec::with_capacity(ids.len());
    let mut position: Option<String> = None;
    // One paginated listing of the account's keys beats one request per key.
    loop {
        let page = aws
            .apigateway
            .get_api_keys()
            .include_values(false)
            .limit(500)
            .set_position(position.take())
            .send()
            .await
            .aws("listing API keys")?;
        keys.extend(
            page.items()
                .iter()
                .filter(|k| k.id().is_some_and(|id| ids.iter().any(|i| i == id)))
                .map(|k| Key::from_sdk(k, bot, None)),
        );
        match page.position() {
            Some(next) if !page.items().is_empty() => position = Some(next.to_string()),
            _ => break,
        }
    }
    keys.sort_by(|a, b| (a.created_date, &a.id).cmp(&(b.created_date, &b.id)));
    Ok(keys)
}

/// Refuses a key id that is not on this bot's usage plan: one bot's owner cannot touch another's keys.
pub async fn ensure_own(aws: &Aws, bot: &Bot, key_id: &str) -> anyhow::Result<()> {
    if usage_plan_keys(aws, &bot.usage_plan_id)
        .await?
        .iter()
        .any(|id| id == key_id)
    {
        Ok(())
    } else {
        Err(not_own(bot, key_id))
    }
}

/// The error for a key that is not on the bot's usage plan.
pub fn not_own(bot: &Bot, key_id: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "key {key_id} is not a key of {} (it is not attached to the bot's usage plan); see `botpub keys list {}`",
        bot.bot_id,
        bot.bot_id
    )
}

/// One key; its value only when `reveal` is set (otherwise masked).
pub async fn get(aws: &Aws, bot: &Bot, key_id: &str, reveal: bool) -> anyhow::Result<Key> {
    ensure_own(aws, bot, key_id).await?;
    let key = aws
        .apigateway
        .get_api_key()
        .api_key(key_id)
        .include_value(true)
        .send()
        .await
        .aws(format!("reading key {key_id}"))?;
    let value = key
        .value()
        .map(|v| if reveal { v.to_string() } else { mask(v) });
    let sdk_key = ApiKey::builder()
        .set_id(key.id().map(str::to_string))
        .set_name(key.name().map(str::to_string))
        .set_description(key.description().map(str::to_string))
        .enabled(key.enabled())
        .set_created_date(key.created_date().copied())
        .set_tags(key.tags().cloned())
        .build();
    Ok(Key::from_sdk(&sdk_key, bot, value))
}

/// A key's own token budget, read from its tag; `None` for a key without one (or no key at all: a caller
/// signed with IAM, or a request asked before answers had owners).
pub async fn own_token_budget(aws: &Aws, key_id: &str) -> anyhow::Result<Option<u64>> {
    match aws.apigateway.get_api_key().api_key(key_id).send().await {
        Ok(key) => Ok(token_budget_of(key.tags())),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(e).aws(format!("reading the token budget of key {key_id}")),
    }
}

/// Creates a key attached to the bot's usage plan and returns it with its value.
///
/// API Gateway has no idempotency token for keys, so the key gets a name unique to this request: after a
/// failed or lost response botpub looks the name up before trying again, and never makes two keys.
pub async fn create(
    aws: &Aws,
    bot: &Bot,
    description: &str,
    request_name: &str,
    token_budget: Option<u64>,
) -> anyhow::Result<Key> {
    let mut attempt = 0;
    let created = loop {
        attempt += 1;
        let result = aws
            .apigateway
            .create_api_key()
            .name(request_name)
            .description(description)
            .enabled(true)
            .set_tags(token_budget.map(|limit| {
                std::collections::HashMap::from([(TOKEN_BUDGET_TAG.to_string(), limit.to_string())])
            }))
            .customize()
            .config_override(
                aws_sdk_apigateway::config::Config::builder()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await;
        match result {
            Ok(key) => {
                break (
                    key.id().unwrap_or_default().to_string(),
                    key.value().map(str::to_string),
                );
            }
            Err(error) => {
                match find_by_name(aws, request_name).await {
                    Ok(Some(existing)) => break (existing, None),
                    Ok(None) => {}
                    // The create's own failure is the news; the lookup only failed to rule out a key.
                    Err(lookup) => {
                        return Err(anyhow::anyhow!(
                            "creating a key for {}: {} (and could not check whether AWS made it anyway: {lookup})",
                            bot.bot_id,
                            explain(&error)
                        ));
                    }
                }
                if !is_transient(&error) || attempt >= MAX_ATTEMPTS {
                    return Err(anyhow::anyhow!(
                        "creating a key for {}: {}",
                        bot.bot_id,
                        explain(&error)
                    ));
                }
                tokio::time::sleep(retry_delay(attempt)).await;
            }
        }
    };
    let (key_id, _) = &created;
    if let Err(error) = attach(aws, bot, key_id).await {
        // A key on no usage plan opens nothing, and no botpub command lists or deletes it (they all work
        // on the plan's keys): take it back rather than leave it behind for good.
        return Err(match take_back(aws, bot, key_id).await {
            Ok(()) => anyhow::anyhow!("{error:#}; the new key was deleted again"),
            Err(cleanup) => anyhow::anyhow!(
                "{error:#}; deleting the new key failed too ({cleanup:#}): delete it with `aws apigateway delete-api-key --api-key {key_id}`"
            ),
        });
    }
    // The value comes from the create response; a response that was lost is read back once.
    let mut key = get(aws, bot, key_id, true).await?;
    if let (Some(value), None) = (&created.1, &key.value) {
        key.value = Some(value.clone());
    }
    Ok(key)
}

/// The id of the key named `name`, if there is one; an error is the service's, explained.
async fn find_by_name(aws: &Aws, name: &str) -> Result<Option<String>, String> {
    let found = aws
        .apigateway
        .get_api_keys()
        .name_query(name)
        .include_values(false)
        .send()
        .await
        .map_err(|e| explain(&e))?;
    Ok(found
        .items()
        .iter()
        .find(|k| k.name() == Some(name))
        .and_then(|k| k.id().map(str::to_string)))
}

async fn attach(aws: &Aws, bot: &Bot, key_id: &str) -> anyhow::Result<()> {
    match aws
        .apigateway
        .create_usage_plan_key()
        .usage_plan_id(&bot.usage_plan_id)
        .key_id(key_id)
        .key_type("API_KEY")
        .send()
        .await
    {
        // Attached already: a retried request that had succeeded.
        Err(e) if fact(&e) == Fact::AlreadyExists => Ok(()),
        other => other.map(|_| ()).aws(format!(
            "attaching key {key_id} to the usage plan of {}",
            bot.bot_id
        )),
    }
}

/// Deletes one of the bot's keys; clients using it are refused from then on. The key is detached from the
/// usage plan first, so no plan ever lists a key that no longer exists.
pub async fn delete(aws: &Aws, bot: &Bot, key_id: &str) -> anyhow::Result<()> {
    ensure_own(aws, bot, key_id).await?;
    remove(aws, bot, key_id).await
}

/// Deletes a key `create` made but could not attach; the attach may have taken effect all the same (its
/// answer lost), so the key is detached first when the plan lists it.
async fn take_back(aws: &Aws, bot: &Bot, key_id: &str) -> anyhow::Result<()> {
    if usage_plan_keys(aws, &bot.usage_plan_id)
        .await?
        .iter()
        .any(|id| id == key_id)
    {
        return remove(aws, bot, key_id).await;
    }
    match aws.apigateway.delete_api_key().api_key(key_id).send().await {
        Err(e) if fact(&e) == Fact::NotFound => Ok(()),
        other => other.map(|_| ()).aws(format!("deleting key {key_id}")),
    }
}

/// Detaches the key from the bot's usage plan, then deletes it.
async fn remove(aws: &Aws, bot: &Bot, key_id: &str) -> anyhow::Result<()> {
    match aws
        .apigateway
        .delete_usage_plan_key()
        .usage_plan_id(&bot.usage_plan_id)
        .key_id(key_id)
        .send()
        .await
    {
        Err(e) if fact(&e) == Fact::NotFound => {}
        other => {
            other.aws(format!("detaching key {key_id}"))?;
        }
    }
    match aws.apigateway.delete_api_key().api_key(key_id).send().await {
        Err(e) if fact(&e) == Fact::NotFound => Ok(()),
        other => other.map(|_| ()).aws(format!("deleting key {key_id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn a_masked_value_keeps_only_the_last_four_characters() {
        let masked = mask("sk_live_abcdefghijklmnopqrstuvwxyz123456789");
        assert!(masked.ends_with("6789"));
        assert!(!masked.contains("abcdefgh"));
        assert_eq!(mask("abc"), "****abc");
    }
}
