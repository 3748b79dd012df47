//! What the benches share: LocalStack started through tests/support/servers.sh, the botpub binary run with a
//! clean AWS environment, and how results are dated and judged.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const REGION: &str = "us-east-1";

/// Targets are judged on optimized builds only: a debug build's timings say nothing about them.
pub fn verdict(ok: bool) -> &'static str {
    match (cfg!(debug_assertions), ok) {
        (true, _) => "not judged (debug build)",
        (false, true) => "met",
        (false, false) => "MISSED",
    }
}

/// The date and time of the measurement (UTC, RFC 3339), as botpub itself prints AWS timestamps.
pub fn utc_now() -> String {
    botpub::cloudformation::stack::timestamp(&aws_smithy_types::DateTime::from(
        std::time::SystemTime::now(),
    ))
}

/// Runs a support script, failing loudly with its stderr.
pub fn script(root: &Path, args: &[&str]) -> String {
    let output = Command::new("bash")
        .args(args)
        .current_dir(root)
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The pinned LocalStack venv (awscli and boto3 come with it), installed on first use.
pub fn localstack_venv(root: &Path) -> PathBuf {
    PathBuf::from(script(
        root,
        &[
            "tests/support/venv.sh",
            "localstack",
            "tests/support/localstack-requirements.txt",
            "--no-deps",
        ],
    ))
}

const SERVERS: &str = "tests/support/servers.sh";

/// LocalStack for a bench: reused when it already runs, else started and, at `stop`, stopped again.
pub struct LocalStack {
    pub endpoint: String,
    pub was_running: bool,
    root: PathBuf,
}

impl LocalStack {
    pub fn start(root: &Path) -> LocalStack {
        let was_running = Command::new("bash")
            .args([SERVERS, "status", "localstack"])
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        LocalStack {
            endpoint: script(root, &[SERVERS, "start", "localstack"]),
            was_running,
            root: root.to_path_buf(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "LocalStack 4.4.0 at {} ({})",
            self.endpoint,
            if self.was_running {
                "already running; left running"
            } else {
                "started by this bench; stopped at the end"
            }
        )
    }

    pub fn stop(&self) {
        if !self.was_running {
            let _ = Command::new("bash")
                .args([SERVERS, "stop", "localstack"])
                .current_dir(&self.root)
                .output();
        }
    }
}

/// The botpub binary with a clean AWS environment pointed at `endpoint`, no terminal on stdin.
pub fn botpub(bin: &Path, home: &Path, endpoint: &str) -> Command {
    let mut command = Command::new(bin);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    command
}

/// The botpub binary to measure: BOTPUB_BENCH_BIN, else the one cargo built for this profile.
pub fn binary() -> (PathBuf, &'static str) {
    match std::env::var_os("BOTPUB_BENCH_BIN") {
        Some(path) => (PathBuf::from(path), "BOTPUB_BENCH_BIN"),
        None => (
            PathBuf::from(env!("CARGO_BIN_EXE_botpub")),
            "built by cargo for this profile",
        ),
    }
}
