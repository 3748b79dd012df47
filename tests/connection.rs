//! When AWS cannot be reached or used, each cause is one clear line on stderr and exit 1: no stack trace,
//! no wall of provider diagnostics.

use std::process::Command;

fn botpub(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_botpub"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
];

#[test]
fn a_refused_connection_is_one_line() {
    let (code, err) = botpub(
        &[KEYS[0], KEYS[1], ("AWS_REGION", "us-east-1")],
        &["status", "x", "--endpoint-url", "http://127.0.0.1:9"],
    );
    assert_eq!(code, 1);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: reading stack BotPub-x: cannot connect:"),
        "{err}"
    );
}

#[test]
fn missing_credentials_are_one_line_with_the_fix() {
    let (code, err) = botpub(
        &[("AWS_REGION", "us-east-1")],
        &["list", "--endpoint-url", "http://127.0.0.1:9"],
    );
    assert_eq!(code, 1);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
}

#[test]
fn a_missing_region_is_one_line_with_the_fix() {
    let (code, err) = botpub(&KEYS, &["status", "x"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim_end(),
        "error: no AWS region: pass --region, set AWS_REGION, or set `region` in the spec"
    );
}

#[test]
fn a_spec_region_that_contradicts_the_flag_is_refused_before_any_call() {
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/full.yaml");
    let (code, err) = botpub(
        &KEYS,
        &[
            "plan",
            spec,
            "--region",
            "eu-west-1",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("the spec says region us-east-1 but --region says eu-west-1"),
        "{err}"
    );
}

#[test]
fn an_invalid_spec_is_refused_before_any_call() {
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/invalid/quota-period.yaml"
    );
    let (code, err) = botpub(&[], &["publish", spec, "--yes"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bots[0].quota.period: unknown value `month`"),
        "{err}"
    );
    assert!(
        !err.contains("region") && !err.contains("credentials"),
        "no AWS call may be attempted: {err}"
    );
}

#[test]
fn a_mistyped_region_is_refused_at_once_with_the_region_meant() {
    let started = std::time::Instant::now();
    let (code, err) = botpub(&KEYS, &["status", "my-bot", "--region", "us-eats-1"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code, 1);
    assert_eq!(
        err.trim_end(),
        "error: `us-eats-1` is not an AWS region (did you mean `us-east-1`?)"
    );
    // The spec's region too, before any AWS call.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("typo.yaml");
    std::fs::write(
        &spec,
        "version: 1\nregion: eu-wset-1\nbots:\n  - id: b\n    allowed_origins: [\"https://a.example.com\"]\n",
    )
    .unwrap();
    let (code, err) = botpub(&KEYS, &["validate", spec.to_str().unwrap()]);
    assert_eq!(code, 0, "a warning at validate: {err}");
    assert!(
        err.contains(
            "warning: region: `eu-wset-1` is not an AWS region (did you mean `eu-west-1`?)"
        ),
        "{err}"
    );
    let started = std::time::Instant::now();
    let (code, err) = botpub(&KEYS, &["plan", spec.to_str().unwrap()]);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(code, 1);
    assert!(
        err.contains("error: `eu-wset-1` is not an AWS region (did you mean `eu-west-1`?)"),
        "{err}"
    );
}

#[test]
fn a_custom_endpoint_that_does_not_resolve_is_refused_at_once() {
    let started = std::time::Instant::now();
    let (code, err) = botpub(
        &[KEYS[0], KEYS[1], ("AWS_REGION", "us-east-1")],
        &["list", "--endpoint-url", "http://no-such-host.invalid:4566"],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code, 1);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: the endpoint `http://no-such-host.invalid:4566` d"),
        "{err}"
    );
}
