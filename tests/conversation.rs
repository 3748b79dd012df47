//! The conversation contract (seed 003's `/conversation` routes) and seed 002's request conventions on
//! LocalStack: answers that see their history, conversations kept in order across workers, retries made
//! safe by `Idempotency-Key`, the correlation id carried from the client to the bot and back, and a bot
//! published before all this upgraded without losing anything. One publish serves every test of this file.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Reply, Run, World, finish, http};
use serde_json::{Value, json};

struct Fleet {
    world: World,
    /// Base URL and key of each bot's API.
    apis: HashMap<String, (String, String)>,
}

const BOTS: [&str; 4] = ["talk", "pair", "retry", "plain"];

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let world = World::with_toolkit();
        let conversation = |id: &str| {
            format!(
                "  - id: {id}\n    contract: conversation\n    allowed_origins: [\"https://app.example.com\"]\n    throttle: {{ rate_limit: 20, burst_limit: 40 }}\n    queue: {{ visibility_timeout_seconds: 30, max_receive_count: 2 }}\n"
            )
        };
        let spec = world.spec(
            "conversations.yaml",
            &[
                conversation("talk"),
                conversation("pair"),
                conversation("retry"),
                "  - id: plain\n    allowed_origins: [\"https://app.example.com\"]\n".to_string(),
                // No worker ever reads its queue: dead letters can be moved back and looked at.
                format!("{}    monitoring: {{ enabled: false }}\n", conversation("letters")),
            ]
            .concat(),
        );
        world.publish(&spec).expect(0);
        let sdk = world.sdk();
        let mut apis = HashMap::new();
        for id in BOTS {
            let status = world.botpub_bot("status", id, &["--output", "json"]).expect(0).json();
            let key = sdk.key_value(&sdk.output(&world.stack(id), "DefaultApiKeyId"));
            apis.insert(id.to_string(), (world.api_url(&status), key));
        }
        Fleet { world, apis }
    })
}

impl Fleet {
    fn call(
        &self,
        bot_id: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let (url, key) = &self.apis[bot_id];
        let mut all = vec![("x-api-key", key.as_str())];
        all.extend_from_slice(headers);
        let body = body.map(Value::to_string);
        http(method, &format!("{url}{path}"), &all, body.as_deref())
    }

    fn get(&self, bot_id: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.call(bot_id, "GET", path, headers, None)
    }

    /// POST /conversation with one text item; the reply (200 with the ids, expected by the caller).
    fn say(
        &self,
        bot_id: &str,
        conversation: Option<&str>,
        text: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = common::conversation_message(conversation, text);
        self.call(bot_id, "POST", "/conversation", headers, Some(&body))
    }

    /// The conversation and message ids of an accepted message.
    fn ids(reply: &Reply) -> (String, String) {
        assert_eq!(reply.status, 200, "{}", reply.body);
        let doc = reply.json();
        (
            doc["conversation_id"].as_str().unwrap().to_string(),
            doc["message_id"].as_str().unwrap().to_string(),
        )
    }

