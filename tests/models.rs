//! `botpub worker --openai`: a published bot answers from a model with no code, through its API as a
//! client calls it, on LocalStack, with the model server a stand-in of this project's that speaks the
//! OpenAI-compatible chat completions protocol (tests/support/model_standin.py) and records what it was
//! sent. One publish (a predict bot and a conversation bot) serves the whole binary; each test has its own
//! stand-in.

mod common;

use std::process::Child;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{World, finish, http, unsafe_kill};
use serde_json::{Value, json};

struct Fleet {
    world: World,
    /// Base URL and key of each bot's API.
    apis: std::collections::HashMap<String, (String, String)>,
}

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let world = World::new();
        let bot = |id: &str, contract: &str| {
            format!(
                "  - id: {id}\n    contract: {contract}\n    allowed_origins: [\"https://app.example.com\"]\n    queue: {{ visibility_timeout_seconds: 10, max_receive_count: 3 }}\n    monitoring: {{ enabled: false }}\n"
            )
        };
        let spec = world.spec(
            "models.yaml",
            &[
                bot("llm", "predict"),
                bot("llm-faults", "predict"),
                bot("llm-door", "predict"),
                bot("llm-chat", "conversation"),
            ]
            .concat(),
        );
        world.publish(&spec).expect(0);
        let apis = world.apis(&["llm", "llm-faults", "llm-door", "llm-chat"]);
        Fleet { world, apis }
    })
}

/// The model stand-in (tests/support/model_standin.py) on a free loopback port; killed when dropped.
struct Standin(common::LoopbackServer);

impl Standin {
    fn start() -> Standin {
        Standin(common::LoopbackServer::start(
            "tests/support/model_standin.py",
        ))
    }

    fn url(&self) -> &str {
        &self.0.url
    }

    /// The chat completions requests it received, in order.
    fn calls(&self) -> Vec<Value> {
        http("GET", &format!("{}/_standin/calls", self.url()), &[], None)
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The next `times` calls answer this HTTP status with this message.
    fn fail(&self, status: u16, message: &str, times: u32) {
        let body = json!({"status": status, "message": message, "times": times}).to_string();
        http(
            "POST",
            &format!("{}/_standin/fail", self.url()),
            &[],
            Some(&body),
        );
    }
}

impl Fleet {
    /// `botpub worker BOT --openai STANDIN/v1 --model stand-in-model MORE...`.
    fn worker(&self, bot_id: &str, standin: &Standin, more: &[&str]) -> Child {
        let base = format!("{}/v1", standin.url());
        let mut args = vec!["--openai", &base, "--model", "stand-in-model"];
        args.extend_from_slice(more);
        self.world.worker(bot_id, &args, &[])
    }

    fn post(&self, bot_id: &str, path: &str, body: &Value) -> common::Reply {
        let (url, key) = &self.apis[bot_id];
        http(
            "POST",
            &format!("{url}{path}"),
            &[("x-api-key", key)],
            Some(&body.to_string()),
        )
    }

