//! The plan of one stack: a CloudFormation change set, created, waited for and read.
//!
//! CREATE for a new stack (with OnStackFailure=DELETE, so a failed first create leaves nothing behind),
//! UPDATE otherwise. An empty change set is deleted and reported as "no changes". A stack left in
//! ROLLBACK_COMPLETE by an earlier failed create holds nothing, so it is deleted first (and the user told).

use std::collections::BTreeMap;

use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::types::{
    Capability, ChangeAction as SdkAction, ChangeSetStatus, ChangeSetSummary, ChangeSetType,
    OnStackFailure, Replacement as ChangeSetReplacement, ResourceAttribute, Tag, TemplateStage,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::{Aws, AwsContext, Fact};
use crate::cloudformation::diff::{self, ResourceDiff};
use crate::cloudformation::events::{self, Backoff, pause};
use crate::cloudformation::outcome::{ChangeAction, ChangeScope, Replacement, StackAction};
use crate::cloudformation::progress::Progress;
use crate::cloudformation::stack::{self, State};
use crate::outcome::Busy;
use crate::synth::{Stack, StackKind};
use futures::future::BoxFuture;

/// The description of a change set that its run executes right away (`publish`): until then, other runs
/// take it for a deployment about to start.
pub const TO_EXECUTE: &str = "botpub publish";
/// The description of a change set kept in a plan file for `botpub apply`, however much later.
pub const SAVED: &str = "botpub plan, saved for botpub apply";

/// CloudFormation's limit for a template passed inline.
pub const INLINE_TEMPLATE_LIMIT: usize = 51_200;

/// The planned changes of one stack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackPlan {
    pub stack_name: String,
    /// `None` for the shared firewall.
    pub bot_id: Option<String>,
    pub region: String,
    pub action: StackAction,
    pub change_set_id: Option<String>,
    /// SHA-256 of the template the change set was made from.
    pub template_sha256: String,
    pub changes: Vec<Change>,
    /// Things the user must not miss (endpoint or keys replaced, shared firewall changed).
    pub warnings: Vec<String>,
    /// The stack imports the shared firewall's web ACL, which this plan creates: CloudFormation accepts
    /// its change set only once the firewall exists, so it is made (from the same template) right then.
    #[serde(default)]
    pub after_firewall: bool,
    /// The same for the stack of the custom domain the bot is mapped onto, which this plan creates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_domain: bool,
}

impl StackPlan {
    pub fn has_changes(&self) -> bool {
        self.change_set_id.is_some() || self.planned_late()
    }

    /// Whether the change set is made only when the plan is applied, once the shared stacks it imports
    /// from exist.
    pub fn planned_late(&self) -> bool {
        self.after_firewall || self.after_domain
    }

    /// What the change set waits for, in words that follow "planned once".
    pub fn planned_late_reason(&self) -> &'static str {
        match (self.after_firewall, self.after_domain) {
            (true, false) => {
                "the shared firewall exists, because it imports the firewall's web ACL"
            }
            (false, true) => "its custom domain's stack exists, because it imports the domain name",
            _ => {
                "the shared firewall and its custom domain's stack exist, because it imports from both"
            }
        }
    }

    /// The plan of a stack whose change set must wait for the shared stacks it imports from being created:
    /// the firewall, its domain, or both.
    pub fn after_shared(
        stack: &Stack,
        region: &str,
        exists: bool,
        after_firewall: bool,
        after_domain: bool,
    ) -> StackPlan {
        StackPlan {
            stack_name: stack.name.clone(),
            bot_id: bot_id(stack),
            region: region.to_string(),
            action: if exists {
                StackAction::Update
            } else {
                StackAction::Create
            },
            change_set_id: None,
            template_sha256: stack.template_hash(),
            changes: Vec::new(),
            warnings: Vec::new(),
            after_firewall,
            after_domain,
        }
    }
}

fn bot_id(stack: &Stack) -> Option<String> {
    match &stack.kind {
        StackKind::Bot { id } => Some(id.clone()),
        StackKind::Firewall | StackKind::Domain { .. } | StackKind::Toolkit => None,
    }
}