    /// GET /conversation/{id}/{message_id} until it is no longer processing.
    fn answer(&self, bot_id: &str, conversation: &str, message: &str) -> Value {
        let started = Instant::now();
        loop {
            let reply = self.get(
                bot_id,
                &format!("/conversation/{conversation}/{message}"),
                &[],
            );
            if reply.status != 202 || started.elapsed() > Duration::from_secs(60) {
                assert_eq!(reply.status, 200, "{}", reply.body);
                return reply.json();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn scratch(&self, name: &str) -> PathBuf {
        self.world.dir.path().join(name)
    }
}

/// The text of a message (seed 003's content items).
fn text(message: &Value) -> String {
    message["content"][0]["body"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A bot that records every request document it gets (one JSON line in `log`) and answers as
/// examples/bots/history.py does, after `delay_ms`.
fn recording_bot(log: &Path, delay_ms: u32) -> Vec<String> {
    vec![
        "python3".into(),
        "-c".into(),
        format!(
            "import json, os, subprocess, sys\nd = sys.stdin.read()\nopen({:?}, 'a').write(json.dumps(json.loads(d)) + '\\n')\nr = subprocess.run([sys.executable, 'examples/bots/history.py'], input=d.encode(), capture_output=True, env=dict(os.environ, HISTORY_BOT_DELAY_MS='{delay_ms}'))\nsys.stdout.buffer.write(r.stdout)\nsys.exit(r.returncode)",
            log.to_str().unwrap()
        ),
    ]
}

/// The ids of the user's messages in a list of messages (a history, a conversation's `messages`).
fn user_ids(messages: &Value) -> Vec<&str> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["message_id"].as_str().unwrap())
        .collect()
}

fn recorded(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn three_messages_see_their_history_and_the_conversation_lists_all_six() {
    let f = fleet();
    let log = f.scratch("talk.log");
    let bot = recording_bot(&log, 0);
    let bot: Vec<&str> = bot.iter().map(String::as_str).collect();
    let worker = f.world.worker("talk", &["--idle-exit", "6s"], &bot);

    let first = f.say(
        "talk",
        None,
        "My name is Ada.",
        &[("X-Correlation-ID", "client-7")],
    );
    assert_eq!(first.header("X-Correlation-ID"), Some("client-7"));
    assert_eq!(first.header("X-RateLimit-Limit"), Some("20"));
    let (conversation, m1) = Fleet::ids(&first);
    let a1 = f.answer("talk", &conversation, &m1);
    let (same, m2) = Fleet::ids(&f.say("talk", Some(&conversation), "What is my name?", &[]));
    assert_eq!(same, conversation);
    let a2 = f.answer("talk", &conversation, &m2);
    let (_, m3) = Fleet::ids(&f.say("talk", Some(&conversation), "And again?", &[]));
    let a3 = f.answer("talk", &conversation, &m3);
    for (answer, earlier) in [(&a1, 0), (&a2, 2), (&a3, 4)] {
        assert_eq!(answer["conversation_id"], conversation.as_str());
        assert_eq!(answer["message"]["role"], "assistant");
        let said = text(&answer["message"]);
        assert!(
            said.starts_with(&format!("I was given {earlier} earlier messages.")),
            "{said}"
        );
        assert!(said.ends_with("You first said: My name is Ada.."), "{said}");
        assert!(answer["create_time"].as_f64().is_some(), "{answer}");
    }
    assert_eq!(
        a1["correlation_id"], "client-7",
        "the answer document keeps the correlation id"
    );

    // The whole conversation, in order, with ids and times.
    let whole = f.get("talk", &format!("/conversation/{conversation}"), &[]);
    assert_eq!(whole.status, 200, "{}", whole.body);
    let whole = whole.json();
    let messages = whole["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 6, "{whole}");
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant"
        ]
    );
    let users: Vec<&str> = messages
        .iter()
        .step_by(2)
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, [m1.as_str(), m2.as_str(), m3.as_str()]);
    assert_eq!(text(&messages[2]), "What is my name?");
    assert!(messages.iter().all(|m| m["create_time"].as_f64().is_some()));
    assert_eq!(whole["id"], conversation.as_str());

    // What the bot was given: the correlation id, the conversation, and the history before each message.
    let docs = recorded(&log);
    assert_eq!(docs.len(), 3, "each message reached the bot once");
    assert_eq!(docs[0]["correlation_id"], "client-7");
    assert_eq!(docs[0]["conversation_id"], conversation.as_str());
    assert_eq!(docs[0]["history"], json!([]));
    let history: Vec<&str> = docs[2]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            m1.as_str(),
            &format!("{m1}-answer"),
            m2.as_str(),
            &format!("{m2}-answer")
        ]
    );
    assert_eq!(docs[2]["history"][1]["role"], "assistant");

