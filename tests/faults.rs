//! botpub against an unreliable AWS. A fault-injecting proxy (tests/support/faultproxy.py) sits between
//! botpub and LocalStack and answers with the services' own throttling errors in bursts, with 500s and 503s,
//! drops connections (before the request reaches LocalStack, or after, so that the answer is lost) and holds
//! answers back for seconds. botpub must still publish, report, manage keys and unpublish, without ever
//! acting twice on a retried request; and when the faults never stop it must give up in bounded time with
//! one clear line, leaving nothing that a rerun cannot continue.
//!
//! The checks read LocalStack directly, never through the proxy, so they see the truth and no faults.

use crate::common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, Sdk, World, http};
use serde_json::{Value, json};

const BOT: &str = "hello-bot";

/// How long botpub may take to give up on an AWS that never answers properly: its retries (10 attempts
/// with backoff capped at 8 s) take about half a minute per operation, so this is a generous bound.
const GIVE_UP_BOUND: Duration = Duration::from_secs(180);

/// The proxy as a child process (stopped when dropped), between botpub and this world's LocalStack.
struct FaultProxy {
    url: String,
    child: Child,
    /// Held open so that the proxy never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// Closed when this process ends, however it ends: the proxy then stops by itself.
    _stdin: ChildStdin,
    log: PathBuf,
}

