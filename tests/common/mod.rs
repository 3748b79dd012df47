//! What the LocalStack tests share: the server (started through tests/support/servers.sh, once per test
//! process, and never skipped: a test fails loudly when it cannot start), the botpub binary run against it
//! with a clean AWS environment, a unique stack prefix per test, and an HTTP client for the published API.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const REGION: &str = "us-east-1";

/// The LocalStack endpoint, started on first use.
pub fn localstack() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| start_server("localstack"))
}

/// The moto endpoint (CodeBuild), started on first use.
pub fn moto() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| start_server("moto"))
}

fn start_server(name: &str) -> String {
    let script = root().join("tests/support/servers.sh");
    let out = Command::new(&script).args(["start", name]).output().unwrap_or_else(|e| {
        panic!("cannot run {} ({e}); start it by hand with `tests/support/servers.sh start {name}`", script.display())
    });
    assert!(
        out.status.success(),
        "{name} could not be started; run `tests/support/servers.sh start {name}` to see why:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The pinned venv LocalStack runs from (its tools: the AWS CLI, openapi-spec-validator, …), made if missing.
pub fn localstack_venv() -> String {
    venv("localstack", "tests/support/localstack-requirements.txt")
}

/// A venv of the project's made from a pinned requirements file (tests/support/venv.sh), made if missing.
pub fn venv(name: &str, requirements: &str) -> String {
    installed("venv.sh", &[name, requirements, "--no-deps"])
}

/// Runs a script of tests/support that installs something when missing and prints where it is; fails
/// loudly when it cannot.
pub fn installed(script: &str, args: &[&str]) -> String {
    let out = Command::new(root().join("tests/support").join(script))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tests/support/{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One test's world: its own stack prefix (so tests never see each other's stacks) and scratch directory.
pub struct World {
    pub endpoint: String,
    pub prefix: String,
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        World {
            endpoint: localstack().to_string(),
            prefix: format!("T{:08x}", fastrand::u32(..)),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A world whose stack prefix has a toolkit, as a user's must before publishing a bot whose template
    /// is over CloudFormation's inline limit (any conversation bot's, with the OpenAPI description it
    /// serves): such templates go through the toolkit's bucket. The publisher's binary is a stand-in, as
    /// no test of such a world publishes remotely.
    pub fn with_toolkit() -> World {
        let world = World::new();
        let prefix = world.prefix.clone();
        world
            .botpub(&[
                "bootstrap",
                "--prefix",
                &prefix,
                "--yes",
                "--binary",
                "/bin/true",
            ])
            .expect(0);
        world
    }

    /// Writes a spec with this world's stack prefix; `bots` is the YAML of the `bots:` list.
    pub fn spec(&self, name: &str, bots: &str) -> PathBuf {
        let text = format!(
            "version: 1\nregion: {REGION}\nstack_prefix: {}\nbots:\n{bots}",
            self.prefix
        );
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A copy of an example spec with this world's stack prefix.
    pub fn example(&self, name: &str) -> PathBuf {
        let text = std::fs::read_to_string(root().join("examples").join(name)).unwrap();
        let text = text.replace(
            "stack_prefix: BotPub",
            &format!("stack_prefix: {}", self.prefix),
        );
        let text = if text.contains("stack_prefix:") {
            text
        } else {
            text.replacen(
                "version: 1\n",
                &format!("version: 1\nstack_prefix: {}\n", self.prefix),
                1,
            )
        };
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn stack(&self, bot_id: &str) -> String {
        format!("{}-{bot_id}", self.prefix)
    }

    /// Runs botpub against LocalStack, with no terminal on stdin and nothing of the caller's AWS setup.
    pub fn botpub(&self, args: &[&str]) -> Run {
        self.botpub_via(&self.endpoint, args)
    }

    /// Runs botpub as `botpub` does, but against `endpoint` (a proxy in front of LocalStack).
    pub fn botpub_via(&self, endpoint: &str, args: &[&str]) -> Run {
        let output = self.command(endpoint).args(args).output().unwrap();
        Run { output }
    }

    /// The botpub command with a clean AWS environment pointed at `endpoint`, no terminal on stdin.
    pub fn command(&self, endpoint: &str) -> Command {
        self.clean(Command::new(env!("CARGO_BIN_EXE_botpub")), endpoint)
    }

    /// `command` with a clean AWS environment pointed at `endpoint`, no terminal on stdin.
    pub fn clean(&self, mut command: Command, endpoint: &str) -> Command {
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::null());
        command
    }

    /// `botpub publish SPEC --yes --progress none`.
    pub fn publish(&self, spec: &Path) -> Run {
        self.botpub(&[
            "publish",
            spec.to_str().unwrap(),
            "--yes",
            "--progress",
            "none",
        ])
    }

    /// botpub with `--prefix` for the commands that take a bot id.
    pub fn botpub_bot(&self, command: &str, bot_id: &str, more: &[&str]) -> Run {
        let mut args = vec![command, bot_id, "--prefix", &self.prefix];
        args.extend_from_slice(more);
        self.botpub(&args)
    }

    /// `botpub metrics` of the last hour by the minute, as JSON (see [`series`]).
    #[allow(dead_code)]
    pub fn metrics(&self, bot_id: &str) -> serde_json::Value {
        self.botpub_bot(
            "metrics",
            bot_id,
            &["--since", "1h", "--period", "1m", "--output", "json"],
        )
        .expect(0)
        .json()
    }

    /// SDK clients pointed at LocalStack, for checks and for the test worker.
    pub fn sdk(&self) -> Sdk {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(REGION))
                .endpoint_url(&self.endpoint)
                .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                    "test", "test", None, None, "tests",
                ))
                .load(),
        );
        Sdk {
            config: config.clone(),
            apigateway: aws_sdk_apigateway::Client::new(&config),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(true)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::new(&config),
            runtime,
        }
    }

    /// `botpub worker BOT_ID MORE... -- BOT...` with JSON log and summary, its output piped.
    pub fn worker(&self, bot_id: &str, more: &[&str], bot: &[&str]) -> std::process::Child {
        self.worker_with_env(bot_id, more, bot, &[])
    }

    /// [`World::worker`] with more environment (a model backend's endpoint).
    pub fn worker_with_env(
        &self,
        bot_id: &str,
        more: &[&str],
        bot: &[&str],
        env: &[(&str, &str)],
    ) -> std::process::Child {
        let mut args = vec![
            "worker",
            bot_id,
            "--prefix",
            &self.prefix,
            "--log-format",
            "json",
            "--output",
            "json",
        ];
        args.extend_from_slice(more);
        if !bot.is_empty() {
            args.push("--");
            args.extend_from_slice(bot);
        }
        self.command(&self.endpoint)
            .args(&args)
            .envs(env.iter().copied())
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `botpub keys create BOT_ID`: the new key's id and value.
    pub fn create_key(&self, bot_id: &str, description: &str) -> (String, String) {
        let created = self.create_key_with(bot_id, description, &[]);
        let field = |name: &str| created[name].as_str().unwrap().to_string();
        (field("id"), field("value"))
    }

    /// `botpub keys create BOT_ID ... MORE`: what it prints with `--output json`.
    pub fn create_key_with(
        &self,
        bot_id: &str,
        description: &str,
        more: &[&str],
    ) -> serde_json::Value {
        let args = ["keys", "create", bot_id, "--description", description];
        let target = ["--prefix", &self.prefix, "--output", "json"];
        let all = [&args[..], more, &target[..]].concat();
        self.botpub(&all).expect(0).json()
    }

    /// The base URL and default API key of each of these published bots.
    pub fn apis(&self, bot_ids: &[&str]) -> std::collections::HashMap<String, (String, String)> {
        let sdk = self.sdk();
        bot_ids
            .iter()
            .map(|id| {
                let status = self
                    .botpub_bot("status", id, &["--output", "json"])
                    .expect(0)
                    .json();
                let key = sdk.key_value(&sdk.output(&self.stack(id), "DefaultApiKeyId"));
                (id.to_string(), (self.api_url(&status), key))
            })
            .collect()
    }

    /// Publishes a bot as an earlier botpub did: creates its stack from `fixture` (a template that botpub
    /// gave then, under stack prefix `fixture_prefix`), tagged as botpub tags a bot's stack, and waits for it.
    /// The logical and physical ids of its resources.
    pub fn publish_earlier(
        &self,
        bot_id: &str,
        fixture: &str,
        fixture_prefix: &str,
    ) -> std::collections::HashMap<String, String> {
        let template = std::fs::read_to_string(root().join("tests/fixtures").join(fixture))
            .unwrap()
            .replace(&format!("{fixture_prefix}-{bot_id}"), &self.stack(bot_id));
        let spec_hash = serde_json::from_str::<serde_json::Value>(&template).unwrap()["Metadata"]
            ["botpub"]["spec_hash"]
            .as_str()
            .unwrap()
            .to_string();
        let sdk = self.sdk();
        let stack = self.stack(bot_id);
        let tag = |k: &str, v: &str| {
            aws_sdk_cloudformation::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        };
        let mut create = sdk
            .cloudformation
            .create_stack()
            .stack_name(&stack)
            .template_body(&template);
        if template.len() > 51_200 {
            // Through a bucket, as botpub sends a template past CloudFormation's limit for TemplateBody.
            let bucket = format!("{}-fixtures", self.prefix.to_ascii_lowercase());
            let key = format!("{bot_id}.json");
            sdk.block_on(async {
                let _ = sdk.s3.create_bucket().bucket(&bucket).send().await;
                let body = template.clone().into_bytes().into();
                let put = sdk.s3.put_object().bucket(&bucket).key(&key).body(body);
                put.send().await
            })
            .unwrap();
            let url = format!("https://{bucket}.s3.{REGION}.amazonaws.com/{key}");
            create = create.set_template_body(None).template_url(url);
        }
        sdk.block_on(
            create
                .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
                .tags(tag("botpub:bot-id", bot_id))
                .tags(tag("botpub:spec-hash", &spec_hash))
                .send(),
        )
        .unwrap();
        sdk.physical(&stack)
    }

    /// The base URL of a published API on LocalStack, as `status` and `publish` print it through a
    /// custom endpoint (`{endpoint}/_aws/execute-api/{api}/{stage}`), always pointed at LocalStack itself
    /// (not at a proxy the command may have gone through).
    pub fn api_url(&self, status: &serde_json::Value) -> String {
        let endpoint = status["endpoint"].as_str().expect("an endpoint");
        let (_, api_and_stage) = endpoint
            .split_once("/_aws/execute-api/")
            .unwrap_or_else(|| panic!("{endpoint} is not the URL LocalStack serves the API at"));
        format!("{}/_aws/execute-api/{api_and_stage}", self.endpoint)
    }
}

pub struct Sdk {
    pub runtime: tokio::runtime::Runtime,
    /// For clients of other services.
    pub config: aws_config::SdkConfig,
    pub apigateway: aws_sdk_apigateway::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Sdk {
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A stack as CloudFormation describes it.
    pub fn described(&self, stack: &str) -> aws_sdk_cloudformation::types::Stack {
        let described = self
            .cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send();
        self.block_on(described).unwrap().stacks()[0].clone()
    }

    /// A stack output, read directly from CloudFormation.
    pub fn output(&self, stack: &str, key: &str) -> String {
        self.described(stack)
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .unwrap_or_else(|| panic!("{stack} has no output {key}"))
            .to_string()
    }

    /// A stack's resources as CloudFormation lists them.
    pub fn resources(&self, stack: &str) -> Vec<aws_sdk_cloudformation::types::StackResource> {
        self.block_on(
            self.cloudformation
                .describe_stack_resources()
                .stack_name(stack)
                .send(),
        )
        .unwrap()
        .stack_resources()
        .to_vec()
    }

    /// Waits for a stack to settle (a LocalStack runs one stack operation at a time, so a create waits for
    /// the other tests of its binary, and on a loaded machine that can take minutes); the logical and
    /// physical ids of its resources.
    pub fn physical(&self, stack: &str) -> std::collections::HashMap<String, String> {
        let started = std::time::Instant::now();
        loop {
            let status = self
                .described(stack)
                .stack_status()
                .unwrap()
                .as_str()
                .to_string();
            if status.ends_with("_COMPLETE") {
                break;
            }
            assert!(
                !status.ends_with("FAILED")
                    && started.elapsed() < std::time::Duration::from_secs(180),
                "{stack}: still {status} after {:?}",
                started.elapsed()
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        self.resources(stack)
            .iter()
            .map(|r| {
                (
                    r.logical_resource_id().unwrap().to_string(),
                    r.physical_resource_id().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The value of an API key, for calling the API as a client would.
    pub fn key_value(&self, key_id: &str) -> String {
        let key = self
            .block_on(
                self.apigateway
                    .get_api_key()
                    .api_key(key_id)
                    .include_value(true)
                    .send(),
            )
            .unwrap();
        key.value().unwrap().to_string()
    }
}

/// The series called `name` in the JSON of `botpub metrics`.
#[allow(dead_code)]
pub fn series(metrics: &serde_json::Value, name: &str) -> serde_json::Value {
    metrics["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// The body of `POST /conversation`: one text item, continuing `conversation` when given.
pub fn conversation_message(conversation: Option<&str>, text: &str) -> serde_json::Value {
    let mut body =
        serde_json::json!({"message": {"content": [{"content_type": "text", "body": text}]}});
    if let Some(id) = conversation {
        body["conversation_id"] = serde_json::json!(id);
    }
    body
}

/// A finished botpub run.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// An HTTP response from the published API.
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends a request; `body` makes it a POST with a JSON content type.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = match (method, body) {
        ("POST", Some(body)) => {
            let mut request = agent.post(url).header("Content-Type", "application/json");
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            request.send(body)
        }
        ("OPTIONS", _) => {
            let mut request = agent.options(url);
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            request.call()
        }
        _ => {
            let mut request = agent.get(url);
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            request.call()
        }
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// Waits for a worker to end by itself (killed after `within`); its exit code, summary (stdout) and
/// log (stderr).
pub fn finish(
    child: std::process::Child,
    within: std::time::Duration,
) -> (i32, serde_json::Value, String) {
    let pid = child.id();
    let started = std::time::Instant::now();
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < within {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if std::fs::metadata(format!("/proc/{pid}")).is_err() {
                return;
            }
        }
        unsafe_kill(pid, "KILL");
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), summary, stderr)
}

/// Sends a signal (`TERM`, `KILL`...) to a process.
pub fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

/// A Python server of the project's on a free loopback port (a bot server, a model stand-in) that prints
/// `listening on URL` first; killed when dropped.
pub struct LoopbackServer {
    child: std::process::Child,
    pub url: String,
}

impl LoopbackServer {
    /// Starts `script` (relative to the repository) with `--port 0`.
    pub fn start(script: &str) -> LoopbackServer {
        LoopbackServer::start_with(script, &[])
    }

    /// Starts `script` with `--port 0` and more arguments.
    pub fn start_with(script: &str, args: &[&str]) -> LoopbackServer {
        LoopbackServer::start_in("python3", script, args)
    }

    /// Starts `script` with another Python (a venv's, for its packages).
    pub fn start_in(python: &str, script: &str, args: &[&str]) -> LoopbackServer {
        use std::io::BufRead;
        let mut child = Command::new(python)
            .arg(root().join(script))
            .args(["--port", "0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().trim_start_matches("listening on ").to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{script}: {line}");
        LoopbackServer { child, url }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
