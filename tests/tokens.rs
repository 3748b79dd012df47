//! Tokens per client on LocalStack: every answered request's usage is counted for the API key that asked,
//! exactly once (a worker killed mid-request and the request answered again counts one call), `botpub
//! usage` shows each key's tokens and what is left of the budget, and a key past its `token_budget` gets
//! `failed` with `token_budget_exceeded` without its bot being called, while another key goes on; a key
//! created with a budget of its own is held to that one. Fifty requests of three keys, answered by a model
//! stand-in through a killed worker and then two workers at once, are counted exactly per key, and so are
//! the attempts of a bot that failed after its model was called and said what it billed.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{World, finish, http, unsafe_kill};
use serde_json::{Value, json};

/// A bot that answers every message with a known usage (100 tokens in, 150 out), records each call in
/// `log`, and takes 8 seconds over a message that says "slow".
fn metered_bot(log: &Path) -> Vec<String> {
    vec![
        "python3".into(),
        "-c".into(),
        format!(
            "import json, sys, time\nd = json.load(sys.stdin)\nm = d['request']['message']\nopen({:?}, 'a').write(m + '\\n')\nif m == 'slow': time.sleep(8)\nprint(json.dumps({{'response': 'ok: ' + m, 'usage': {{'input_tokens': 100, 'output_tokens': 150}}}}))",
            log.to_str().unwrap()
        ),
    ]
}