impl FaultProxy {
    fn start(world: &World, args: &[&str]) -> FaultProxy {
        let log = world.dir.path().join("faultproxy.log");
        let mut child = Command::new("python3")
            .arg(common::root().join("tests/support/faultproxy.py"))
            .args(["--upstream", &world.endpoint, "--verbose", "--stop-on-eof"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 (the standard library is all the proxy needs) runs");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut url = String::new();
        stdout.read_line(&mut url).unwrap();
        let url = url.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "the fault proxy did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        FaultProxy {
            url,
            child,
            _stdout: stdout,
            _stdin: stdin,
            log,
        }
    }

    /// Changes the faults from the next request on (merged into the proxy's configuration).
    fn set(&self, changes: Value) {
        let reply = http(
            "POST",
            &format!("{}/__faults", self.url),
            &[],
            Some(&changes.to_string()),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    /// The configuration, requests seen and faults injected so far.
    fn counters(&self) -> Value {
        http("GET", &format!("{}/__faults", self.url), &[], None).json()
    }

    /// The faults injected so far, one line each, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn botpub(&self, world: &World, args: &[&str]) -> Run {
        world.botpub_via(&self.url, args)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every stack LocalStack has had under this name, deleted ones included: (id, status).
fn stacks_named(sdk: &Sdk, name: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = sdk
            .block_on(
                sdk.cloudformation
                    .list_stacks()
                    .set_next_token(next.take())
                    .send(),
            )
            .unwrap();
        found.extend(
            page.stack_summaries()
                .iter()
                .filter(|s| s.stack_name() == Some(name))
                .map(|s| {
                    (
                        s.stack_id().unwrap_or_default().to_string(),
                        s.stack_status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                    )
                }),
        );
        match page.next_token() {
            Some(token) => next = Some(token.to_string()),
            None => return found,
        }
    }
}

/// The change sets of one stack (by id: LocalStack answers a name with the first stack ever so named):
/// (name, status, execution status).
fn change_sets(sdk: &Sdk, stack_id: &str) -> Vec<(String, String, String)> {
    let listed = sdk
        .block_on(
            sdk.cloudformation
                .list_change_sets()
                .stack_name(stack_id)
                .send(),
        )
        .unwrap();
    listed
        .summaries()
        .iter()
        .map(|s| {
            (
                s.change_set_name().unwrap_or_default().to_string(),
                s.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                s.execution_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// The API keys whose name starts with `prefix` (every key of a bot is named after its stack): (id,
/// description).
fn keys_named(sdk: &Sdk, prefix: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut position: Option<String> = None;
    loop {
        let page = sdk
            .block_on(
                sdk.apigateway
                    .get_api_keys()
                    .limit(500)
                    .set_position(position.take())
                    .send(),
            )
            .unwrap();
        found.extend(
            page.items()
                .iter()
                .filter(|k| k.name().is_some_and(|n| n.starts_with(prefix)))
                .map(|k| {
                    (
                        k.id().unwrap_or_default().to_string(),
                        k.description().unwrap_or_default().to_string(),
                    )
                }),
        );
        match page.position() {
            Some(next) if !page.items().is_empty() => position = Some(next.to_string()),
            _ => return found,
        }
    }
}

/// The key ids `keys list --output json` shows.
fn listed_ids(proxy: &FaultProxy, world: &World) -> BTreeSet<String> {
    let listed = proxy
        .botpub(
            world,
            &[
                "keys",
                "list",
                BOT,
                "--prefix",
                &world.prefix,
                "--output",
                "json",
                "-v",
            ],
        )
        .expect(0)
        .json();
    listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

/// A give-up message is one line that says what failed and why: no panic, no backtrace, no dump.
fn assert_one_clear_line(run: &Run, cause: &[&str]) {
    let stderr = run.stderr();
    let text = stderr.trim_end();
    assert_eq!(text.lines().count(), 1, "one line on stderr:\n{stderr}");
    assert!(text.starts_with("error: "), "{stderr}");
    assert!(
        cause.iter().any(|c| text.contains(c)),
        "the message names the cause ({cause:?}): {stderr}"
    );
    for noise in ["panicked", "backtrace", "DispatchFailure", "ServiceError {"] {
        assert!(!text.contains(noise), "{stderr}");
    }
}

/// Runs botpub through a proxy whose faults never stop: it must give up within [`GIVE_UP_BOUND`], with exit 1
/// and one clear line naming one of `cause`. `what` names the attempt in the test's log.
fn gives_up(proxy: &FaultProxy, world: &World, what: &str, args: &[&str], cause: &[&str]) -> Run {
    let started = Instant::now();
    let failed = proxy.botpub(world, args);
    let took = started.elapsed();
    eprintln!(
        "{what} gave up after {took:?} with exit {}: {}",
        failed.code(),
        failed.stderr().trim_end()
    );
    assert_eq!(failed.code(), 1, "{}", failed.stderr());
    assert!(took < GIVE_UP_BOUND, "gave up only after {took:?}");
    assert_one_clear_line(&failed, cause);
    failed
}

fn injected(counters: &Value, kind: &str) -> u64 {
    counters["injected"][kind].as_u64().unwrap_or(0)
}

#[test]
fn publish_status_keys_and_unpublish_complete_through_throttling_errors_drops_and_delays() {
    let world = World::new();
    let sdk = world.sdk();
    let spec = world.example("quickstart.yaml");
    let spec = spec.to_str().unwrap();
    let stack = world.stack(BOT);
    let prefix = world.prefix.as_str();
    let started = Instant::now();

    // A share of requests fails at random (throttling in bursts of three, 500/503, drops, 3 s delays), the
    // same way every run; BOTPUB_FAULT_SEED picks another sequence ...
    let seed = std::env::var("BOTPUB_FAULT_SEED").unwrap_or_else(|_| "20261123".to_string());
    let proxy = FaultProxy::start(
        &world,
        &[
            "--seed",
            &seed,
            "--throttle",
            "0.1",
            "--burst",
            "3",
            "--error5xx",
            "0.08",
            "--drop",
            "0.06",
            "--delay",
            "0.04",
            "--delay-seconds",
            "3",
            "--services",
            "cloudformation,apigateway,s3",
        ],
    );
    // ... and the requests where a fault matters most always meet one: a throttling burst on the change set,
    // an ExecuteChangeSet lost on the way and then one whose answer is lost, 5xx while waiting, and answers lost after the request took effect on the calls
    // that create a key, attach it, and delete the stack.
    proxy.set(json!({
        "rules": [
            {"match": "cloudformation:CreateChangeSet", "fault": "throttle", "count": 3},
            {"match": "cloudformation:ExecuteChangeSet", "fault": ["drop_before", "drop_after"], "count": 2},
            {"match": "cloudformation:DescribeStackEvents", "fault": ["error500", "error503"], "count": 2},
            {"match": "cloudformation:DescribeStacks", "fault": "delay", "skip": 2, "count": 1},
            {"match": "apigateway:POST /apikeys", "fault": "drop_after", "count": 2},
            {"match": "apigateway:POST /usageplans/{id}/keys", "fault": "drop_after", "count": 1},
            {"match": "apigateway:GET /usageplans/{id}/keys", "fault": "throttle", "count": 2},
            {"match": "apigateway:DELETE /usageplans/{id}/keys/{id}", "fault": "drop_before", "count": 1},
            {"match": "apigateway:DELETE /apikeys/{id}", "fault": ["throttle", "drop_before"], "count": 2},
            {"match": "cloudformation:DeleteStack", "fault": "drop_after", "count": 1},
        ],
        // Where LocalStack does not behave as AWS does on a retry, an answer is lost only with its request:
        // it ignores the idempotency token of CreateChangeSet (so it makes a second change set;
        // `a_lost_create_change_set_answer_*` covers that), and answers the repeated delete of a key or of
        // its usage-plan attachment with 500 InternalError where AWS answers 404 NotFoundException.
        "no_drop_after": [
            "cloudformation:CreateChangeSet",
            "apigateway:DELETE /apikeys/{id}",
            "apigateway:DELETE /usageplans/{id}/keys/{id}",
        ],
    }));

    let published = proxy.botpub(
        &world,
        &["publish", spec, "--yes", "--progress", "none", "-v"],
    );
    assert_eq!(
        published.code(),
        0,
        "publish\nstderr:\n{}\nproxy:\n{}",
        published.stderr(),
        proxy.log()
    );
    let publish_took = started.elapsed();

    let status = proxy
        .botpub(
            &world,
            &["status", BOT, "--prefix", prefix, "--output", "json", "-v"],
        )
        .expect(0)
        .json();
    assert_eq!(status["published"], true, "{status:#}");
    assert_eq!(status["cfn_status"], "CREATE_COMPLETE", "{status:#}");
    let ids = status["api_key_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "the default key only: {status:#}");
    let default_key = ids[0].as_str().unwrap().to_string();

    // Three keys, each created exactly once even when the answer to CreateApiKey was lost.
    let mut created = Vec::new();
    for i in 1..=3 {
        let description = format!("fault test key {i}");
        let run = proxy.botpub(
            &world,
            &[
                "keys",
                "create",
                BOT,
                "--prefix",
                prefix,
                "--description",
                &description,
                "--output",
                "json",
                "-v",
            ],
        );
        assert_eq!(
            run.code(),
            0,
            "keys create\nstderr:\n{}\nproxy:\n{}",
            run.stderr(),
            proxy.log()
        );
        let key = run.json();
        let id = key["id"].as_str().unwrap().to_string();
        assert_eq!(key["description"], description.as_str());
        assert_eq!(
            key["value"].as_str(),
            Some(sdk.key_value(&id).as_str()),
            "the value shown is the key's, even when the create answer was lost"
        );
        created.push(id);
    }
    let mut expected: BTreeSet<String> = created.iter().cloned().collect();
    expected.insert(default_key.clone());
    assert_eq!(listed_ids(&proxy, &world), expected);

    proxy
        .botpub(
            &world,
            &[
                "keys",
                "delete",
                BOT,
                &created[0],
                "--prefix",
                prefix,
                "--yes",
                "-v",
            ],
        )
        .expect(0);
    expected.remove(&created[0]);
    assert_eq!(listed_ids(&proxy, &world), expected);

    // The truth, from LocalStack itself: one stack, one change set (executed), no duplicate key.
    let stacks = stacks_named(&sdk, &stack);
    assert_eq!(stacks.len(), 1, "exactly one stack was created: {stacks:?}");
    assert_eq!(stacks[0].1, "CREATE_COMPLETE");
    let sets = change_sets(&sdk, &stacks[0].0);
    assert_eq!(sets.len(), 1, "one change set, no duplicate: {sets:?}");
    assert_eq!(sets[0].2, "EXECUTE_COMPLETE", "{sets:?}");
    let mut keys = keys_named(&sdk, &format!("{stack}-"));
    keys.sort();
    let mut descriptions: Vec<&str> = keys.iter().map(|(_, d)| d.as_str()).collect();
    descriptions.sort();
    assert_eq!(
        descriptions,
        [
            &format!("Default key of bot {BOT}, created by botpub"),
            "fault test key 2",
            "fault test key 3"
        ],
        "no key made twice, the deleted one gone: {keys:?}"
    );

    let unpublished = proxy.botpub(
        &world,
        &["unpublish", BOT, "--prefix", prefix, "--yes", "-v"],
    );
    assert_eq!(
        unpublished.code(),
        0,
        "unpublish\nstderr:\n{}\nproxy:\n{}",
        unpublished.stderr(),
        proxy.log()
    );
    let stacks = stacks_named(&sdk, &stack);
    assert_eq!(stacks.len(), 1, "{stacks:?}");
    assert_eq!(stacks[0].1, "DELETE_COMPLETE", "{stacks:?}");
    let left = keys_named(&sdk, &format!("{stack}-"));
    assert!(left.is_empty(), "unpublish leaves no key: {left:?}");
    proxy
        .botpub(
            &world,
            &["status", BOT, "--prefix", prefix, "--output", "json"],
        )
        .expect(1);

    // The faults really happened: every kind, and lost answers on the calls that create keys.
    let counters = proxy.counters();
    let requests: u64 = counters["requests"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    eprintln!(
        "publish took {publish_took:?}, the whole run {:?}; {requests} requests, injected: {}; by operation: {}",
        started.elapsed(),
        counters["injected"],
        counters["by_operation"]
    );
    for kind in [
        "throttle",
        "error500",
        "error503",
        "drop_before",
        "drop_after",
        "delay",
    ] {
        assert!(injected(&counters, kind) > 0, "no {kind}: {counters:#}");
    }
    for (operation, lost) in [
        ("apigateway:POST /apikeys", 2),
        ("cloudformation:ExecuteChangeSet", 1),
    ] {
        assert!(
            counters["by_operation"][operation]["drop_after"]
                .as_u64()
                .unwrap_or(0)
                >= lost,
            "{operation}: {counters:#}"
        );
    }
    let random = injected(&counters, "throttle").saturating_sub(3 + 2);
    assert!(
        random >= 3,
        "random throttling bursts besides the scripted ones: {counters:#}"
    );
}

#[test]
fn when_the_faults_never_stop_botpub_gives_up_in_bounded_time_and_a_rerun_completes() {
    let world = World::new();
    let sdk = world.sdk();
    let spec = world.example("quickstart.yaml");
    let spec = spec.to_str().unwrap();
    let stack = world.stack(BOT);
    let prefix = world.prefix.as_str();

    // Every CloudFormation request is throttled or meets a 503.
    let proxy = FaultProxy::start(
        &world,
        &[
            "--services",
            "cloudformation",
            "--always",
            "throttle,error503",
        ],
    );
    gives_up(
        &proxy,
        &world,
        "publish",
        &["publish", spec, "--yes", "--progress", "none"],
        &["Throttling", "ServiceUnavailable"],
    );
    let counters = proxy.counters();
    assert!(injected(&counters, "throttle") >= 5, "{counters:#}");
    assert!(injected(&counters, "error503") >= 5, "{counters:#}");
    assert!(stacks_named(&sdk, &stack).is_empty(), "nothing was created");

    // Once AWS answers again, the same command completes.
    proxy.set(json!({"always": [], "reset": true}));
    proxy
        .botpub(&world, &["publish", spec, "--yes", "--progress", "none"])
        .expect(0);
    let stacks = stacks_named(&sdk, &stack);
    assert_eq!(stacks.len(), 1, "{stacks:?}");
    assert_eq!(stacks[0].1, "CREATE_COMPLETE", "{stacks:?}");

    // Every API Gateway request is throttled: creating a key gives up, and makes none.
    proxy.set(json!({"services": ["apigateway"], "always": ["throttle"]}));
    let failed = gives_up(
        &proxy,
        &world,
        "keys create",
        &[
            "keys",
            "create",
            BOT,
            "--prefix",
            prefix,
            "--description",
            "never",
        ],
        &["TooManyRequestsException"],
    );
    assert!(
        failed
            .stderr()
            .starts_with(&format!("error: creating a key for {BOT}: ")),
        "{}",
        failed.stderr()
    );
    assert_eq!(
        keys_named(&sdk, &format!("{stack}-")).len(),
        1,
        "the default key only"
    );

    // The key is made but can never be attached to the usage plan: botpub takes it back rather than leave a
    // key that no botpub command would ever list or delete.
    proxy.set(json!({"always": [], "rules": [
        {"match": "apigateway:POST /usageplans/{id}/keys", "fault": "throttle", "count": -1},
    ]}));
    gives_up(
        &proxy,
        &world,
        "keys create (attach never succeeds)",
        &[
            "keys",
            "create",
            BOT,
            "--prefix",
            prefix,
            "--description",
            "never attached",
        ],
        &["the new key was deleted again"],
    );
    assert_eq!(
        keys_named(&sdk, &format!("{stack}-")).len(),
        1,
        "no key left behind"
    );

    proxy.set(json!({"rules": []}));
    proxy
        .botpub(
            &world,
            &[
                "keys",
                "create",
                BOT,
                "--prefix",
                prefix,
                "--description",
                "after",
            ],
        )
        .expect(0);
    let keys = keys_named(&sdk, &format!("{stack}-"));
    assert_eq!(keys.len(), 2, "the default key and the new one: {keys:?}");
}

/// The quickstart bot published through a proxy that applies scripted `rules` to CloudFormation only.
struct Scenario {
    world: World,
    sdk: Sdk,
    stack: String,
    spec: String,
    proxy: FaultProxy,
}

impl Scenario {
    fn new(rules: Value) -> Scenario {
        let world = World::new();
        let proxy = FaultProxy::start(&world, &["--services", "cloudformation"]);
        proxy.set(json!({ "rules": rules }));
        Scenario {
            sdk: world.sdk(),
            stack: world.stack(BOT),
            spec: world
                .example("quickstart.yaml")
                .to_str()
                .unwrap()
                .to_string(),
            proxy,
            world,
        }
    }

    /// `publish` with `--progress none` and `extra` arguments.
    fn publish(&self, extra: &[&str]) -> Run {
        let mut args = vec!["publish", self.spec.as_str(), "--progress", "none"];
        args.extend_from_slice(extra);
        self.proxy.botpub(&self.world, &args)
    }

    /// Once AWS behaves again, publishing completes and leaves one live stack, created.
    fn recovers(&self) {
        self.proxy.set(json!({"rules": []}));
        let rerun = self.publish(&["--yes"]);
        assert_eq!(rerun.code(), 0, "{}", rerun.stderr());
        let live: Vec<_> = stacks_named(&self.sdk, &self.stack)
            .into_iter()
            .filter(|(_, status)| status != "DELETE_COMPLETE")
            .collect();
        assert_eq!(live.len(), 1, "{live:?}");
        assert_eq!(live[0].1, "CREATE_COMPLETE", "{live:?}");
    }

    /// No stack of the bot is left, not even an empty one in review.
    fn assert_nothing_left(&self) {
        let stacks = stacks_named(&self.sdk, &self.stack);
        assert!(
            stacks.iter().all(|(_, status)| status == "DELETE_COMPLETE"),
            "nothing left in review: {stacks:?}"
        );
    }
}

/// The last line of stderr: the error, after the plan.
fn last_line(run: &Run) -> String {
    run.stderr()
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// The change set is made, then every ExecuteChangeSet fails for good: botpub gives up, and a rerun once
/// AWS recovers must deploy rather than take the abandoned change set for another run's.
#[test]
fn a_publish_whose_change_set_could_never_be_executed_does_not_block_the_rerun() {
    let scenario = Scenario::new(json!([
        {"match": "cloudformation:ExecuteChangeSet", "fault": ["throttle", "error503"], "count": -1},
    ]));
    let started = Instant::now();
    let failed = scenario.publish(&["--yes"]);
    assert_eq!(failed.code(), 1, "{}", failed.stderr());
    assert!(started.elapsed() < GIVE_UP_BOUND);
    let last = last_line(&failed);
    assert!(
        last.starts_with(&format!(
            "error: executing the change set of {}: ",
            scenario.stack
        )),
        "{last}"
    );
    assert!(last.contains("nothing was changed"), "{last}");
    // The change set is gone, and with it the empty stack its CREATE brought into being.
    scenario.assert_nothing_left();
    scenario.recovers();
}

/// The answer to CreateChangeSet is lost after the change set was made. AWS recognises the retry by its
/// client token; an engine that does not (LocalStack) makes a second change set of the same name, which
/// botpub must recognise as its own rather than as another run's.
#[test]
fn a_lost_create_change_set_answer_does_not_block_the_run() {
    let scenario = Scenario::new(json!([
        {"match": "cloudformation:CreateChangeSet", "fault": "drop_after", "count": 1},
    ]));
    let run = scenario.publish(&["--yes"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stacks = stacks_named(&scenario.sdk, &scenario.stack);
    assert_eq!(stacks.len(), 1, "{stacks:?}");
    assert_eq!(stacks[0].1, "CREATE_COMPLETE", "{stacks:?}");
    let sets = change_sets(&scenario.sdk, &stacks[0].0);
    assert_eq!(
        sets.len(),
        1,
        "the duplicate change set was removed: {sets:?}"
    );
    assert_eq!(sets[0].2, "EXECUTE_COMPLETE", "{sets:?}");
}

/// CloudFormation stops answering once the deployment runs: botpub stops waiting after its lost-contact
/// limit (`--lost-contact`, here 20 s; the default five minutes is run in paused time by the engine's
/// own tests) and says that the deployment goes on and how to follow it.
#[test]
fn when_cloudformation_stops_answering_mid_deployment_botpub_says_how_to_follow_it() {
    let scenario = Scenario::new(json!([
        {"match": "cloudformation:DescribeStackEvents", "fault": ["throttle", "error503"], "count": -1},
        {"match": "cloudformation:DescribeStacks", "after": "cloudformation:DescribeStackEvents",
         "fault": ["throttle", "error503"], "count": -1},
    ]));
    let started = Instant::now();
    let failed = scenario.publish(&["--yes", "--lost-contact", "20s"]);
    assert_eq!(failed.code(), 1, "{}", failed.stderr());
    // The limit, plus one poll's retries, on top of the deployment's own start.
    assert!(started.elapsed() < Duration::from_secs(120));
    let last = last_line(&failed);
    assert!(
        last.starts_with("error: lost contact with CloudFormation for 20s ("),
        "{}",
        failed.stderr()
    );
    assert!(
        last.contains(&format!(
            "botpub watch {BOT} --prefix {}",
            scenario.world.prefix
        )),
        "{}",
        failed.stderr()
    );
    // The deployment went on without botpub: once AWS answers again, `watch` (as the error says) follows
    // it to its end, and a rerun then has nothing in its way.
    scenario.proxy.set(json!({"rules": []}));
    let prefix = scenario.world.prefix.clone();
    let watched = scenario.proxy.botpub(
        &scenario.world,
        &["watch", BOT, "--prefix", &prefix, "--progress", "none"],
    );
    assert_eq!(watched.code(), 0, "{}", watched.stderr());
    scenario.recovers();
}

/// A publish that is not confirmed removes its change set and the empty stack it made, even when the
/// answers to those deletes are lost (the retried delete finds the change set gone, which is success).
#[test]
fn a_declined_publish_leaves_nothing_even_when_the_delete_answers_are_lost() {
    let scenario = Scenario::new(json!([
        {"match": "cloudformation:DeleteChangeSet", "fault": "drop_after", "count": 1},
        {"match": "cloudformation:DeleteStack", "fault": "drop_after", "count": 1},
    ]));
    // No --yes and no terminal to ask on: botpub declines.
    let declined = scenario.publish(&[]);
    assert_eq!(declined.code(), 4, "{}", declined.stderr());
    assert!(
        declined.stderr().contains("pass --yes"),
        "{}",
        declined.stderr()
    );
    let counters = scenario.proxy.counters();
    for operation in [
        "cloudformation:DeleteChangeSet",
        "cloudformation:DeleteStack",
    ] {
        assert_eq!(
            counters["by_operation"][operation]["drop_after"], 1,
            "{operation}: {counters:#}"
        );
    }
    scenario.assert_nothing_left();
    scenario.recovers();
}

/// The worker through throttling, 5xx errors and dropped connections on SQS and S3 (some dropped after
/// SQS or S3 acted, so a receive's messages or a delete's answer are lost): every request is answered.
#[test]
fn the_worker_answers_every_request_through_sqs_and_s3_faults() {
    let world = World::new();
    let sdk = world.sdk();
    let spec = world.spec(
        "faulty.yaml",
        "  - id: faulty\n    allowed_origins: [\"https://app.example.com\"]\n    queue: { visibility_timeout_seconds: 4, max_receive_count: 5 }\n",
    );
    world.publish(&spec).expect(0);
    let status = world
        .botpub_bot("status", "faulty", &["--output", "json"])
        .expect(0)
        .json();
    let url = world.api_url(&status);
    let key = sdk.key_value(&sdk.output(&world.stack("faulty"), "DefaultApiKeyId"));
    // The requests go straight to LocalStack's API; only the worker's AWS calls cross the proxy.
    let ids: Vec<String> = (0..100)
        .map(|i| {
            let body = json!({ "message": format!("question {i}") }).to_string();
            let reply = http(
                "POST",
                &format!("{url}/predict"),
                &[("x-api-key", &key)],
                Some(&body),
            );
            assert_eq!(reply.status, 202, "{}", reply.body);
            reply.json()["request_id"].as_str().unwrap().to_string()
        })
        .collect();
    let seed = std::env::var("BOTPUB_FAULT_SEED").unwrap_or_else(|_| "20261129".to_string());
    let proxy = FaultProxy::start(
        &world,
        &[
            "--seed",
            &seed,
            "--throttle",
            "0.08",
            "--burst",
            "3",
            "--error5xx",
            "0.06",
            "--drop",
            "0.06",
            "--services",
            "sqs,s3",
        ],
    );
    let mut worker = world
        .command(&proxy.url)
        .args([
            "worker",
            "faulty",
            "--prefix",
            &world.prefix,
            "--concurrency",
            "8",
        ])
        .args([
            "--idle-exit",
            "12s",
            "--log-format",
            "json",
            "--output",
            "json",
            "--",
        ])
        .args(["python3", "examples/bots/answer.py"])
        .current_dir(common::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while worker.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(300) {
            let _ = worker.kill();
            panic!("the worker did not stop by itself within 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = worker.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{log}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let counters = proxy.counters();
    for (i, id) in ids.iter().enumerate() {
        let doc = http(
            "GET",
            &format!("{url}/result/{id}"),
            &[("x-api-key", &key)],
            None,
        )
        .json();
        assert_eq!(
            doc["status"], "completed",
            "request {i}: {doc}\n{summary}\n{log}"
        );
        assert_eq!(doc["response"], format!("You said: question {i}"));
    }
    let injected_total: u64 = [
        "throttle",
        "error500",
        "error503",
        "drop_before",
        "drop_after",
    ]
    .iter()
    .map(|kind| injected(&counters, kind))
    .sum();
    assert!(
        injected_total >= 20,
        "too few faults to mean anything: {counters}"
    );
    eprintln!("through {injected_total} faults: {summary}");
    assert!(
        summary["answered"].as_u64().unwrap() + summary["duplicates"].as_u64().unwrap() >= 100,
        "{summary}"
    );
}

/// On LocalStack an update that redeploys the API leaves it answering 404, so the plan says so before the
/// confirmation, and `publish` repeats the way out; an endpoint that does not say it is LocalStack (here
/// the proxy hiding LocalStack's own status page) gets no such warning. A proxy that forwards everything
/// to LocalStack is LocalStack as far as this behaviour goes, so it warns too.
#[test]
fn an_update_that_redeploys_the_api_warns_on_localstack_only() {
    let world = World::with_toolkit();
    let spec = |origins: &str| {
        world.spec(
            "origins.yaml",
            &format!("  - id: {BOT}\n    allowed_origins: [{origins}]\n"),
        )
    };
    world
        .publish(&spec("\"https://app.example.com\""))
        .expect(0);
    let changed = spec("\"https://app.example.com\", \"https://b.example.com\"");
    let changed = changed.to_str().unwrap();
    let warning = "LocalStack then answers 404 NOT FOUND";
    let plan = world.botpub(&["plan", changed]).expect(2);
    assert!(plan.stdout().contains(warning), "{}", plan.stdout());
    assert!(
        plan.stdout().contains(&format!(
            "`botpub unpublish {BOT} --prefix {}`",
            world.prefix
        )),
        "{}",
        plan.stdout()
    );
    let forwarding = FaultProxy::start(&world, &[]);
    let plan = forwarding.botpub(&world, &["plan", changed]).expect(2);
    assert!(plan.stdout().contains(warning), "{}", plan.stdout());
    let hiding = FaultProxy::start(&world, &["--hide-localstack"]);
    let plan = hiding.botpub(&world, &["plan", changed]).expect(2);
    assert!(!plan.stdout().contains(warning), "{}", plan.stdout());
    assert!(
        plan.stdout().contains("Deployment"),
        "the same changes: {}",
        plan.stdout()
    );
    // publish shows it before the confirmation and repeats it after the update.
    let published = world
        .botpub(&["publish", changed, "--yes", "--progress", "none"])
        .expect(0);
    let stderr = published.stderr();
    let first = stderr.find(warning).expect("warned in the plan");
    let last = stderr.rfind(warning).unwrap();
    assert!(first < last, "repeated after the update: {stderr}");
    assert!(stderr[last..].contains("then `botpub publish`"), "{stderr}");
}
