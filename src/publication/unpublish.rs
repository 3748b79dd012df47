//! Unpublishing a bot cleanly: every API key on its usage plan (not only the default one that the stack
//! owns), the result documents (CloudFormation cannot delete a non-empty bucket), then the stack (and with
//! it the bot's base path mapping on its custom domain). The domain's own stack stays while other bots
//! are mapped onto it; once none is, it goes only when asked.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_types::DateTime;
use serde::Serialize;

use crate::aws::{AwsContext, Fact, fact};
use crate::cloudformation::deploy::Run;
use crate::cloudformation::events::{self, Operation};
use crate::cloudformation::outcome::StatusClass;
use crate::cloudformation::stack::{self, Described, State};
use crate::outcome::{Busy, DeploymentFailed, blocked};
use crate::publication::bot_stack::BotStack;
use crate::publication::status::usage_plan_keys;
use crate::spec::model::{ROOT_BASE_PATH, domain_stack_name};

#[derive(Debug, Clone, Serialize)]
pub struct Unpublished {
    pub stack_name: String,
    /// Keys deleted by botpub (the default key goes with the stack).
    pub deleted_key_ids: Vec<String>,
    /// Keys only detached, because another usage plan still uses them.
    pub detached_key_ids: Vec<String>,
    pub deleted_results: usize,
    /// The custom domain the bot was served on, and what became of its stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainLeft>,
}

/// The custom domain of an unpublished bot: still used by other bots, left unused, or removed.
#[derive(Debug, Clone, Serialize)]
pub struct DomainLeft {
    pub name: String,
    pub stack_name: String,
    /// The base paths still mapped on the domain, for other bots (`(none)`: its root).
    pub base_paths: Vec<String>,
    /// Whether its stack was deleted (only when no bot uses it and that was asked for).
    pub removed: bool,
}

/// Refuses what unpublish must not touch: a stack that is busy or protected from termination.
pub fn ensure_removable(stack: &Described) -> anyhow::Result<()> {
    if stack.state == State::Busy {
        return Err(Busy {
            stack: stack.name.clone(),
            message: format!(
                "stack {} is busy ({}); wait for it and unpublish then",
                stack.name, stack.status
            ),
        }
        .into());
    }
    if stack.termination_protection {
        return blocked(format!(
            "stack {} has termination protection, which botpub never turns off; if it really should go, run \
             `aws cloudformation update-termination-protection --no-enable-termination-protection --stack-name {}` first",
            stack.name, stack.name
        ));
    }
    Ok(())
}

/// Unpublishes the bot of `stack`. With `remove_domain`, the stack of its custom domain goes too when no
/// other bot is mapped onto it; `prefix` names that stack.
pub async fn unpublish(
    run: &Run,
    bot: &BotStack,
    prefix: &str,
    remove_domain: bool,
) -> anyhow::Result<Unpublished> {
    let aws = &run.aws;
    let stack = &bot.0;
    let mut done = Unpublished {
        stack_name: stack.name.clone(),
        deleted_key_ids: Vec::new(),
        detached_key_ids: Vec::new(),
        deleted_results: 0,
        domain: None,
    };
    if let Some(plan_id) = bot.usage_plan_id() {
        let default_key = bot.default_key_id();
        for key_id in usage_plan_keys(aws, plan_id).await? {
            if Some(key_id.as_str()) == default_key {
                continue;
            }
            let plans = aws
                .apigateway
                .get_usage_plans()
                .key_id(&key_id)
                .limit(500)
                .send()
                .await
                .aws(format!("finding the usage plans of key {key_id}"))?;
            let shared = plans.items().iter().any(|p| p.id() != Some(plan_id));
            if shared {
                aws.apigateway
                    .delete_usage_plan_key()
                    .usage_plan_id(plan_id)
                    .key_id(&key_id)
                    .send()
                    .await
                    .aws(format!("detaching key {key_id}"))?;
                run.progress.say(&format!(
                    "{}: key {key_id} is also attached to another usage plan; detached, not deleted",
                    stack.name
                ));
                done.detached_key_ids.push(key_id);
            } else {
                match aws
                    .apigateway
                    .delete_api_key()
                    .api_key(&key_id)
                    .send()
                    .await
                {
                    Err(e) if fact(&e) == Fact::NotFound => {}
                    other => {
                        other.aws(format!("deleting key {key_id}"))?;
                    }
                }
                done.deleted_key_ids.push(key_id);
            }
        }
    }
    if let Some(bucket) = bot.results_bucket() {
        done.deleted_results = empty_bucket(run, bucket).await?;
    }

    delete_stack(run, stack, "unpublish").await?;
    if let Some(name) = bot.domain_name() {
        done.domain = Some(domain_left(run, prefix, name, remove_domain).await?);
    }
    Ok(done)
}