    /// GET until the document is no longer processing.
    fn poll(&self, bot_id: &str, path: &str, within: Duration) -> Value {
        let (url, key) = &self.apis[bot_id];
        let started = Instant::now();
        loop {
            let doc = http("GET", &format!("{url}{path}"), &[("x-api-key", key)], None).json();
            if doc["status"] != "processing" || started.elapsed() > within {
                return doc;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn predict(&self, bot_id: &str, body: Value) -> String {
        let reply = self.post(bot_id, "/predict", &body);
        assert_eq!(reply.status, 202, "{}", reply.body);
        reply.json()["request_id"].as_str().unwrap().to_string()
    }

    /// One message of a conversation; (conversation id, message id).
    fn say(&self, conversation: Option<&str>, text: &str) -> (String, String) {
        let mut body = json!({"message": {"content": [{"content_type": "text", "body": text}]}});
        if let Some(id) = conversation {
            body["conversation_id"] = json!(id);
        }
        let reply = self.post("llm-chat", "/conversation", &body);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let doc = reply.json();
        (
            doc["conversation_id"].as_str().unwrap().to_string(),
            doc["message_id"].as_str().unwrap().to_string(),
        )
    }

    fn stop(&self, worker: Child) -> (Value, String) {
        unsafe_kill(worker.id(), "TERM");
        let (code, summary, log) = finish(worker, Duration::from_secs(30));
        assert_eq!(code, 0, "{log}");
        (summary, log)
    }
}

#[test]
fn a_predict_request_is_answered_by_the_model_with_usage_and_capped_options() {
    let f = fleet();
    let standin = Standin::start();
    let worker = f.worker(
        "llm",
        &standin,
        &["--system", "You are terse.", "--max-tokens", "200"],
    );
    let id = f.predict(
        "llm",
        json!({"message": "What is the capital of France?", "temperature": 0.2, "max_tokens": 5000}),
    );
    let doc = f.poll("llm", &format!("/result/{id}"), Duration::from_secs(30));
    let (summary, log) = f.stop(worker);
    assert_eq!(doc["status"], "completed", "{doc}\n{log}");
    assert_eq!(
        doc["response"], "You said: What is the capital of France? (2 messages, 0 turns before)",
        "{doc}"
    );
    assert_eq!(doc["model"], "stand-in-model");
    assert_eq!(doc["stop_reason"], "end_turn");
    // The stand-in counts words: 3 of system prompt and 6 of question in, the answer's 13 out.
    assert_eq!(
        doc["usage"],
        json!({"input_tokens": 9, "output_tokens": 13}),
        "{doc}"
    );
    assert_eq!(summary["answered"], 1);
    let calls = standin.calls();
    assert_eq!(calls.len(), 1);
    let sent = &calls[0]["body"];
    assert_eq!(sent["model"], "stand-in-model");
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is the capital of France?"}])
    );
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(sent["max_tokens"], 200, "capped by --max-tokens");
    assert!(
        !log.contains("capital of France"),
        "no question in the log: {log}"
    );
}

#[test]
fn a_bad_temperature_or_max_tokens_is_refused_at_the_front_door_and_nothing_is_queued() {
    let f = fleet();
    for body in [
        json!({"message": "hi", "temperature": "warm"}),
        json!({"message": "hi", "temperature": 3}),
        json!({"message": "hi", "max_tokens": 0}),
        json!({"message": "hi", "max_tokens": 2.5}),
    ] {
        let reply = f.post("llm-door", "/predict", &body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }
    let bad = json!({"message": {"content": [{"content_type": "text", "body": "hi"}]}, "temperature": -1});
    assert_eq!(f.post("llm-chat", "/conversation", &bad).status, 400);
    let status = f
        .world
        .botpub_bot("status", "llm-door", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(status["queue"]["waiting"], 0, "{status}");
}

#[test]
fn a_throttled_model_is_asked_again_and_a_refused_request_fails_after_one_call() {
    let f = fleet();
    let standin = Standin::start();
    // Throttled twice, then answered on the third call.
    standin.fail(429, "Rate limit reached", 2);
    let worker = f.worker("llm-faults", &standin, &[]);
    let id = f.predict("llm-faults", json!({"message": "third time lucky"}));
    let doc = f.poll(
        "llm-faults",
        &format!("/result/{id}"),
        Duration::from_secs(40),
    );
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(standin.calls().len(), 3);
    // Refused for good: failed at once with the model's own words, one call, in the dead-letter queue.
    standin.fail(400, "temperature is out of range for this model", 1);
    let refused = f.predict(
        "llm-faults",
        json!({"message": "please", "temperature": 1.9}),
    );
    let doc = f.poll(
        "llm-faults",
        &format!("/result/{refused}"),
        Duration::from_secs(30),
    );
    let (summary, log) = f.stop(worker);
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("temperature is out of range for this model")),
        "{doc}"
    );
    assert_eq!(
        standin.calls().len(),
        4,
        "exactly one call for the refused request"
    );
    assert_eq!(summary["failed"], 1, "{summary}\n{log}");
    let listed = f
        .world
        .botpub_bot("dlq", "llm-faults", &["--output", "json"])
        .expect(0)
        .json();
    let letters = listed["dead_letters"].as_array().unwrap();
    assert!(
        letters.iter().any(|l| l["request_id"] == refused.as_str()),
        "{listed}"
    );
}

#[test]
fn a_conversation_sends_the_model_its_turns_in_order_and_a_long_one_is_trimmed() {
    let f = fleet();
    let standin = Standin::start();
    let worker = f.worker(
        "llm-chat",
        &standin,
        &[
            "--system",
            "Remember everything.",
            "--max-history-tokens",
            "2000",
        ],
    );
    let (conversation, first) = f.say(None, "My name is Ada.");
    let path = |m: &str| format!("/conversation/{conversation}/{m}");
    let one = f.poll("llm-chat", &path(&first), Duration::from_secs(30));
    assert_eq!(one["status"], "completed", "{one}");
    let (_, second) = f.say(Some(&conversation), "I like engines.");
    f.poll("llm-chat", &path(&second), Duration::from_secs(30));
    let (_, third) = f.say(Some(&conversation), "What is my name?");
    let three = f.poll("llm-chat", &path(&third), Duration::from_secs(30));
    assert_eq!(three["status"], "completed", "{three}");
    assert_eq!(three["message"]["model"], "stand-in-model", "{three}");
    assert!(
        three["message"]["usage"]["input_tokens"].is_u64(),
        "{three}"
    );
    let calls = standin.calls();
    let roles_and_texts: Vec<(String, String)> = calls[2]["body"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let answer = |text: &str, before: usize| {
        format!(
            "You said: {text} ({} messages, {before} turns before)",
            before + 2
        )
    };
    let expected: Vec<(String, String)> = [
        ("system", "Remember everything.".to_string()),
        ("user", "My name is Ada.".to_string()),
        ("assistant", answer("My name is Ada.", 0)),
        ("user", "I like engines.".to_string()),
        ("assistant", answer("I like engines.", 2)),
        ("user", "What is my name?".to_string()),
    ]
    .into_iter()
    .map(|(r, t)| (r.to_string(), t))
    .collect();
    assert_eq!(roles_and_texts, expected);

    // A 300-turn conversation, written to the store directly, is still answered within the budget.
    let sdk = f.world.sdk();
    let bucket = sdk.output(&f.world.stack("llm-chat"), "ResultsBucket");
    let long = "long-conversation";
    let messages: Vec<Value> = (0..300)
        .flat_map(|i| {
            [
                json!({"message_id": format!("m{i}"), "role": "user", "content": [{"content_type": "text", "body": format!("question number {i} with some words in it")}], "create_time": i}),
                json!({"message_id": format!("m{i}-answer"), "parent_message_id": format!("m{i}"), "role": "assistant", "content": [{"content_type": "text", "body": format!("answer number {i} with some more words in it")}], "create_time": i}),
            ]
        })
        .collect();
    let doc = json!({"id": long, "conversation_id": long, "create_time": 0, "last_message_id": "m299-answer", "messages": messages});
    sdk.block_on(
        sdk.s3
            .put_object()
            .bucket(&bucket)
            .key(format!("conversations/{long}.json"))
            .body(doc.to_string().into_bytes().into())
            .send(),
    )
    .unwrap();
    let (_, latest) = f.say(Some(long), "Do you still follow?");
    let answered = f.poll(
        "llm-chat",
        &format!("/conversation/{long}/{latest}"),
        Duration::from_secs(30),
    );
    let (summary, log) = f.stop(worker);
    assert_eq!(
        answered["status"], "completed",
        "{answered}\n{summary}\n{log}"
    );
    let calls = standin.calls();
    let sent = calls.last().unwrap()["body"]["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        sent.len() > 10 && sent.len() < 601,
        "trimmed, not emptied: {} messages",
        sent.len()
    );
    assert_eq!(sent[0]["role"], "system");
    assert_eq!(
        sent[1]["role"], "user",
        "the trimmed history still starts with the user"
    );
    assert_eq!(sent.last().unwrap()["content"], "Do you still follow?");
    assert_eq!(
        sent[sent.len() - 2]["content"],
        "answer number 299 with some more words in it",
        "the newest turns are kept"
    );
    let characters: usize = sent
        .iter()
        .map(|m| m["content"].as_str().unwrap().chars().count())
        .sum();
    assert!(characters / 4 <= 2000, "{characters} characters");
}
