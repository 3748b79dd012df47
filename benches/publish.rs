//! Publishing benchmark against LocalStack: `botpub publish --yes` of one bot, compared with
//! `aws cloudformation deploy` of the same template and with the engine's own time for it.
//!
//!   cargo bench --bench publish          full measurement (release build; ~40 s a round, 5 rounds: ~3.5 min)
//!   cargo test --bench publish           smoke run (debug build, one round without awscli, ~15 s)
//!
//! Every round publishes fresh stacks (unique names, so each run is a CREATE), interleaving:
//! - botpub:  `botpub publish SPEC --yes --progress none --output json`, a whole process (the binary cargo built
//!   for this profile, `CARGO_BIN_EXE_botpub`, or BOTPUB_BENCH_BIN), wall time from spawn to exit;
//! - deploy:  `aws cloudformation deploy` (awscli 1.46.3 from the pinned LocalStack venv) of the template
//!   `botpub synth` writes for the same bot, with the same stack tags;
//! - engine:  the engine's own time for that template, measured in this process with aws-sdk-cloudformation
//!   on a warm client: CreateChangeSet (CREATE), DescribeChangeSet every 50 ms until CREATE_COMPLETE,
//!   ExecuteChangeSet, DescribeStacks every 50 ms until CREATE_COMPLETE;
//! - library: the same publish through botpub's library in this process (`Aws::connect`, `Run::plan`,
//!   `Run::apply`, `status::published`), whose request count comes from botpub's own SDK interceptor
//!   (`Aws::requests`).
//!
//! One more `botpub publish -v` run logs every request (operation, duration) with the time it arrived, which
//! gives the calls per publish by operation, the describe rate, and where the time goes.
//!
//! LocalStack is started with tests/support/servers.sh (and stopped at the end if this bench started it);
//! every stack the bench made is deleted at the end, also when a measurement fails.
//! Environment: BOTPUB_BENCH_ROUNDS (default 5; smoke 1), BOTPUB_BENCH_BIN.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Tag};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

mod support;

use support::{LocalStack, REGION, utc_now, verdict};
/// The targets.
const TARGET_VS_DEPLOY: f64 = 20.0;
const TARGET_VS_ENGINE: f64 = 2.0;
/// The figures measured for the issue on this machine, for reference.
const REFERENCE_ENGINE_S: f64 = 0.42;
const REFERENCE_DEPLOY_S: f64 = 30.4;

// ---------------------------------------------------------------------------------------------------------
// Counting the engine loop's requests through the SDK's interceptors (botpub counts its own the same way).

#[derive(Debug, Default, Clone)]
struct Counter(Arc<Mutex<BTreeMap<String, u64>>>);

impl Counter {
    fn total(&self) -> u64 {
        self.0.lock().unwrap().values().sum()
    }

    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "bench-request-counter"
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        *self.0.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------

struct Bench {
    full: bool,
    bin: PathBuf,
    endpoint: String,
    /// awscli's `aws` (full mode only).
    aws_cli: Option<PathBuf>,
    dir: tempfile::TempDir,
    prefix: String,
    /// The template `botpub synth` wrote for the bot, its text and its stack tags.
    template: PathBuf,
    template_body: String,
    tags: BTreeMap<String, String>,
    cfn: aws_sdk_cloudformation::Client,
    counter: Counter,
    runtime: tokio::runtime::Runtime,
    /// Every stack this run created or tried to create, for the clean-up.
    stacks: Mutex<Vec<String>>,
}

/// The bot every round publishes: the quickstart plus limits and queue settings. One origin: with a second,
/// its template (with the OpenAPI description its API serves) is over CloudFormation's 51,200-byte
/// inline limit, and every way of deploying it would need a bucket.
fn bot_yaml(id: &str) -> String {
    format!(
        "  - id: {id}\n    description: Benchmark assistant\n    stage: prod\n    throttle: {{ rate_limit: 50, burst_limit: 100 }}\n    quota: {{ limit: 10000, period: MONTH }}\n    allowed_origins: [\"https://app.example.com\"]\n    queue: {{ visibility_timeout_seconds: 1800, max_receive_count: 2, retention_days: 4 }}\n    tags: {{ team: bench }}\n"
    )
}

impl Bench {
    fn spec(&self, id: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{id}.yaml"));
        let text = format!(
            "version: 1\nregion: {REGION}\nstack_prefix: {}\nbots:\n{}",
            self.prefix,
            bot_yaml(id)
        );
        std::fs::write(&path, text).expect("write spec");
        path
    }