    // Unknown ids: a conversation that does not exist is 404; a message not answered yet is 202 (one
    // that never will be is 404: a_message_never_given_or_expired_is_not_found…).
    let unknown = f.get(
        "talk",
        "/conversation/no-such-conversation",
        &[("X-Correlation-ID", "c-404")],
    );
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.json()["conversation_id"], "no-such-conversation");
    assert_eq!(unknown.header("X-Correlation-ID"), Some("c-404"));
    let pending = f.get(
        "talk",
        &format!("/conversation/{conversation}/{}-not-yet", now_ms()),
        &[("X-Correlation-ID", "c-202")],
    );
    assert_eq!(pending.status, 202, "{}", pending.body);
    assert_eq!(pending.json()["status"], "processing");
    assert_eq!(pending.header("X-Correlation-ID"), Some("c-202"));

    let (code, summary, worker_log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{worker_log}");
    assert_eq!(summary["answered"], 3, "{summary}");
    assert!(
        !worker_log.contains("Ada"),
        "no message text in the worker's log: {worker_log}"
    );
}

#[test]
fn the_correlation_id_is_echoed_validated_and_carried_on_both_contracts() {
    let f = fleet();
    // A value that is too long is replaced by the request id, which is also the response's.
    let long = "x".repeat(129);
    let replaced = f.say(
        "retry",
        Some("corr-check"),
        "hello",
        &[("X-Correlation-ID", &long)],
    );
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(
        replaced.header("X-Correlation-ID"),
        replaced.header("x-amzn-RequestId")
    );
    // Without one, the request id.
    let plain = f.say("retry", Some("corr-check"), "hello again", &[]);
    assert_eq!(
        plain.header("X-Correlation-ID"),
        plain.header("x-amzn-RequestId")
    );
    // An error from the integration (a malformed Idempotency-Key): JSON with the request id, header echoed.
    let refused = f.say(
        "retry",
        None,
        "hello",
        &[
            ("Idempotency-Key", "has a space"),
            ("X-Correlation-ID", "c-400"),
        ],
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.header("X-Correlation-ID"), Some("c-400"));
    assert_eq!(
        refused.json()["request_id"].as_str(),
        refused.header("x-amzn-RequestId")
    );

    // The predict contract: 202 and 200 echo it; the worker gets it; the result document keeps it.
    let log = f.scratch("plain.log");
    let bot = [
        "python3".to_string(),
        "-c".into(),
        format!(
            "import json, sys\nd = json.load(sys.stdin)\nopen({:?}, 'a').write(json.dumps(d) + '\\n')\nprint('ok')",
            log.to_str().unwrap()
        ),
    ];
    let bot: Vec<&str> = bot.iter().map(String::as_str).collect();
    let worker = f.world.worker("plain", &["--max-requests", "1"], &bot);
    let posted = f.call(
        "plain",
        "POST",
        "/predict",
        &[("X-Correlation-ID", "order-42")],
        Some(&json!({"message": "hi"})),
    );
    assert_eq!(posted.status, 202, "{}", posted.body);
    assert_eq!(posted.header("X-Correlation-ID"), Some("order-42"));
    assert_eq!(posted.header("X-RateLimit-Limit"), Some("50"));
    let id = posted.json()["request_id"].as_str().unwrap().to_string();
    let (code, summary, worker_log) = finish(worker, Duration::from_secs(60));
    assert_eq!(
        (code, &summary["answered"]),
        (0, &json!(1)),
        "{summary} {worker_log}"
    );
    let result = f.get(
        "plain",
        &format!("/result/{id}"),
        &[("X-Correlation-ID", "poll-1")],
    );
    assert_eq!(result.status, 200, "{}", result.body);
    assert_eq!(result.header("X-Correlation-ID"), Some("poll-1"));
    assert_eq!(result.json()["correlation_id"], "order-42");
    assert_eq!(recorded(&log)[0]["correlation_id"], "order-42");
    assert!(
        worker_log.contains("\"correlation_id\":\"order-42\""),
        "{worker_log}"
    );

    // API Gateway's own errors (403, 429, the body model's 400, 5XX): LocalStack applies their status but
    // not their headers and templates, so the deployed configuration is what can be checked.
    let forbidden = http(
        "POST",
        &format!("{}/conversation", f.apis["talk"].0),
        &[],
        Some("{}"),
    );
    assert_eq!(forbidden.status, 403);
    let sdk = f.world.sdk();
    let api = sdk.output(&f.world.stack("talk"), "ApiId");
    let responses = sdk
        .block_on(
            sdk.apigateway
                .get_gateway_responses()
                .rest_api_id(&api)
                .send(),
        )
        .unwrap();
    // LocalStack lists every response type; the defaults inherit DEFAULT_4XX and DEFAULT_5XX, as on AWS.
    assert!(responses.items().len() >= 8);
    for response in responses.items() {
        let kind = response.response_type();
        let params = response.response_parameters().expect("parameters");
        assert_eq!(
            params
                .get("gatewayresponse.header.X-Correlation-ID")
                .map(String::as_str),
            Some("method.request.header.X-Correlation-ID"),
            "{kind:?}"
        );
        assert_eq!(
            params["gatewayresponse.header.X-RateLimit-Limit"], "stageVariables.rate_limit",
            "{kind:?}"
        );
        let template = &response.response_templates().unwrap()["application/json"];
        assert!(
            template.contains("\"request_id\": \"$context.requestId\""),
            "{kind:?}: {template}"
        );
    }
}

