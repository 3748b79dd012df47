//! Unpublishing a bot cleanly: every API key on its usage plan (not only the default one that the stack
//! owns), the result documents (CloudFormation cannot delete a non-empty bucket), then the stack.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_types::DateTime;
use serde::Serialize;

use crate::aws::{AwsContext, error_code};
use crate::cloudformation::deploy::Run;
use crate::cloudformation::events::{self, Operation};
use crate::cloudformation::stack::{Described, State};
use crate::outcome::{DeploymentFailed, blocked};
use crate::publication::status::usage_plan_keys;

#[derive(Debug, Clone, Serialize)]
pub struct Unpublished {
    pub stack_name: String,
    /// Keys deleted by botpub (the default key goes with the stack).
    pub deleted_key_ids: Vec<String>,
    /// Keys only detached, because another usage plan still uses them.
    pub detached_key_ids: Vec<String>,
    pub deleted_results: usize,
}

/// Refuses what unpublish must not touch: a stack that is busy or protected from termination.
pub fn ensure_removable(stack: &Described, watch_hint: &str) -> anyhow::Result<()> {
    if stack.state == State::Busy {
        return blocked(format!(
            "stack {} is busy ({}); wait for it (`{watch_hint}`) and unpublish then",
            stack.name, stack.status
        ));
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

pub async fn unpublish(run: &Run, stack: &Described) -> anyhow::Result<Unpublished> {
    let aws = &run.aws;
    let mut done = Unpublished {
        stack_name: stack.name.clone(),
        deleted_key_ids: Vec::new(),
        detached_key_ids: Vec::new(),
        deleted_results: 0,
    };
    if let Some(plan_id) = stack.output("UsagePlanId") {
        let default_key = stack.output("DefaultApiKeyId");
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
                    Err(e) if error_code(&e) == Some("NotFoundException") => {}
                    other => {
                        other.aws(format!("deleting key {key_id}"))?;
                    }
                }
                done.deleted_key_ids.push(key_id);
            }
        }
    }
    if let Some(bucket) = stack.output("ResultsBucket") {
        done.deleted_results = empty_bucket(run, bucket).await?;
    }

    let token = run.token("unpublish");
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
        watch_hint: run.watch_hint(&stack.name),
    };
    let mut display = run.progress.stack(&stack.name, None);
    let finished = events::wait(aws, &op, &mut display, run.timeout).await?;
    if finished.status != "DELETE_COMPLETE" {
        return Err(
            DeploymentFailed(crate::cloudformation::events::describe_failure(
                &stack.name,
                "delete",
                &finished,
            ))
            .into(),
        );
    }
    Ok(done)
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
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(deleted),
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
