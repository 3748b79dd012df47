//! Structural checks of a rendered template: the second line of defence (after `tojson`) that no spec
//! value changed a template's shape, and a guard against template mistakes that CloudFormation would
//! only report in the middle of a deployment.

use std::collections::BTreeSet;

use anyhow::bail;
use serde_json::{Map, Value};

const TOP_LEVEL: [&str; 5] = [
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Resources",
    "Outputs",
];
const RESOURCE_KEYS: [&str; 6] = [
    "Type",
    "Properties",
    "DependsOn",
    "Metadata",
    "DeletionPolicy",
    "UpdateReplacePolicy",
];
/// Every resource type botpub's templates may contain.
const RESOURCE_TYPES: [&str; 29] = [
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::BasePathMapping",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::DomainName",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::CodeBuild::Project",
    "AWS::IAM::Role",
    "AWS::KMS::Key",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::Route53::RecordSet",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::WAFv2::IPSet",
    "AWS::WAFv2::WebACL",
    "AWS::WAFv2::WebACLAssociation",
];

/// Checks a rendered template; an error here is a bug in botpub, never in the spec.
pub fn check(stack: &str, template: &Value) -> anyhow::Result<()> {
    let problems = problems(template);
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "internal error: the template of {stack} is inconsistent: {}",
            problems.join("; ")
        )
    }
}

fn problems(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(top) = template.as_object() else {
        return vec!["not a JSON object".to_string()];
    };
    for key in top.keys().filter(|k| !TOP_LEVEL.contains(&k.as_str())) {
        problems.push(format!("unexpected top-level key {key}"));
    }
    let Some(resources) = top
        .get("Resources")
        .and_then(Value::as_object)
        .filter(|r| !r.is_empty())
    else {
        problems.push("no Resources".to_string());
        return problems;
    };
    let ids: BTreeSet<&str> = resources.keys().map(String::as_str).collect();
    for (id, resource) in resources {
        if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            problems.push(format!("logical id {id:?} is not alphanumeric"));
        }
        let Some(resource) = resource.as_object() else {
            problems.push(format!("{id} is not an object"));
            continue;
        };
        for key in resource
            .keys()
            .filter(|k| !RESOURCE_KEYS.contains(&k.as_str()))
        {
            problems.push(format!("{id} has unexpected key {key}"));
        }
        match resource.get("Type").and_then(Value::as_str) {
            Some(kind) if RESOURCE_TYPES.contains(&kind) => {}
            other => problems.push(format!("{id} has unexpected type {other:?}")),
        }
        for target in depends_on(resource) {
            if !ids.contains(target) {
                problems.push(format!("{id} depends on missing {target}"));
            }
        }
    }
    let mut references = Vec::new();
    collect_references(template, &mut references);
    for target in references {
        if !ids.contains(target.as_str()) {
            problems.push(format!("reference to missing {target}"));
        }
    }
    problems.extend(deployment_problems(resources));
    problems
}

fn depends_on(resource: &Map<String, Value>) -> Vec<&str> {
    match resource.get("DependsOn") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Logical ids named by `Ref`, `Fn::GetAtt` and `${...}` in `Fn::Sub` (pseudo parameters excluded).
fn collect_references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(target)) if !target.starts_with("AWS::") => {
                        out.push(target.clone())
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        out.extend(parts.first().and_then(Value::as_str).map(str::to_string));
                    }
                    ("Fn::Sub", Value::String(text)) => out.extend(sub_references(text, &[])),
                    ("Fn::Sub", Value::Array(parts)) => {
                        let locals: Vec<&str> = parts
                            .get(1)
                            .and_then(Value::as_object)
                            .map(|vars| vars.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        if let Some(text) = parts.first().and_then(Value::as_str) {
                            out.extend(sub_references(text, &locals));
                        }
                        parts
                            .iter()
                            .skip(1)
                            .for_each(|part| collect_references(part, out));
                    }
                    _ => collect_references(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, out)),
        _ => {}
    }
}

fn sub_references(text: &str, locals: &[&str]) -> Vec<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name.split('.').next().unwrap_or(name))
        .filter(|name| {
            !name.starts_with("AWS::") && !name.starts_with('!') && !locals.contains(name)
        })
        .map(str::to_string)
        .collect()
}

/// A Deployment that does not wait for every method may snapshot a half-built API.
fn deployment_problems(resources: &Map<String, Value>) -> Vec<String> {
    let of_type = |kind: &str| -> Vec<&str> {
        resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .map(|(id, _)| id.as_str())
            .collect()
    };
    let deployments = of_type("AWS::ApiGateway::Deployment");
    let snapshotted: Vec<&str> = [
        of_type("AWS::ApiGateway::Method"),
        of_type("AWS::ApiGateway::GatewayResponse"),
    ]
    .concat();
    if snapshotted.is_empty() {
        return Vec::new();
    }
    let [deployment] = deployments.as_slice() else {
        return vec![format!(
            "expected one Deployment, found {}",
            deployments.len()
        )];
    };
    let waits_for: BTreeSet<&str> = resources[*deployment]
        .as_object()
        .map(depends_on)
        .unwrap_or_default()
        .into_iter()
        .collect();
    snapshotted
        .into_iter()
        .filter(|id| !waits_for.contains(id))
        .map(|id| format!("{deployment} does not depend on {id}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_dangling_references_and_unknown_types() {
        let template = json!({
            "Resources": {
                "A": {"Type": "AWS::SQS::Queue", "Properties": {"X": {"Ref": "Missing"}}},
                "B": {"Type": "AWS::EC2::Instance", "DependsOn": "Gone"},
                "C": {"Type": "AWS::SQS::Queue", "Properties": {"Y": {"Fn::Sub": ["${A.Arn}/${Local}/${AWS::Region}/${Nope}", {"Local": "x"}]}}}
            }
        });
        let found = problems(&template);
        assert_eq!(
            found,
            [
                "B has unexpected type Some(\"AWS::EC2::Instance\")",
                "B depends on missing Gone",
                "reference to missing Missing",
                "reference to missing Nope"
            ]
        );
    }

    #[test]
    fn a_deployment_must_wait_for_every_method() {
        let template = json!({
            "Resources": {
                "M1": {"Type": "AWS::ApiGateway::Method"},
                "M2": {"Type": "AWS::ApiGateway::Method"},
                "D": {"Type": "AWS::ApiGateway::Deployment", "DependsOn": ["M1"]}
            }
        });
        assert_eq!(problems(&template), ["D does not depend on M2"]);
    }
}
