//! `botpub plan --output markdown`: the plan as a pull-request comment, pinned by snapshots for a new fleet
//! with a firewall, an update that replaces what clients use, no changes, 100 bots of which 2 change, and
//! custom domains (a new one whose bot waits for it, a changed one, a bot behind a domain whose stage moves).

use botpub::cloudformation::plan::Plan;
use serde_json::{Value, json};

fn change(
    action: &str,
    id: &str,
    kind: &str,
    replacement: Option<&str>,
    properties: &[&str],
) -> Value {
    json!({
        "action": action, "logical_id": id, "resource_type": kind, "replacement": replacement,
        "properties": properties, "scope": []
    })
}

fn stack(
    name: &str,
    bot: Option<&str>,
    action: &str,
    changes: Vec<Value>,
    warnings: &[&str],
) -> Value {
    json!({
        "stack_name": name, "bot_id": bot, "region": "us-east-1", "action": action,
        "change_set_id": if action == "none" { Value::Null } else { json!(format!("arn:aws:cloudformation:us-east-1:123456789012:changeSet/{name}/1")) },
        "template_sha256": "0".repeat(64), "changes": changes, "warnings": warnings
    })
}

fn plan(stacks: Vec<Value>) -> Plan {
    serde_json::from_value(json!({"format": 1, "specs": ["specs/fleet.yaml"], "stacks": stacks}))
        .unwrap()
}

fn snapshot(name: &str, plan: &Plan) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, plan.render_markdown()));
}

#[test]
fn a_new_fleet_with_a_firewall() {
    let new_bot = |name: &str, id: &str| {
        let mut json = stack(
            name,
            Some(id),
            "create",
            [
                "Api",
                "ApiRole",
                "Queue",
                "DeadLetterQueue",
                "ResultsBucket",
                "Stage",
                "UsagePlan",
                "DefaultApiKey",
            ]
            .iter()
            .map(|r| change("add", r, "AWS::ApiGateway::RestApi", None, &[]))
            .collect(),
            &[],
        );
        json["after_firewall"] = json!(id == "sales-bot");
        json
    };
    let plan = plan(vec![
        stack(
            "BotPub-firewall",
            None,
            "create",
            vec![
                change("add", "AllowedIpv4", "AWS::WAFv2::IPSet", None, &[]),
                change("add", "WebAcl", "AWS::WAFv2::WebACL", None, &[]),
            ],
            &["the shared firewall changes: this affects every published API in the region"],
        ),
        new_bot("BotPub-support-bot", "support-bot"),
        new_bot("BotPub-sales-bot", "sales-bot"),
    ]);
    snapshot("plan_markdown__new_fleet_with_firewall", &plan);
}

#[test]
fn an_update_that_replaces_the_stage() {
    let plan = plan(vec![stack(
        "BotPub-support-bot",
        Some("support-bot"),
        "update",
        vec![
            change(
                "replace",
                "Stage",
                "AWS::ApiGateway::Stage",
                Some("True"),
                &["StageName"],
            ),
            change(
                "modify",
                "UsagePlan",
                "AWS::ApiGateway::UsagePlan",
                Some("False"),
                &["Throttle", "Quota"],
            ),
            change(
                "modify",
                "PredictMethod",
                "AWS::ApiGateway::Method",
                Some("False"),
                &[
                    "Integration",
                    "MethodResponses",
                    "RequestParameters",
                    "RequestModels",
                ],
            ),
            change(
                "modify",
                "Api",
                "AWS::ApiGateway::RestApi",
                Some("Conditional"),
                &["Name"],
            ),
            change(
                "add",
                "Deployment1a2b3c",
                "AWS::ApiGateway::Deployment",
                None,
                &[],
            ),
            change(
                "remove",
                "Deployment9f8e7d",
                "AWS::ApiGateway::Deployment",
                None,
                &[],
            ),
        ],
        &[
            "Stage replaces the stage (the endpoint URL changes for every client)",
            "Api may replace the REST API (the endpoint URL changes for every client)",
        ],
    )]);
    snapshot("plan_markdown__update_with_replacement", &plan);
}

#[test]
fn no_changes() {
    let plan = plan(vec![
        stack("BotPub-firewall", None, "none", vec![], &[]),
        stack(
            "BotPub-support-bot",
            Some("support-bot"),
            "none",
            vec![],
            &[],
        ),
    ]);
    assert!(!plan.has_changes());
    snapshot("plan_markdown__no_changes", &plan);
}

#[test]
fn a_hundred_bots_of_which_two_change() {
    let stacks = (1..=100)
        .map(|i| {
            let name = format!("BotPub-bot-{i:03}");
            match i {
                17 => stack(
                    &name,
                    Some("bot-017"),
                    "update",
                    vec![change("modify", "UsagePlan", "AWS::ApiGateway::UsagePlan", Some("False"), &["Throttle"])],
                    &[],
                ),
                64 => stack(
                    &name,
                    Some("bot-064"),
                    "update",
                    vec![change("replace", "Queue", "AWS::SQS::Queue", Some("True"), &["FifoQueue"])],
                    &["Queue replaces a queue (requests waiting in it are lost: let the worker answer them first)"],
                ),
                _ => stack(&name, Some(&format!("bot-{i:03}")), "none", vec![], &[]),
            }
        })
        .collect();
    let plan = plan(stacks);
    let markdown = plan.render_markdown();
    assert_eq!(
        markdown.matches("\n### ").count(),
        2,
        "one section per changing stack"
    );
    assert!(markdown.lines().count() < 40, "{markdown}");
    snapshot("plan_markdown__hundred_bots_two_changed", &plan);
}

#[test]
fn custom_domains_a_new_one_with_its_bot_and_a_changed_one() {
    let mut new_bot = stack(
        "BotPub-helpdesk-bot",
        Some("helpdesk-bot"),
        "create",
        vec![],
        &[],
    );
    new_bot["change_set_id"] = Value::Null;
    new_bot["after_domain"] = json!(true);
    let plan = plan(vec![
        stack(
            "BotPub-domain-help-example-com",
            None,
            "create",
            vec![change(
                "add",
                "Domain",
                "AWS::ApiGateway::DomainName",
                None,
                &[],
            )],
            &[],
        ),
        stack(
            "BotPub-domain-bots-example-com",
            None,
            "update",
            vec![change(
                "modify",
                "Domain",
                "AWS::ApiGateway::DomainName",
                Some("False"),
                &["RegionalCertificateArn"],
            )],
            &["the shared custom domain bots.example.com changes: this affects every bot on it"],
        ),
        new_bot,
        stack(
            "BotPub-shop-bot",
            Some("shop-bot"),
            "update",
            vec![change(
                "replace",
                "Stage",
                "AWS::ApiGateway::Stage",
                Some("True"),
                &["StageName"],
            )],
            &[
                "Stage replaces the stage (its API Gateway URL changes; the mapping of https://bots.example.com/shop-bot moves with it, which clients of that URL do not notice)",
            ],
        ),
    ]);
    snapshot("plan_markdown__custom_domains", &plan);
    assert!(
        plan.render().contains(
            "BotPub-helpdesk-bot (create): planned once its custom domain's stack exists"
        ),
        "{}",
        plan.render()
    );
}
