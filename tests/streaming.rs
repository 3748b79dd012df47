//! Answers read while they are written, on LocalStack: an exec bot that streams, a bot server's event
//! stream, and Bedrock's ConverseStream, AgentCore's event stream and OpenAI's chat completions stream
//! (the stand-in, tests/support/model_standin.py, speaking each wire protocol) each show a client polling
//! the API a growing text, each partial text the start of the next, then the final answer, the same as
//! without partial results; a stream cut off mid-way, or a worker killed mid-stream, is answered whole by
//! the next attempt; `botpub ask` prints the text on a terminal (a pseudo-terminal,
//! tests/support/on_a_terminal.py) and through a pipe before the bot has finished.

use crate::common;

use std::collections::HashMap;
use std::io::Read;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{LoopbackServer, World, finish, http};
use serde_json::{Value, json};

struct Fleet {
    world: World,
    apis: HashMap<String, (String, String)>,
}

/// A bot per test, so that each test's worker answers only its own requests.
const BOTS: [&str; 7] = [
    "exec", "cut", "chat", "model", "piped", "terminal", "killed",
];

fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let world = World::with_toolkit();
        let spec = world.spec(
            "streaming.yaml",
            &BOTS
                .iter()
                .map(|id| {
                    let contract = if *id == "chat" { "conversation" } else { "predict" };
                    // A killed worker's message comes back soon, after deliveries to its dead long polls.
                    let (visibility, receives) = if *id == "killed" { (4, 6) } else { (20, 3) };
                    format!(
                        "  - id: {id}\n    contract: {contract}\n    allowed_origins: [\"https://app.example.com\"]\n    queue: {{ visibility_timeout_seconds: {visibility}, max_receive_count: {receives} }}\n    monitoring: {{ enabled: false }}\n"
                    )
                })
                .collect::<String>(),
        );
        world.publish(&spec).expect(0);
        let apis = world.apis(&BOTS);
        Fleet { world, apis }
    })
}

/// Eighteen words: with "You said:" a streamed answer of twenty pieces.
const QUESTION: &str = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen";

impl Fleet {
    fn call(&self, bot_id: &str, method: &str, path: &str, body: Option<&Value>) -> common::Reply {
        let (url, key) = &self.apis[bot_id];
        let body = body.map(Value::to_string);
        http(
            method,
            &format!("{url}{path}"),
            &[("x-api-key", key)],
            body.as_deref(),
        )
    }

    /// POSTs the question; the path its answer is read at.
    fn ask(&self, bot_id: &str, message: &str) -> String {
        if bot_id == "chat" {
            let body = json!({"message": {"content": [{"content_type": "text", "body": message}]}});
            let reply = self.call(bot_id, "POST", "/conversation", Some(&body));
            assert_eq!(reply.status, 200, "{}", reply.body);
            let ids = reply.json();
            format!(
                "/conversation/{}/{}",
                ids["conversation_id"].as_str().unwrap(),
                ids["message_id"].as_str().unwrap()
            )
        } else {
            // `stream` asks an agent to stream (the stand-in's AgentCore does); other bots ignore it.
            let body = json!({ "message": message, "stream": true });
            let reply = self.call(bot_id, "POST", "/predict", Some(&body));
            assert_eq!(reply.status, 202, "{}", reply.body);
            format!("/result/{}", reply.json()["request_id"].as_str().unwrap())
        }
    }

    /// Polls the answer every 100 ms until it is final: each distinct partial document seen (202, with
    /// a `sequence`), then the final one.
    fn watch(&self, bot_id: &str, path: &str) -> (Vec<Value>, Value) {
        self.try_watch(bot_id, path)
            .unwrap_or_else(|partials| panic!("no answer: {partials:?}"))
    }

