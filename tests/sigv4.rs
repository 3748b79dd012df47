//! Callers that sign with IAM (`auth: iam` and `both`), on LocalStack: the deployed methods use IAM
//! authorization and the API's resource policy names exactly the allowed callers; `botpub ask --sigv4`
//! signs every request so that a verifier recomputing the signature with the AWS SDK for Python accepts
//! it, and a wrong secret is refused. LocalStack enforces neither IAM authorization nor resource policies
//! on API Gateway (tests/support/localstack-notes.md), so tests/support/sigv4_verifier.py stands in front
//! of it and refuses what API Gateway would.

use crate::common;

use std::time::Duration;

use common::{LoopbackServer, World, finish};
use serde_json::{Value, json};

const PRINCIPAL: &str = "arn:aws:iam::000000000000:role/order-service";
const ACCOUNT: &str = "210987654321";

fn publish() -> World {
    let world = World::new();
    let bot = |id: &str, kind: &str| {
        format!(
            "  - id: {id}\n    allowed_origins: [\"https://ops.example.com\"]\n    queue: {{ visibility_timeout_seconds: 30 }}\n    auth:\n      type: {kind}\n      allowed_principals: [\"{PRINCIPAL}\"]\n      allowed_accounts: [\"{ACCOUNT}\"]\n"
        )
    };
    let spec = world.spec(
        "signed.yaml",
        &[bot("signed", "iam"), bot("keyed", "both")].concat(),
    );
    world.publish(&spec).expect(0);
    world
}

/// `botpub ask BOT MESSAGE --sigv4 ...` through the verifier, with these AWS credentials.
fn ask(world: &World, verifier: &str, secret: &str, args: &[&str]) -> common::Run {
    let mut command = world.command(&world.endpoint);
    command
        .args(["ask", "--prefix", &world.prefix, "--timeout", "60s"])
        .args(args)
        .env("HTTP_PROXY", verifier)
        .env("AWS_SECRET_ACCESS_KEY", secret);
    common::Run {
        output: command.output().unwrap(),
    }
}

fn verdicts(verifier: &str) -> Value {
    common::http("GET", &format!("{verifier}/verdicts"), &[], None).json()
}

