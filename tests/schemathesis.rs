//! Schemathesis (pinned in tests/support/schemathesis-requirements.txt) against each example bot published
//! on LocalStack, with a key and a worker answering: every operation of the description the API itself
//! serves at `GET /openapi.json`, valid and malformed requests alike, checked for status codes, content
//! types, headers and response bodies, must pass without a failure. One publish per example; each run is
//! bounded (10 examples an operation, a fixed seed).
//!
//! Covered: quickstart.yaml, conversation.yaml, full.yaml (its three bots) and iam.yaml (LocalStack checks
//! no signature, so its requests are answered as signed ones would be, and none is made to test a missing
//! or broken one). Not here: lambda.yaml,
//! whose function does not exist on this LocalStack, and domains.yaml, whose bots are predict bots like
//! quickstart's behind a custom domain that LocalStack does not route to (tests/domains.rs publishes
//! domains; tests/openapi.rs checks the custom domain comes first among the served servers).
//!
//! Two departures of LocalStack are allowed for, each as narrowly as it occurs, in
//! tests/support/schemathesis_hooks.py (and stated in tests/support/localstack-notes.md): it ignores
//! gateway-response templates, so API Gateway's own answers (400, 403, 415, 429) come without the
//! `request_id` botpub's template adds on AWS, and for those answers alone that field is not required;
//! and it answers a request body that is not UTF-8 with a 500 of its own, where API Gateway's validator
//! answers 400, and that answer alone passes the server-error and content-type checks.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::World;
use serde_json::Value;

fn schemathesis() -> String {
    let venv = common::venv(
        "schemathesis",
        "tests/support/schemathesis-requirements.txt",
    );
    format!("{venv}/bin/schemathesis")
}

/// Publishes the example `spec` and, for each of `bot_ids`, starts a worker running `bot` and runs
/// Schemathesis (with `more` arguments) against the description the API serves.
fn fuzz(world: &World, spec: &str, bot_ids: &[&str], bot: &[&str], more: &[&str]) {
    let spec = world.example(spec);
    world.publish(&spec).expect(0);
    let sdk = world.sdk();
    for bot_id in bot_ids {
        let status = world
            .botpub_bot("status", bot_id, &["--output", "json"])
            .expect(0)
            .json();
        let url = world.api_url(&status);
        // A bot of signed callers has no key (and LocalStack checks no signature).
        let key = status["api_key_ids"][0]
            .as_str()
            .map(|id| sdk.key_value(id));
        let described_at = status["openapi_url"]
            .as_str()
            .expect("status names the description");
        assert!(described_at.ends_with("/openapi.json"), "{described_at}");
        served_as_described(&spec, bot_id, &url, status["stage"].as_str().unwrap());

        let worker = world.worker(bot_id, &[], bot);
        let mut command = Command::new(schemathesis());
        command
            // Schemathesis keeps its run caches in the working directory: the world's scratch one.
            .current_dir(world.dir.path())
            .env("PYTHONPATH", common::root().join("tests/support"))
            .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
            .args(["run", &format!("{url}/openapi.json"), "--url", &url])
            // Schemathesis leaves out the operation that served the schema unless a filter names it.
            .args(["--include-path-regex", "^/"])
            .args([
                "--checks",
                "not_a_server_error_on_localstack,status_code_conformance,content_type_conformance_on_localstack,response_headers_conformance,response_schema_conformance_on_localstack,negative_data_rejection",
                "--mode",
                "all",
                "--max-examples",
                "10",
                "--seed",
                "1",
                "--no-color",
            ]);
        if let Some(key) = &key {
            command.args(["--header", &format!("x-api-key: {key}")]);
        }
        command.args(more);
        let out = command.output().unwrap();
        common::unsafe_kill(worker.id(), "TERM");
        let (code, _, log) = common::finish(worker, Duration::from_secs(30));
        let mut report = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Some(key) = &key {
            report = report.replace(key.as_str(), "[the key]");
        }
        assert!(
            out.status.success(),
            "{bot_id}: {report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let selected = report
            .lines()
            .find_map(|line| line.trim().strip_prefix("Operations:"))
            .map(|counts| counts.split_whitespace().collect::<Vec<_>>());
        let tested = report
            .lines()
            .find_map(|line| line.trim().strip_prefix("Tested: "));
        assert!(
            matches!(selected.as_deref(), Some([n, "selected", "/", total, "total"]) if n == total && Some(*n) == tested),
            "{bot_id}: every operation is tested: {report}"
        );
        assert_eq!(code, 0, "{log}");
    }
    for bot_id in bot_ids {
        world.botpub_bot("unpublish", bot_id, &["--yes"]).expect(0);
    }
}

/// The copy the API at `url` serves is the description `botpub openapi` gives, with the API's own URL
/// as its last server.
fn served_as_described(spec: &std::path::Path, bot_id: &str, url: &str, stage: &str) {
    let served = common::http("GET", &format!("{url}/openapi.json"), &[], None);
    assert_eq!(served.status, 200, "{}", served.body);
    assert_eq!(served.header("content-type"), Some("application/json"));
    let mut served: Value = serde_json::from_str(&served.body).expect("the served body is JSON");
    let out = Command::new(env!("CARGO_BIN_EXE_botpub"))
        .args(["openapi", spec.to_str().unwrap(), "--bot", bot_id])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut described: Value = serde_json::from_slice(&out.stdout).unwrap();
    let servers = served.as_object_mut().unwrap().remove("servers").unwrap();
    described.as_object_mut().unwrap().remove("servers");
    assert_eq!(
        served, described,
        "{bot_id}: the served description is botpub openapi's"
    );
    let api_id = url
        .split("/_aws/execute-api/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap();
    let server = servers.as_array().unwrap().last().unwrap()["url"]
        .as_str()
        .unwrap();
    assert!(
        server.starts_with(&format!("https://{api_id}.execute-api.us-east-1."))
            && server.ends_with(&format!("/{stage}")),
        "{server}"
    );
}

#[test]
fn the_predict_contract_answers_as_its_served_description_says() {
    fuzz(
        &World::new(),
        "quickstart.yaml",
        &["hello-bot"],
        &["python3", "examples/bots/answer.py"],
        &[],
    );
}

#[test]
fn the_conversation_contract_answers_as_its_served_description_says() {
    fuzz(
        &World::with_toolkit(),
        "conversation.yaml",
        &["chat-bot"],
        &["python3", "examples/bots/history.py"],
        &[],
    );
}

#[test]
fn the_full_example_s_bots_answer_as_their_served_descriptions_say() {
    // A quota, a token budget, several origins, alarms by email, `*` as origin, no monitoring; the
    // support bot's template is over the inline limit.
    fuzz(
        &World::with_toolkit(),
        "full.yaml",
        &["support-bot", "sales-bot", "internal-bot"],
        &["python3", "examples/bots/answer.py"],
        &[],
    );
}

#[test]
fn the_signed_bot_answers_as_its_served_description_says() {
    fuzz(
        &World::new(),
        "iam.yaml",
        &["orders-bot"],
        &["python3", "examples/bots/answer.py"],
        // LocalStack enforces no IAM authorization (tests/support/localstack-notes.md): it answers a
        // request without a signature, or with a wrong one, where API Gateway answers 403. So no request
        // is made with or without an `Authorization` header of Schemathesis' making; tests/sigv4.rs
        // checks signatures through its verifier.
        &["--generation-with-security-parameters", "false"],
    );
}