/// One resource change, as CloudFormation predicts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub action: ChangeAction,
    pub logical_id: String,
    pub resource_type: String,
    /// Absent for additions and removals.
    pub replacement: Option<Replacement>,
    /// Changed properties, for modifications.
    pub properties: Vec<String>,
    /// What changed beyond properties (tags, metadata).
    pub scope: Vec<ChangeScope>,
}

impl Change {
    /// A modification that touches only tags (every resource, when the stack's spec-hash tag changes).
    pub fn tags_only(&self) -> bool {
        self.action == ChangeAction::Modify
            && self.properties.is_empty()
            && !self.scope.is_empty()
            && self.scope.iter().all(|s| *s == ChangeScope::Tags)
    }
}

/// Resources whose replacement changes what clients use (the endpoint URL, their keys) or loses what they
/// wait for (queued requests, answers).
const CLIENT_FACING: [(&str, &str); 7] = [
    (
        "AWS::ApiGateway::RestApi",
        "the REST API (the endpoint URL changes for every client)",
    ),
    (
        "AWS::ApiGateway::Stage",
        "the stage (the endpoint URL changes for every client)",
    ),
    (
        "AWS::ApiGateway::UsagePlan",
        "the usage plan (every API key loses access until re-attached)",
    ),
    (
        "AWS::ApiGateway::ApiKey",
        "the default API key (clients using it must switch to the new key)",
    ),
    (
        "AWS::SQS::Queue",
        "a queue (requests waiting in it are lost: let the worker answer them first)",
    ),
    (
        "AWS::S3::Bucket",
        "the results bucket (the answers and conversations written so far are lost)",
    ),
    (
        "AWS::ApiGateway::BasePathMapping",
        "the mapping on the custom domain (the bot's custom URL changes for every client)",
    ),
];

/// CloudFormation's limit for a template read from S3.
pub const TEMPLATE_LIMIT: usize = 1_000_000;

/// The template as sent to CloudFormation: compact JSON, the smallest form of it.
fn request_body(stack: &Stack) -> String {
    serde_json::to_string(&stack.template).unwrap_or_default()
}

/// Where a template too large to pass inline is uploaded, for CloudFormation to read it by URL (the toolkit
/// bucket, which is deployed by this very module and so lives above it).
pub trait TemplateStore: Send + Sync {
    /// Uploads a template (once per content) and returns its URL.
    fn upload<'a>(&'a self, aws: &'a Aws, body: &'a str) -> BoxFuture<'a, anyhow::Result<String>>;
}

/// Whether a stack's template is too large to pass inline, and so goes through the toolkit bucket.
pub fn needs_upload(stack: &Stack) -> bool {
    request_body(stack).len() > INLINE_TEMPLATE_LIMIT
}

/// Refuses, before any AWS call, a template that CloudFormation would refuse even from S3.
pub fn check_size(stack: &Stack) -> anyhow::Result<()> {
    let size = request_body(stack).len();
    if size > TEMPLATE_LIMIT {
        anyhow::bail!(
            "the template of {} is {size} bytes, over CloudFormation's limit of {TEMPLATE_LIMIT} bytes even for templates read from S3; split the firewall's ranges into fewer, larger CIDR blocks or shorten the descriptions",
            stack.name
        );
    }
    Ok(())
}

/// Refuses, before any AWS call, a custom domain whose certificate lies in another region than the one
/// published to: a regional domain name takes only a certificate of its own region. (A spec that states
/// its region is checked when it is validated; this catches the region that comes from the AWS setup.)
pub fn check_certificate_region(stack: &Stack, region: &str) -> anyhow::Result<()> {
    let arn =
        stack.template["Resources"]["Domain"]["Properties"]["RegionalCertificateArn"].as_str();
    if let Some(certificate_region) = arn.and_then(|arn| arn.split(':').nth(3))
        && certificate_region != region
    {
        anyhow::bail!(
            "{}: the certificate {} is in {certificate_region}, but the stacks go to {region}; a regional custom domain needs a certificate of its own region",
            stack.name,
            arn.unwrap_or_default()
        );
    }
    Ok(())
}