    fn stack_name(&self, id: &str) -> String {
        let name = format!("{}-{id}", self.prefix);
        self.stacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.clone());
        name
    }

    /// The botpub binary with a clean AWS environment pointed at LocalStack, no terminal on stdin.
    fn botpub(&self) -> Command {
        support::botpub(&self.bin, self.dir.path(), &self.endpoint)
    }

    /// (a) `botpub publish` as a whole process.
    fn publish_process(&self, id: &str) -> Duration {
        let spec = self.spec(id);
        self.stack_name(id);
        let started = Instant::now();
        let output = self
            .botpub()
            .arg("publish")
            .arg(&spec)
            .args(["--yes", "--progress", "none", "--output", "json"])
            .output()
            .expect("run botpub");
        let wall = started.elapsed();
        check_published(&output, id);
        wall
    }

    /// (b) `aws cloudformation deploy` of the synthesized template.
    fn deploy_awscli(&self, id: &str) -> Duration {
        let aws = self.aws_cli.as_ref().expect("awscli");
        let stack = self.stack_name(id);
        let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let started = Instant::now();
        let output = Command::new(aws)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["cloudformation", "deploy", "--endpoint-url", &self.endpoint])
            .arg("--template-file")
            .arg(&self.template)
            .args(["--stack-name", &stack, "--capabilities", "CAPABILITY_IAM"])
            .arg("--tags")
            .args(&tags)
            .stdin(Stdio::null())
            .output()
            .expect("run aws");
        let wall = started.elapsed();
        assert!(
            output.status.success(),
            "aws cloudformation deploy failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let status = self.runtime.block_on(stack_status(&self.cfn, &stack));
        assert_eq!(status.as_deref(), Some("CREATE_COMPLETE"), "{stack}");
        wall
    }

    /// (c) The engine's own time: change set, execution, 50 ms polls, on a warm in-process client.
    fn engine(&self, id: &str) -> Engine {
        let stack = self.stack_name(id);
        let before = self.counter.total();
        let (wall, change_set) = self.runtime.block_on(engine_create(
            &self.cfn,
            &stack,
            &self.template_body,
            &self.tags,
        ));
        Engine {
            wall,
            change_set,
            calls: self.counter.total() - before,
        }
    }

    /// (d) botpub's publish through the library, in this process: the time and botpub's own request count.
    fn publish_library(&self, id: &str) -> (Duration, u64) {
        let spec = self.spec(id);
        let stack = self.stack_name(id);
        let started = Instant::now();
        let requests = self
            .runtime
            .block_on(library_publish(&self.endpoint, &self.prefix, &spec))
            .unwrap_or_else(|e| panic!("library publish of {stack}: {e:#}"));
        (started.elapsed(), requests)
    }

    /// `botpub publish -v`: every request, with when its log line arrived (relative to the spawn).
    fn publish_verbose(&self, id: &str) -> Verbose {
        let spec = self.spec(id);
        let stack = self.stack_name(id);
        let spawned = SystemTime::now();
        let started = Instant::now();
        let mut child = self
            .botpub()
            .arg("publish")
            .arg(&spec)
            .args(["--yes", "--progress", "none", "--output", "json", "-v"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run botpub -v");
        let stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .map(|line| (started.elapsed(), line))
                .collect::<Vec<_>>()
        });
        let output = child.wait_with_output().expect("wait for botpub -v");
        let wall = started.elapsed();
        let lines = reader.join().expect("stderr reader");
        let mut check = output.clone();
        check.stderr = lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
        check_published(&check, id);
        let requests = lines
            .iter()
            .filter_map(|(at, line)| Request::parse(*at, line))
            .collect();
        let [executing, last_resource, complete] =
            self.runtime.block_on(stack_times(&self.cfn, &stack));
        let since_spawn = |t: Option<SystemTime>| t.and_then(|t| t.duration_since(spawned).ok());
        Verbose {
            wall,
            requests,
            executing: since_spawn(executing),
            last_resource: since_spawn(last_resource),
            complete: since_spawn(complete),
        }
    }

