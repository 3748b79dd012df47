//! Publishing for real, end to end against LocalStack: what a user sees from `publish`, `plan`, `apply`,
//! `status`, `list` and `unpublish`, and what the published API does for its clients.
//!
//! LocalStack emulates much but not all of AWS (tests/support/localstack-notes.md): API behaviour is checked
//! on freshly created stacks, and update flows through plans, stack status and the usage plan.

use crate::common;

use common::{World, http};
use serde_json::{Value, json};

const ORIGIN: &str = "https://app.example.com";

fn bot(id: &str, extra: &str) -> String {
    format!("  - id: {id}\n    allowed_origins: [\"{ORIGIN}\"]\n{extra}")
}

#[test]
fn publishing_the_full_example_creates_every_stack_and_status_reports_it() {
    let world = World::with_toolkit();
    let spec = world.example("full.yaml");
    let published = world
        .botpub(&[
            "publish",
            spec.to_str().unwrap(),
            "--yes",
            "--output",
            "json",
            "--progress",
            "events",
        ])
        .expect(0);
    let doc = published.json();
    let stacks = doc["stacks"].as_array().unwrap();
    let names: Vec<&str> = stacks
        .iter()
        .map(|s| s["stack_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[0],
        world.stack("firewall"),
        "the shared firewall goes first"
    );
    assert_eq!(stacks.len(), 4);
    assert!(stacks.iter().all(|s| s["result"] == "created"), "{doc:#}");
    // Progress went to stderr, one line per resource event; stdout is the one JSON document.
    assert!(
        published
            .stderr()
            .contains("(AWS::ApiGateway::UsagePlan) CREATE_COMPLETE"),
        "{}",
        published.stderr()
    );

    let support = stacks
        .iter()
        .find(|s| s["bot_id"] == "support-bot")
        .unwrap();
    let default_key = support["default_key_id"].as_str().unwrap();
    let status = world
        .botpub_bot("status", "support-bot", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(status["bot_id"], "support-bot");
    assert_eq!(status["published"], true);
    assert_eq!(status["stack_name"], world.stack("support-bot"));
    assert_eq!(status["cfn_status"], "CREATE_COMPLETE");
    assert_eq!(status["stage"], "prod");
    assert_eq!(
        status["throttle"],
        json!({"rate_limit": 50.0, "burst_limit": 100})
    );
    assert_eq!(
        status["quota"],
        json!({"limit": 10000, "offset": 0, "period": "MONTH"})
    );
    assert_eq!(
        status["allowed_origins"],
        json!(["https://app.example.com", "https://dashboard.example.com"])
    );
    assert_eq!(status["api_key_ids"], json!([default_key]));
    assert!(
        status["endpoint"].as_str().unwrap().ends_with("/prod"),
        "{status:#}"
    );
    assert!(
        status["queue_url"].as_str().unwrap().contains("Queue"),
        "{status:#}"
    );
    assert_eq!(status["codebuild_id"], Value::Null);
    assert_eq!(status["codebuild_status"], Value::Null);
    assert!(status["last_updated"].as_str().unwrap().starts_with("20"));

    let sales = world
        .botpub_bot("status", "sales-bot", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(
        sales["throttle"],
        json!({"rate_limit": 10.5, "burst_limit": 20})
    );
    assert_eq!(
        sales["quota"],
        json!({"limit": 500, "offset": 0, "period": "DAY"})
    );

    let listed = world.botpub(&["list", "--output", "json"]).expect(0).json();
    let mine: Vec<&str> = listed["bots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["stack_name"].as_str().unwrap().starts_with(&world.prefix))
        .map(|b| b["bot_id"].as_str().unwrap())
        .collect();
    assert_eq!(mine, ["internal-bot", "sales-bot", "support-bot"]);

    let text = world
        .botpub_bot("status", "support-bot", &[])
        .expect(0)
        .stdout();
    assert!(
        text.contains("support-bot: published (CREATE_COMPLETE"),
        "{text}"
    );
    assert!(
        text.contains("throttle:        50 requests/s, burst 100"),
        "{text}"
    );
}

#[test]
fn the_published_api_follows_the_async_contract() {
    let world = World::with_toolkit();
    let second = "https://admin.example.com";
    let spec = world.spec(
        "api.yaml",
        &format!(
            "{}  - id: two-origins\n    allowed_origins: [\"{ORIGIN}\", \"{second}\"]\n",
            bot("one-origin", "")
        ),
    );
    world.publish(&spec).expect(0);
    let status = world
        .botpub_bot("status", "one-origin", &["--output", "json"])
        .expect(0)
        .json();
    let api = world.api_url(&status);
    let sdk = world.sdk();
    let key = sdk.key_value(status["api_key_ids"][0].as_str().unwrap());
    let from_app = ("Origin", ORIGIN);

    // Without a key: refused. (LocalStack does not apply gateway-response headers; the CORS header that
    // AWS adds to this 403 is checked in the deployed gateway response below.)
    let refused = http(
        "POST",
        &format!("{api}/predict"),
        &[from_app],
        Some(r#"{"message": "hi"}"#),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let api_id = api.rsplit('/').nth(1).unwrap();
    let gateway = sdk
        .block_on(
            sdk.apigateway
                .get_gateway_response()
                .rest_api_id(api_id)
                .response_type("INVALID_API_KEY".into())
                .send(),
        )
        .unwrap();
    assert_eq!(
        gateway
            .response_parameters()
            .unwrap()
            .get("gatewayresponse.header.Access-Control-Allow-Origin")
            .map(String::as_str),
        Some("'https://app.example.com'")
    );

    // With the default key: accepted for later, with a request id, and readable by the browser.
    let message = r#"{"message": "What is the capital of France?", "temperature": 0.7}"#;
    let accepted = http(
        "POST",
        &format!("{api}/predict"),
        &[("x-api-key", &key), from_app],
        Some(message),
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    assert_eq!(accepted.header("access-control-allow-origin"), Some(ORIGIN));
    let body = accepted.json();
    let request_id = body["request_id"].as_str().unwrap().to_string();
    assert_eq!(body["status"], "processing");
    assert_eq!(body["message"], "Request accepted");

    // The message waits in the queue, body untouched, with the request id as an attribute.
    let queue_url = sdk.output(&world.stack("one-origin"), "QueueUrl");
    let received = sdk
        .block_on(
            sdk.sqs
                .receive_message()
                .queue_url(&queue_url)
                .message_attribute_names("All")
                .wait_time_seconds(2)
                .send(),
        )
        .unwrap();
    let queued = &received.messages()[0];
    assert_eq!(queued.body(), Some(message));
    assert_eq!(
        queued.message_attributes().unwrap()["request_id"].string_value(),
        Some(request_id.as_str())
    );

    // Polling: processing until a worker writes the result document, then the document itself.
    let result_url = format!("{api}/result/{request_id}");
    let pending = http("GET", &result_url, &[("x-api-key", &key)], None);
    assert_eq!(pending.status, 202, "{}", pending.body);
    assert_eq!(
        pending.json(),
        json!({"request_id": request_id, "status": "processing"})
    );
    let document = json!({"request_id": request_id, "status": "completed", "response": "Paris", "usage": {"input_tokens": 9}});
    let bucket = sdk.output(&world.stack("one-origin"), "ResultsBucket");
    sdk.block_on(
        sdk.s3
            .put_object()
            .bucket(&bucket)
            .key(format!("results/{request_id}.json"))
            .content_type("application/json")
            .body(document.to_string().into_bytes().into())
            .send(),
    )
    .unwrap();
    let done = http("GET", &result_url, &[("x-api-key", &key), from_app], None);
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.json(), document);
    assert_eq!(done.header("access-control-allow-origin"), Some(ORIGIN));
    let no_key = http("GET", &result_url, &[], None);
    assert_eq!(no_key.status, 403);

    // Health needs no key; a body without a message is rejected by the validator.
    let health = http("GET", &format!("{api}/health"), &[], None);
    assert_eq!(health.status, 200);
    assert_eq!(
        health.json(),
        json!({"status": "healthy", "bot_id": "one-origin"})
    );
    let invalid = http(
        "POST",
        &format!("{api}/predict"),
        &[("x-api-key", &key)],
        Some(r#"{"text": "no message"}"#),
    );
    assert_eq!(invalid.status, 400, "{}", invalid.body);

    // CORS preflight from the allowed origin, without a key.
    let preflight = http(
        "OPTIONS",
        &format!("{api}/predict"),
        &[
            from_app,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "x-api-key,content-type"),
        ],
        None,
    );
    assert!(
        preflight.status == 200 || preflight.status == 204,
        "{}",
        preflight.status
    );
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(ORIGIN)
    );
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        preflight
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase()
            .contains("x-api-key")
    );

    // With several origins: each listed origin is echoed, any other gets no CORS header at all.
    let two = world
        .botpub_bot("status", "two-origins", &["--output", "json"])
        .expect(0)
        .json();
    let api_two = world.api_url(&two);
    for (origin, expected) in [
        (ORIGIN, Some(ORIGIN)),
        (second, Some(second)),
        ("https://evil.example.com", None),
    ] {
        let preflight = http(
            "OPTIONS",
            &format!("{api_two}/predict"),
            &[("Origin", origin)],
            None,
        );
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            expected,
            "preflight from {origin}"
        );
    }
    let key_two = sdk.key_value(two["api_key_ids"][0].as_str().unwrap());
    let accepted = http(
        "POST",
        &format!("{api_two}/predict"),
        &[("x-api-key", &key_two), ("Origin", second)],
        Some(message),
    );
    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.header("access-control-allow-origin"), Some(second));
    // One bot's key opens only its own API.
    let crossed = http(
        "POST",
        &format!("{api_two}/predict"),
        &[("x-api-key", &key)],
        Some(message),
    );
    assert_eq!(crossed.status, 403);
}

#[test]
fn a_throttle_change_is_an_in_place_modify_of_the_usage_plan() {
    let world = World::new();
    let before = world.spec(
        "before.yaml",
        &bot(
            "limits-bot",
            "    throttle: { rate_limit: 50, burst_limit: 100 }\n",
        ),
    );
    world.publish(&before).expect(0);
    world.botpub(&["plan", before.to_str().unwrap()]).expect(0);

    let after = world.spec(
        "after.yaml",
        &bot(
            "limits-bot",
            "    throttle: { rate_limit: 20, burst_limit: 40 }\n",
        ),
    );
    let plan = world.botpub(&["plan", after.to_str().unwrap()]).expect(2);
    let text = plan.stdout();
    assert!(
        text.contains("~ UsagePlan (AWS::ApiGateway::UsagePlan) modify: Throttle"),
        "{text}"
    );
    assert!(
        !text.contains("-/+"),
        "a throttle change replaces nothing:\n{text}"
    );
    assert!(
        text.contains("0 to add, 2 to modify, 0 to replace, 0 to remove"),
        "{text}"
    );
    assert!(!text.contains("warning:"), "{text}");
    let json_plan = world
        .botpub(&["plan", after.to_str().unwrap(), "--output", "json"])
        .expect(2)
        .json();
    let changes = json_plan["plan"]["stacks"][0]["changes"]
        .as_array()
        .unwrap();
    let usage_plan = changes
        .iter()
        .find(|c| c["logical_id"] == "UsagePlan")
        .unwrap();
    assert_eq!(usage_plan["action"], "modify");
    assert_eq!(usage_plan["properties"], json!(["Throttle"]));

    world.publish(&after).expect(0);
    let status = world
        .botpub_bot("status", "limits-bot", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(
        status["throttle"],
        json!({"rate_limit": 20.0, "burst_limit": 40})
    );
    let again = world.botpub(&["plan", after.to_str().unwrap()]).expect(0);
    assert!(again.stdout().contains("no changes"), "{}", again.stdout());
}

#[test]
fn renaming_the_stage_is_flagged_as_an_endpoint_change() {
    let world = World::new();
    let spec = world.spec("v1.yaml", &bot("stage-bot", "    stage: v1\n"));
    world.publish(&spec).expect(0);
    let renamed = world.spec("v2.yaml", &bot("stage-bot", "    stage: v2\n"));
    let plan = world.botpub(&["plan", renamed.to_str().unwrap()]).expect(2);
    let text = plan.stdout();
    // The served description names the stage in its server URL, so the API is deployed anew as well.
    assert!(
        text.contains("-/+ Stage (AWS::ApiGateway::Stage) replace: DeploymentId, StageName"),
        "{text}"
    );
    assert!(
        text.contains(
            "warning: Stage replaces the stage (the endpoint URL changes for every client)"
        ),
        "{text}"
    );
    let json_plan = world
        .botpub(&["plan", renamed.to_str().unwrap(), "--output", "json"])
        .expect(2)
        .json();
    let warnings = json_plan["plan"]["stacks"][0]["warnings"]
        .as_array()
        .unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("endpoint URL changes")),
        "{json_plan:#}"
    );
}

#[test]
fn a_failed_deployment_exits_3_with_the_root_cause_first() {
    let world = World::new();
    // A valid spec whose function does not exist: CloudFormation cannot grant API Gateway access to it.
    let spec = world.spec(
        "broken.yaml",
        "  - id: broken-bot\n    allowed_origins: [\"https://app.example.com\"]\n    backend:\n      type: lambda\n      \
         function_arn: arn:aws:lambda:us-east-1:000000000000:function:does-not-exist\n",
    );
    let failed = world.publish(&spec).expect(3);
    let err = failed.stderr();
    let first_error = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert_eq!(
        first_error,
        format!(
            "error: {} failed (CREATE_FAILED)",
            world.stack("broken-bot")
        ),
        "{err}"
    );
    let cause = err
        .lines()
        .skip_while(|l| !l.starts_with("error:"))
        .nth(1)
        .unwrap();
    assert!(
        cause
            .starts_with("root cause: BackendPermission (AWS::Lambda::Permission) CREATE_FAILED: "),
        "{err}"
    );
    assert!(failed.stdout().contains("failed"), "{}", failed.stdout());
}

#[test]
fn a_stale_plan_and_an_unconfirmed_publish_are_blocked() {
    let world = World::new();
    let spec = world.spec("plan.yaml", &bot("careful-bot", ""));
    let plan_file = world.dir.path().join("plan.json");
    let plan_path = plan_file.to_str().unwrap();

    // No terminal and no --yes: refused, and nothing is left behind.
    let refused = world.botpub(&["publish", spec.to_str().unwrap()]).expect(4);
    assert!(
        refused.stderr().contains("pass --yes"),
        "{}",
        refused.stderr()
    );
    world.botpub_bot("status", "careful-bot", &[]).expect(1);

    // A plan of a spec that changed afterwards is stale.
    world
        .botpub(&["plan", spec.to_str().unwrap(), "--out", plan_path])
        .expect(2);
    std::fs::write(
        &spec,
        std::fs::read_to_string(&spec).unwrap() + "    stage: changed\n",
    )
    .unwrap();
    let stale = world.botpub(&["apply", plan_path]).expect(4);
    assert!(
        stale.stderr().contains("stale plan: the template of"),
        "{}",
        stale.stderr()
    );
    world.botpub_bot("status", "careful-bot", &[]).expect(1);

    // A current plan applies once; applying it again is refused because its change set is spent.
    world
        .botpub(&["plan", spec.to_str().unwrap(), "--out", plan_path])
        .expect(2);
    let applied = world
        .botpub(&["apply", plan_path, "--progress", "none"])
        .expect(0);
    assert!(
        applied.stdout().contains("created CREATE_COMPLETE"),
        "{}",
        applied.stdout()
    );
    let again = world.botpub(&["apply", plan_path]).expect(4);
    assert!(
        again.stderr().contains("stale plan: the change set of"),
        "{}",
        again.stderr()
    );

    // A saved plan waits for `apply`, maybe for hours: its change set is not taken for a publish about to
    // start, so a publish goes ahead. (AWS then deletes the saved change set, so applying it is refused as
    // stale; LocalStack keeps it executable.)
    std::fs::write(
        &spec,
        std::fs::read_to_string(&spec).unwrap() + "    description: later\n",
    )
    .unwrap();
    world
        .botpub(&["plan", spec.to_str().unwrap(), "--out", plan_path])
        .expect(2);
    world.publish(&spec).expect(0);
}

#[test]
fn unpublish_removes_the_stack_and_every_key_including_ones_made_elsewhere() {
    let world = World::new();
    let spec = world.spec("gone.yaml", &bot("short-lived", ""));
    world.publish(&spec).expect(0);
    let sdk = world.sdk();
    let stack = world.stack("short-lived");
    let plan_id = sdk.output(&stack, "UsagePlanId");
    let default_key = sdk.output(&stack, "DefaultApiKeyId");
    // A key made directly through API Gateway, as a console user would.
    let extra = sdk
        .block_on(
            sdk.apigateway
                .create_api_key()
                .name("made-by-hand")
                .enabled(true)
                .send(),
        )
        .unwrap();
    let extra_id = extra.id().unwrap().to_string();
    sdk.block_on(
        sdk.apigateway
            .create_usage_plan_key()
            .usage_plan_id(&plan_id)
            .key_id(&extra_id)
            .key_type("API_KEY")
            .send(),
    )
    .unwrap();
    let status = world
        .botpub_bot("status", "short-lived", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(status["api_key_ids"].as_array().unwrap().len(), 2);

    let unpublish_refused = world.botpub_bot("unpublish", "short-lived", &[]).expect(4);
    assert!(unpublish_refused.stderr().contains("pass --yes"));

    let gone = world
        .botpub_bot("unpublish", "short-lived", &["--yes", "--progress", "none"])
        .expect(0);
    assert!(
        gone.stdout()
            .contains("short-lived: unpublished (1 extra key(s) deleted"),
        "{}",
        gone.stdout()
    );
    for key in [&extra_id, &default_key] {
        let lookup = sdk.block_on(sdk.apigateway.get_api_key().api_key(key).send());
        assert!(lookup.is_err(), "key {key} still exists");
    }
    let after = world
        .botpub_bot("status", "short-lived", &["--output", "json"])
        .expect(1);
    assert_eq!(
        after.json(),
        json!({"bot_id": "short-lived", "published": false})
    );
    let text = world.botpub_bot("status", "short-lived", &[]).expect(1);
    assert!(
        text.stderr().contains("short-lived is not published"),
        "{}",
        text.stderr()
    );
    // Unpublishing what is not published is not an error.
    world
        .botpub_bot("unpublish", "short-lived", &["--yes"])
        .expect(0);
}

#[test]
fn a_fleet_publishes_concurrently_and_one_failing_bot_spares_the_others() {
    let world = World::new();
    let mut bots: String = (1..=19)
        .map(|i| bot(&format!("fleet-{i:02}"), ""))
        .collect();
    bots.push_str(
        "  - id: fleet-broken\n    allowed_origins: [\"https://app.example.com\"]\n    backend:\n      type: lambda\n      \
         function_arn: arn:aws:lambda:us-east-1:000000000000:function:does-not-exist\n",
    );
    let spec = world.spec("fleet.yaml", &bots);
    let started = std::time::Instant::now();
    let run = world
        .botpub(&[
            "publish",
            spec.to_str().unwrap(),
            "--yes",
            "--concurrency",
            "8",
            "--output",
            "json",
            "--progress",
            "events",
        ])
        .expect(3);
    let elapsed = started.elapsed();
    let doc = run.json();
    let stacks = doc["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 20);
    let failed: Vec<&Value> = stacks.iter().filter(|s| s["result"] != "created").collect();
    assert_eq!(failed.len(), 1, "{doc:#}");
    assert_eq!(failed[0]["bot_id"], "fleet-broken");
    assert!(
        failed[0]["failure"]
            .as_str()
            .unwrap()
            .contains("root cause: BackendPermission"),
        "{doc:#}"
    );
    assert!(
        stacks
            .iter()
            .filter(|s| s["result"] == "created")
            .all(|s| s["endpoint"].is_string())
    );
    // Events of different stacks interleave, each line naming its stack.
    let stderr = run.stderr();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(&world.prefix))
        .collect();
    let first_stacks: std::collections::BTreeSet<&str> = lines
        .iter()
        .take(40)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(
        first_stacks.len() > 1,
        "stacks deployed one after another:\n{}",
        lines.join("\n")
    );
    eprintln!("20 bots at concurrency 8: {elapsed:?}");
    let status = world
        .botpub_bot("status", "fleet-07", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(status["cfn_status"], "CREATE_COMPLETE");
}
