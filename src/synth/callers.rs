//! Who may call a bot's API when callers sign with IAM (`auth: iam` or `both`): the REST API's resource
//! policy. It lets the listed principals and accounts invoke every route, and denies every other caller,
//! so that a principal of the bot's own account whose IAM policy happens to allow `execute-api:Invoke`
//! is still refused. The CORS preflights, the health check and the API's description stay open, as with
//! API keys.

use serde_json::{Value, json};

use crate::spec::model::Auth;

/// The routes anyone may call: browsers send preflights unsigned, load balancers check health, and
/// clients read the description before they can sign.
const OPEN_ROUTES: [&str; 3] = [
    "execute-api:/*/OPTIONS/*",
    "execute-api:/*/GET/health",
    "execute-api:/*/GET/openapi.json",
];

/// The resource policy of a signed bot; `None` for a bot of API keys, which has none.
pub fn resource_policy(auth: &Auth) -> Option<Value> {
    if !auth.signed() {
        return None;
    }
    let (roots, arns): (Vec<&String>, Vec<&String>) = auth
        .allowed_principals
        .iter()
        .partition(|arn| arn.ends_with(":root"));
    // An account root stands for every principal of the account, as a listed account does.
    let mut accounts: Vec<&str> = auth.allowed_accounts.iter().map(String::as_str).collect();
    accounts.extend(roots.iter().filter_map(|arn| arn.split(':').nth(4)));
    accounts.sort_unstable();
    accounts.dedup();
    let mut allowed: Vec<&str> = auth.allowed_principals.iter().map(String::as_str).collect();
    allowed.extend(auth.allowed_accounts.iter().map(String::as_str));
    let mut not_listed = serde_json::Map::new();
    if !arns.is_empty() {
        not_listed.insert("aws:PrincipalArn".into(), json!(arns));
    }
    if !accounts.is_empty() {
        not_listed.insert("aws:PrincipalAccount".into(), json!(accounts));
    }
    Some(json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowedCallers",
                "Effect": "Allow",
                "Principal": {"AWS": allowed},
                "Action": "execute-api:Invoke",
                "Resource": "execute-api:/*"
            },
            {
                "Sid": "NoOtherCallers",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "execute-api:Invoke",
                "NotResource": OPEN_ROUTES,
                "Condition": {"StringNotEquals": not_listed}
            },
            {
                "Sid": "OpenRoutes",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "execute-api:Invoke",
                "Resource": OPEN_ROUTES
            }
        ]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::AuthKind;

    fn auth(kind: AuthKind, principals: &[&str], accounts: &[&str]) -> Auth {
        Auth {
            kind,
            allowed_principals: principals.iter().map(|s| s.to_string()).collect(),
            allowed_accounts: accounts.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_bot_of_api_keys_has_no_resource_policy() {
        assert_eq!(resource_policy(&Auth::default()), None);
    }

    #[test]
    fn only_the_listed_callers_are_let_through_and_a_root_counts_as_its_account() {
        let role = "arn:aws:iam::111111111111:role/caller";
        let root = "arn:aws:iam::222222222222:root";
        let policy =
            resource_policy(&auth(AuthKind::Iam, &[role, root], &["333333333333"])).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(
            statements[0]["Principal"]["AWS"],
            json!([role, root, "333333333333"])
        );
        assert_eq!(
            statements[1]["Condition"]["StringNotEquals"],
            json!({"aws:PrincipalArn": [role], "aws:PrincipalAccount": ["222222222222", "333333333333"]})
        );
        assert_eq!(statements[1]["Effect"], "Deny");
        assert_eq!(statements[2]["Resource"], json!(OPEN_ROUTES));
    }
}