fn calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Publishes bot `id` (with more `settings`, the bot's YAML lines), whose requests come back 10 s after
/// a worker is killed: its stack, and its default key's id and client.
fn publish_bot(world: &World, id: &str, settings: &str) -> (String, String, Client) {
    let spec = world.spec(
        &format!("{id}.yaml"),
        &format!(
            "  - id: {id}\n    allowed_origins: [\"https://app.example.com\"]\n    queue: {{ visibility_timeout_seconds: 10, max_receive_count: 3 }}\n{settings}"
        ),
    );
    world.publish(&spec).expect(0);
    let stack = world.stack(id);
    let (url, key) = world.apis(&[id]).remove(id).unwrap();
    let key_id = world.sdk().output(&stack, "DefaultApiKeyId");
    (stack, key_id, Client { url, key })
}

struct Client {
    url: String,
    key: String,
}

impl Client {
    /// A client of the same bot with a new key: its id and the client.
    fn new_key(&self, world: &World, bot_id: &str, description: &str) -> (String, Client) {
        let (id, key) = world.create_key(bot_id, description);
        let url = self.url.clone();
        (id, Client { url, key })
    }

    fn ask(&self, message: &str) -> String {
        let body = json!({ "message": message }).to_string();
        let reply = http(
            "POST",
            &format!("{}/predict", self.url),
            &[("x-api-key", &self.key)],
            Some(&body),
        );
        assert_eq!(reply.status, 202, "{}", reply.body);
        reply.json()["request_id"].as_str().unwrap().to_string()
    }

    fn result(&self, id: &str) -> Value {
        let started = Instant::now();
        loop {
            let reply = http(
                "GET",
                &format!("{}/result/{id}", self.url),
                &[("x-api-key", &self.key)],
                None,
            );
            if reply.status != 202 || started.elapsed() > Duration::from_secs(60) {
                assert_eq!(reply.status, 200, "{}", reply.body);
                return reply.json();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn tokens_are_counted_once_per_key_and_a_key_past_its_budget_is_stopped_without_a_model_call() {
    let world = World::new();
    let (stack, a_id, a) = publish_bot(
        &world,
        "metered",
        "    token_budget: { limit: 1000, period: DAY }\n    monitoring: { max_tokens_per_hour: 500 }\n",
    );
    let sdk = world.sdk();
    let (b_id, b) = a.new_key(&world, "metered", "partner B");
    let log = world.dir.path().join("calls.log");
    let bot = metered_bot(&log);
    let bot: Vec<&str> = bot.iter().map(String::as_str).collect();

    // A worker killed while the bot answers: the request is answered again by the next worker, and its
    // tokens are counted once, for the call that answered.
    let slow = a.ask("slow");
    let worker = world.worker("metered", &[], &bot);
    let started = Instant::now();
    while calls(&log).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the bot was never called"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe_kill(worker.id(), "KILL");
    let _ = finish(worker, Duration::from_secs(5));
    // Idle for longer than the killed attempt can stay hidden (its visibility, renewed by its heartbeat).
    let worker = world.worker("metered", &["--idle-exit", "25s"], &bot);
    assert_eq!(a.result(&slow)["status"], "completed");

    // A: three more answered requests bring it to 1,000 tokens: the one that reaches the budget finishes.
    for i in 0..3 {
        let id = a.ask(&format!("a{i}"));
        let doc = a.result(&id);
        assert_eq!(doc["status"], "completed", "{doc}");
        assert_eq!(doc["usage"]["output_tokens"], 150, "{doc}");
    }
    // Past it: failed with the stable code and the time the budget renews, the bot not called.
    let before = calls(&log).len();
    let refused = a.ask("one too many");
    let doc = a.result(&refused);
    assert_eq!(doc["status"], "failed", "{doc}");
    assert_eq!(doc["error_code"], "token_budget_exceeded", "{doc}");
    assert!(
        doc["renews_at"].as_str().unwrap().ends_with("T00:00:00Z"),
        "{doc}"
    );
    assert!(
        doc["error"].as_str().unwrap().contains("1000 of 1000"),
        "{doc}"
    );
    // B's budget is its own.
    for i in 0..2 {
        assert_eq!(b.result(&b.ask(&format!("b{i}")))["status"], "completed");
    }
    // C has a budget of its own, 250 tokens: one call, then refused; `keys list` shows it.
    let created = world.create_key_with("metered", "partner C", &["--token-budget", "250"]);
    assert_eq!(created["token_budget"], 250, "{created}");
    let c_id = created["id"].as_str().unwrap().to_string();
    let c = Client {
        url: b.url.clone(),
        key: created["value"].as_str().unwrap().to_string(),
    };
    assert_eq!(c.result(&c.ask("c0"))["status"], "completed");
    let doc = c.result(&c.ask("c1"));
    assert_eq!(doc["error_code"], "token_budget_exceeded", "{doc}");
    assert!(
        doc["error"].as_str().unwrap().contains("250 of 250"),
        "{doc}"
    );
    let listed = world
        .botpub(&["keys", "list", "metered", "--prefix", &world.prefix])
        .expect(0)
        .stdout();
    assert!(
        listed
            .lines()
            .any(|l| l.contains(created["id"].as_str().unwrap()) && l.contains(" 250 ")),
        "{listed}"
    );
    let (code, summary, log_text) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log_text}");
    let called = calls(&log);
    assert!(
        !called[before..]
            .iter()
            .any(|m| m == "one too many" || m == "c1"),
        "no model call past the budget: {called:?}"
    );
    assert_eq!(summary["failed"], 2, "{summary}");

    // `usage`: each key's tokens, exactly the sum of its answered calls, and what is left of its budget.
    // (Requests per key come from API Gateway's GetUsage, which LocalStack lacks: `usage` says so and
    // shows the tokens all the same.)
    let usage = world
        .botpub_bot("usage", "metered", &["--output", "json"])
        .expect(0);
    assert!(
        usage
            .stderr()
            .contains("the requests per key are not shown"),
        "{}",
        usage.stderr()
    );
    let usage = usage.json();
    let key = |id: &str| -> Value {
        usage["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {id}: {usage}"))
    };
    let (a_row, b_row, c_row) = (key(&a_id), key(&b_id), key(&c_id));
    assert_eq!(
        (
            c_row["budget"]["limit"].as_u64(),
            c_row["budget"]["left"].as_u64()
        ),
        (Some(250), Some(0)),
        "a key's own budget: {c_row}"
    );
    assert_eq!(
        (
            a_row["input_tokens"].as_u64(),
            a_row["output_tokens"].as_u64()
        ),
        (Some(400), Some(600)),
        "four calls, the killed attempt not among them: {a_row}"
    );
    assert_eq!(
        (
            a_row["budget"]["spent"].as_u64(),
            a_row["budget"]["left"].as_u64()
        ),
        (Some(1000), Some(0))
    );
    assert_eq!(
        (
            b_row["input_tokens"].as_u64(),
            b_row["output_tokens"].as_u64(),
            b_row["budget"]["left"].as_u64()
        ),
        (Some(200), Some(300), Some(500)),
        "{b_row}"
    );
    assert_eq!(
        usage["token_budget"],
        json!({"limit": 1000, "period": "DAY"})
    );
    let text = world.botpub_bot("usage", "metered", &[]).expect(0).stdout();
    assert!(
        text.contains("TOKENS IN")
            && text.contains("token budget: 1000 tokens per key per DAY (UTC)"),
        "{text}"
    );

    // A new period (the test moves A's calls to another day): A is let through again.
    let bucket = sdk.output(&stack, "ResultsBucket");
    let prefix = format!("tokens/{a_id}/");
    let listed = sdk
        .block_on(
            sdk.s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&prefix)
                .send(),
        )
        .unwrap();
    assert_eq!(listed.contents().len(), 4, "one record per counted call");
    for object in listed.contents() {
        let key = object.key().unwrap();
        let moved = format!("{prefix}2000-01-01/{}", key.rsplit('/').next().unwrap());
        sdk.block_on(
            sdk.s3
                .copy_object()
                .bucket(&bucket)
                .copy_source(format!("{bucket}/{key}"))
                .key(moved)
                .send(),
        )
        .unwrap();
        sdk.block_on(sdk.s3.delete_object().bucket(&bucket).key(key).send())
            .unwrap();
    }
    // Two workers at once answer A's three and B's last two: each call made once and counted once.
    let before = calls(&log).len();
    let workers = [
        world.worker("metered", &["--idle-exit", "6s"], &bot),
        world.worker("metered", &["--idle-exit", "6s"], &bot),
    ];
    let asked: Vec<(&Client, String)> = ["day2-a0", "day2-a1", "day2-a2", "day2-b0", "day2-b1"]
        .iter()
        .map(|m| {
            let client = if m.contains("-a") { &a } else { &b };
            (client, client.ask(m))
        })
        .collect();
    for (client, id) in &asked {
        assert_eq!(client.result(id)["status"], "completed", "{id}");
    }
    for worker in workers {
        let (code, _, log_text) = finish(worker, Duration::from_secs(60));
        assert_eq!(code, 0, "{log_text}");
    }
    let mut new_calls = calls(&log)[before..].to_vec();
    new_calls.sort();
    assert_eq!(
        new_calls,
        ["day2-a0", "day2-a1", "day2-a2", "day2-b0", "day2-b1"]
    );
    let usage = world
        .botpub_bot("usage", "metered", &["--output", "json"])
        .expect(0)
        .json();
    let row = |id: &str| -> Value {
        let keys = usage["keys"].as_array().unwrap();
        keys.iter().find(|k| k["id"] == id).cloned().unwrap()
    };
    let tokens = |row: &Value| (row["input_tokens"].as_u64(), row["output_tokens"].as_u64());
    assert_eq!(
        tokens(&row(&a_id)),
        (Some(300), Some(450)),
        "today's: the rest moved away"
    );
    assert_eq!(tokens(&row(&b_id)), (Some(400), Some(600)));
    assert_eq!(
        row(&b_id)["budget"]["left"],
        0,
        "B reached its budget with its last call"
    );

    // The workers published what they counted (the killed one nothing) for the dashboard and the
    // token-spend alarm: 12 calls, 1,200 tokens in and 1,800 out.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk.config);
    let now = std::time::SystemTime::now();
    let sum = |metric: &str| -> f64 {
        let asked = cloudwatch
            .get_metric_statistics()
            .namespace("botpub")
            .metric_name(metric)
            .dimensions(
                aws_sdk_cloudwatch::types::Dimension::builder()
                    .name("Bot")
                    .value(&stack)
                    .build(),
            )
            .start_time((now - Duration::from_secs(3600)).into())
            .end_time((now + Duration::from_secs(600)).into())
            .period(60)
            .statistics(aws_sdk_cloudwatch::types::Statistic::Sum)
            .send();
        let got = sdk.block_on(asked).unwrap();
        got.datapoints().iter().filter_map(|d| d.sum()).sum()
    };
    assert_eq!((sum("InputTokens"), sum("OutputTokens")), (1200.0, 1800.0));
    // `botpub metrics` shows the same spend beside the API's and the queues' series.
    let metrics = world.metrics("metered");
    assert_eq!(common::series(&metrics, "input_tokens")["value"], 1200.0);
    assert_eq!(common::series(&metrics, "output_tokens")["value"], 1800.0);
    let alarms = sdk
        .block_on(
            cloudwatch
                .describe_alarms()
                .alarm_names(format!("{stack}-tokens"))
                .send(),
        )
        .unwrap();
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.threshold(), Some(500.0));
}

/// The model stand-in (tests/support/model_standin.py: usage counts words) taking `delay_ms` per call.
fn model_standin(delay_ms: u32) -> common::LoopbackServer {
    common::LoopbackServer::start_with(
        "tests/support/model_standin.py",
        &["--delay-ms", &delay_ms.to_string()],
    )
}

fn model_calls(standin: &common::LoopbackServer) -> usize {
    http("GET", &format!("{}/_standin/calls", standin.url), &[], None)
        .json()
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn fifty_requests_of_three_keys_count_exactly_through_a_killed_worker_and_two_at_once() {
    let world = World::new();
    let (_, a_id, a) = publish_bot(&world, "counted", "");
    let (b_id, b) = a.new_key(&world, "counted", "partner B");
    let (c_id, c) = a.new_key(&world, "counted", "partner C");
    let ids = [a_id, b_id, c_id];
    let clients = [a, b, c];
    let worker = |standin: &common::LoopbackServer, more: &[&str]| {
        let base = format!("{}/v1", standin.url);
        let mut args = vec!["--openai", &base, "--model", "stand-in-model"];
        args.extend_from_slice(more);
        world.worker("counted", &args, &[])
    };
    // Messages of 1 to 7 words, so each request's usage differs; the n-th from key n % 3.
    let ask = |n: usize| {
        let message = format!("question {n}{}", " more".repeat(n % 6));
        (n % 3, clients[n % 3].ask(&message))
    };

    // The first worker's model never answers in time: it is killed with its four calls in flight, billed
    // by the model but never reported to the worker, so not counted.
    let mut asked: Vec<(usize, String)> = (0..20).map(ask).collect();
    let stalled = model_standin(60_000);
    let first = worker(&stalled, &[]);
    let started = Instant::now();
    while model_calls(&stalled) < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the model was called {} times",
            model_calls(&stalled)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe_kill(first.id(), "KILL");
    let _ = finish(first, Duration::from_secs(5));
    asked.extend((20..50).map(ask));
    // Two workers at once, from a model that answers; idle for longer than the killed worker's
    // requests stay hidden, so they answer those too.
    let standin = model_standin(300);
    let workers = [
        worker(&standin, &["--idle-exit", "20s"]),
        worker(&standin, &["--idle-exit", "20s"]),
    ];
    let mut expected = [(0u64, 0u64); 3];
    for (key, id) in &asked {
        let doc = clients[*key].result(id);
        assert_eq!(doc["status"], "completed", "{doc}");
        expected[*key].0 += doc["usage"]["input_tokens"].as_u64().unwrap();
        expected[*key].1 += doc["usage"]["output_tokens"].as_u64().unwrap();
    }
    for worker in workers {
        let (code, _, log_text) = finish(worker, Duration::from_secs(60));
        assert_eq!(code, 0, "{log_text}");
    }
    assert_eq!(
        (model_calls(&stalled), model_calls(&standin)),
        (4, 50),
        "each request answered by one model call, the killed worker's four made again"
    );
    // A bot whose model answers before the bot itself fails: each of its three attempts was billed, and
    // reported beside the failure, so each counts for the key that asked.
    let doomed = clients[2].ask("doomed");
    let failing = [
        "sh",
        "-c",
        r#"cat >/dev/null; echo '{"usage": {"input_tokens": 7, "output_tokens": 3}}'; echo 'post-processing failed' >&2; exit 1"#,
    ];
    let failing = world.worker("counted", &["--idle-exit", "15s"], &failing);
    let doc = clients[2].result(&doomed);
    assert_eq!(doc["status"], "failed", "{doc}");
    let (code, summary, log_text) = finish(failing, Duration::from_secs(60));
    assert_eq!(code, 0, "{log_text}");
    assert_eq!(
        (&summary["failed_attempts"], &summary["failed"]),
        (&json!(3), &json!(1)),
        "{summary}"
    );
    expected[2].0 += 3 * 7;
    expected[2].1 += 3 * 3;

    let usage = world
        .botpub_bot("usage", "counted", &["--output", "json"])
        .expect(0)
        .json();
    let counted: Vec<(u64, u64)> = ids
        .iter()
        .map(|id| {
            let row = usage["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["id"] == id.as_str())
                .cloned()
                .unwrap_or_else(|| panic!("no row for {id}: {usage}"));
            (
                row["input_tokens"].as_u64().unwrap(),
                row["output_tokens"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counted, expected,
        "per key, the sum of its answers' usage and of its failed attempts'"
    );
}
