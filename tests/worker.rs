//! `botpub worker`, `ask` and `dlq` on LocalStack: a published bot answers, fails visibly, survives a
//! killed worker and a shutdown, and never runs a request twice because it took long. One publish of five
//! bots (each test has its own queue) serves every test of this file.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Run, World, finish, http, unsafe_kill};
use serde_json::Value;

struct Fleet {
    world: World,
    /// Base URL and key of each bot's API.
    apis: std::collections::HashMap<String, (String, String)>,
}

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let world = World::new();
        let bot = |id: &str, visibility: u32, receives: u32| {
            format!(
                "  - id: {id}\n    allowed_origins: [\"https://app.example.com\"]\n    queue: {{ visibility_timeout_seconds: {visibility}, max_receive_count: {receives} }}\n"
            )
        };
        // Bots of the stranded-request tests: no alarms, which they do not need, to publish faster.
        let quiet = |id: &str, visibility: u32, receives: u32| {
            bot(id, visibility, receives) + "    monitoring: { enabled: false }\n"
        };
        let spec = world.spec(
            "workers.yaml",
            &[
                bot("asks", 30, 2),
                bot("fails", 30, 2),
                bot("killed", 3, 3),
                bot("stops", 30, 2),
                bot("slow", 2, 2),
                bot("many", 30, 2),
                quiet("crashes", 8, 2),
                quiet("drains", 8, 2),
                quiet("suicide", 3, 2),
                quiet("unasked", 30, 2),
            ]
            .concat(),
        );
        world.publish(&spec).expect(0);
        let apis = world.apis(&[
            "asks", "fails", "killed", "stops", "slow", "many", "crashes", "drains", "suicide",
            "unasked",
        ]);
        Fleet { world, apis }
    })
}

impl Fleet {
    fn worker(&self, bot_id: &str, more: &[&str], bot: &[&str]) -> Child {
        self.world.worker(bot_id, more, bot)
    }

    /// POST /predict; the request id.
    fn post(&self, bot_id: &str, message: &str) -> String {
        let (url, key) = &self.apis[bot_id];
        let body = serde_json::json!({ "message": message }).to_string();
        let reply = http(
            "POST",
            &format!("{url}/predict"),
            &[("x-api-key", key)],
            Some(&body),
        );
        assert_eq!(reply.status, 202, "{}", reply.body);
        reply.json()["request_id"].as_str().unwrap().to_string()
    }

