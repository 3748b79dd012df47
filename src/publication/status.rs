//! What is published: one bot's publication (the fields of Bedrock Chat's "get publication", read live
//! from AWS) and the list of every published bot in a region.

use aws_sdk_cloudformation::types::StackStatus;
use serde::Serialize;
use serde_json::Value;

use super::bot_stack::BotStack;
use super::metrics::{Alarm, alarms};
use super::queue::{QueueCounts, counts};
use crate::aws::{Aws, AwsContext};
use crate::cloudformation::stack::timestamp;
use crate::synth::BOT_ID_TAG;

/// A bot's publication. Field names are a contract: scripts read them.
#[derive(Debug, Clone, Serialize)]
pub struct Publication {
    pub bot_id: String,
    pub published: bool,
    pub stack_name: String,
    pub stage: Option<String>,
    pub quota: Option<Quota>,
    pub throttle: Option<Throttle>,
    pub allowed_origins: Vec<String>,
    pub cfn_status: String,
    pub codebuild_id: Option<String>,
    pub codebuild_status: Option<String>,
    /// The URL clients call: the custom domain's (`https://bots.example.com/support`) when the bot has one,
    /// else API Gateway's.
    pub endpoint: Option<String>,
    /// API Gateway's own URL of the stage, which works with or without a custom domain.
    pub api_endpoint: Option<String>,
    /// The API's OpenAPI description (`GET {endpoint}/openapi.json`, no key needed).
    pub openapi_url: Option<String>,
    pub api_key_ids: Vec<String>,
    pub queue_url: Option<String>,
    /// Requests waiting, being worked on, and failed for good (in the dead-letter queue).
    pub queue: Option<QueueCounts>,
    /// The bot's CloudWatch alarms and their states (none when its monitoring is disabled).
    pub alarms: Vec<Alarm>,
    pub last_updated: Option<String>,
}

/// What a bot just published offers its clients: the summary of `publish` and `apply`. Field names are a
/// contract too.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub bot_id: String,
    pub stack_name: String,
    pub status: String,
    /// The custom domain's URL when the bot has one, else API Gateway's.
    pub endpoint: Option<String>,
    pub api_endpoint: Option<String>,
    pub stage: Option<String>,
    pub default_key_id: Option<String>,
    pub queue_url: Option<String>,
}

/// What the bot of `stack_name` offers, or `None` when it is not published.
pub async fn published(
    aws: &Aws,
    stack_name: &str,
    bot_id: &str,
) -> anyhow::Result<Option<Published>> {
    Ok(BotStack::describe(aws, stack_name)
        .await?
        .map(|s| Published {
            bot_id: bot_id.to_string(),
            stack_name: s.name().to_string(),
            endpoint: s.client_endpoint(aws),
            api_endpoint: s.api_endpoint(aws),
            stage: s.stage().map(str::to_string),
            default_key_id: s.default_key_id().map(str::to_string),
            queue_url: s.queue_url().map(str::to_string),
            status: s.0.status,
        }))
}

