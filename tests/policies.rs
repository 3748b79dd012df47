//! Least privilege in what botpub generates: across every example template and the toolkit stack, no
//! Allow statement of any policy grants a wildcard action (`*`, `s3:*`) or a wildcard resource (`*`),
//! except for actions IAM supports no resource for, and then only under a condition. Deny statements (the
//! TLS-only bucket policy) may name `s3:*`: they take rights away.

use std::path::Path;

use botpub::spec::check_files;
use botpub::synth::synthesize;
use serde_json::Value;

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// Every policy document in a template, with where it was found.
fn documents(template: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        let props = &resource["Properties"];
        if let Some(doc) = props.get("PolicyDocument") {
            found.push((id.clone(), doc));
        }
        if let Some(doc) = props.get("AssumeRolePolicyDocument") {
            found.push((format!("{id} (trust)"), doc));
        }
        for policy in props
            .get("Policies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            found.push((
                format!("{id}/{}", policy["PolicyName"]),
                &policy["PolicyDocument"],
            ));
        }
    }
    found
}

/// Actions for which IAM knows no resource type: `Resource` can only be `*`, narrowed by a condition.
const NO_RESOURCE_LEVEL: [&str; 2] = ["lambda:CreateEventSourceMapping", "kms:CreateKey"];

#[test]
fn no_allow_statement_grants_a_wildcard() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked_statements = 0;
    let mut stacks = Vec::new();
    for example in std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
    {
        if example.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let checked = check_files(std::slice::from_ref(&example));
        stacks.extend(synthesize(&checked.specs[0]).unwrap());
    }
    stacks.push(botpub::synth::toolkit("BotPub").unwrap());
    {
        for stack in stacks {
            for (place, document) in documents(&stack.template) {
                for statement in as_list(&document["Statement"]) {
                    if statement["Effect"] != "Allow" {
                        continue;
                    }
                    checked_statements += 1;
                    let here = format!("{} {place}: {statement}", stack.name);
                    for action in as_list(&statement["Action"]) {
                        let action = action.as_str().unwrap_or_default();
                        assert!(!action.contains('*'), "wildcard action in {here}");
                    }
                    let actions = as_list(&statement["Action"]);
                    let unscoped = actions
                        .iter()
                        .all(|a| NO_RESOURCE_LEVEL.contains(&a.as_str().unwrap_or_default()));
                    for resource in as_list(&statement["Resource"]) {
                        if resource == "*" {
                            assert!(
                                unscoped && statement.get("Condition").is_some(),
                                "wildcard resource in {here}"
                            );
                        }
                    }
                    assert!(
                        statement.get("NotAction").is_none()
                            && statement.get("NotResource").is_none(),
                        "{here}"
                    );
                }
            }
            // Lambda permissions name one principal and this API only.
            for resource in stack.template["Resources"].as_object().unwrap().values() {
                if resource["Type"] == "AWS::Lambda::Permission" {
                    assert_eq!(resource["Properties"]["Action"], "lambda:InvokeFunction");
                    assert!(
                        resource["Properties"]["SourceArn"]["Fn::Sub"]
                            .as_str()
                            .unwrap()
                            .contains("${Api}")
                    );
                }
            }
        }
    }
    assert!(
        checked_statements >= 8,
        "only {checked_statements} statements checked"
    );
}

/// KMS key policies, which the test above leaves out because their `Resource: "*"` means the key itself:
/// only this account's root gets every action (handing control of the key to IAM policies, as AWS's own
/// default key policy does); a service gets the actions it uses, and only on this account's behalf.
#[test]
fn key_policies_give_services_only_what_they_use() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let checked = check_files(&[root.join("examples/full.yaml")]);
    let mut keys = 0;
    for stack in synthesize(&checked.specs[0]).unwrap() {
        for resource in stack.template["Resources"].as_object().unwrap().values() {
            if resource["Type"] != "AWS::KMS::Key" {
                continue;
            }
            keys += 1;
            assert_eq!(resource["Properties"]["EnableKeyRotation"], true);
            for statement in as_list(&resource["Properties"]["KeyPolicy"]["Statement"]) {
                let principal = &statement["Principal"];
                if let Some(account) = principal.get("AWS") {
                    assert_eq!(
                        account["Fn::Sub"], "arn:${AWS::Partition}:iam::${AWS::AccountId}:root",
                        "{statement}"
                    );
                    continue;
                }
                assert_eq!(
                    principal["Service"], "cloudwatch.amazonaws.com",
                    "{statement}"
                );
                for action in as_list(&statement["Action"]) {
                    assert!(
                        ["kms:Decrypt", "kms:GenerateDataKey*"].contains(&action.as_str().unwrap()),
                        "{statement}"
                    );
                }
                assert_eq!(
                    statement["Condition"]["StringEquals"]["aws:SourceAccount"]["Ref"],
                    "AWS::AccountId"
                );
            }
        }
    }
    assert_eq!(keys, 1, "the bot with email notifications has its key");
}