    /// [`Fleet::watch`], or the partial documents seen when no final answer came within a minute.
    fn try_watch(&self, bot_id: &str, path: &str) -> Result<(Vec<Value>, Value), Vec<Value>> {
        let started = Instant::now();
        let mut partials: Vec<Value> = Vec::new();
        loop {
            let reply = self.call(bot_id, "GET", path, None);
            let doc = reply.json();
            match reply.status {
                200 => return Ok((partials, doc)),
                202 if doc["sequence"].is_u64() => {
                    assert_eq!(doc["status"], "processing", "{doc}");
                    if partials.last() != Some(&doc) {
                        partials.push(doc);
                    }
                }
                202 => {}
                other => panic!("GET {path}: {other} {}", reply.body),
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(partials);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The answer's text: a result's `response`, or a conversation message's text.
fn text(doc: &Value) -> String {
    match doc["message"]["content"].as_array() {
        Some(items) => items
            .iter()
            .filter_map(|i| i["body"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        None => doc["response"].as_str().unwrap_or_default().to_string(),
    }
}

/// At least three distinct partial texts, each the start of the next and of the final text.
fn assert_grew(partials: &[Value], last: &Value) {
    let texts: Vec<String> = partials.iter().map(text).collect();
    let distinct: std::collections::BTreeSet<&String> = texts.iter().collect();
    assert!(distinct.len() >= 3, "partial texts seen: {texts:?}");
    let final_text = text(last);
    for pair in texts.windows(2) {
        assert!(pair[1].starts_with(&pair[0]), "{texts:?}");
    }
    assert!(
        texts.iter().all(|t| final_text.starts_with(t.as_str())),
        "{texts:?} / {final_text}"
    );
    let sequences: Vec<u64> = partials
        .iter()
        .map(|p| p["sequence"].as_u64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|s| s[0] < s[1]), "{sequences:?}");
}

/// A model backend of the worker, pointed at the stand-in.
struct Backend<'a> {
    name: &'a str,
    options: Vec<&'a str>,
    env: Vec<(&'a str, &'a str)>,
    /// The stand-in's answer to [`QUESTION`], and its length in tokens (words) when the backend says.
    answer: String,
    output_tokens: Option<u64>,
}

/// The fields of a final document that do not depend on when or how fast it was written.
fn lasting(doc: &Value) -> Value {
    let mut doc = doc.clone();
    for moving in [
        "request_id",
        "completed_at",
        "create_time",
        "conversation_id",
        "message_id",
        "correlation_id",
    ] {
        doc.as_object_mut().unwrap().remove(moving);
    }
    doc
}

/// Asks once with partial results every 250 ms and once with them off (`--flush-interval 0`), each
/// with a worker of its own (`options`, and the bot's `command` for an exec bot); the partial documents
/// and the final ones.
fn streamed_and_not(
    f: &Fleet,
    bot_id: &str,
    options: &[&str],
    command: &[&str],
    env: &[(&str, &str)],
) -> (Vec<Value>, Value, Value) {
    let mut runs = Vec::new();
    for interval in ["250ms", "0"] {
        let mut more = vec!["--flush-interval", interval, "--idle-exit", "3s"];
        more.extend_from_slice(options);
        let worker = f.world.worker_with_env(bot_id, &more, command, env);
        let path = f.ask(bot_id, QUESTION);
        let (partials, last) = f.watch(bot_id, &path);
        let (code, summary, log) = finish(worker, Duration::from_secs(60));
        assert_eq!(code, 0, "{log}");
        assert_eq!(summary["answered"], 1, "{summary}\n{log}");
        assert!(
            !log.contains("eighteen"),
            "no answer text in the worker's log: {log}"
        );
        runs.push((partials, last));
    }
    let (unstreamed_partials, unstreamed) = runs.pop().unwrap();
    let (partials, streamed) = runs.pop().unwrap();
    assert!(
        unstreamed_partials.is_empty(),
        "--flush-interval 0 writes no partial answer: {unstreamed_partials:?}"
    );
    (partials, streamed, unstreamed)
}

#[test]
fn an_exec_bot_that_streams_is_read_growing_and_ends_as_without_partial_results() {
    let f = fleet();
    let bot = ["python3", "examples/bots/stream.py", "--chunk-ms", "200"];
    let (partials, streamed, unstreamed) = streamed_and_not(f, "exec", &[], &bot, &[]);
    assert_eq!(streamed["status"], "completed", "{streamed}");
    assert_eq!(text(&streamed), format!("You said: {QUESTION}"));
    assert_grew(&partials, &streamed);
    assert!(partials.iter().all(|p| p["attempt"] == 1), "{partials:?}");
    assert_eq!(lasting(&streamed), lasting(&unstreamed));
}

#[test]
fn an_exec_bot_killed_mid_stream_is_answered_whole_by_the_next_attempt() {
    let f = fleet();
    // The first attempt writes three pieces and dies by SIGKILL; the next streams the whole answer.
    let bot = [
        "python3",
        "-c",
        "import json, os, subprocess, sys, time\n\
         doc = json.loads(sys.stdin.read())\n\
         if doc['attempt'] == 1:\n\
         \x20   sys.stdout.write('Content-Type: text/event-stream\\n\\n')\n\
         \x20   for piece in ['You', ' said:', ' one']:\n\
         \x20       sys.stdout.write('data: ' + json.dumps(piece) + '\\n\\n'); sys.stdout.flush(); time.sleep(0.3)\n\
         \x20   os.kill(os.getpid(), 9)\n\
         subprocess.run(['python3', 'examples/bots/stream.py', '--chunk-ms', '100'], input=json.dumps(doc), text=True)\n",
    ];
    // Idle for 8 s before it ends: on a loaded machine the attempt's second delivery (one second after
    // the first fails) can take seconds to be received, and a worker gone idle would leave it unanswered.
    let worker = f.world.worker(
        "cut",
        &["--flush-interval", "100ms", "--idle-exit", "8s"],
        &bot,
    );
    let (partials, last) = f.watch("cut", &f.ask("cut", QUESTION));
    let (code, summary, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    assert_eq!(summary["failed_attempts"], 1, "{summary}");
    assert_eq!(last["status"], "completed", "{last}");
    let answer = format!("You said: {QUESTION}");
    assert_eq!(text(&last), answer, "never two attempts' text joined");
    assert!(
        partials.iter().any(|p| p["attempt"] == 1) && partials.iter().any(|p| p["attempt"] == 2),
        "{partials:?}"
    );
    assert!(
        partials.iter().all(|p| answer.starts_with(&text(p))),
        "{partials:?}"
    );
}

#[test]
fn a_bot_servers_event_stream_is_read_growing_in_a_conversation() {
    let f = fleet();
    let server = LoopbackServer::start_with(
        "examples/bots/server.py",
        &["--stream", "--chunk-ms", "200"],
    );
    let bot = ["--http", server.url.as_str()];
    let (partials, streamed, unstreamed) = streamed_and_not(f, "chat", &bot, &[], &[]);
    assert_eq!(streamed["status"], "completed", "{streamed}");
    assert_eq!(text(&streamed), format!("You said: {QUESTION}"));
    assert_grew(&partials, &streamed);
    assert_eq!(lasting(&streamed), lasting(&unstreamed));
}

#[test]
fn each_models_stream_is_read_growing_and_a_cut_stream_is_answered_whole_by_the_next_attempt() {
    let f = fleet();
    // A word every 200 ms: a stream of about two seconds, so that several partial texts are seen even
    // when the machine is busy.
    let standin =
        LoopbackServer::start_with("tests/support/model_standin.py", &["--chunk-ms", "200"]);
    let base = format!("{}/v1", standin.url);
    let runtime =
        "arn:aws:bedrock-agentcore:us-east-1:000000000000:runtime/standin_agent-a1b2c3d4e5";
    // Each backend's real client, pointed at the stand-in; the answer it gives, and its length in words.
    let backends = [
        Backend {
            name: "ConverseStream",
            options: vec!["--bedrock", "anthropic.claude-3-haiku-20240307-v1:0"],
            env: vec![("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", standin.url.as_str())],
            answer: format!("You said: {QUESTION} (1 messages, 0 turns before)"),
            output_tokens: Some(25),
        },
        Backend {
            name: "AgentCore's event stream",
            options: vec!["--agentcore", runtime],
            env: vec![("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", standin.url.as_str())],
            answer: format!("You said: {QUESTION} "),
            output_tokens: None,
        },
        Backend {
            name: "chat completions with stream: true",
            options: vec!["--openai", base.as_str(), "--model", "stand-in"],
            env: vec![],
            answer: format!("You said: {QUESTION} (1 messages, 0 turns before)"),
            output_tokens: Some(25),
        },
    ];
    for backend in &backends {
        let name = backend.name;
        let (partials, streamed, unstreamed) =
            streamed_and_not(f, "model", &backend.options, &[], &backend.env);
        assert_eq!(streamed["status"], "completed", "{name}: {streamed}");
        assert_eq!(text(&streamed), backend.answer, "{name}");
        assert_grew(&partials, &streamed);
        if let Some(tokens) = backend.output_tokens {
            assert_eq!(
                streamed["usage"]["output_tokens"], tokens,
                "{name}: {streamed}"
            );
        }
        assert_eq!(lasting(&streamed), lasting(&unstreamed), "{name}");
    }
    // A role allowed bedrock:InvokeModel alone is refused ConverseStream: it gets the whole answer at
    // once, through Converse.
    let denied = json!({"status": 403, "message": "not allowed to stream", "times": 1}).to_string();
    http(
        "POST",
        &format!("{}/_standin/fail", standin.url),
        &[],
        Some(&denied),
    );
    let bedrock = &backends[0];
    let mut more = vec!["--flush-interval", "100ms", "--idle-exit", "3s"];
    more.extend_from_slice(&bedrock.options);
    let worker = f.world.worker_with_env("model", &more, &[], &bedrock.env);
    let (partials, last) = f.watch("model", &f.ask("model", QUESTION));
    let (code, _, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    assert_eq!(text(&last), bedrock.answer, "{last}");
    assert!(partials.is_empty(), "{partials:?}");
    let calls = http("GET", &format!("{}/_standin/calls", standin.url), &[], None).json();
    let paths: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(2)
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        paths[0].ends_with("/converse") && paths[1].ends_with("/converse-stream"),
        "{paths:?}"
    );

    let (bot, answer) = (&backends[2].options, &backends[2].answer);

    // The next stream drops its connection after five words: that attempt fails, the next answers, and
    // the answer is the second attempt's text alone.
    let cut = json!({"cut_after": 5, "times": 1}).to_string();
    http(
        "POST",
        &format!("{}/_standin/fail", standin.url),
        &[],
        Some(&cut),
    );
    let mut more = vec!["--flush-interval", "100ms", "--idle-exit", "5s"];
    more.extend_from_slice(bot);
    let worker = f.world.worker("model", &more, &[]);
    let path = f.ask("model", QUESTION);
    let (partials, last) = f.watch("model", &path);
    let (code, summary, log) = finish(worker, Duration::from_secs(90));
    assert_eq!(code, 0, "{log}");
    assert_eq!(summary["failed_attempts"], 1, "{summary}");
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(text(&last), *answer);
    // Partial texts start over with the second attempt, and say which attempt they belong to.
    let attempts: Vec<u64> = partials
        .iter()
        .map(|p| p["attempt"].as_u64().unwrap())
        .collect();
    assert!(attempts.windows(2).all(|a| a[0] <= a[1]), "{attempts:?}");
    assert!(attempts.contains(&2), "{attempts:?}");
}

#[test]
fn a_worker_killed_mid_stream_loses_nothing_and_the_next_answers_from_the_start() {
    let f = fleet();
    let bot = ["python3", "examples/bots/stream.py", "--chunk-ms", "200"];
    let first = f.world.worker(
        "killed",
        &["--flush-interval", "100ms", "--timeout", "30s"],
        &bot,
    );
    let path = f.ask("killed", QUESTION);
    // Wait for the first attempt's text to show, then kill its worker.
    let started = Instant::now();
    let seen = loop {
        let reply = f.call("killed", "GET", &path, None);
        let doc = reply.json();
        if reply.status == 202 && doc["sequence"].is_u64() {
            break doc;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no partial answer"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    common::unsafe_kill(first.id(), "KILL");
    let _ = finish(first, Duration::from_secs(10));
    assert_eq!(seen["attempt"], 1, "{seen}");
    // Idle for longer than the killed worker's message stays hidden, so as not to stop before it is back.
    let second = f.world.worker(
        "killed",
        &[
            "--flush-interval",
            "100ms",
            "--timeout",
            "30s",
            "--idle-exit",
            "10s",
        ],
        &bot,
    );
    let watched = f.try_watch("killed", &path);
    let (code, summary, log) = finish(second, Duration::from_secs(60));
    let (partials, last) = watched.unwrap_or_else(|seen| {
        let status = f
            .world
            .botpub_bot("status", "killed", &["--output", "json"]);
        let dlq = f.world.botpub_bot("dlq", "killed", &["--output", "json"]);
        panic!(
            "no answer: {seen:?}\n{log}\nstatus: {}\ndlq: {}",
            status.stdout(),
            dlq.stdout()
        )
    });
    assert_eq!(code, 0, "{log}");
    assert_eq!(summary["answered"], 1, "{summary}");
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(text(&last), format!("You said: {QUESTION}"));
    // The text went on under a later attempt (a delivery to the killed worker's dead long polls may have
    // counted one more), and never back to the first one's.
    let attempts: Vec<u64> = partials
        .iter()
        .map(|p| p["attempt"].as_u64().unwrap())
        .collect();
    assert!(attempts.windows(2).all(|a| a[0] <= a[1]), "{attempts:?}");
    let later: Vec<&Value> = partials.iter().filter(|p| p["attempt"] != 1).collect();
    assert!(!later.is_empty(), "{partials:?}");
    // Whatever the client saw of either attempt was the start of the one answer, never two joined.
    let answer = format!("You said: {QUESTION}");
    assert!(
        partials.iter().all(|p| answer.starts_with(&text(p))),
        "{partials:?}"
    );
}

#[test]
fn ask_on_a_terminal_shows_the_answer_growing() {
    let f = fleet();
    let worker = f.world.worker(
        "terminal",
        &["--flush-interval", "200ms", "--idle-exit", "3s"],
        &["python3", "examples/bots/stream.py", "--chunk-ms", "250"],
    );
    let (_, key) = &f.apis["terminal"];
    let ask = f
        .world
        .clean(std::process::Command::new("python3"), &f.world.endpoint)
        .arg(common::root().join("tests/support/on_a_terminal.py"))
        .args([
            "--",
            env!("CARGO_BIN_EXE_botpub"),
            "ask",
            "terminal",
            QUESTION,
        ])
        .args(["--prefix", &f.world.prefix, "--timeout", "60s"])
        .env("BOTPUB_API_KEY", key)
        .output()
        .unwrap();
    let recorded: Value = serde_json::from_slice(&ask.stdout).unwrap();
    assert_eq!(recorded["exit"], 0, "{recorded}");
    let writes = recorded["writes"].as_array().unwrap();
    // The screen as it stood after each write: each the start of the next, the last the whole answer.
    let mut screen = String::new();
    let mut screens = Vec::new();
    for write in writes {
        screen.push_str(write[1].as_str().unwrap());
        screens.push((write[0].as_f64().unwrap(), screen.clone()));
    }
    let answer = format!("You said: {QUESTION}");
    assert!(screen.contains(&answer), "{recorded}");
    let growing: Vec<&(f64, String)> = screens
        .iter()
        .filter(|(_, text)| text.starts_with("You said") && text.len() < answer.len())
        .collect();
    assert!(
        growing.len() >= 3,
        "the answer came in one piece: {recorded}"
    );
    let (first, last) = (growing[0].0, screens.last().unwrap().0);
    assert!(last - first >= 2.0, "{recorded}");
    let (code, _, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
}

#[test]
fn ask_prints_the_answer_through_a_pipe_before_the_bot_has_finished() {
    let f = fleet();
    let worker = f.world.worker(
        "piped",
        &["--flush-interval", "200ms", "--idle-exit", "3s"],
        &["python3", "examples/bots/stream.py", "--chunk-ms", "250"],
    );
    let (_, key) = &f.apis["piped"];
    let started = Instant::now();
    let mut asking = f
        .world
        .command(&f.world.endpoint)
        .args([
            "ask",
            "piped",
            QUESTION,
            "--prefix",
            &f.world.prefix,
            "--timeout",
            "60s",
        ])
        .env("BOTPUB_API_KEY", key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Each read of the pipe, with when it came.
    let mut stdout = asking.stdout.take().unwrap();
    let mut reads: Vec<(Duration, String)> = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stdout.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        reads.push((
            started.elapsed(),
            String::from_utf8_lossy(&buffer[..n]).into_owned(),
        ));
    }
    let status = asking.wait().unwrap();
    let mut stderr = String::new();
    asking
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    let printed: String = reads.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(printed, format!("You said: {QUESTION}\n"));
    // Twenty pieces 250 ms apart take five seconds: text arrived well before the last one.
    let done = reads.last().unwrap().0;
    let first = reads.first().unwrap().0;
    assert!(reads.len() >= 3, "{reads:?}");
    assert!(
        done - first >= Duration::from_secs(2),
        "the answer came in one piece: {reads:?}"
    );
    let (code, _, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
    // --no-stream prints the final answer only, at once.
    let worker = f.world.worker(
        "piped",
        &["--flush-interval", "200ms", "--idle-exit", "3s"],
        &["python3", "examples/bots/stream.py", "--chunk-ms", "50"],
    );
    let quiet = f
        .world
        .command(&f.world.endpoint)
        .args([
            "ask",
            "piped",
            "hello there",
            "--no-stream",
            "--prefix",
            &f.world.prefix,
        ])
        .env("BOTPUB_API_KEY", key)
        .output()
        .unwrap();
    assert!(quiet.status.success());
    assert_eq!(
        String::from_utf8_lossy(&quiet.stdout),
        "You said: hello there\n"
    );
    // --output json prints the final result document alone, never a partial text before it.
    let json = f
        .world
        .command(&f.world.endpoint)
        .args(["--output", "json", "ask", "piped", "hello again"])
        .args(["--prefix", &f.world.prefix])
        .env("BOTPUB_API_KEY", key)
        .output()
        .unwrap();
    assert!(json.status.success());
    let doc: Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(
        (doc["status"].as_str(), doc["response"].as_str()),
        (Some("completed"), Some("You said: hello again"))
    );
    let (code, _, log) = finish(worker, Duration::from_secs(60));
    assert_eq!(code, 0, "{log}");
}