/// Makes the change set for one stack and reads what it would change. A template over the inline limit
/// is uploaded to the toolkit bucket (which the caller found) and passed by URL. `description` says
/// whether it is executed right away ([`TO_EXECUTE`]) or saved ([`SAVED`]).
pub async fn plan_stack(
    aws: &Aws,
    stack: &Stack,
    token: &str,
    description: &str,
    progress: &Progress,
    templates: Option<&dyn TemplateStore>,
) -> anyhow::Result<StackPlan> {
    check_size(stack)?;
    let body = request_body(stack);
    let upload_to = match templates {
        Some(store) if body.len() > INLINE_TEMPLATE_LIMIT => Some(store),
        _ if body.len() > INLINE_TEMPLATE_LIMIT => anyhow::bail!(
            "the template of {} is {} bytes, over CloudFormation's {INLINE_TEMPLATE_LIMIT}-byte limit for inline templates, and there is no toolkit bucket to upload it to",
            stack.name,
            body.len()
        ),
        _ => None,
    };
    let mut existing = stack::describe(aws, &stack.name).await?;
    if let Some(current) = &existing {
        current.ensure_ready()?;
        if current.state == State::FailedCreate {
            progress.say(&format!(
                "{}: deleting the stack left in ROLLBACK_COMPLETE by a failed first create (it holds no resources), to create it anew",
                stack.name
            ));
            events::delete_and_wait(
                aws,
                &current.id,
                &current.name,
                &format!("{token}-recreate"),
            )
            .await?;
            existing = None;
        }
    }
    let create = existing.as_ref().is_none_or(|s| s.state == State::Review);
    let mut plan = StackPlan {
        stack_name: stack.name.clone(),
        bot_id: bot_id(stack),
        region: aws.region.clone(),
        action: if create {
            StackAction::Create
        } else {
            StackAction::Update
        },
        change_set_id: None,
        template_sha256: stack.template_hash(),
        changes: Vec::new(),
        warnings: Vec::new(),
        after_firewall: false,
        after_domain: false,
    };
    let deployed = match &existing {
        Some(current) if !create => deployed_template(aws, &current.name).await?,
        _ => None,
    };
    let tags_changed = existing
        .as_ref()
        .is_some_and(|current| current.tags != stack.tags);
    // The template's metadata carries the spec hash, which covers the tags: the same template means the
    // same publication. (Stack tags themselves are not compared: some engines never update them.)
    if deployed.as_ref() == Some(&stack.template) {
        plan.action = StackAction::None;
        return Ok(plan);
    }
    let tags: Vec<Tag> = stack
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let mut request = aws
        .cloudformation
        .create_change_set()
        .stack_name(&stack.name)
        .change_set_name(token)
        .client_token(token)
        .description(description)
        .capabilities(Capability::CapabilityIam)
        .set_tags(Some(tags))
        .change_set_type(if create {
            ChangeSetType::Create
        } else {
            ChangeSetType::Update
        });
    request = match upload_to {
        Some(store) => request.template_url(store.upload(aws, &body).await?),
        None => request.template_body(body),
    };
    if create {
        request = request.on_stack_failure(OnStackFailure::Delete);
    }
    let created = match request.send().await {
        Ok(created) => created,
        // Another deployment got there between our look at the stack and this request: it is deploying
        // the stack, or it created the stack this run meant to create ("already exists and cannot be
        // created again with the changeSet").
        Err(e) if matches!(crate::aws::fact(&e), Fact::Busy | Fact::AlreadyExists) => {
            return Err(Busy {
                stack: stack.name.clone(),
                message: format!("stack {} is busy: {}", stack.name, crate::aws::explain(&e)),
            }
            .into());
        }
        Err(e) => return Err(e).aws(format!("creating a change set for {}", stack.name)),
    };
    let change_set_id = created.id().unwrap_or(token).to_string();

    let described = wait_for_change_set(aws, &change_set_id, &stack.name).await?;
    plan.change_set_id = Some(change_set_id.clone());
    if described.status() == Some(&ChangeSetStatus::Failed) {
        let reason = described.status_reason().unwrap_or_default();
        if is_empty_change_set(reason) {
            delete_change_set(aws, &change_set_id, &stack.name).await?;
            plan.action = StackAction::None;
            plan.change_set_id = None;
            return Ok(plan);
        }
        anyhow::bail!(
            "CloudFormation cannot make the change set for {}: {reason}",
            stack.name
        );
    }
    plan.changes = read_changes(aws, &change_set_id, described, &stack.name).await?;
    if let Some(old) = &deployed {
        complete(
            &mut plan.changes,
            &diff::resources(old, &stack.template),
            tags_changed,
        );
    }
    plan.warnings = warnings(&plan, &stack.kind, stack.domain_endpoint());
    Ok(plan)
}