#[test]
fn two_conversations_two_workers_every_answer_sees_exactly_the_history_before_it() {
    const MESSAGES: usize = 20;
    let f = fleet();
    let log = f.scratch("pair.log");
    let bot = recording_bot(&log, 30);
    let bot: Vec<&str> = bot.iter().map(String::as_str).collect();
    let workers = [
        f.world
            .worker("pair", &["--idle-exit", "8s", "--concurrency", "4"], &bot),
        f.world
            .worker("pair", &["--idle-exit", "8s", "--concurrency", "4"], &bot),
    ];
    // Each conversation from its own thread, every message sent as soon as the previous was accepted.
    let sent: Vec<(String, Vec<String>)> = std::thread::scope(|scope| {
        let threads: Vec<_> = ["left", "right"]
            .map(|side| {
                scope.spawn(move || {
                    let (conversation, first) =
                        Fleet::ids(&f.say("pair", None, &format!("{side} 0"), &[]));
                    let mut ids = vec![first];
                    for i in 1..MESSAGES {
                        let (_, id) = Fleet::ids(&f.say(
                            "pair",
                            Some(&conversation),
                            &format!("{side} {i}"),
                            &[],
                        ));
                        ids.push(id);
                    }
                    (conversation, ids)
                })
            })
            .into();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let started = Instant::now();
    for (conversation, ids) in &sent {
        let doc = loop {
            let reply = f.get("pair", &format!("/conversation/{conversation}"), &[]);
            let doc = if reply.status == 200 {
                reply.json()
            } else {
                Value::Null
            };
            if doc["messages"]
                .as_array()
                .is_some_and(|m| m.len() == 2 * MESSAGES)
            {
                break doc;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "not all answered: {doc}"
            );
            std::thread::sleep(Duration::from_millis(300));
        };
        let messages = doc["messages"].as_array().unwrap();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                messages[2 * i]["message_id"],
                id.as_str(),
                "accepted order kept"
            );
            let answer = text(&messages[2 * i + 1]);
            assert!(
                answer.starts_with(&format!("I was given {} earlier messages.", 2 * i)),
                "message {i}: {answer}"
            );
        }
    }
    let mut total = json!(0);
    for worker in workers {
        let (code, summary, worker_log) = finish(worker, Duration::from_secs(90));
        assert_eq!(code, 0, "{worker_log}");
        assert_eq!(summary["duplicates"], 0, "{summary}");
        total = json!(total.as_u64().unwrap() + summary["answered"].as_u64().unwrap());
    }
    assert_eq!(total, 2 * MESSAGES, "every message answered once");
    // The bot ran once per message, each time with exactly the messages before it.
    let docs = recorded(&log);
    assert_eq!(docs.len(), 2 * MESSAGES, "no message answered twice");
    for (conversation, ids) in &sent {
        for (i, id) in ids.iter().enumerate() {
            let doc = docs
                .iter()
                .find(|d| d["message_id"] == id.as_str())
                .unwrap();
            assert_eq!(doc["conversation_id"], conversation.as_str());
            let history = user_ids(&doc["history"]);
            let before: Vec<&str> = ids[..i].iter().map(String::as_str).collect();
            assert_eq!(history, before, "message {i} of {conversation}");
        }
    }
}