#[test]
fn signed_bots_have_iam_methods_a_resource_policy_of_their_callers_and_ask_signs_for_them() {
    let world = publish();
    let sdk = world.sdk();

    // As deployed: every client route signed (with a key as well for `both`), preflights, health and the
    // description open, and a resource policy that lets in the listed callers and denies every other.
    for (bot, key_required) in [("signed", false), ("keyed", true)] {
        let api = sdk.output(&world.stack(bot), "ApiId");
        let resources = sdk
            .block_on(
                sdk.apigateway
                    .get_resources()
                    .rest_api_id(&api)
                    .limit(500)
                    .send(),
            )
            .unwrap();
        let mut routes = Vec::new();
        for resource in resources.items() {
            for verb in resource
                .resource_methods()
                .into_iter()
                .flatten()
                .map(|(verb, _)| verb)
            {
                let method = sdk
                    .block_on(
                        sdk.apigateway
                            .get_method()
                            .rest_api_id(&api)
                            .resource_id(resource.id().unwrap())
                            .http_method(verb)
                            .send(),
                    )
                    .unwrap();
                routes.push((
                    format!("{verb} {}", resource.path().unwrap()),
                    method.authorization_type().unwrap_or_default().to_string(),
                    method.api_key_required().unwrap_or_default(),
                ));
            }
        }
        routes.sort();
        for (route, authorization, key) in &routes {
            let open = route.starts_with("OPTIONS ")
                || route == "GET /health"
                || route == "GET /openapi.json";
            let expected = match open {
                true => ("NONE", false),
                false => ("AWS_IAM", key_required),
            };
            assert_eq!((authorization.as_str(), *key), expected, "{bot}: {route}");
        }
        assert!(
            routes.iter().any(|(r, _, _)| r == "POST /predict"),
            "{routes:?}"
        );
        let described = sdk
            .block_on(sdk.apigateway.get_rest_api().rest_api_id(&api).send())
            .unwrap();
        let policy: Value = serde_json::from_str(
            &described
                .policy()
                .expect("a resource policy")
                .replace("\\\"", "\""),
        )
        .unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(
            statements[0]["Principal"]["AWS"],
            json!([PRINCIPAL, ACCOUNT]),
            "{policy}"
        );
        assert_eq!(statements[1]["Effect"], "Deny", "{policy}");
        assert_eq!(
            statements[1]["Condition"]["StringNotEquals"],
            json!({"aws:PrincipalArn": [PRINCIPAL], "aws:PrincipalAccount": [ACCOUNT]}),
            "{policy}"
        );
    }

    // `ask --sigv4`: every request signed, each signature accepted by the verifier.
    let venv = common::localstack_venv();
    let verifier = LoopbackServer::start_in(
        &format!("{venv}/bin/python"),
        "tests/support/sigv4_verifier.py",
        &[
            "--access-key",
            "test",
            "--secret-key",
            "test",
            "--require-signature",
        ],
    );
    let worker = world.worker(
        "signed",
        &["--max-requests", "1"],
        &["python3", "examples/bots/answer.py"],
    );
    let answered = ask(
        &world,
        &verifier.url,
        "test",
        &[
            "signed",
            "What is the capital of Italy?",
            "--sigv4",
            "--output",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(answered["status"], "completed", "{answered}");
    assert!(
        answered["response"].as_str().unwrap().contains("Rome"),
        "{answered}"
    );
    let seen = verdicts(&verifier.url);
    let verified: Vec<&str> = seen["verified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        verified
            .iter()
            .any(|v| v.starts_with("POST ") && v.ends_with("/predict"))
            && verified
                .iter()
                .any(|v| v.starts_with("GET ") && v.contains("/result/")),
        "the POST and the polls are signed: {seen}"
    );
    assert_eq!(seen["refused"], json!([]), "{seen}");
    let (code, _, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");

    // A wrong secret makes a signature the verifier refuses, as API Gateway does; so does no signature.
    let refused = ask(
        &world,
        &verifier.url,
        "not-the-secret",
        &["signed", "Anyone there?", "--sigv4"],
    );
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("403") && refused.stderr().contains("signature"),
        "{}",
        refused.stderr()
    );
    let key = sdk.key_value(&sdk.output(&world.stack("signed"), "DefaultApiKeyId"));
    let mut unsigned = world.command(&world.endpoint);
    unsigned
        .args(["ask", "signed", "Anyone there?", "--prefix", &world.prefix])
        .env("HTTP_PROXY", &verifier.url)
        .env("BOTPUB_API_KEY", &key);
    let unsigned = common::Run {
        output: unsigned.output().unwrap(),
    };
    assert_eq!(unsigned.code(), 1, "{}", unsigned.stderr());
    assert!(
        unsigned.stderr().contains("403") && unsigned.stderr().contains("add --sigv4"),
        "the refusal, and what to do: {}",
        unsigned.stderr()
    );

    // `both`: signed and keyed; the answer belongs to the key.
    let key_id = sdk.output(&world.stack("keyed"), "DefaultApiKeyId");
    let key = sdk.key_value(&key_id);
    let worker = world.worker(
        "keyed",
        &["--max-requests", "1"],
        &["python3", "examples/bots/answer.py"],
    );
    let mut both = world.command(&world.endpoint);
    both.args([
        "ask",
        "keyed",
        "What is the capital of Spain?",
        "--sigv4",
        "--prefix",
        &world.prefix,
        "--output",
        "json",
    ])
    .env("HTTP_PROXY", &verifier.url)
    .env("BOTPUB_API_KEY", &key);
    let both = common::Run {
        output: both.output().unwrap(),
    }
    .expect(0)
    .json();
    assert!(
        both["response"].as_str().unwrap().contains("Madrid"),
        "{both}"
    );
    assert_eq!(both["owner"], key_id.as_str(), "{both}");
    let (code, _, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        verdicts(&verifier.url)["refused"].as_array().unwrap().len(),
        2
    );
}
