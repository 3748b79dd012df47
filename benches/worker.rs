//! Worker benchmark on LocalStack: `botpub worker --http --concurrency 8` against a hand-written boto3
//! consumer of the kind tutorials show (long poll, one message at a time, call the bot, put the result,
//! delete), both calling the same bot server (examples/bots/server.py) that answers after 100 ms; the exec
//! mode's cost per request; each model backend (`--bedrock`, `--agentcore`, `--openai`) against the
//! project's model stand-in (tests/support/model_standin.py) answering in 100 ms; and `botpub ask`
//! against seed 000's client loop (POST, then GET every 2 s).
//!
//!   cargo bench --bench worker     full measurement (release build; 500 requests a side, ~2.5 min)
//!   cargo test --bench worker      smoke run (debug build, 20 requests a side, ~40 s)
//!
//! Requests are queued through the published API (POST /predict) before each consumer starts. Throughput is
//! answers per second of the consumer's run; latency is from the POST's answer to the result's
//! `completed_at`; botpub's own time is each request's handling time minus its bot call (`duration_ms -
//! bot_ms` of the worker's JSON log: the duplicate check, writing the result, deleting the message),
//! measured at `--concurrency 8` and one request at a time, like the reference (whose own time per
//! request is its time per request minus the bot's 100 ms). LocalStack comes from tests/support/servers.sh, boto3 from the pinned
//! LocalStack venv; the bot is unpublished at the end.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

mod support;

use support::{LocalStack, REGION, utc_now, verdict};

const TARGET_THROUGHPUT: f64 = 5.0;
const TARGET_OWN_MS: f64 = 30.0;
const TARGET_MODEL_OWN_MS: f64 = 20.0;
const TARGET_ASK: f64 = 5.0;
const BOT_DELAY_MS: u32 = 100;

struct Bench {
    root: PathBuf,
    bin: PathBuf,
    home: tempfile::TempDir,
    endpoint: String,
    prefix: String,
    api: String,
    key: String,
}

impl Bench {
    fn botpub(&self, args: &[&str]) -> Command {
        let mut command = support::botpub(&self.bin, self.home.path(), &self.endpoint);
        command.args(args).current_dir(&self.root);
        command
    }