/// The template the stack runs now, when it is one botpub can read (JSON).
async fn deployed_template(aws: &Aws, stack_name: &str) -> anyhow::Result<Option<Value>> {
    let output = aws
        .cloudformation
        .get_template()
        .stack_name(stack_name)
        .template_stage(TemplateStage::Original)
        .send()
        .await
        .aws(format!("reading the deployed template of {stack_name}"))?;
    Ok(output
        .template_body()
        .and_then(|body| serde_json::from_str(body).ok()))
}

/// Fills in what the change set left out, from botpub's own template diff: the changed properties and
/// replacement of a bare "Modify", tags as the reason when the resource itself is unchanged, and nothing
/// at all for a "Modify" without any difference (some engines report every resource so).
fn complete(changes: &mut Vec<Change>, diffs: &BTreeMap<String, ResourceDiff>, tags_changed: bool) {
    changes.retain_mut(|change| {
        if change.action != ChangeAction::Modify
            || !change.properties.is_empty()
            || !change.scope.is_empty()
        {
            return true;
        }
        match diffs.get(&change.logical_id) {
            Some(ResourceDiff::Modified {
                properties,
                replaces,
            }) => {
                change.properties = properties.clone();
                change.scope = vec![ChangeScope::Properties];
                if *replaces {
                    change.action = ChangeAction::Replace;
                    change.replacement = Some(Replacement::True);
                }
                true
            }
            Some(ResourceDiff::Added | ResourceDiff::Removed) => true,
            None if tags_changed => {
                change.scope = vec![ChangeScope::Tags];
                true
            }
            None => false,
        }
    });
}

/// A change set that failed only because it changes nothing: CloudFormation gives it status FAILED
/// and says why in the reason alone.
fn is_empty_change_set(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Waits until the change set is made (or has failed); the answer is its first page of changes.
async fn wait_for_change_set(
    aws: &Aws,
    id: &str,
    stack_name: &str,
) -> anyhow::Result<DescribeChangeSetOutput> {
    let mut backoff = Backoff::new();
    loop {
        let described = describe_page(aws, id, None, stack_name).await?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete | ChangeSetStatus::Failed) => {
                return Ok(described);
            }
            _ => pause(backoff.next_delay(), stack_name, stack_name).await?,
        }
    }
}

async fn describe_page(
    aws: &Aws,
    id: &str,
    next: Option<String>,
    stack_name: &str,
) -> anyhow::Result<DescribeChangeSetOutput> {
    aws.cloudformation
        .describe_change_set()
        .change_set_name(id)
        .set_next_token(next)
        .send()
        .await
        .aws(format!("reading the change set for {stack_name}"))
}