/// What is left of a custom domain once a bot mapped onto it is gone; its stack is deleted when nothing
/// is mapped on it any more and `remove` says so.
async fn domain_left(
    run: &Run,
    prefix: &str,
    name: &str,
    remove: bool,
) -> anyhow::Result<DomainLeft> {
    let stack_name = domain_stack_name(prefix, name);
    let mut left = DomainLeft {
        name: name.to_string(),
        base_paths: mapped_base_paths(run, name).await?,
        stack_name,
        removed: false,
    };
    if remove && left.base_paths.is_empty() {
        match stack::describe(&run.aws, &left.stack_name).await? {
            Some(domain) => {
                ensure_removable(&domain)?;
                delete_stack(run, &domain, "unpublish-domain").await?;
                left.removed = true;
            }
            None => left.removed = true,
        }
    }
    Ok(left)
}

/// The base paths still mapped on a custom domain (`(none)` for its root), all pages. The mappings rather
/// than the stacks that import the domain's export: they are what serves clients, and engines such as
/// LocalStack do not track imports.
async fn mapped_base_paths(run: &Run, domain: &str) -> anyhow::Result<Vec<String>> {
    let mut paths = Vec::new();
    let mut position: Option<String> = None;
    loop {
        let page = match run
            .aws
            .apigateway
            .get_base_path_mappings()
            .domain_name(domain)
            .limit(500)
            .set_position(position.take())
            .send()
            .await
        {
            Err(e) if fact(&e) == Fact::NotFound => return Ok(paths),
            other => other.aws(format!("listing the base path mappings of {domain}"))?,
        };
        paths.extend(
            page.items()
                .iter()
                .map(|m| m.base_path().unwrap_or(ROOT_BASE_PATH).to_string()),
        );
        match page.position() {
            Some(next) if !page.items().is_empty() => position = Some(next.to_string()),
            _ => return Ok(paths),
        }
    }
}

/// Deletes a stack and waits until it is gone.
async fn delete_stack(run: &Run, stack: &Described, purpose: &str) -> anyhow::Result<()> {
    let aws = &run.aws;
    let token = run.token(purpose);
    let since = DateTime::from(SystemTime::now() - Duration::from_secs(2));
    aws.cloudformation
        .delete_stack()
        .stack_name(&stack.id)
        .client_request_token(&token)
        .send()
        .await
        .aws(format!("deleting {}", stack.name))?;
    let op = Operation {
        stack_name: stack.name.clone(),
        stack_id: stack.id.clone(),
        token: Some(token),
        since,
    };
    let mut display = run.progress.stack(&stack.name, None);
    let finished = events::wait(aws, &op, &mut display, run.patience).await?;
    if finished.class() != StatusClass::Deleted {
        return Err(
            DeploymentFailed(crate::cloudformation::events::describe_failure(
                &stack.name,
                None,
                &finished,
            ))
            .into(),
        );
    }
    Ok(())
}

/// Deletes every object (and object version) in the bucket; returns how many.
async fn empty_bucket(run: &Run, bucket: &str) -> anyhow::Result<usize> {
    let s3 = &run.aws.s3;
    let mut deleted = 0;
    loop {
        let listed = match s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(1000)
            .send()
            .await
        {
            Err(e) if fact(&e) == Fact::NotFound => return Ok(deleted),
            other => other.aws(format!("listing the results in {bucket}"))?,
        };
        let objects: Vec<ObjectIdentifier> = listed
            .versions()
            .iter()
            .filter_map(|v| Some((v.key()?, v.version_id())))
            .chain(
                listed
                    .delete_markers()
                    .iter()
                    .filter_map(|m| Some((m.key()?, m.version_id()))),
            )
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(str::to_string))
                    .build()
                    .ok()
            })
            .collect();
        if objects.is_empty() {
            return Ok(deleted);
        }
        deleted += objects.len();
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()?;
        s3.delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .aws(format!("deleting the results in {bucket}"))?;
    }
}
