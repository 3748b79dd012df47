//! Answers belong to the caller that asked, on LocalStack: another API key of the same bot reads a result,
//! a conversation and a message exactly as it reads ids never given, and cannot continue the conversation;
//! the caller that asked reads them all. Bots published before answers had owners keep every answer a
//! client is polling through the update.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Reply, World, finish, http};
use serde_json::{Value, json};

/// A published bot's base URL, and a key's id and value.
struct Caller {
    url: String,
    key_id: String,
    key: String,
}

impl Caller {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(Value::to_string);
        http(
            method,
            &format!("{}{path}", self.url),
            &[("x-api-key", self.key.as_str())],
            body.as_deref(),
        )
    }

    fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None)
    }

    /// `POST /predict`; the request id.
    fn predict(&self, message: &str) -> String {
        let reply = self.call("POST", "/predict", Some(&json!({ "message": message })));
        assert_eq!(reply.status, 202, "{}", reply.body);
        reply.json()["request_id"].as_str().unwrap().to_string()
    }

    /// `POST /conversation`, new or continued; the conversation and message ids.
    fn say(&self, conversation: Option<&str>, text: &str) -> (String, String) {
        let body = common::conversation_message(conversation, text);
        let reply = self.call("POST", "/conversation", Some(&body));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let doc = reply.json();
        (
            doc["conversation_id"].as_str().unwrap().to_string(),
            doc["message_id"].as_str().unwrap().to_string(),
        )
    }

    /// GETs `path` until it is no longer "processing" (202); the final document.
    fn final_document(&self, path: &str) -> Value {
        let started = Instant::now();
        loop {
            let reply = self.get(path);
            if reply.status != 202 || started.elapsed() > Duration::from_secs(60) {
                assert_eq!(reply.status, 200, "{path}: {}", reply.body);
                return reply.json();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The default key of each bot (A) and a second one created with `keys create` (B).
fn callers(world: &World, bots: &[&str]) -> HashMap<String, (Caller, Caller)> {
    let sdk = world.sdk();
    world
        .apis(bots)
        .into_iter()
        .map(|(bot, (url, key))| {
            let key_id = sdk.output(&world.stack(&bot), "DefaultApiKeyId");
            let (other_id, other_key) = world.create_key(&bot, "partner B");
            let other = Caller {
                url: url.clone(),
                key_id: other_id,
                key: other_key,
            };
            (bot, (Caller { url, key_id, key }, other))
        })
        .collect()
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// A reply as a reply to `asked` would read had it been `instead`: the same status and body, the id put
/// back. What another caller gets must be exactly what an id never given gets.
fn as_if(reply: &Reply, asked: &str, instead: &str) -> (u16, String) {
    (reply.status, reply.body.replace(instead, asked))
}

const SQS_LIKE_ID: &str = "0d6f4a52-3c1b-4e8a-9f27-b5c8e1d2a3f4";

#[test]
fn another_key_reads_answers_as_ids_never_given_and_cannot_continue_a_conversation() {
    let world = World::with_toolkit();
    let spec = world.spec(
        "owners.yaml",
        "  - id: ask-bot\n    allowed_origins: [\"https://app.example.com\"]\n    queue: { visibility_timeout_seconds: 30, max_receive_count: 2 }\n  - id: talk-bot\n    contract: conversation\n    allowed_origins: [\"https://app.example.com\"]\n    queue: { visibility_timeout_seconds: 30, max_receive_count: 2 }\n",
    );
    world.publish(&spec).expect(0);
    let callers = callers(&world, &["ask-bot", "talk-bot"]);
    let predict_worker = world.worker(
        "ask-bot",
        &["--max-requests", "1"],
        &["python3", "examples/bots/answer.py"],
    );
    let talk_worker = world.worker(
        "talk-bot",
        &["--max-requests", "4"],
        &["python3", "examples/bots/history.py"],
    );

    // Predict: A reads its result; B gets what an id never given gets, both while it is recent (202
    // processing) and for an id of another caller that has not come yet.
    let (a, b) = &callers["ask-bot"];
    let id = a.predict("What is the capital of France?");
    let result = a.final_document(&format!("/result/{id}"));
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(
        result["owner"],
        a.key_id.as_str(),
        "the result names its key: {result}"
    );
    let never_given = format!("{}-{SQS_LIKE_ID}", now_ms());
    let seen_by_b = b.get(&format!("/result/{id}"));
    let unknown = b.get(&format!("/result/{never_given}"));
    assert_eq!(seen_by_b.status, 202, "{}", seen_by_b.body);
    assert_eq!(
        (seen_by_b.status, seen_by_b.body.clone()),
        as_if(&unknown, &id, &never_given),
        "B reads A's result as an id never given"
    );
    assert!(!seen_by_b.body.contains("Paris"), "{}", seen_by_b.body);
    assert!(seen_by_b.header("x-correlation-id").is_some());
    let (code, summary, log) = finish(predict_worker, Duration::from_secs(60));
    assert_eq!((code, summary["answered"].as_u64()), (0, Some(1)), "{log}");

    // A result stored before answers had owners has none: any key holding its id reads it, as before.
    let sdk = world.sdk();
    let put = |bot: &str, key: &str, doc: &Value| {
        let bucket = sdk.output(&world.stack(bot), "ResultsBucket");
        let body = doc.to_string().into_bytes().into();
        let put = sdk.s3.put_object().bucket(bucket).key(key).body(body);
        sdk.block_on(put.send()).unwrap();
    };
    let earlier = format!("{}-{SQS_LIKE_ID}", now_ms() - 60_000);
    put(
        "ask-bot",
        &format!("results/{earlier}.json"),
        &json!({"request_id": earlier, "status": "completed", "response": "answered before owners"}),
    );
    for caller in [a, b] {
        let reply = caller.get(&format!("/result/{earlier}"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["response"], "answered before owners");
    }

    // Conversation: A's conversation and message are A's alone.
    let (a, b) = &callers["talk-bot"];
    let (conversation, message) = a.say(None, "My name is Ada.");
    let answer = a.final_document(&format!("/conversation/{conversation}/{message}"));
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer["owner"], a.key_id.as_str(), "{answer}");
    let held = a.get(&format!("/conversation/{conversation}"));
    assert_eq!(held.status, 200, "{}", held.body);
    assert_eq!(held.json()["messages"].as_array().unwrap().len(), 2);

    let unknown_conversation = "c0ffee00-0000-4000-8000-000000000000";
    let seen_by_b = b.get(&format!("/conversation/{conversation}"));
    let unknown = b.get(&format!("/conversation/{unknown_conversation}"));
    assert_eq!(seen_by_b.status, 404, "{}", seen_by_b.body);
    let strip_request_id = |reply: &Reply| {
        let mut doc = reply.json();
        doc["request_id"] = Value::Null;
        (reply.status, doc.to_string())
    };
    let unknown_as_if: Reply = Reply {
        body: unknown.body.replace(unknown_conversation, &conversation),
        ..unknown
    };
    assert_eq!(
        strip_request_id(&seen_by_b),
        strip_request_id(&unknown_as_if),
        "B reads A's conversation as one never begun (only API Gateway's request id differs)"
    );
    let never_given = format!("{}-{SQS_LIKE_ID}", now_ms());
    let seen_by_b = b.get(&format!("/conversation/{conversation}/{message}"));
    let unknown = b.get(&format!("/conversation/{conversation}/{never_given}"));
    assert_eq!(seen_by_b.status, 202, "{}", seen_by_b.body);
    assert_eq!(
        (seen_by_b.status, seen_by_b.body.clone()),
        as_if(&unknown, &message, &never_given),
        "B reads A's message as one never given"
    );

    // B cannot continue it: B's message fails as for a conversation B does not have, and A's
    // conversation is untouched; A continues it with its history.
    let (same, intruding) = b.say(Some(&conversation), "Forget Ada; my name is Mallory.");
    assert_eq!(same, conversation);
    let refused = b.final_document(&format!("/conversation/{conversation}/{intruding}"));
    assert_eq!(refused["status"], "failed", "{refused}");
    assert!(
        refused.to_string().contains("No such conversation"),
        "{refused}"
    );
    assert_eq!(refused["owner"], b.key_id.as_str(), "{refused}");
    assert_eq!(
        a.get(&format!("/conversation/{conversation}/{intruding}"))
            .status,
        202,
        "A does not see B's message either"
    );
    let (_, next) = a.say(Some(&conversation), "What is my name?");
    let answer = a.final_document(&format!("/conversation/{conversation}/{next}"));
    assert!(answer.to_string().contains("Ada"), "{answer}");
    assert!(!answer.to_string().contains("Mallory"), "{answer}");
    let held = a.get(&format!("/conversation/{conversation}")).json();
    assert_eq!(held["messages"].as_array().unwrap().len(), 4, "{held}");

    // A conversation begun before answers had owners: any key reads it, and the first message with an
    // owner claims it for that caller.
    let (legacy, legacy_message) = ("begun-before-owners", "1796000000000-earlier");
    let user = json!({"message_id": legacy_message, "role": "user", "content": [{"content_type": "text", "body": "My name is Grace."}], "create_time": 1796000000.0});
    let assistant = json!({"message_id": format!("{legacy_message}-answer"), "parent_message_id": legacy_message, "role": "assistant", "content": [{"content_type": "text", "body": "Hello Grace."}], "create_time": 1796000001.0});
    put(
        "talk-bot",
        &format!("conversations/{legacy}.json"),
        &json!({"id": legacy, "conversation_id": legacy, "create_time": 1796000000.0, "messages": [user, assistant], "last_message_id": format!("{legacy_message}-answer")}),
    );
    for caller in [a, b] {
        assert_eq!(caller.get(&format!("/conversation/{legacy}")).status, 200);
    }
    let (_, claiming) = a.say(Some(legacy), "What is my name?");
    let answer = a.final_document(&format!("/conversation/{legacy}/{claiming}"));
    assert!(answer.to_string().contains("Grace"), "{answer}");
    assert_eq!(
        a.get(&format!("/conversation/{legacy}")).json()["owner"],
        a.key_id.as_str()
    );
    assert_eq!(b.get(&format!("/conversation/{legacy}")).status, 404);

    let (code, summary, log) = finish(talk_worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        (summary["answered"].as_u64(), summary["failed"].as_u64()),
        (Some(3), Some(1)),
        "{summary}"
    );
}

#[test]
fn bots_published_before_answers_had_owners_keep_every_answer_through_the_update() {
    let world = World::with_toolkit();
    let spec_text = std::fs::read_to_string(common::root().join("tests/fixtures/owners.yaml"))
        .unwrap()
        .replace(
            "stack_prefix: Owners",
            &format!("stack_prefix: {}", world.prefix),
        )
        .replace(
            "version: 1\n",
            &format!("version: 1\nregion: {}\n", common::REGION),
        );
    let spec = world.dir.path().join("owners.yaml");
    std::fs::write(&spec, spec_text).unwrap();
    let before: HashMap<&str, HashMap<String, String>> = ["ask-bot", "talk-bot"]
        .into_iter()
        .map(|bot| {
            let fixture = format!("owners-{bot}-before.json");
            (bot, world.publish_earlier(bot, &fixture, "Owners"))
        })
        .collect();
    let callers = callers(&world, &["ask-bot", "talk-bot"]);
    let answer_one = |bot: &str| {
        let program = match bot {
            "ask-bot" => "examples/bots/answer.py",
            _ => "examples/bots/history.py",
        };
        let worker = world.worker(bot, &["--max-requests", "1"], &["python3", program]);
        let (code, summary, log) = finish(worker, Duration::from_secs(60));
        assert_eq!((code, summary["answered"].as_u64()), (0, Some(1)), "{log}");
    };

    // Before the update: one request answered and one still waiting, per bot, none with an owner.
    let (a, _) = &callers["ask-bot"];
    let answered = a.predict("Answered before the update");
    answer_one("ask-bot");
    let waiting = a.predict("Accepted before the update, answered after it");
    let (a, _) = &callers["talk-bot"];
    let (conversation, first) = a.say(None, "My name is Ada.");
    answer_one("talk-bot");
    let (_, second) = a.say(Some(&conversation), "Accepted before the update.");

    // The plan changes the API's methods, and so its deployment and stage; nothing is replaced or removed,
    // and only the route that serves the API's description is added. (LocalStack also lists most other
    // resources as modified with no property named: see tests/support/localstack-notes.md.)
    let plan = world.botpub(&["plan", spec.to_str().unwrap(), "--output", "json"]);
    assert_eq!(plan.code(), 2, "{}", plan.stderr());
    let plan = plan.json();
    for stack in plan["plan"]["stacks"].as_array().unwrap() {
        let changes = stack["changes"].as_array().unwrap();
        for change in changes {
            let deployment = change["resource_type"] == "AWS::ApiGateway::Deployment";
            let described = change["logical_id"] == "OpenApiResource"
                || change["logical_id"] == "OpenApiMethod";
            assert!(
                (change["action"] == "modify" && change["replacement"] == "False")
                    || (deployment && (change["action"] == "add" || change["action"] == "remove"))
                    || (described && change["action"] == "add"),
                "unexpected change {change}"
            );
        }
        let methods = changes
            .iter()
            .filter(|c| c["resource_type"] == "AWS::ApiGateway::Method" && c["action"] == "modify")
            .count();
        assert!(methods >= 2, "the methods that name owners: {stack}");
    }
    world.publish(&spec).expect(0);
    let sdk = world.sdk();
    for (bot, resources) in &before {
        let after = sdk.physical(&world.stack(bot));
        for id in [
            "Queue",
            "DeadLetterQueue",
            "ResultsBucket",
            "DefaultApiKey",
            "Api",
        ] {
            assert_eq!(resources.get(id), after.get(id), "{bot}: {id} kept");
        }
    }

    // After it, a worker of today answers what was waiting, where the new API reads it: the same keys of
    // the same bucket, with no owner, since the requests carried none, so that any key holding the id reads
    // it as before (shown through the API on a fresh publish, in the test above: LocalStack serves no route
    // of an API after an update that redeploys it, see tests/support/localstack-notes.md).
    answer_one("ask-bot");
    answer_one("talk-bot");
    let stored = |bot: &str, key: &str| -> Value {
        let bucket = sdk.output(&world.stack(bot), "ResultsBucket");
        let object = sdk
            .block_on(sdk.s3.get_object().bucket(&bucket).key(key).send())
            .unwrap_or_else(|e| panic!("{bot}: {key}: {e:?}"));
        let bytes = sdk.block_on(object.body.collect()).unwrap().into_bytes();
        serde_json::from_slice(&bytes).unwrap()
    };
    for id in [&answered, &waiting] {
        let doc = stored("ask-bot", &format!("results/{id}.json"));
        assert_eq!(doc["status"], "completed", "{doc}");
        assert!(doc.get("owner").is_none(), "asked without an owner: {doc}");
    }
    for message in [&first, &second] {
        let sqs_id = message.split_once('-').unwrap().1;
        let doc = stored(
            "talk-bot",
            &format!("conversations/{conversation}/{sqs_id}.json"),
        );
        assert_eq!(doc["status"], "completed", "{doc}");
        assert!(doc.get("owner").is_none(), "{doc}");
    }
    let held = stored("talk-bot", &format!("conversations/{conversation}.json"));
    assert_eq!(held["messages"].as_array().unwrap().len(), 4, "{held}");
    assert!(held.get("owner").is_none(), "{held}");
}