    fn run(&self, args: &[&str]) -> Value {
        let out = self.botpub(args).output().unwrap();
        assert!(
            out.status.success(),
            "botpub {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    /// POSTs `n` questions; each request id with the time its POST was answered.
    fn post(&self, n: usize, tag: &str) -> Vec<(String, SystemTime)> {
        let agent = Bench::agent();
        (0..n)
            .map(|i| {
                let body = json!({ "message": format!("{tag} {i}") }).to_string();
                let mut reply = agent
                    .post(format!("{}/predict", self.api))
                    .header("x-api-key", &self.key)
                    .header("content-type", "application/json")
                    .send(body.as_bytes())
                    .unwrap();
                let doc: Value =
                    serde_json::from_str(&reply.body_mut().read_to_string().unwrap()).unwrap();
                (
                    doc["request_id"].as_str().unwrap().to_string(),
                    SystemTime::now(),
                )
            })
            .collect()
    }

    /// GET /result/{id}: the document, whatever its status.
    fn result(&self, agent: &ureq::Agent, id: &str) -> Value {
        let mut reply = agent
            .get(format!("{}/result/{id}", self.api))
            .header("x-api-key", &self.key)
            .call()
            .unwrap();
        serde_json::from_str(&reply.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// Milliseconds from each POST to its result's `completed_at`; every result must be complete.
    fn latencies(&self, posted: &[(String, SystemTime)]) -> Vec<f64> {
        let agent = Bench::agent();
        posted
            .iter()
            .map(|(id, at)| {
                let doc = self.result(&agent, id);
                assert_eq!(doc["status"], "completed", "{doc}");
                let done = aws_smithy_types::DateTime::from_str(
                    doc["completed_at"].as_str().unwrap(),
                    aws_smithy_types::date_time::Format::DateTime,
                )
                .unwrap();
                let done = SystemTime::try_from(done).unwrap();
                done.duration_since(*at).unwrap_or_default().as_secs_f64() * 1000.0
            })
            .collect()
    }

    /// botpub worker until it has answered `n`: wall seconds and (handling ms, bot ms) per request.
    fn worker(&self, n: usize, concurrency: u32, bot: &[&str]) -> (f64, Vec<(f64, f64)>) {
        self.worker_with_env(n, concurrency, bot, &[])
    }

    /// [`Bench::worker`] with more environment (a model backend's endpoint).
    fn worker_with_env(
        &self,
        n: usize,
        concurrency: u32,
        bot: &[&str],
        env: &[(&str, &str)],
    ) -> (f64, Vec<(f64, f64)>) {
        let n = n.to_string();
        let concurrency = concurrency.to_string();
        let mut args = vec![
            "worker",
            "bench",
            "--prefix",
            &self.prefix,
            "--concurrency",
            &concurrency,
            "--max-requests",
            &n,
            "--log-format",
            "json",
            "--output",
            "json",
        ];
        args.extend_from_slice(bot);
        let started = Instant::now();
        let out = self
            .botpub(&args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let wall = started.elapsed().as_secs_f64();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        let times = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["outcome"] == "completed")
            .map(|l| {
                (
                    l["duration_ms"].as_f64().unwrap(),
                    l["bot_ms"].as_f64().unwrap(),
                )
            })
            .collect();
        (wall, times)
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A child process stopped however the bench ends (a panic must not leave the bot server holding the
/// terminal's pipes).
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A model backend: its name, the worker's options and environment for it.
type Backend<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);

/// A server of the project's that answers after the bench's bot delay: the example bot server, or the
/// model stand-in.
fn bot_server(root: &Path, script: &str) -> (Stopped, String) {
    let mut child = Command::new("python3")
        .arg(root.join(script))
        .args(["--port", "0", "--delay-ms", &BOT_DELAY_MS.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_string();
    (Stopped(child), url)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, exec_n, asks) = if full { (500, 200, 10) } else { (20, 10, 2) };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (bin, bin_source) = support::binary();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "botpub worker benchmark ({}), {}, {profile} build, {} cores",
        if full {
            "full"
        } else {
            "smoke run; `cargo bench --bench worker` measures"
        },
        utc_now(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let localstack = LocalStack::start(&root);
    println!(
        "{}; botpub {} ({bin_source})",
        localstack.describe(),
        bin.display()
    );
    let home = tempfile::tempdir().unwrap();
    let prefix = format!("W{:08x}", fastrand::u32(..));
    let spec = home.path().join("bench.yaml");
    std::fs::write(
        &spec,
        format!(
            "version: 1\nregion: {REGION}\nstack_prefix: {prefix}\nbots:\n  - id: bench\n    allowed_origins: [\"https://app.example.com\"]\n    queue: {{ visibility_timeout_seconds: 30, max_receive_count: 2 }}\n"
        ),
    )
    .unwrap();
    let mut bench = Bench {
        root: root.clone(),
        bin,
        home,
        endpoint: localstack.endpoint.clone(),
        prefix: prefix.clone(),
        api: String::new(),
        key: String::new(),
    };
    bench.run(&[
        "publish",
        spec.to_str().unwrap(),
        "--yes",
        "--progress",
        "none",
        "--output",
        "json",
    ]);
    let status = bench.run(&["status", "bench", "--prefix", &prefix, "--output", "json"]);
    bench.api = status["endpoint"].as_str().unwrap().to_string();
    bench.key = bench.run(&[
        "keys",
        "create",
        "bench",
        "--description",
        "bench client",
        "--prefix",
        &prefix,
        "--output",
        "json",
    ])["value"]
        .as_str()
        .unwrap()
        .to_string();
    let queue_url = status["queue_url"].as_str().unwrap().to_string();
    let venv = support::localstack_venv(&root);
    // The results bucket, for the reference consumer: the stack's ResultsBucket output.
    let out = Command::new(venv.join("bin/aws"))
        .args([
            "--endpoint-url",
            &localstack.endpoint,
            "--region",
            REGION,
            "cloudformation",
            "describe-stacks",
        ])
        .args([
            "--stack-name",
            &format!("{prefix}-bench"),
            "--output",
            "text",
        ])
        .args([
            "--query",
            "Stacks[0].Outputs[?OutputKey=='ResultsBucket'].OutputValue",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let bucket = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !bucket.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (server, bot_url) = bot_server(&root, "examples/bots/server.py");

    // 1. The hand-written boto3 consumer.
    let posted = bench.post(n, "reference");
    let started = Instant::now();
    let status = Command::new(venv.join("bin/python"))
        .arg(root.join("benches/support/boto3_consumer.py"))
        .args([
            &localstack.endpoint,
            &queue_url,
            &bucket,
            &bot_url,
            &n.to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "the boto3 consumer failed");
    let reference_s = started.elapsed().as_secs_f64();
    let reference_latency = bench.latencies(&posted);

    // 2. botpub worker --http --concurrency 8.
    let posted = bench.post(n, "botpub");
    let (botpub_s, times) = bench.worker(n, 8, &["--http", &bot_url]);
    let botpub_latency = bench.latencies(&posted);
    assert_eq!(times.len(), n, "every request answered once");
    let own: Vec<f64> = times.iter().map(|(all, bot)| all - bot).collect();
    let bot_calls: Vec<f64> = times.iter().map(|(_, bot)| *bot).collect();

    // 2b. One request at a time, as the reference works: botpub's own time without LocalStack serving
    // eight requests at once on the same two cores.
    let single_n = (n / 5).max(5);
    let posted = bench.post(single_n, "single");
    let (_, single) = bench.worker(single_n, 1, &["--http", &bot_url]);
    bench.latencies(&posted);
    let single_own: Vec<f64> = single.iter().map(|(all, bot)| all - bot).collect();

    // 3. Exec mode: one process per request, a bot that only reads its input and answers.
    let posted = bench.post(exec_n, "exec");
    let (exec_s, exec_times) =
        bench.worker(exec_n, 8, &["--", "sh", "-c", "cat >/dev/null; echo ok"]);
    bench.latencies(&posted);
    let exec_bot: Vec<f64> = exec_times.iter().map(|(_, bot)| *bot).collect();
    let exec_own: Vec<f64> = exec_times.iter().map(|(all, bot)| all - bot).collect();

    // 4. The model backends, one request at a time, each against the stand-in answering in 100 ms: the
    // worker's own time beyond the model call (building the prompt, the client, the result).
    let (standin, standin_url) = bot_server(&root, "tests/support/model_standin.py");
    let openai_url = format!("{standin_url}/v1");
    let backends: [Backend; 3] = [
        (
            "--bedrock",
            vec!["--bedrock", "anthropic.claude-3-haiku-20240307-v1:0"],
            vec![("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", standin_url.as_str())],
        ),
        (
            "--agentcore",
            vec![
                "--agentcore",
                "arn:aws:bedrock-agentcore:us-east-1:000000000000:runtime/bench-a1b2c3d4e5",
            ],
            vec![("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", standin_url.as_str())],
        ),
        (
            "--openai",
            vec!["--openai", &openai_url, "--model", "bench"],
            vec![],
        ),
    ];
    let mut model_rows = Vec::new();
    for (name, args, env) in &backends {
        let posted = bench.post(single_n, name);
        let (_, times) = bench.worker_with_env(single_n, 1, args, env);
        bench.latencies(&posted);
        assert_eq!(times.len(), single_n, "{name}: every request answered once");
        let own: Vec<f64> = times.iter().map(|(all, model)| all - model).collect();
        let model: Vec<f64> = times.iter().map(|(_, model)| *model).collect();
        model_rows.push((*name, own, model));
    }
    drop(standin);

    // 5. ask against seed 000's client loop, with a worker running.
    let mut worker = bench
        .botpub(&[
            "worker",
            "bench",
            "--prefix",
            &prefix,
            "--http",
            &bot_url,
            "--log-format",
            "json",
        ])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let mut ask_ms = Vec::new();
    let mut seed_ms = Vec::new();
    let agent = Bench::agent();
    let mut answered_id = None;
    for i in 0..asks {
        let started = Instant::now();
        let out = bench
            .botpub(&[
                "ask",
                "bench",
                &format!("ask {i}"),
                "--prefix",
                &prefix,
                "--key",
                &bench.key,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ask_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let (id, _) = bench.post(1, "seed").remove(0);
        loop {
            std::thread::sleep(Duration::from_secs(2));
            if bench.result(&agent, &id)["status"] == "completed" {
                break;
            }
        }
        seed_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        answered_id = Some(id);
    }
    // What the API's check of a waiting id (its time, without code in the request path) adds to a poll
    // of `ask`, in this run: GET of an id still waiting (S3's 404, then the whole check: 202) against GET
    // of an id the check turns down at its first test (S3's 404 too: 404), and of an answered id (the
    // stored document), alternated.
    let answered_id = answered_id.expect("at least one answered request");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let waiting_id = format!("{now_ms}-00000000-0000-4000-8000-000000000000");
    let never_given = "00000000-0000-4000-8000-000000000000".to_string();
    let (mut answered_get_ms, mut waiting_get_ms, mut unchecked_get_ms) =
        (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..asks * 10 {
        for (id, times, status) in [
            (&answered_id, &mut answered_get_ms, 200),
            (&waiting_id, &mut waiting_get_ms, 202),
            (&never_given, &mut unchecked_get_ms, 404),
        ] {
            let started = Instant::now();
            let reply = agent
                .get(format!("{}/result/{id}", bench.api))
                .header("x-api-key", &bench.key)
                .call()
                .unwrap();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(reply.status().as_u16(), status, "GET /result/{id}");
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let _ = worker.wait();
    drop(server);

    // 6. A bot that streams 50 pieces 100 ms apart (5 s): when a client polling every 100 ms first sees
    // text, and the whole answer, with partial results at the default interval and without them
    // (`--flush-interval 0`, as before partial results); how many S3 writes an answer took.
    let streams = if full { 5 } else { 1 };
    let question = (1..=48)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let started_file = bench.home.path().join("bot-started");
    let stream_bot = format!(
        "date +%s.%N > {}; exec python3 examples/bots/stream.py --chunk-ms 100",
        started_file.display()
    );
    let mut streamed: Vec<(f64, f64, u64)> = Vec::new();
    let mut whole_ms = Vec::new();
    for flush in ["500ms", "0"] {
        for i in 0..streams {
            let mut worker = bench
                .botpub(&[
                    "worker",
                    "bench",
                    "--prefix",
                    &prefix,
                    "--flush-interval",
                    flush,
                    "--max-requests",
                    "1",
                    "--output",
                    "json",
                    "--",
                    "sh",
                    "-c",
                    &stream_bot,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(500));
            let (id, _) = bench.post(1, &format!("{question} {i}")).remove(0);
            let posted = Instant::now();
            let (mut first_text, mut writes) = (None, 0);
            let done = loop {
                let doc = bench.result(&agent, &id);
                if let Some(sequence) = doc["sequence"].as_u64() {
                    first_text.get_or_insert(posted.elapsed());
                    writes = writes.max(sequence);
                }
                if doc["status"] == "completed" {
                    break posted.elapsed();
                }
                assert!(posted.elapsed() < Duration::from_secs(60), "{doc}");
                std::thread::sleep(Duration::from_millis(100));
            };
            let _ = worker.wait();
            let bot_started: f64 = std::fs::read_to_string(&started_file)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let posted_at = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
                - posted.elapsed().as_secs_f64();
            // The bot's first piece comes 100 ms after it started.
            let first_piece = bot_started + 0.1 - posted_at;
            match (flush, first_text) {
                ("0", _) => whole_ms.push(done.as_secs_f64() * 1000.0),
                (_, Some(first)) => streamed.push((
                    (first.as_secs_f64() - first_piece) * 1000.0,
                    done.as_secs_f64() * 1000.0,
                    writes + 1,
                )),
                (_, None) => panic!("no partial text with --flush-interval {flush}"),
            }
        }
    }

    bench.run(&[
        "unpublish",
        "bench",
        "--prefix",
        &prefix,
        "--yes",
        "--progress",
        "none",
    ]);
    localstack.stop();

    let reference_rate = n as f64 / reference_s;
    let botpub_rate = n as f64 / botpub_s;
    let throughput = botpub_rate / reference_rate;
    let own_p50 = percentile(&own, 0.5);
    let single_own_p50 = percentile(&single_own, 0.5);
    let ask_ratio = percentile(&seed_ms, 0.5) / percentile(&ask_ms, 0.5);
    println!();
    println!("| measure | boto3 consumer | botpub worker | target |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| throughput, {n} requests, {BOT_DELAY_MS} ms bot | {reference_rate:.1}/s | {botpub_rate:.1}/s ({throughput:.1}×) | ≥ {TARGET_THROUGHPUT}×: {} |",
        verdict(throughput >= TARGET_THROUGHPUT)
    );
    println!(
        "| latency POST → result written, p50 / p99 | {:.0} / {:.0} ms | {:.0} / {:.0} ms | |",
        percentile(&reference_latency, 0.5),
        percentile(&reference_latency, 0.99),
        percentile(&botpub_latency, 0.5),
        percentile(&botpub_latency, 0.99)
    );
    println!(
        "| botpub's own time per request beyond the bot call, p50 / p99 | | {own_p50:.1} / {:.1} ms (bot call p50 {:.0} ms) | ≤ {TARGET_OWN_MS} ms p50: {} |",
        percentile(&own, 0.99),
        percentile(&bot_calls, 0.5),
        verdict(own_p50 <= TARGET_OWN_MS)
    );
    println!(
        "| the same, one request at a time ({single_n} requests): own time p50 / p99; the boto3 consumer's per request | {:.1} ms | {single_own_p50:.1} / {:.1} ms | ≤ {TARGET_OWN_MS} ms p50: {} |",
        1000.0 / reference_rate - f64::from(BOT_DELAY_MS),
        percentile(&single_own, 0.99),
        verdict(single_own_p50 <= TARGET_OWN_MS)
    );
    println!(
        "| exec mode, {exec_n} requests: process start and I/O p50 / own time p50 / throughput | | {:.1} ms / {:.1} ms / {:.1}/s | |",
        percentile(&exec_bot, 0.5),
        percentile(&exec_own, 0.5),
        exec_n as f64 / exec_s
    );
    for (name, own, model) in &model_rows {
        let p50 = percentile(own, 0.5);
        println!(
            "| `{name}` against its stand-in ({BOT_DELAY_MS} ms), one at a time, {single_n} requests: own time beyond the model call p50 / p95 | | {p50:.1} / {:.1} ms (model call p50 {:.0} ms) | ≤ {TARGET_MODEL_OWN_MS} ms p50: {} |",
            percentile(own, 0.95),
            percentile(model, 0.5),
            verdict(p50 <= TARGET_MODEL_OWN_MS)
        );
    }
    println!(
        "| time to the answer, {BOT_DELAY_MS} ms bot, median of {asks}: seed client loop (2 s polls) / botpub ask | {:.0} ms | {:.0} ms ({ask_ratio:.1}×) | ≥ {TARGET_ASK}×: {} |",
        percentile(&seed_ms, 0.5),
        percentile(&ask_ms, 0.5),
        verdict(ask_ratio >= TARGET_ASK)
    );
    let (answered_get, waiting_get, unchecked_get) = (
        percentile(&answered_get_ms, 0.5),
        percentile(&waiting_get_ms, 0.5),
        percentile(&unchecked_get_ms, 0.5),
    );
    let first_after: Vec<f64> = streamed.iter().map(|s| s.0).collect();
    let full_streamed: Vec<f64> = streamed.iter().map(|s| s.1).collect();
    let writes: Vec<f64> = streamed.iter().map(|s| s.2 as f64).collect();
    let (first_p50, full_p50, whole_p50) = (
        percentile(&first_after, 0.5),
        percentile(&full_streamed, 0.5),
        percentile(&whole_ms, 0.5),
    );
    println!(
        "| a bot streaming 50 pieces over 5 s, {streams} each: first text seen after the bot's first piece | | {first_p50:.0} ms | ≤ 1000 ms: {} |",
        verdict(first_p50 <= 1000.0)
    );
    println!(
        "| the same: whole answer after POST, partial results off (`--flush-interval 0`) / on (500 ms) | {whole_p50:.0} ms | {full_p50:.0} ms ({:+.0}%) | ≤ +10%: {} |",
        (full_p50 / whole_p50 - 1.0) * 100.0,
        verdict(full_p50 <= whole_p50 * 1.10)
    );
    println!(
        "| the same: S3 writes per answer (partial documents and the final one) | 1 | {:.0} | |",
        percentile(&writes, 0.5)
    );
    let poll_growth = waiting_get / unchecked_get - 1.0;
    println!(
        "| a poll of `ask` p50, {} each: an answered id / a waiting id without the time check (turned down at once) / with it | | {answered_get:.1} / {unchecked_get:.1} / {waiting_get:.1} ms (check {:+.0}%) | ≤ +10%: {} |",
        answered_get_ms.len(),
        poll_growth * 100.0,
        verdict(poll_growth <= 0.10)
    );
}