    /// Deletes every stack of this run and waits until they are gone; returns those that would not go.
    fn clean_up(&self) -> Vec<String> {
        let stacks = self
            .stacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.runtime.block_on(delete_all(&self.cfn, &stacks))
    }
}

/// One engine-loop deployment: the whole time, the part until the change set was ready, the requests.
struct Engine {
    wall: Duration,
    change_set: Duration,
    calls: u64,
}

fn check_published(output: &std::process::Output, id: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "botpub publish of {id} failed ({}):\n{stderr}",
        output.status
    );
    let doc: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("publish did not print one JSON document ({e}):\n{stderr}"));
    let stacks = doc["stacks"].as_array().expect("stacks");
    assert_eq!(stacks.len(), 1, "{doc:#}");
    assert_eq!(stacks[0]["result"], "created", "{doc:#}");
    assert_eq!(stacks[0]["status"], "CREATE_COMPLETE", "{doc:#}");
    assert!(stacks[0]["endpoint"].is_string(), "{doc:#}");
}

async fn stack_status(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> Option<String> {
    let out = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
    out.stacks()
        .first()
        .and_then(|s| s.stack_status())
        .map(|s| s.as_str().to_string())
}

/// The times of a stack's own CREATE_IN_PROGRESS (the execution starting), of its last resource's
/// CREATE_COMPLETE, and of its own CREATE_COMPLETE.
async fn stack_times(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> [Option<SystemTime>; 3] {
    let Ok(out) = cfn.describe_stack_events().stack_name(stack).send().await else {
        return [None; 3];
    };
    let at = |status: &str| {
        out.stack_events()
            .iter()
            .filter(|e| {
                e.logical_resource_id() == Some(stack)
                    && e.resource_status().map(|s| s.as_str()) == Some(status)
            })
            .filter_map(|e| e.timestamp().and_then(|t| SystemTime::try_from(*t).ok()))
            .min()
    };
    let last_resource = out
        .stack_events()
        .iter()
        .filter(|e| {
            e.logical_resource_id() != Some(stack)
                && e.resource_status().map(|s| s.as_str()) == Some("CREATE_COMPLETE")
        })
        .filter_map(|e| e.timestamp().and_then(|t| SystemTime::try_from(*t).ok()))
        .max();
    [
        at("CREATE_IN_PROGRESS"),
        last_resource,
        at("CREATE_COMPLETE"),
    ]
}

async fn engine_create(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    body: &str,
    tags: &BTreeMap<String, String>,
) -> (Duration, Duration) {
    const POLL: Duration = Duration::from_millis(50);
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let started = Instant::now();
    let created = cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name("bench")
        .change_set_type(ChangeSetType::Create)
        .template_body(body)
        .capabilities(Capability::CapabilityIam)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateChangeSet {stack}: {e:?}"));
    let change_set = created.id().expect("change set id").to_string();
    let stack_id = created.stack_id().unwrap_or(stack).to_string();
    loop {
        let d = cfn
            .describe_change_set()
            .change_set_name(&change_set)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeChangeSet {stack}: {e:?}"));
        match d.status() {
            Some(ChangeSetStatus::CreateComplete) => break,
            Some(ChangeSetStatus::Failed) => {
                panic!("change set of {stack} failed: {:?}", d.status_reason())
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
    let change_set_ready = started.elapsed();
    cfn.execute_change_set()
        .change_set_name(&change_set)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ExecuteChangeSet {stack}: {e:?}"));
    loop {
        let out = cfn
            .describe_stacks()
            .stack_name(&stack_id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeStacks {stack}: {e:?}"));
        let status = out
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        match status.as_str() {
            "CREATE_COMPLETE" => return (started.elapsed(), change_set_ready),
            s if s.ends_with("_IN_PROGRESS") => tokio::time::sleep(POLL).await,
            s => panic!("{stack} ended {s}"),
        }
    }
}

/// botpub's publish, as `online::publish` does it with `--yes`, through the library; returns the number of
/// AWS requests it made (botpub's interceptor count).
async fn library_publish(endpoint: &str, prefix: &str, spec: &Path) -> anyhow::Result<u64> {
    use botpub::aws::{Aws, Options};
    use botpub::cloudformation::deploy::{self, Run};
    use botpub::cloudformation::progress::{Mode, Progress};

    let checked = botpub::spec::check_files(&[spec.to_path_buf()]);
    anyhow::ensure!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let mut stacks = Vec::new();
    for spec in &checked.specs {
        stacks.extend(botpub::synth::synthesize(spec)?);
    }
    let aws = Aws::connect(&Options {
        region: Some(REGION.to_string()),
        endpoint_url: Some(endpoint.to_string()),
        ..Options::default()
    })
    .await?;
    let run = Run::new(
        aws,
        Progress::new(Mode::None),
        botpub::cloudformation::events::Patience::default(),
        prefix,
    );
    let plan = run.plan(&[spec.to_path_buf()], &stacks).await?;
    anyhow::ensure!(plan.has_changes(), "a new bot must be a change");
    let applied = run.apply(&plan, &stacks, false).await?;
    deploy::failures(&applied)?;
    for result in &applied {
        anyhow::ensure!(
            result.result == botpub::cloudformation::outcome::ApplyResult::Created,
            "{result:?}"
        );
        if let Some(id) = &result.bot_id {
            let published =
                botpub::publication::status::published(&run.aws, &result.stack_name, id).await?;
            anyhow::ensure!(
                published.is_some_and(|p| p.endpoint.is_some()),
                "no endpoint"
            );
        }
    }
    Ok(run.aws.requests())
}

async fn delete_all(cfn: &aws_sdk_cloudformation::Client, stacks: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in stacks {
        // By id: a deleted stack stays visible as DELETE_COMPLETE.
        let id = match cfn.describe_stacks().stack_name(name).send().await {
            Ok(out) => out
                .stacks()
                .first()
                .and_then(|s| s.stack_id())
                .map(str::to_string),
            Err(_) => None, // never created
        };
        if let Some(id) = id
            && cfn.delete_stack().stack_name(&id).send().await.is_ok()
        {
            ids.push((name.clone(), id));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut left = ids;
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut still = Vec::new();
        for (name, id) in left {
            match stack_status(cfn, &id).await.as_deref() {
                Some("DELETE_COMPLETE") | None => {}
                Some("DELETE_FAILED") => {
                    // Once more, then give up on it.
                    let _ = cfn.delete_stack().stack_name(&id).send().await;
                    still.push((name, id));
                }
                Some(_) => still.push((name, id)),
            }
        }
        left = still;
    }
    left.into_iter().map(|(name, _)| name).collect()
}

// ---------------------------------------------------------------------------------------------------------
// The verbose run: `aws: Service.Operation target N ms, K attempt(s), HTTP 200` lines, timestamped here.

#[derive(Debug, Clone)]
struct Request {
    /// When the line arrived, relative to the spawn: the request's end (a pipe adds microseconds).
    end: Duration,
    operation: String,
    took: Duration,
}

impl Request {
    fn parse(at: Duration, line: &str) -> Option<Request> {
        let rest = line.strip_prefix("aws: ")?;
        let operation = rest.split_whitespace().next()?;
        let operation = operation
            .rsplit('.')
            .next()
            .unwrap_or(operation)
            .to_string();
        let before_ms = rest.split(" ms,").next()?;
        let millis: u64 = before_ms.rsplit(' ').next()?.parse().ok()?;
        Some(Request {
            end: at,
            operation,
            took: Duration::from_millis(millis),
        })
    }

    fn start(&self) -> Duration {
        self.end.saturating_sub(self.took)
    }
}

struct Verbose {
    wall: Duration,
    requests: Vec<Request>,
    /// When the stack's own CREATE_IN_PROGRESS and CREATE_COMPLETE events happened (by the engine's
    /// clock, the same machine's), relative to the spawn.
    executing: Option<Duration>,
    last_resource: Option<Duration>,
    complete: Option<Duration>,
}

impl Verbose {
    fn by_operation(&self) -> BTreeMap<String, (u64, Duration)> {
        let mut ops: BTreeMap<String, (u64, Duration)> = BTreeMap::new();
        for r in &self.requests {
            let entry = ops.entry(r.operation.clone()).or_default();
            entry.0 += 1;
            entry.1 += r.took;
        }
        ops
    }

    fn describes(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.operation.starts_with("Describe"))
            .count()
    }

    fn in_requests(&self) -> Duration {
        self.requests.iter().map(|r| r.took).sum()
    }
}

// ---------------------------------------------------------------------------------------------------------
// On real AWS: botpub's poll pacing (its own Backoff), simulated for deployments of a given length.

struct Pacing {
    seconds: f64,
    calls: u64,
    per_second: f64,
    max_in_any_second: usize,
    max_in_any_10s: usize,
    /// How long after the stack completes the next poll comes (and botpub notices).
    seen_after: Duration,
}

/// The describe calls botpub makes while waiting `seconds` for one stack: DescribeStackEvents on every
/// poll (paced by `events::Backoff`, the mean of its jitter) and DescribeStacks every 10 s.
fn pacing(seconds: f64) -> Pacing {
    // The jitter is symmetric (±20 %): take the mean delay of each step over many backoffs.
    let mut backoffs: Vec<botpub::cloudformation::events::Backoff> = (0..200)
        .map(|_| botpub::cloudformation::events::Backoff::new())
        .collect();
    let limit = Duration::from_secs_f64(seconds);
    let mut t = Duration::ZERO;
    let mut calls = Vec::new();
    let mut last_status = Duration::ZERO;
    while t <= limit {
        calls.push(t);
        if t.saturating_sub(last_status) >= Duration::from_secs(10) {
            calls.push(t);
            last_status = t;
        }
        let total: Duration = backoffs.iter_mut().map(|b| b.next_delay()).sum();
        t += total / backoffs.len() as u32;
    }
    let window = |w: Duration| {
        (0..calls.len())
            .map(|i| calls[i..].iter().take_while(|c| **c < calls[i] + w).count())
            .max()
            .unwrap_or(0)
    };
    Pacing {
        seconds,
        calls: calls.len() as u64,
        per_second: calls.len() as f64 / seconds,
        max_in_any_second: window(Duration::from_secs(1)),
        max_in_any_10s: window(Duration::from_secs(10)),
        seen_after: t - limit,
    }
}

// ---------------------------------------------------------------------------------------------------------

fn median(samples: &[Duration]) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    let mut s = samples.to_vec();
    s.sort();
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn list(samples: &[Duration]) -> String {
    samples
        .iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The AWS environment of this process: only what the bench sets (no profile, no metadata service).
fn isolate_aws_environment(home: &Path) {
    let aws_vars: Vec<_> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("AWS_"))
        .collect();
    // SAFETY: called first thing in main, before this process starts any other thread.
    unsafe {
        for k in aws_vars {
            std::env::remove_var(k);
        }
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", REGION);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", home.join("aws-config"));
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"));
    }
}

#[derive(Default)]
struct Samples {
    botpub: Vec<Duration>,
    deploy: Vec<Duration>,
    engine: Vec<Duration>,
    engine_change_set: Vec<Duration>,
    engine_calls: Vec<u64>,
    library: Vec<Duration>,
    library_calls: Vec<u64>,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().expect("temp dir");
    isolate_aws_environment(dir.path());
    let rounds: usize = if full {
        std::env::var("BOTPUB_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|r| *r > 0)
            .unwrap_or(5)
    } else {
        1
    };
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let started = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (bin, bin_source) = support::binary();
    println!(
        "botpub publish benchmark ({}), {}, {profile} build, {} cores",
        if full {
            format!("full, {rounds} rounds")
        } else {
            "smoke run: one round; `cargo bench --bench publish` measures".to_string()
        },
        utc_now(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("binary: {} ({bin_source})", bin.display());

    let localstack = LocalStack::start(&root);
    let endpoint = localstack.endpoint.clone();
    println!("{}", localstack.describe());
    let aws_cli = if full {
        let aws = support::localstack_venv(&root).join("bin/aws");
        let version = Command::new(&aws)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", aws.display()));
        println!(
            "awscli: {} ({})",
            aws.display(),
            String::from_utf8_lossy(&version.stdout).trim()
        );
        Some(aws)
    } else {
        println!(
            "awscli comparison: SKIPPED in the smoke run (its waiter sleeps 30 s per deploy); `cargo bench --bench publish` runs it"
        );
        None
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let counter = Counter::default();
    let cfn = runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&endpoint)
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                "test", "test", None, None, "bench",
            ))
            .load()
            .await;
        aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::config::Builder::from(&config)
                .interceptor(counter.clone())
                .build(),
        )
    });
    let prefix = format!("Bench{:08x}", fastrand::u32(..));

    let mut bench = Bench {
        full,
        bin,
        endpoint,
        aws_cli,
        template: PathBuf::new(),
        template_body: String::new(),
        tags: BTreeMap::new(),
        dir,
        prefix,
        cfn,
        counter,
        runtime,
        stacks: Mutex::new(Vec::new()),
    };
    // The template of the same bot, as `botpub synth` writes it (the other ways deploy it unchanged).
    let spec = bench.spec("template");
    let out = bench.dir.path().join("synth");
    let synth = bench
        .botpub()
        .arg("synth")
        .arg(&spec)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("botpub synth");
    assert!(
        synth.status.success(),
        "botpub synth failed:\n{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
            .expect("manifest");
    let entry = &manifest["stacks"][0];
    bench.template = out.join(entry["template"].as_str().expect("template file"));
    // Compact, as botpub sends it: the file's indentation alone would put it over the inline limit.
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&bench.template).expect("template"))
            .expect("template JSON");
    bench.template_body = written.to_string();
    std::fs::write(&bench.template, &bench.template_body).expect("compact template");
    bench.tags = serde_json::from_value(entry["tags"].clone()).expect("tags");
    println!(
        "template: {} bytes ({} resources), stack prefix {}",
        bench.template_body.len(),
        serde_json::from_str::<Value>(&bench.template_body).unwrap()["Resources"]
            .as_object()
            .map_or(0, |r| r.len()),
        bench.prefix
    );

    let measured =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| measure(&bench, rounds)));
    // Clean up whatever happened, then report.
    let cleaning = Instant::now();
    let left = bench.clean_up();
    let created = bench.stacks.lock().unwrap_or_else(|e| e.into_inner()).len();
    println!();
    if left.is_empty() {
        println!(
            "clean-up: deleted the {created} stack(s) of this run in {:.1} s",
            cleaning.elapsed().as_secs_f64()
        );
    } else {
        println!("clean-up: could not delete {left:?}; delete them by hand");
    }
    localstack.stop();
    let (samples, verbose) = match measured {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    assert!(left.is_empty(), "stacks left behind: {left:?}");
    report(&bench, &samples, &verbose, started.elapsed());
}

fn measure(bench: &Bench, rounds: usize) -> (Samples, Verbose) {
    let mut samples = Samples::default();
    if bench.full {
        // LocalStack loads services lazily: the first stack after a start takes seconds longer.
        let warm = bench.engine("warmup");
        println!("warm-up (engine, not counted): {}", secs(warm.wall));
        bench.counter.take();
    }
    let kinds: &[&str] = if bench.full {
        &["botpub", "deploy", "engine", "library"]
    } else {
        &["botpub", "engine", "library"]
    };
    println!();
    for round in 0..rounds {
        // Interleaved, in a rotating order so that no variant always runs first or after the slow one.
        let mut parts: Vec<String> = Vec::new();
        for k in 0..kinds.len() {
            let kind = kinds[(round + k) % kinds.len()];
            match kind {
                "botpub" => {
                    let t = bench.publish_process(&format!("p{round}"));
                    samples.botpub.push(t);
                    parts.push(format!("botpub {:.2} s", t.as_secs_f64()));
                }
                "deploy" => {
                    let t = bench.deploy_awscli(&format!("c{round}"));
                    samples.deploy.push(t);
                    parts.push(format!("deploy {:.2} s", t.as_secs_f64()));
                }
                "engine" => {
                    let e = bench.engine(&format!("e{round}"));
                    samples.engine.push(e.wall);
                    samples.engine_change_set.push(e.change_set);
                    samples.engine_calls.push(e.calls);
                    parts.push(format!(
                        "engine {:.2} s (change set {:.2} s, {} calls)",
                        e.wall.as_secs_f64(),
                        e.change_set.as_secs_f64(),
                        e.calls
                    ));
                }
                _ => {
                    let (t, calls) = bench.publish_library(&format!("l{round}"));
                    samples.library.push(t);
                    samples.library_calls.push(calls);
                    parts.push(format!("library {:.2} s ({calls} calls)", t.as_secs_f64()));
                }
            }
        }
        println!("round {}: {}", round + 1, parts.join(" | "));
    }
    let verbose = bench.publish_verbose("v");
    (samples, verbose)
}

fn report(bench: &Bench, s: &Samples, v: &Verbose, elapsed: Duration) {
    let botpub = median(&s.botpub);
    let engine = median(&s.engine);
    let library = median(&s.library);
    let vs_engine = botpub.as_secs_f64() / engine.as_secs_f64();
    let library_calls = s.library_calls.iter().max().copied().unwrap_or(0);
    let engine_calls = s.engine_calls.iter().max().copied().unwrap_or(0);

    println!();
    println!("Samples (seconds, in round order):");
    println!("  botpub publish (process): {}", list(&s.botpub));
    if !s.deploy.is_empty() {
        println!("  aws cloudformation deploy: {}", list(&s.deploy));
    }
    println!(
        "  engine (SDK loop):        {}  calls: {:?}",
        list(&s.engine),
        s.engine_calls
    );
    println!(
        "    of which until the change set was ready: {}",
        list(&s.engine_change_set)
    );
    println!(
        "  botpub library:           {}  calls: {:?}",
        list(&s.library),
        s.library_calls
    );

    println!();
    println!(
        "Where botpub's time goes (`botpub publish -v`, one more publish: {} wall, {} requests, {} in requests):",
        secs(v.wall),
        v.requests.len(),
        secs(v.in_requests())
    );
    println!("| operation | calls | time in calls |");
    println!("| --- | ---: | ---: |");
    for (op, (n, t)) in v.by_operation() {
        println!("| {op} | {n} | {:.0} ms |", t.as_secs_f64() * 1e3);
    }
    println!("timeline (ms after spawn: start → end operation; gaps are sleeps or local work):");
    let mut previous_end = Duration::ZERO;
    for r in &v.requests {
        let gap = r.start().saturating_sub(previous_end);
        println!(
            "  {:>6.0} → {:>6.0}  {:<22} (+{:.0} ms idle before)",
            r.start().as_secs_f64() * 1e3,
            r.end.as_secs_f64() * 1e3,
            r.operation,
            gap.as_secs_f64() * 1e3
        );
        previous_end = r.end;
    }
    let first = v.requests.first().map_or(Duration::ZERO, Request::start);
    let last = v.requests.last().map_or(Duration::ZERO, |r| r.end);
    let idle = (last - first).saturating_sub(v.in_requests());
    println!(
        "  before the first request: {:.0} ms (start, read, validate, synthesize, connect); after the last: {:.0} ms; idle between requests: {:.0} ms",
        first.as_secs_f64() * 1e3,
        v.wall.saturating_sub(last).as_secs_f64() * 1e3,
        idle.as_secs_f64() * 1e3
    );
    let noticed = v
        .requests
        .iter()
        .rev()
        .find(|r| r.operation == "DescribeStackEvents")
        .map(|r| r.end);
    let mut late = None;
    match (v.executing, v.complete, noticed) {
        (Some(executing), Some(complete), Some(noticed)) => {
            late = Some(noticed.saturating_sub(complete));
            println!(
                "  the engine: stack CREATE_IN_PROGRESS at {:.0} ms, CREATE_COMPLETE at {:.0} ms ({:.0} ms of execution); botpub's poll saw it at {:.0} ms: {:.0} ms later",
                executing.as_secs_f64() * 1e3,
                complete.as_secs_f64() * 1e3,
                complete.saturating_sub(executing).as_secs_f64() * 1e3,
                noticed.as_secs_f64() * 1e3,
                noticed.saturating_sub(complete).as_secs_f64() * 1e3
            );
            if let Some(last) = v.last_resource {
                println!(
                    "  the last resource completed at {:.0} ms, {:.0} ms before the stack",
                    last.as_secs_f64() * 1e3,
                    complete.saturating_sub(last).as_secs_f64() * 1e3
                );
            }
        }
        _ => println!("  (the stack's own events could not be read back to time the engine)"),
    }
    let describe_rate = v.describes() as f64 / v.wall.as_secs_f64();
    println!(
        "describe calls: {} in {} = {describe_rate:.1} per second on LocalStack (a ~2 s deployment is polled at the fast start of the backoff)",
        v.describes(),
        secs(v.wall)
    );

    println!();
    println!(
        "On real AWS, botpub's wait paces its describe calls by events::Backoff (50 ms growing by half each poll to 1.5 s, ±20 % jitter, mean used here) plus DescribeStacks every 10 s; per stack, for a deployment lasting:"
    );
    println!(
        "| deployment | describe calls | per second (average) | most in any 1 s | most in any 10 s | completion seen after |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    let pacings: Vec<Pacing> = [2.0, 10.0, 30.0, 60.0, 180.0, 600.0]
        .into_iter()
        .map(pacing)
        .collect();
    for p in &pacings {
        println!(
            "| {} s | {} | {:.2} | {} | {} | {:.2} s |",
            p.seconds,
            p.calls,
            p.per_second,
            p.max_in_any_second,
            p.max_in_any_10s,
            p.seen_after.as_secs_f64()
        );
    }
    let minute = pacings
        .iter()
        .find(|p| p.seconds == 60.0)
        .expect("a 60 s deployment");

    println!();
    println!(
        "Summary ({}, LocalStack 4.4.0 on 127.0.0.1, one-bot stack, {} build, {} round(s)):",
        utc_now(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        s.botpub.len()
    );
    println!();
    println!("| publish of one bot | median | botpub is | target |");
    println!("| --- | ---: | ---: | --- |");
    println!(
        "| `botpub publish --yes` (whole process) | {} | — | |",
        secs(botpub)
    );
    if s.deploy.is_empty() {
        println!(
            "| `aws cloudformation deploy` (awscli 1.46.3) | skipped (smoke run; reference {REFERENCE_DEPLOY_S} s) | | ≥ 20× faster |"
        );
    } else {
        let deploy = median(&s.deploy);
        let ratio = deploy.as_secs_f64() / botpub.as_secs_f64();
        println!(
            "| `aws cloudformation deploy` (awscli 1.46.3) | {} | {ratio:.1}× faster | ≥ {TARGET_VS_DEPLOY}× faster: {} |",
            secs(deploy),
            verdict(ratio >= TARGET_VS_DEPLOY)
        );
    }
    println!(
        "| engine's own time (SDK loop, 50 ms polls; reference {REFERENCE_ENGINE_S} s) | {} | {vs_engine:.2}× the engine | ≤ {TARGET_VS_ENGINE}×: {} |",
        secs(engine),
        verdict(vs_engine <= TARGET_VS_ENGINE)
    );
    println!(
        "| botpub library in process (no process start) | {} | {:.2}× the engine | |",
        secs(library),
        library.as_secs_f64() / engine.as_secs_f64()
    );
    if let Some(late) = late {
        println!(
            "| of botpub's time: waiting for its next poll after the stack completed (verbose run) | {} | | |",
            secs(late)
        );
    }
    println!(
        "| AWS API calls per publish (botpub's interceptor) | {library_calls} (engine loop: {engine_calls}) | | |"
    );
    let worst = pacings
        .iter()
        .filter(|p| p.seconds >= 10.0)
        .map(|p| p.max_in_any_10s as f64 / 10.0)
        .fold(0.0, f64::max);
    let half_minute = pacings
        .iter()
        .find(|p| p.seconds == 30.0)
        .expect("a 30 s deployment");
    println!(
        "| describe calls per second per stack, while waiting | {describe_rate:.1} on LocalStack (~2 s deployments); real AWS (model): {:.2} over a 30 s wait, {:.2} over 60 s; at most {:.1} in any 10 s, {} in any 1 s | | ≤ 1/s (averaged over a 30 s+ wait): {} |",
        half_minute.per_second,
        minute.per_second,
        worst,
        minute.max_in_any_second,
        verdict(half_minute.per_second <= 1.0)
    );

    // Sanity of the measurements (the smoke run's assertions; timings are never asserted).
    assert!(
        library_calls > 0 && engine_calls > 0,
        "requests were counted"
    );
    assert!(
        !v.requests.is_empty(),
        "`botpub publish -v` logged its requests"
    );
    assert!(
        v.requests.iter().any(|r| r.operation == "ExecuteChangeSet"),
        "the verbose publish executed a change set: {:?}",
        v.by_operation()
    );
    println!();
    println!(
        "{} done in {:.1} s",
        if bench.full { "benchmark" } else { "smoke run" },
        elapsed.as_secs_f64()
    );
}