#[test]
fn an_idempotency_key_makes_a_retry_the_same_message_and_its_absence_never_merges_two() {
    let f = fleet();
    let key = [("Idempotency-Key", "retry-1f3a")];
    let (conversation, first) = Fleet::ids(&f.say("retry", None, "Book a table", &key));
    let (again_conversation, again) = Fleet::ids(&f.say("retry", None, "Book a table", &key));
    // A message id is the time the API accepted the POST, then SQS's id: a retry's differs in its time.
    let (sqs_id, again_sqs_id) = (accepted(&first).1, accepted(&again).1);
    assert_eq!(
        (&again_conversation, again_sqs_id),
        (&conversation, sqs_id),
        "a retry names the same message"
    );
    // The same text twice without a key is two messages (a user may well say "yes" twice).
    let (_, yes1) = Fleet::ids(&f.say("retry", Some(&conversation), "yes", &[]));
    let (_, yes2) = Fleet::ids(&f.say("retry", Some(&conversation), "yes", &[]));
    assert_ne!(yes1, yes2);
    // The same key in another conversation is another message.
    let (other, elsewhere) =
        Fleet::ids(&f.say("retry", Some("another-conversation"), "Book a table", &key));
    assert_eq!(other, "another-conversation");
    assert_ne!(elsewhere, first);

    let worker = f.world.worker(
        "retry",
        &["--idle-exit", "5s"],
        &["python3", "examples/bots/history.py"],
    );
    let (code, summary, worker_log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{worker_log}");
    let doc = f
        .get("retry", &format!("/conversation/{conversation}"), &[])
        .json();
    let users = user_ids(&doc["messages"]);
    assert_eq!(
        users,
        [first.as_str(), yes1.as_str(), yes2.as_str()],
        "{doc}"
    );
    assert_eq!(
        f.answer("retry", &conversation, &yes2)["status"],
        "completed"
    );
    // Either id of the retried message reads its one answer.
    let (answer, again_answer) = (
        f.answer("retry", &conversation, &first),
        f.answer("retry", &conversation, &again),
    );
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer, again_answer);
    assert!(summary["answered"].as_u64().unwrap() >= 4, "{summary}");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The two parts of a message id the API gave: when it accepted the message (ms since the epoch), SQS's id.
fn accepted(message_id: &str) -> (u64, &str) {
    let (at, sqs_id) = message_id
        .split_once('-')
        .unwrap_or_else(|| panic!("{message_id}: not a time-stamped message id"));
    assert_eq!(at.len(), 13, "{message_id}");
    (at.parse().expect("milliseconds since the epoch"), sqs_id)
}

#[test]
fn a_message_never_given_or_expired_is_not_found_and_a_recent_one_is_processing() {
    let f = fleet();
    let now = now_ms();
    let sqs_id = "5fa2b0c4-8d1e-4c3b-9a7f-0e6d2c1b4a93";
    let day = 86_400_000;
    let not_found = [
        // Never given: not an id the API gives (a bare SQS id, as an earlier API gave, included), or from
        // the future.
        "no-such-message".to_string(),
        sqs_id.to_string(),
        format!("{}-{sqs_id}", now + day),
        // Accepted eight days ago (past the queue's four days of retention) and without an answer, such as
        // one whose answer has expired.
        format!("{}-{sqs_id}", now - 8 * day),
    ];
    for asked in &not_found {
        let reply = f.get(
            "talk",
            &format!("/conversation/some-conversation/{asked}"),
            &[],
        );
        assert_eq!(reply.status, 404, "{asked}: {}", reply.body);
        let doc = reply.json();
        assert_eq!(doc["status"], "not_found", "{doc}");
        assert_eq!(doc["message_id"], asked.as_str(), "{doc}");
        assert_eq!(doc["conversation_id"], "some-conversation", "{doc}");
        assert!(reply.header("x-correlation-id").is_some());
    }
    // Within the retention an answer may still come.
    for recent in [now, now - 3 * day] {
        let reply = f.get(
            "talk",
            &format!("/conversation/some-conversation/{recent}-{sqs_id}"),
            &[],
        );
        assert_eq!(reply.status, 202, "{}", reply.body);
        assert_eq!(reply.json()["status"], "processing");
    }
}

#[test]
fn republishing_a_bot_published_before_the_contracts_replaces_nothing() {
    let world = World::with_toolkit();
    let root = common::root();
    let spec_text = std::fs::read_to_string(root.join("tests/fixtures/upgrade.yaml"))
        .unwrap()
        .replace(
            "stack_prefix: Upgrade",
            &format!("stack_prefix: {}", world.prefix),
        );
    let spec = world.dir.path().join("upgrade.yaml");
    std::fs::write(&spec, spec_text).unwrap();
    // The template the earlier botpub published for this spec, under this test's prefix.
    let before = world.publish_earlier("hello-bot", "upgrade-hello-bot-before.json", "Upgrade");
    let sdk = world.sdk();
    let stack = world.stack("hello-bot");
    let endpoint = sdk.output(&stack, "Endpoint");

    // The plan: only the API's methods, its gateway responses, its request model (which learnt the
    // model options), the deployment they make, the queue's visibility timeout (a new default), and the
    // alarms, dashboard and description route that are new.
    let plan = world.botpub(&["plan", spec.to_str().unwrap(), "--output", "json"]);
    assert_eq!(plan.code(), 2, "changes to make: {}", plan.stderr());
    let plan = plan.json();
    let changes = plan["plan"]["stacks"][0]["changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    for change in changes {
        let kind = change["resource_type"].as_str().unwrap();
        let action = change["action"].as_str().unwrap();
        // The route that serves the API's description, new since the template was made.
        let described =
            ["OpenApiResource", "OpenApiMethod"].contains(&change["logical_id"].as_str().unwrap());
        let allowed = match kind {
            _ if described => action == "add",
            "AWS::ApiGateway::Method" | "AWS::ApiGateway::GatewayResponse" => action == "modify",
            "AWS::ApiGateway::Model" => action == "modify" && change["replacement"] == "False",
            "AWS::ApiGateway::Deployment" => action == "add" || action == "remove",
            // Monitoring (alarms and a dashboard), on by default since the template was made.
            "AWS::CloudWatch::Alarm" | "AWS::CloudWatch::Dashboard" => action == "add",
            // The results bucket's lifecycle: results expire by their prefix, token usage is kept a year.
            "AWS::S3::Bucket" => {
                action == "modify"
                    && change["replacement"] == "False"
                    && change["properties"] == json!(["LifecycleConfiguration"])
            }
            "AWS::ApiGateway::Stage" => {
                action == "modify" && change["properties"] == json!(["DeploymentId", "Variables"])
            }
            // The default visibility timeout, 60 s since the template was made.
            "AWS::SQS::Queue" => {
                action == "modify"
                    && change["replacement"] == "False"
                    && change["properties"] == json!(["VisibilityTimeout"])
            }
            _ => false,
        };
        // With it, the bot's settings changed, and so the spec-hash tag on every resource.
        let retagged = action == "modify"
            && change["properties"] == json!([])
            && change["scope"] == json!(["Tags"]);
        assert!(allowed || retagged, "unexpected change {change}");
    }

    // Publishing keeps the queue, the bucket, the usage plan, the keys and the endpoint.
    world.publish(&spec).expect(0);
    let after = sdk.physical(&stack);
    for id in [
        "Api",
        "Queue",
        "DeadLetterQueue",
        "ResultsBucket",
        "UsagePlan",
        "DefaultApiKey",
        "DefaultApiKeyAttachment",
        "Stage",
    ] {
        assert_eq!(before.get(id), after.get(id), "{id} kept");
        assert!(before.contains_key(id), "{id} exists");
    }
    assert_eq!(sdk.output(&stack, "Endpoint"), endpoint);
    let status = world
        .botpub_bot("status", "hello-bot", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(status["queue"]["dead_letters"], 0, "{status}");
    let _: Run = world.botpub(&["plan", spec.to_str().unwrap()]).expect(0);
}

#[test]
fn switching_a_published_bot_to_the_conversation_contract_replaces_its_queues_and_the_plan_says_so()
{
    let world = World::with_toolkit();
    let bot = |contract: &str| {
        format!(
            "  - id: switch\n    contract: {contract}\n    allowed_origins: [\"https://app.example.com\"]\n"
        )
    };
    world
        .publish(&world.spec("predict.yaml", &bot("predict")))
        .expect(0);
    let spec = world.spec("conversation.yaml", &bot("conversation"));
    let plan = world.botpub(&["plan", spec.to_str().unwrap(), "--output", "json"]);
    assert_eq!(plan.code(), 2, "{}", plan.stderr());
    let plan = plan.json();
    let stack = &plan["plan"]["stacks"][0];
    let replaced: Vec<&str> = stack["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "replace")
        .map(|c| c["logical_id"].as_str().unwrap())
        .collect();
    assert!(
        replaced.contains(&"Queue") && replaced.contains(&"DeadLetterQueue"),
        "{stack}"
    );
    let warnings = stack["warnings"].to_string();
    assert!(
        warnings.contains("Queue replaces a queue (requests waiting in it are lost"),
        "{warnings}"
    );
}

/// `dlq --redrive` moves dead letters back by hand on engines without message move tasks. LocalStack has
/// them, so the fallback is called directly: on a conversation bot's FIFO queue each letter must go back to
/// its own conversation (message group), which SQS requires and the history order depends on.
#[test]
fn dead_letters_moved_back_by_hand_return_to_their_conversations() {
    let f = fleet();
    let sdk = f.world.sdk();
    // The library reads credentials the way the command does, from the environment; LocalStack takes any.
    // SAFETY: set once, to the values every botpub these tests start is given; nothing reads them in C.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    }
    let options = botpub::aws::Options {
        region: Some(common::REGION.to_string()),
        endpoint_url: Some(f.world.endpoint.clone()),
        ..Default::default()
    };
    let aws = sdk.block_on(botpub::aws::Aws::connect(&options)).unwrap();
    let queue = sdk
        .block_on(botpub::publication::queue::BotQueue::find(
            &aws,
            &f.world.prefix,
            "letters",
        ))
        .unwrap();
    let mut dead_ids = Vec::new();
    for (group, body) in [("conversation-a", "first"), ("conversation-b", "second")] {
        let sent = sdk
            .block_on(
                aws.sqs
                    .send_message()
                    .queue_url(&queue.dead_letter_url)
                    .message_body(body)
                    .message_group_id(group)
                    .message_deduplication_id(format!("{group}-{body}"))
                    .message_attributes(
                        "conversation_id",
                        aws_sdk_sqs::types::MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(group)
                            .build()
                            .unwrap(),
                    )
                    .message_attributes(
                        "owner",
                        aws_sdk_sqs::types::MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value("key-of-the-asker")
                            .build()
                            .unwrap(),
                    )
                    .send(),
            )
            .unwrap();
        dead_ids.push(sent.message_id().unwrap().to_string());
    }
    let moved = sdk
        .block_on(botpub::publication::dead_letters::redrive_by_hand(
            &aws, &queue,
        ))
        .unwrap();
    assert_eq!(moved, 2);
    let received = sdk
        .block_on(
            aws.sqs
                .receive_message()
                .queue_url(&queue.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(2)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
                )
                .message_attribute_names("All")
                .send(),
        )
        .unwrap();
    // SQS gives each copy an id of its own; the id its client polls goes with it, and so does the
    // caller it belongs to.
    let deliveries: Vec<_> = received
        .messages()
        .iter()
        .map(botpub::publication::queue::Delivery::of)
        .collect();
    for delivery in &deliveries {
        assert_eq!(delivery.owner.as_deref(), Some("key-of-the-asker"));
    }
    let mut polled: Vec<String> = deliveries.into_iter().map(|d| d.request_id).collect();
    polled.sort();
    dead_ids.sort();
    assert_eq!(polled, dead_ids);
    let mut back: Vec<(String, String)> = received
        .messages()
        .iter()
        .map(|m| {
            let group = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned()
                .unwrap_or_default();
            (group, m.body().unwrap_or_default().to_string())
        })
        .collect();
    back.sort();
    assert_eq!(
        back,
        [
            ("conversation-a".to_string(), "first".to_string()),
            ("conversation-b".to_string(), "second".to_string())
        ]
    );
}
