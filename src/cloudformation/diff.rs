//! botpub's own comparison of the deployed template with the new one.
//!
//! It decides "no changes" without a change set when nothing differs (fewer calls, and engines such as
//! LocalStack report every resource as modified), and it fills in what a change set leaves out: the
//! changed properties and, from CloudFormation's create-only properties, whether a change replaces.

use std::collections::BTreeMap;

use serde_json::Value;

/// What changed in one resource between two templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceDiff {
    Added,
    Removed,
    Modified {
        properties: Vec<String>,
        replaces: bool,
    },
}

/// Properties whose change replaces the resource: the `createOnlyProperties` of the CloudFormation
/// resource schemas, for the resource types botpub's templates use.
const CREATE_ONLY: [(&str, &[&str]); 28] = [
    (
        "AWS::ApiGateway::ApiKey",
        &["GenerateDistinctId", "Name", "Value"],
    ),
    (
        "AWS::ApiGateway::BasePathMapping",
        &["BasePath", "DomainName"],
    ),
    (
        "AWS::ApiGateway::Deployment",
        &["DeploymentCanarySettings", "RestApiId"],
    ),
    (
        "AWS::ApiGateway::GatewayResponse",
        &["ResponseType", "RestApiId"],
    ),
    (
        "AWS::ApiGateway::Method",
        &["RestApiId", "ResourceId", "HttpMethod"],
    ),
    (
        "AWS::ApiGateway::Model",
        &["ContentType", "Name", "RestApiId"],
    ),
    ("AWS::ApiGateway::RequestValidator", &["Name", "RestApiId"]),
    (
        "AWS::ApiGateway::Resource",
        &["PathPart", "ParentId", "RestApiId"],
    ),
    ("AWS::ApiGateway::DomainName", &["DomainName"]),
    ("AWS::ApiGateway::RestApi", &[]),
    ("AWS::ApiGateway::Stage", &["RestApiId", "StageName"]),
    ("AWS::ApiGateway::UsagePlan", &[]),
    (
        "AWS::ApiGateway::UsagePlanKey",
        &["KeyId", "UsagePlanId", "KeyType"],
    ),
    ("AWS::CloudWatch::Alarm", &["AlarmName"]),
    ("AWS::CloudWatch::Dashboard", &["DashboardName"]),
    ("AWS::IAM::Role", &["Path", "RoleName"]),
    ("AWS::KMS::Key", &[]),
    (
        "AWS::Lambda::EventSourceMapping",
        &[
            "EventSourceArn",
            "StartingPosition",
            "StartingPositionTimestamp",
        ],
    ),
    (
        "AWS::Lambda::Permission",
        &[
            "FunctionName",
            "SourceAccount",
            "SourceArn",
            "Principal",
            "PrincipalOrgID",
            "Action",
            "EventSourceToken",
        ],
    ),
    ("AWS::Logs::LogGroup", &["LogGroupName"]),
    (
        "AWS::Route53::RecordSet",
        &["HostedZoneId", "HostedZoneName", "Name"],
    ),
    ("AWS::S3::Bucket", &["BucketName"]),
    ("AWS::S3::BucketPolicy", &["Bucket"]),
    ("AWS::SNS::Topic", &["FifoTopic", "TopicName"]),
    ("AWS::SQS::Queue", &["FifoQueue", "QueueName"]),
    ("AWS::WAFv2::IPSet", &["Name", "Scope"]),
    ("AWS::WAFv2::WebACL", &["Name", "Scope"]),
    (
        "AWS::WAFv2::WebACLAssociation",
        &["ResourceArn", "WebACLArn"],
    ),
];

/// Compares the resources of two templates; unchanged resources are absent from the result.
pub fn resources(old: &Value, new: &Value) -> BTreeMap<String, ResourceDiff> {
    let empty = serde_json::Map::new();
    let old = old
        .get("Resources")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let new = new
        .get("Resources")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut diffs = BTreeMap::new();
    for (id, before) in old {
        match new.get(id) {
            None => {
                diffs.insert(id.clone(), ResourceDiff::Removed);
            }
            Some(after) if after != before => {
                diffs.insert(id.clone(), modified(before, after));
            }
            Some(_) => {}
        }
    }
    for id in new.keys().filter(|id| !old.contains_key(*id)) {
        diffs.insert(id.clone(), ResourceDiff::Added);
    }
    diffs
}

fn modified(before: &Value, after: &Value) -> ResourceDiff {
    let empty = serde_json::Map::new();
    let props = |r: &Value| {
        r.get("Properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let (old, new) = (props(before), props(after));
    let mut properties: Vec<String> = old
        .keys()
        .chain(new.keys().filter(|k| !old.contains_key(*k)))
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect();
    properties.sort();
    let kind = after
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let type_changed = before.get("Type") != after.get("Type");
    let create_only = CREATE_ONLY
        .iter()
        .find(|(t, _)| *t == kind)
        .map(|(_, p)| *p)
        .unwrap_or(&[]);
    let replaces = type_changed || properties.iter().any(|p| create_only.contains(&p.as_str()));
    ResourceDiff::Modified {
        properties,
        replaces,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_renamed_stage_replaces_and_a_new_throttle_does_not() {
        let old = json!({"Resources": {
            "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"StageName": "prod", "Description": "x"}},
            "UsagePlan": {"Type": "AWS::ApiGateway::UsagePlan", "Properties": {"Throttle": {"RateLimit": 5}}},
            "Gone": {"Type": "AWS::SQS::Queue"},
            "Same": {"Type": "AWS::SQS::Queue", "Properties": {"A": 1}}
        }});
        let new = json!({"Resources": {
            "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"StageName": "v2", "Description": "x"}},
            "UsagePlan": {"Type": "AWS::ApiGateway::UsagePlan", "Properties": {"Throttle": {"RateLimit": 9}}},
            "New": {"Type": "AWS::SQS::Queue"},
            "Same": {"Type": "AWS::SQS::Queue", "Properties": {"A": 1}}
        }});
        let diffs = resources(&old, &new);
        assert_eq!(
            diffs["Stage"],
            ResourceDiff::Modified {
                properties: vec!["StageName".into()],
                replaces: true
            }
        );
        assert_eq!(
            diffs["UsagePlan"],
            ResourceDiff::Modified {
                properties: vec!["Throttle".into()],
                replaces: false
            }
        );
        assert_eq!(diffs["Gone"], ResourceDiff::Removed);
        assert_eq!(diffs["New"], ResourceDiff::Added);
        assert!(!diffs.contains_key("Same"));
    }
}