#[derive(Debug, Clone, Serialize)]
pub struct Quota {
    pub limit: i32,
    pub offset: i32,
    pub period: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Throttle {
    pub rate_limit: f64,
    pub burst_limit: i32,
}

/// The publication of `bot_id`, or `None` when it is not published.
pub async fn publication(
    aws: &Aws,
    stack_name: &str,
    bot_id: &str,
) -> anyhow::Result<Option<Publication>> {
    let Some(stack) = BotStack::describe(aws, stack_name).await? else {
        return Ok(None);
    };
    let mut publication = Publication {
        bot_id: bot_id.to_string(),
        published: true,
        stack_name: stack.name().to_string(),
        stage: stack.stage().map(str::to_string),
        quota: None,
        throttle: None,
        allowed_origins: allowed_origins(aws, stack.name()).await?,
        cfn_status: stack.0.status.clone(),
        codebuild_id: None,
        codebuild_status: None,
        endpoint: stack.client_endpoint(aws),
        api_endpoint: stack.api_endpoint(aws),
        openapi_url: stack.description_url(aws),
        api_key_ids: Vec::new(),
        queue_url: stack.queue_url().map(str::to_string),
        queue: None,
        alarms: Vec::new(),
        last_updated: stack.0.last_updated.as_ref().map(timestamp),
    };
    if let Some(plan_id) = stack.usage_plan_id() {
        let plan = aws
            .apigateway
            .get_usage_plan()
            .usage_plan_id(plan_id)
            .send()
            .await
            .aws(format!("reading the usage plan of {stack_name}"))?;
        publication.throttle = plan.throttle().map(|t| Throttle {
            rate_limit: t.rate_limit(),
            burst_limit: t.burst_limit(),
        });
        publication.quota = plan.quota().map(|q| Quota {
            limit: q.limit(),
            offset: q.offset(),
            period: q
                .period()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
        });
        publication.api_key_ids = usage_plan_keys(aws, plan_id).await?;
    }
    if let (Some(queue_url), Some(dead_letter_url)) =
        (stack.queue_url(), stack.dead_letter_queue_url())
    {
        publication.queue = Some(counts(aws, queue_url, dead_letter_url).await?);
    }
    publication.alarms = alarms(aws, stack.name()).await?;
    Ok(Some(publication))
}

/// Every key id attached to a usage plan, across all pages.
pub async fn usage_plan_keys(aws: &Aws, usage_plan_id: &str) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut position: Option<String> = None;
    loop {
        let page = aws
            .apigateway
            .get_usage_plan_keys()
            .usage_plan_id(usage_plan_id)
            .limit(500)
            .set_position(position.take())
            .send()
            .await
            .aws(format!("listing the keys of usage plan {usage_plan_id}"))?;
        ids.extend(
            page.items()
                .iter()
                .filter_map(|k| k.id().map(str::to_string)),
        );
        match page.position() {
            Some(next) if !page.items().is_empty() => position = Some(next.to_string()),
            _ => return Ok(ids),
        }
    }
}

/// The origins recorded in the deployed template's metadata.
async fn allowed_origins(aws: &Aws, stack_name: &str) -> anyhow::Result<Vec<String>> {
    let template = aws
        .cloudformation
        .get_template()
        .stack_name(stack_name)
        .send()
        .await
        .aws(format!("reading the template of {stack_name}"))?;
    let body: Value = template
        .template_body()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Ok(body["Metadata"]["botpub"]["allowed_origins"]
        .as_array()
        .map(|origins| {
            origins
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

/// A published bot in the list.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub bot_id: String,
    pub stack_name: String,
    pub cfn_status: String,
    pub last_updated: Option<String>,
}

/// Every bot published in the region: the stacks botpub tagged with a bot id.
pub async fn list(aws: &Aws) -> anyhow::Result<Vec<Listed>> {
    let mut listed = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .cloudformation
            .describe_stacks()
            .set_next_token(next.take())
            .send()
            .await
            .aws("listing stacks")?;
        for stack in page.stacks() {
            let Some(bot_id) = stack
                .tags()
                .iter()
                .find(|t| t.key() == Some(BOT_ID_TAG))
                .and_then(|t| t.value())
            else {
                continue;
            };
            if stack.stack_status() == Some(&StackStatus::DeleteComplete) {
                continue;
            }
            let status = stack.stack_status().map(|s| s.as_str()).unwrap_or_default();
            listed.push(Listed {
                bot_id: bot_id.to_string(),
                stack_name: stack.stack_name().unwrap_or_default().to_string(),
                cfn_status: status.to_string(),
                last_updated: stack
                    .last_updated_time()
                    .or(stack.creation_time())
                    .map(timestamp),
            });
        }
        match page.next_token() {
            Some(token) => next = Some(token.to_string()),
            None => break,
        }
    }
    listed.sort_by(|a, b| a.bot_id.cmp(&b.bot_id));
    Ok(listed)
}
