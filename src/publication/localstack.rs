//! What an update means on LocalStack that it does not mean on AWS: one that redeploys the API leaves
//! LocalStack answering 404 NOT FOUND on every route (it removes the stage with the old deployment; AWS
//! keeps serving it). Plans say so, and `publish` says it again after such an update.

use crate::aws::Aws;
use crate::cloudformation::changeset::StackPlan;
use crate::cloudformation::deploy::Applied;
use crate::cloudformation::outcome::{ApplyResult, ChangeAction, Replacement, StackAction};
use crate::cloudformation::plan::Plan;

/// Adds the warning to every stack of the plan whose update redeploys the API, when the engine is LocalStack.
pub async fn warn_of_redeploys(aws: &Aws, plan: &mut Plan) {
    if !plan.stacks.iter().any(redeploys_the_api) || !aws.is_localstack().await {
        return;
    }
    for stack in plan.stacks.iter_mut().filter(|s| redeploys_the_api(s)) {
        stack.warnings.push(redeploy_warning(stack));
    }
}

/// After the update, the warning again, where the user looks last.
pub async fn repeat_after_update(aws: &Aws, plan: &Plan, applied: &[Applied]) {
    let updated = |planned: &&StackPlan| {
        applied
            .iter()
            .any(|a| a.stack_name == planned.stack_name && a.result == ApplyResult::Updated)
    };
    let redeployed: Vec<&StackPlan> = plan
        .stacks
        .iter()
        .filter(|s| redeploys_the_api(s))
        .filter(updated)
        .collect();
    if redeployed.is_empty() || !aws.is_localstack().await {
        return;
    }
    for planned in redeployed {
        eprintln!(
            "warning: {}: {}",
            planned.stack_name,
            redeploy_warning(planned)
        );
    }
}

/// An update that replaces the API's deployment or stage: the old one is deleted.
fn redeploys_the_api(plan: &StackPlan) -> bool {
    plan.action == StackAction::Update
        && plan.changes.iter().any(|c| {
            let api_front = ["AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage"];
            let replaced = c.replacement.is_some_and(Replacement::possible);
            api_front.contains(&c.resource_type.as_str())
                && (c.action == ChangeAction::Remove || replaced)
        })
}

/// The way out is to publish anew.
fn redeploy_warning(plan: &StackPlan) -> String {
    let bot = plan.bot_id.as_deref().unwrap_or(&plan.stack_name);
    let prefix = plan
        .stack_name
        .strip_suffix(&format!("-{bot}"))
        .filter(|p| *p != crate::spec::model::DEFAULT_PREFIX)
        .map(|p| format!(" --prefix {p}"))
        .unwrap_or_default();
    format!(
        "on LocalStack, this update redeploys the API and LocalStack then answers 404 NOT FOUND on every route (it removes the stage with the old deployment; AWS keeps serving). To apply it on LocalStack, run `botpub unpublish {bot}{prefix}` and then `botpub publish` instead (the endpoint and key values change)"
    )
}