/// Every change of a change set, from its first page on.
async fn read_changes(
    aws: &Aws,
    id: &str,
    first: DescribeChangeSetOutput,
    stack_name: &str,
) -> anyhow::Result<Vec<Change>> {
    let mut changes = Vec::new();
    let mut page = first;
    loop {
        for change in page.changes() {
            let Some(rc) = change.resource_change() else {
                continue;
            };
            let replacement = rc.replacement().map(|r| match r {
                ChangeSetReplacement::True => Replacement::True,
                ChangeSetReplacement::Conditional => Replacement::Conditional,
                _ => Replacement::False,
            });
            let mut properties: Vec<String> = rc
                .details()
                .iter()
                .filter_map(|d| d.target())
                .filter(|t| t.attribute() == Some(&ResourceAttribute::Properties))
                .filter_map(|t| t.name().map(str::to_string))
                .collect();
            properties.dedup();
            let action = match rc.action() {
                Some(SdkAction::Modify) if replacement == Some(Replacement::True) => {
                    ChangeAction::Replace
                }
                Some(SdkAction::Add) => ChangeAction::Add,
                Some(SdkAction::Modify) => ChangeAction::Modify,
                Some(SdkAction::Remove) => ChangeAction::Remove,
                Some(SdkAction::Import) => ChangeAction::Import,
                _ => ChangeAction::Dynamic,
            };
            changes.push(Change {
                action,
                logical_id: rc.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: rc.resource_type().unwrap_or_default().to_string(),
                replacement,
                properties,
                scope: rc.scope().iter().map(scope).collect(),
            });
        }
        match page.next_token() {
            Some(token) => {
                page = describe_page(aws, id, Some(token.to_string()), stack_name).await?
            }
            None => return Ok(changes),
        }
    }
}

/// CloudFormation's scope of a change, as botpub names it.
fn scope(attribute: &ResourceAttribute) -> ChangeScope {
    match attribute {
        ResourceAttribute::Properties => ChangeScope::Properties,
        ResourceAttribute::Metadata => ChangeScope::Metadata,
        ResourceAttribute::CreationPolicy => ChangeScope::CreationPolicy,
        ResourceAttribute::UpdatePolicy => ChangeScope::UpdatePolicy,
        ResourceAttribute::DeletionPolicy => ChangeScope::DeletionPolicy,
        ResourceAttribute::UpdateReplacePolicy => ChangeScope::UpdateReplacePolicy,
        ResourceAttribute::Tags => ChangeScope::Tags,
        _ => ChangeScope::Other,
    }
}

/// The warnings of a stack's plan. `domain_endpoint` is the custom URL of a bot behind a domain: there,
/// replacing the API or its stage moves the base path mapping, and clients of the custom URL notice nothing.
fn warnings(plan: &StackPlan, kind: &StackKind, domain_endpoint: Option<&str>) -> Vec<String> {
    let mut warnings = Vec::new();
    if *kind == StackKind::Firewall && plan.action != StackAction::None {
        warnings.push(
            "the shared firewall changes: this affects every published API in the region"
                .to_string(),
        );
    }
    if let StackKind::Domain { name } = kind
        && plan.action == StackAction::Update
    {
        warnings.push(format!(
            "the shared custom domain {name} changes: this affects every bot on it"
        ));
    }
    for change in &plan.changes {
        let Some((_, what)) = CLIENT_FACING
            .iter()
            .find(|(t, _)| *t == change.resource_type)
        else {
            continue;
        };
        let what = match domain_endpoint {
            Some(url) if MOVES_THE_MAPPING.contains(&change.resource_type.as_str()) => format!(
                "{} (its API Gateway URL changes; the mapping of {url} moves with it, which clients of that URL do not notice)",
                what.split(" (").next().unwrap_or(what)
            ),
            _ => what.to_string(),
        };
        let replaced = change.replacement.is_some_and(Replacement::possible)
            && change.action != ChangeAction::Add;
        if change.action == ChangeAction::Remove {
            warnings.push(format!("{} is removed: {what}", change.logical_id));
        } else if replaced {
            let maybe = if change.replacement == Some(Replacement::Conditional) {
                "may replace"
            } else {
                "replaces"
            };
            warnings.push(format!("{} {maybe} {what}", change.logical_id));
        }
    }
    warnings
}