    /// GET /result/{id} until it is no longer processing (seed 000's client loop, faster).
    fn result(&self, bot_id: &str, request_id: &str, within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let doc = self.get_result(bot_id, request_id).json();
            if doc["status"] != "processing" || started.elapsed() > within {
                return doc;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// GET /result/{id} once.
    fn get_result(&self, bot_id: &str, request_id: &str) -> common::Reply {
        let (url, key) = &self.apis[bot_id];
        http(
            "GET",
            &format!("{url}/result/{request_id}"),
            &[("x-api-key", key)],
            None,
        )
    }

    /// The bot's queue counts, as `status` reports them.
    fn queue(&self, bot_id: &str) -> Value {
        let status = self
            .world
            .botpub_bot("status", bot_id, &["--output", "json"])
            .expect(0)
            .json();
        status["queue"].clone()
    }

    fn scratch(&self, name: &str) -> PathBuf {
        self.world.dir.path().join(name)
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until a recording bot has started `n` requests (30 s at most).
fn wait_for_runs(log: &Path, n: usize) {
    let started = Instant::now();
    while lines(log).len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{n} request(s) should have started: {:?}",
            lines(log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A bot that appends each request id to `log`, sleeps `secs`, and answers.
fn recording_bot(log: &Path, secs: f64) -> Vec<String> {
    vec![
        "python3".into(),
        "-c".into(),
        format!(
            "import json, sys, time\nd = json.load(sys.stdin)\nopen({:?}, 'a').write(d['request_id'] + '\\n')\ntime.sleep({secs})\nprint('answer to ' + d['request']['message'])",
            log.to_str().unwrap()
        ),
    ]
}

#[test]
fn a_published_bot_answers_through_ask_and_the_seed_client_loop() {
    let f = fleet();
    let worker = f.worker(
        "asks",
        &["--idle-exit", "8s"],
        &["python3", "examples/bots/answer.py"],
    );
    let (_, key) = &f.apis["asks"];
    let asked = f
        .world
        .clean(
            Command::new(env!("CARGO_BIN_EXE_botpub")),
            &f.world.endpoint,
        )
        .args([
            "ask",
            "asks",
            "What is the capital of France?",
            "--prefix",
            &f.world.prefix,
            "--timeout",
            "60s",
        ])
        .env("BOTPUB_API_KEY", key)
        .output()
        .unwrap();
    let asked = Run { output: asked }.expect(0);
    assert_eq!(asked.stdout().trim(), "The capital of France is Paris.");
    assert!(!asked.stderr().contains(key.as_str()) && !asked.stdout().contains(key.as_str()));
    // The client loop of seed 000: POST, then GET until completed.
    let id = f.post("asks", "What is the capital of Japan?");
    let doc = f.result("asks", &id, Duration::from_secs(30));
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(doc["request_id"], id.as_str());
    assert_eq!(doc["response"], "The capital of Japan is Tokyo.");
    assert_eq!(
        doc["usage"]["input_words"], 6,
        "the bot's other fields are kept: {doc}"
    );
    let (code, summary, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    assert_eq!(summary["answered"], 2, "{summary}");
    assert_eq!(summary["stopped_by"], "idle");
    // One JSON line per request, without the question or the answer.
    let logged: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        logged
            .iter()
            .any(|l| l["request_id"] == id.as_str() && l["outcome"] == "completed")
    );
    assert!(!log.contains("Japan") && !log.contains("Tokyo"), "{log}");
    // ask's exit codes: an unknown key is an HTTP error (1), printed with its status.
    let refused = f
        .world
        .clean(
            Command::new(env!("CARGO_BIN_EXE_botpub")),
            &f.world.endpoint,
        )
        .args([
            "ask",
            "asks",
            "hello",
            "--prefix",
            &f.world.prefix,
            "--key",
            "not-a-key",
        ])
        .output()
        .unwrap();
    let refused = Run { output: refused }.expect(1);
    assert!(refused.stderr().contains("403"), "{}", refused.stderr());
    assert!(
        !refused.stderr().contains("not-a-key"),
        "{}",
        refused.stderr()
    );
}

#[test]
fn a_request_that_always_fails_says_so_lands_in_the_dead_letter_queue_and_is_answered_after_redrive()
 {
    let f = fleet();
    let broken = [
        "sh",
        "-c",
        "cat >/dev/null; echo loading >&2; echo 'model unavailable' >&2; exit 2",
    ];
    let worker = f.worker("fails", &["--idle-exit", "6s"], &broken);
    let id = f.post("fails", "Will this work?");
    let doc = f.result("fails", &id, Duration::from_secs(40));
    assert_eq!(doc["status"], "failed", "clients stop polling: {doc}");
    assert_eq!(doc["error"], "model unavailable", "{doc}");
    let (code, summary, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        summary["failed_attempts"], 2,
        "max_receive_count attempts: {summary}"
    );
    assert_eq!(summary["failed"], 1, "{summary}");
    assert_eq!(
        summary["released"], 0,
        "a failure is not a release: {summary}"
    );
    let listed = f
        .world
        .botpub_bot("dlq", "fails", &["--output", "json"])
        .expect(0)
        .json();
    let letters = listed["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{listed}");
    assert_eq!(letters[0]["request_id"], id.as_str());
    assert_eq!(letters[0]["error"], "model unavailable");
    // Listing removes nothing.
    let again = f
        .world
        .botpub_bot("dlq", "fails", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(
        again["dead_letters"].as_array().unwrap().len(),
        1,
        "{again}"
    );
    let status = f
        .world
        .botpub_bot("status", "fails", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(status["queue"]["dead_letters"], 1, "{status}");
    // Without a terminal, redrive needs --yes; with it, a fixed bot answers the request.
    f.world.botpub_bot("dlq", "fails", &["--redrive"]).expect(4);
    let moved = f
        .world
        .botpub_bot("dlq", "fails", &["--redrive", "--yes", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(moved["redriven"], 1, "{moved}");
    let worker = f.worker(
        "fails",
        &["--max-requests", "1"],
        &["python3", "examples/bots/answer.py"],
    );
    let (code, summary, log) = finish(worker, Duration::from_secs(60));
    assert_eq!((code, summary["answered"].as_u64()), (0, Some(1)), "{log}");
    let doc = f.result("fails", &id, Duration::from_secs(10));
    assert_eq!(
        doc["status"], "completed",
        "the failed result is replaced: {doc}"
    );
    assert_eq!(doc["response"], "You said: Will this work?");
    let sdk = f.world.sdk();
    let key_id = sdk.output(&f.world.stack("fails"), "DefaultApiKeyId");
    assert_eq!(
        doc["owner"], key_id,
        "the redriven request is still its caller's: {doc}"
    );
    let empty = f
        .world
        .botpub_bot("dlq", "fails", &["--output", "json"])
        .expect(0)
        .json();
    assert!(
        empty["dead_letters"].as_array().unwrap().is_empty(),
        "{empty}"
    );
}

#[test]
fn a_request_of_a_worker_killed_mid_answer_is_answered_by_the_next_worker() {
    let f = fleet();
    let runs = f.scratch("killed-runs");
    let slow = recording_bot(&runs, 60.0);
    let slow: Vec<&str> = slow.iter().map(String::as_str).collect();
    let first = f.worker("killed", &[], &slow);
    let id = f.post("killed", "are you there?");
    wait_for_runs(&runs, 1);
    unsafe_kill(first.id(), "KILL");
    let _ = finish(first, Duration::from_secs(10));
    // After the 3 s visibility timeout the message is back, and the next worker answers it.
    let fast = recording_bot(&runs, 0.0);
    let fast: Vec<&str> = fast.iter().map(String::as_str).collect();
    let second = f.worker("killed", &["--max-requests", "1"], &fast);
    let (code, summary, log) = finish(second, Duration::from_secs(60));
    assert_eq!((code, summary["answered"].as_u64()), (0, Some(1)), "{log}");
    let doc = f.result("killed", &id, Duration::from_secs(10));
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(doc["response"], "answer to are you there?");
    assert_eq!(
        lines(&runs),
        vec![id.clone(), id],
        "run once by each worker"
    );
}

#[test]
fn sigterm_lets_running_requests_finish_or_hands_them_to_the_next_worker() {
    let f = fleet();
    // Within the grace period: every running request is answered, and the worker exits 0.
    let runs = f.scratch("stops-runs");
    let bot = recording_bot(&runs, 3.0);
    let bot: Vec<&str> = bot.iter().map(String::as_str).collect();
    let worker = f.worker("stops", &["--concurrency", "4"], &bot);
    let ids: Vec<String> = (0..4).map(|i| f.post("stops", &format!("q{i}"))).collect();
    wait_for_runs(&runs, 4);
    unsafe_kill(worker.id(), "TERM");
    let (code, summary, log) = finish(worker, Duration::from_secs(30));
    assert_eq!(code, 0, "{log}");
    assert_eq!(summary["answered"], 4, "{summary}\n{log}");
    assert_eq!(summary["stopped_by"], "terminated");
    for id in &ids {
        assert_eq!(
            f.result("stops", id, Duration::from_secs(5))["status"],
            "completed"
        );
    }
    // Past the grace period: the requests are stopped and released, deleted by nobody, and the next
    // worker answers them at once (no visibility timeout to wait out).
    let long = recording_bot(&f.scratch("stops-long"), 60.0);
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    let worker = f.worker("stops", &["--concurrency", "2", "--grace", "1s"], &long);
    let ids: Vec<String> = (0..2)
        .map(|i| f.post("stops", &format!("long{i}")))
        .collect();
    wait_for_runs(&f.scratch("stops-long"), 2);
    unsafe_kill(worker.id(), "TERM");
    let (code, summary, log) = finish(worker, Duration::from_secs(20));
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        (summary["answered"].as_u64(), summary["released"].as_u64()),
        (Some(0), Some(2)),
        "{summary}"
    );
    for id in &ids {
        assert_eq!(
            f.result("stops", id, Duration::ZERO)["status"],
            "processing"
        );
    }
    let next = f.worker(
        "stops",
        &["--max-requests", "2"],
        &["python3", "examples/bots/answer.py"],
    );
    let started = Instant::now();
    let (code, summary, log) = finish(next, Duration::from_secs(20));
    assert_eq!((code, summary["answered"].as_u64()), (0, Some(2)), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "released messages were not available at once"
    );
}

#[test]
fn a_request_that_takes_longer_than_the_visibility_timeout_runs_exactly_once() {
    let f = fleet();
    let runs = f.scratch("slow-runs");
    // 2 s visibility timeout, a 7 s answer, two workers competing for the message.
    let bot = recording_bot(&runs, 7.0);
    let bot: Vec<&str> = bot.iter().map(String::as_str).collect();
    let one = f.worker("slow", &["--timeout", "30s", "--idle-exit", "5s"], &bot);
    let two = f.worker("slow", &["--timeout", "30s", "--idle-exit", "5s"], &bot);
    let id = f.post("slow", "take your time");
    let doc = f.result("slow", &id, Duration::from_secs(40));
    assert_eq!(doc["status"], "completed", "{doc}");
    let (a, sa, la) = finish(one, Duration::from_secs(40));
    let (b, sb, lb) = finish(two, Duration::from_secs(40));
    assert_eq!((a, b), (0, 0), "{la}\n{lb}");
    assert_eq!(
        lines(&runs),
        vec![id],
        "the heartbeat kept the message from the other worker"
    );
    assert_eq!(
        sa["answered"].as_u64().unwrap() + sb["answered"].as_u64().unwrap(),
        1
    );
}

#[test]
fn three_workers_answer_three_hundred_requests_each_once_with_its_own_answer() {
    let f = fleet();
    let server = common::LoopbackServer::start("examples/bots/server.py");
    let ids: Vec<String> = (0..300).map(|i| f.post("many", &format!("m{i}"))).collect();
    let workers: Vec<Child> = (0..3)
        .map(|_| {
            f.worker(
                "many",
                &[
                    "--http",
                    &server.url,
                    "--concurrency",
                    "8",
                    "--idle-exit",
                    "5s",
                ],
                &[],
            )
        })
        .collect();
    let mut errors = Vec::new();
    let summaries: Vec<Value> = workers
        .into_iter()
        .map(|w| {
            let (code, summary, log) = finish(w, Duration::from_secs(120));
            assert_eq!(code, 0, "{log}");
            errors.extend(
                log.lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter(|l| !l["error"].is_null())
                    .map(|l| l["error"].to_string()),
            );
            summary
        })
        .collect();
    let total = |field: &str| -> u64 { summaries.iter().map(|s| s[field].as_u64().unwrap()).sum() };
    // Every handler run answered a request of its own: 300 runs, no duplicates without faults.
    assert_eq!(total("answered"), 300, "{summaries:?}");
    assert_eq!(
        total("failed_attempts") + total("duplicates"),
        0,
        "{summaries:?}: {errors:?}"
    );
    assert!(
        summaries
            .iter()
            .all(|s| s["answered"].as_u64().unwrap() > 0),
        "all three worked: {summaries:?}"
    );
    for (i, id) in ids.iter().enumerate() {
        let doc = f.result("many", id, Duration::ZERO);
        assert_eq!(doc["status"], "completed", "{doc}");
        assert_eq!(doc["response"], format!("You said: m{i}"));
    }
}

/// The end of a request after SQS gave up on it: `failed`, saying why, never "processing".
fn assert_settled(doc: &Value, receives: u32) {
    match doc["status"].as_str() {
        Some("completed") => {}
        Some("failed") => assert!(
            doc["error"]
                .as_str()
                .is_some_and(|e| e.contains(&format!("given up after {receives} deliveries"))),
            "a failed request says why: {doc}"
        ),
        _ => panic!("left processing: {doc}"),
    }
}

#[test]
fn workers_killed_at_any_moment_leave_no_request_processing() {
    // Visibility 8 s, two receives, four slots, a bot that takes 4 s; ten rounds side by side on one
    // queue, each killing its worker at a random moment (some while it is idle in its long poll, before
    // the request arrives) and starting another at once. Whatever a dead worker's poll was handed, every
    // request ends completed or failed within visibility × (max_receive_count + 2) = 32 s.
    let f = fleet();
    let bot = recording_bot(&f.scratch("crashes-runs"), 4.0);
    let rounds: Vec<_> = (0..10)
        .map(|round| {
            let bot = bot.clone();
            std::thread::spawn(move || {
                let f = fleet();
                let bot: Vec<&str> = bot.iter().map(String::as_str).collect();
                let first = f.worker("crashes", &["--concurrency", "4"], &bot);
                let idle = round % 3 == 0;
                let id = if idle {
                    // Killed while idle in its long poll: the request arrives after the kill.
                    std::thread::sleep(Duration::from_millis(1000 + fastrand::u64(..1500)));
                    unsafe_kill(first.id(), "KILL");
                    f.post("crashes", &format!("round {round}"))
                } else {
                    let id = f.post("crashes", &format!("round {round}"));
                    std::thread::sleep(Duration::from_millis(fastrand::u64(..6000)));
                    unsafe_kill(first.id(), "KILL");
                    id
                };
                let killed = Instant::now();
                let _ = finish(first, Duration::from_secs(10));
                let next = f.worker("crashes", &["--concurrency", "4"], &bot);
                (id, killed, next)
            })
        })
        .collect();
    let rounds: Vec<(String, Instant, Child)> =
        rounds.into_iter().map(|r| r.join().unwrap()).collect();
    let docs: Vec<Value> = rounds
        .iter()
        .map(|(id, killed, _)| {
            let left = Duration::from_secs(8 * (2 + 2)).saturating_sub(killed.elapsed());
            f.result("crashes", id, left)
        })
        .collect();
    // Stopped before any assertion, so that a failure leaves no worker behind.
    for (_, _, next) in rounds {
        unsafe_kill(next.id(), "TERM");
        let (code, _, log) = finish(next, Duration::from_secs(30));
        assert_eq!(code, 0, "{log}");
    }
    for doc in &docs {
        assert_settled(doc, 2);
    }
    let outcomes: Vec<&str> = docs.iter().filter_map(|d| d["status"].as_str()).collect();
    eprintln!("10 killed workers' requests ended: {outcomes:?}");
}

#[test]
fn sigterm_with_requests_running_and_waiting_strands_none() {
    // Three requests running, the fourth slot's long poll under way, SIGTERM, then five more requests:
    // the poll's catch goes straight back to the queue (not hidden for a visibility timeout), the three
    // finish, and the next worker answers the other five at once; none reaches the dead-letter queue.
    let f = fleet();
    let runs = f.scratch("drains-runs");
    let bot = recording_bot(&runs, 4.0);
    let bot: Vec<&str> = bot.iter().map(String::as_str).collect();
    let worker = f.worker("drains", &["--concurrency", "4", "--grace", "20s"], &bot);
    let mut ids: Vec<String> = (0..3).map(|i| f.post("drains", &format!("r{i}"))).collect();
    wait_for_runs(&runs, 3);
    std::thread::sleep(Duration::from_millis(500));
    let stopped = Instant::now();
    unsafe_kill(worker.id(), "TERM");
    // The five arrive once the stop has begun (a loaded machine may take a moment to deliver the
    // signal), while the fourth slot's long poll (10 s) is still under way.
    std::thread::sleep(Duration::from_secs(1));
    ids.extend((0..5).map(|i| f.post("drains", &format!("w{i}"))));
    let (code, summary, log) = finish(worker, Duration::from_secs(60));
    let took = stopped.elapsed();
    assert_eq!(code, 0, "{log}");
    assert_eq!(summary["answered"], 3, "{summary}\n{log}");
    assert!(
        took <= Duration::from_secs(20 + 10 + 2),
        "the stop took {took:?}: more than the grace period plus one poll"
    );
    // Nothing is hidden in a poll nobody reads: all five wait, visible, for the next worker.
    let queue = f.queue("drains");
    assert_eq!(
        (queue["waiting"].as_u64(), queue["in_flight"].as_u64()),
        (Some(5), Some(0)),
        "{queue}; stopped worker: {summary}"
    );
    let next = f.worker(
        "drains",
        &["--concurrency", "8", "--max-requests", "5"],
        &bot,
    );
    let (code, summary, log) = finish(next, Duration::from_secs(40));
    assert_eq!((code, summary["answered"].as_u64()), (0, Some(5)), "{log}");
    for id in &ids {
        assert_eq!(
            f.result("drains", id, Duration::ZERO)["status"],
            "completed"
        );
    }
    assert_eq!(f.queue("drains")["dead_letters"], 0);
}

#[test]
fn a_request_that_kills_its_worker_on_every_delivery_ends_failed_and_is_answered_after_redrive() {
    let f = fleet();
    // The bot kills the worker that runs it (its parent), so no worker ever sees the request's last
    // delivery; a worker started after each death finds it in the dead-letter queue and says so.
    let killer = ["sh", "-c", "kill -9 $PPID; sleep 5"];
    let id = f.post("suicide", "this will hurt");
    let mut deaths = 0;
    let doc = loop {
        let mut worker = f.worker("suicide", &["--concurrency", "1"], &killer);
        let started = Instant::now();
        let doc = loop {
            let doc = f.result("suicide", &id, Duration::ZERO);
            if doc["status"] != "processing" || started.elapsed() > Duration::from_secs(30) {
                break Some(doc);
            }
            if worker.try_wait().unwrap().is_some() {
                break None;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        match doc {
            None => {
                let _ = finish(worker, Duration::from_secs(5));
                deaths += 1;
                assert!(deaths <= 2, "the message should have left the queue");
            }
            Some(doc) => {
                unsafe_kill(worker.id(), "TERM");
                let (code, summary, log) = finish(worker, Duration::from_secs(20));
                assert_eq!(code, 0, "{log}");
                assert_eq!(summary["given_up"], 1, "{summary}");
                assert!(log.contains("given up after 2 deliveries"), "{log}");
                break doc;
            }
        }
    };
    assert_eq!(deaths, 2, "each delivery killed its worker");
    assert_eq!(doc["status"], "failed", "{doc}");
    assert_settled(&doc, 2);
    let listed = f
        .world
        .botpub_bot("dlq", "suicide", &["--output", "json"])
        .expect(0)
        .json();
    let letters = listed["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{listed}");
    assert_eq!(letters[0]["request_id"], id.as_str());
    assert!(
        letters[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("given up")),
        "{listed}"
    );
    f.world
        .botpub_bot("dlq", "suicide", &["--redrive", "--yes"])
        .expect(0);
    let fixed = f.worker(
        "suicide",
        &["--max-requests", "1"],
        &["python3", "examples/bots/answer.py"],
    );
    let (code, summary, log) = finish(fixed, Duration::from_secs(40));
    assert_eq!((code, summary["answered"].as_u64()), (0, Some(1)), "{log}");
    let doc = f.result("suicide", &id, Duration::ZERO);
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(doc["response"], "You said: this will hurt");
}

#[test]
fn an_id_never_accepted_or_expired_is_not_found_and_a_waiting_one_is_processing() {
    let f = fleet();
    // No worker runs for this bot: its request waits.
    let id = f.post("unasked", "anyone?");
    let waiting = f.get_result("unasked", &id);
    assert_eq!(waiting.status, 202, "{}", waiting.body);
    assert_eq!(waiting.json()["status"], "processing");
    // The id starts with the time the API accepted it.
    let (accepted, api_request_id) = id.split_once('-').expect("a time-stamped request id");
    let accepted: u64 = accepted.parse().expect("milliseconds since the epoch");
    let day = 86_400_000;
    let not_found = [
        // Never accepted: not an id the API gives, or from the future.
        "no-such-request".to_string(),
        api_request_id.to_string(),
        format!("{}-{api_request_id}", accepted + day),
        // Accepted eight days ago (past the queue's four days of retention) and without a result, such
        // as one whose result has expired.
        format!("{}-{api_request_id}", accepted - 8 * day),
    ];
    for asked in &not_found {
        let reply = f.get_result("unasked", asked);
        assert_eq!(reply.status, 404, "{asked}: {}", reply.body);
        let doc = reply.json();
        assert_eq!(doc["status"], "not_found", "{doc}");
        assert_eq!(doc["request_id"], asked.as_str(), "{doc}");
        assert!(reply.header("x-correlation-id").is_some());
    }
    // Three days ago is within the retention: it may still be answered.
    let recent = format!("{}-{api_request_id}", accepted - 3 * day);
    assert_eq!(f.get_result("unasked", &recent).status, 202);
}
