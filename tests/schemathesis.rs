//! Schemathesis (pinned in tests/support/schemathesis-requirements.txt) against each example bot published
//! on LocalStack, with a key and a worker answering: every operation of the description the API itself
//! serves at `GET /openapi.json`, valid and malformed requests alike, checked for status codes, content
//! types, headers and response bodies, must pass without a failure.
//!
//! Two departures of LocalStack are allowed for, each as narrowly as it occurs, in
//! tests/support/schemathesis_hooks.py (and stated in tests/support/localstack-notes.md): it ignores
//! gateway-response templates, so API Gateway's own answers (400, 403, 415, 429) come without the
//! `request_id` botpub's template adds on AWS, and for those answers alone that field is not required;
//! and it answers a request body that is not UTF-8 with a 500 of its own, where API Gateway's validator
//! answers 400, and that answer alone passes the server-error and content-type checks.

mod common;

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

/// Publishes the example `spec` (bot `bot_id`), starts a worker running `bot`, and runs Schemathesis
/// against the description the API serves.
fn fuzz(world: &World, spec: &str, bot_id: &str, bot: &[&str]) {
    let spec = world.example(spec);
    world.publish(&spec).expect(0);
    let status = world
        .botpub_bot("status", bot_id, &["--output", "json"])
        .expect(0)
        .json();
    let (url, key) = world.apis(&[bot_id]).remove(bot_id).unwrap();
    let described_at = status["openapi_url"]
        .as_str()
        .expect("status names the description");
    assert!(described_at.ends_with("/openapi.json"), "{described_at}");

    // The served copy is the description `botpub openapi` gives, with the API's own URL as its server.
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
        "the served description is botpub openapi's"
    );
    let api_id = url
        .split("/_aws/execute-api/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let server = servers.as_array().unwrap().last().unwrap()["url"]
        .as_str()
        .unwrap();
    let stage = status["stage"].as_str().unwrap();
    assert!(
        server.starts_with(&format!("https://{api_id}.execute-api.us-east-1."))
            && server.ends_with(&format!("/{stage}")),
        "{server}"
    );

    let worker = world.worker(bot_id, &[], bot);
    let out = Command::new(schemathesis())
        // Schemathesis keeps its run caches in the working directory: the world's scratch one.
        .current_dir(world.dir.path())
        .env("PYTHONPATH", common::root().join("tests/support"))
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .args([
            "run",
            &format!("{url}/openapi.json"),
            "--url",
            &url,
            "--header",
            &format!("x-api-key: {key}"),
            "--checks",
            "not_a_server_error_on_localstack,status_code_conformance,content_type_conformance_on_localstack,response_headers_conformance,response_schema_conformance_on_localstack,negative_data_rejection",
            "--mode",
            "all",
            "--max-examples",
            "10",
            "--seed",
            "1",
            "--no-color",
        ])
        .output()
        .unwrap();
    common::unsafe_kill(worker.id(), "TERM");
    let (code, _, log) = common::finish(worker, Duration::from_secs(30));
    let report = String::from_utf8_lossy(&out.stdout).replace(&key, "[the key]");
    assert!(
        out.status.success(),
        "{report}{}",
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
        "every operation is tested: {report}"
    );
    assert_eq!(code, 0, "{log}");
    world.botpub_bot("unpublish", bot_id, &["--yes"]).expect(0);
}

#[test]
fn the_predict_contract_answers_as_its_served_description_says() {
    fuzz(
        &World::new(),
        "quickstart.yaml",
        "hello-bot",
        &["python3", "examples/bots/answer.py"],
    );
}

#[test]
fn the_conversation_contract_answers_as_its_served_description_says() {
    fuzz(
        &World::with_toolkit(),
        "conversation.yaml",
        "chat-bot",
        &["python3", "examples/bots/history.py"],
    );
}