/// Resources whose replacement changes the API Gateway URL, and which a base path mapping follows.
const MOVES_THE_MAPPING: [&str; 2] = ["AWS::ApiGateway::RestApi", "AWS::ApiGateway::Stage"];

/// Deletes a change set nobody will execute.
/// Every change set of a stack (by name or id), all pages.
pub async fn list(
    aws: &Aws,
    stack: &str,
    stack_name: &str,
) -> anyhow::Result<Vec<ChangeSetSummary>> {
    let mut summaries = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .cloudformation
            .list_change_sets()
            .stack_name(stack)
            .set_next_token(next.take())
            .send()
            .await
            .aws(format!("listing the change sets of {stack_name}"))?;
        summaries.extend_from_slice(page.summaries());
        match page.next_token() {
            Some(token) => next = Some(token.to_string()),
            None => return Ok(summaries),
        }
    }
}

/// Deletes a change set; one that is gone already (a retry whose first answer was lost) counts as deleted.
pub async fn delete_change_set(aws: &Aws, id: &str, stack_name: &str) -> anyhow::Result<()> {
    match aws
        .cloudformation
        .delete_change_set()
        .change_set_name(id)
        .send()
        .await
    {
        Err(e) if crate::aws::fact(&e) == Fact::NotFound => Ok(()),
        deleted => {
            deleted.aws(format!("deleting an unused change set of {stack_name}"))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outcome by its name in plan files.
    fn named<T: serde::de::DeserializeOwned>(name: &str) -> T {
        serde_json::from_value(serde_json::Value::from(name)).unwrap()
    }

    fn change(action: &str, id: &str, kind: &str, replacement: Option<&str>) -> Change {
        Change {
            action: named(action),
            logical_id: id.into(),
            resource_type: kind.into(),
            replacement: replacement.map(named),
            properties: Vec::new(),
            scope: Vec::new(),
        }
    }

    fn plan(changes: Vec<Change>) -> StackPlan {
        StackPlan {
            stack_name: "BotPub-a".into(),
            bot_id: Some("a".into()),
            region: "us-east-1".into(),
            action: StackAction::Update,
            change_set_id: Some("cs".into()),
            template_sha256: String::new(),
            changes,
            warnings: Vec::new(),
            after_firewall: false,
            after_domain: false,
        }
    }

    #[test]
    fn aws_empty_change_sets_are_recognised() {
        assert!(is_empty_change_set(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(is_empty_change_set("No updates are to be performed."));
        assert!(!is_empty_change_set(
            "Template format error: Unresolved resource dependencies [X]"
        ));
    }

    #[test]
    fn replacing_what_clients_use_or_wait_for_is_a_warning_and_the_rest_is_not() {
        let warned = warnings(
            &plan(vec![
                change("replace", "Stage", "AWS::ApiGateway::Stage", Some("True")),
                change(
                    "modify",
                    "Api",
                    "AWS::ApiGateway::RestApi",
                    Some("Conditional"),
                ),
                change("remove", "DefaultApiKey", "AWS::ApiGateway::ApiKey", None),
                change("replace", "Queue", "AWS::SQS::Queue", Some("True")),
                change("replace", "AccessLogs", "AWS::Logs::LogGroup", Some("True")),
                change("add", "Deployment1", "AWS::ApiGateway::Deployment", None),
                change(
                    "modify",
                    "UsagePlan",
                    "AWS::ApiGateway::UsagePlan",
                    Some("False"),
                ),
            ]),
            &StackKind::Bot { id: "a".into() },
            None,
        );
        assert_eq!(
            warned,
            [
                "Stage replaces the stage (the endpoint URL changes for every client)",
                "Api may replace the REST API (the endpoint URL changes for every client)",
                "DefaultApiKey is removed: the default API key (clients using it must switch to the new key)",
                "Queue replaces a queue (requests waiting in it are lost: let the worker answer them first)",
            ]
        );
        let firewall = warnings(&plan(vec![]), &StackKind::Firewall, None);
        assert_eq!(
            firewall,
            ["the shared firewall changes: this affects every published API in the region"]
        );
    }

    #[test]
    fn behind_a_domain_a_replaced_stage_moves_the_mapping_and_a_changed_domain_warns_its_bots() {
        let bot = warnings(
            &plan(vec![
                change("replace", "Stage", "AWS::ApiGateway::Stage", Some("True")),
                change("replace", "Queue", "AWS::SQS::Queue", Some("True")),
                change(
                    "replace",
                    "DomainMapping",
                    "AWS::ApiGateway::BasePathMapping",
                    Some("True"),
                ),
            ]),
            &StackKind::Bot { id: "a".into() },
            Some("https://bots.example.com/a"),
        );
        assert_eq!(
            bot,
            [
                "Stage replaces the stage (its API Gateway URL changes; the mapping of https://bots.example.com/a moves with it, which clients of that URL do not notice)",
                "Queue replaces a queue (requests waiting in it are lost: let the worker answer them first)",
                "DomainMapping replaces the mapping on the custom domain (the bot's custom URL changes for every client)",
            ]
        );
        let domain = StackKind::Domain {
            name: "bots.example.com".into(),
        };
        assert_eq!(
            warnings(&plan(vec![]), &domain, None),
            ["the shared custom domain bots.example.com changes: this affects every bot on it"]
        );
        let mut created = plan(vec![]);
        created.action = StackAction::Create;
        assert!(warnings(&created, &domain, None).is_empty());
    }

    #[test]
    fn a_domain_certificate_of_another_region_is_refused_before_any_call() {
        let stack = Stack {
            name: "BotPub-domain-bots-example-com".into(),
            kind: StackKind::Domain {
                name: "bots.example.com".into(),
            },
            region: None,
            template: serde_json::json!({"Resources": {"Domain": {"Properties": {
                "RegionalCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
            }}}}),
            tags: BTreeMap::new(),
        };
        assert!(check_certificate_region(&stack, "eu-west-1").is_ok());
        let refused = check_certificate_region(&stack, "us-east-1").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("is in eu-west-1, but the stacks go to us-east-1"),
            "{refused}"
        );
    }

    #[test]
    fn bare_modifications_are_completed_from_the_template_diff() {
        let mut changes = vec![
            change(
                "modify",
                "UsagePlan",
                "AWS::ApiGateway::UsagePlan",
                Some("False"),
            ),
            change("modify", "Stage", "AWS::ApiGateway::Stage", Some("False")),
            change("modify", "Queue", "AWS::SQS::Queue", Some("False")),
            change("modify", "Described", "AWS::SQS::Queue", Some("False")),
        ];
        changes[3].properties = vec!["VisibilityTimeout".into()];
        let diffs = BTreeMap::from([
            (
                "UsagePlan".to_string(),
                ResourceDiff::Modified {
                    properties: vec!["Throttle".into()],
                    replaces: false,
                },
            ),
            (
                "Stage".to_string(),
                ResourceDiff::Modified {
                    properties: vec!["StageName".into()],
                    replaces: true,
                },
            ),
        ]);
        let mut without_tags = changes.clone();
        complete(&mut without_tags, &diffs, false);
        let summary: Vec<(String, String, Vec<String>)> = without_tags
            .iter()
            .map(|c| {
                (
                    c.logical_id.clone(),
                    c.action.to_string(),
                    c.properties.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "UsagePlan".into(),
                    "modify".into(),
                    vec!["Throttle".to_string()]
                ),
                (
                    "Stage".into(),
                    "replace".into(),
                    vec!["StageName".to_string()]
                ),
                (
                    "Described".into(),
                    "modify".into(),
                    vec!["VisibilityTimeout".to_string()]
                ),
            ],
            "an unchanged resource reported without details is no change; the engine's own details are kept"
        );
        complete(&mut changes, &diffs, true);
        let queue = changes.iter().find(|c| c.logical_id == "Queue").unwrap();
        assert!(
            queue.tags_only(),
            "with new stack tags, an unchanged resource is retagged"
        );
    }
}
