//! The README's first command, run as a user runs it: examples/demo.sh publishes the quickstart on
//! LocalStack, creates a key, runs the example bot with `botpub worker`, asks it, and shows the status.

use crate::common;

use std::process::Command;

#[test]
fn the_demo_publishes_the_quickstart_and_its_bot_answers() {
    let endpoint = common::localstack();
    // Start from a clean slate: an earlier run on the same server may have left the quickstart published.
    let world = common::World::new();
    let mut clean = world.botpub(&["unpublish", "hello-bot", "--yes", "--progress", "none"]);
    if clean.code() != 0 {
        clean = world.botpub(&["unpublish", "hello-bot", "--yes", "--progress", "none"]);
    }
    assert_eq!(clean.code(), 0, "{}", clean.stderr());
    let out = Command::new(common::root().join("examples/demo.sh"))
        .env("BOTPUB", env!("CARGO_BIN_EXE_botpub"))
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("AWS_ENDPOINT_URL={endpoint}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""status": "processing", "message": "Request accepted""#),
        "{stdout}"
    );
    // botpub ask prints the example bot's answer; the API's result document says the same.
    assert!(
        stdout.contains("\nThe capital of France is Paris.\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""status":"completed","response":"The capital of Japan is Tokyo.""#),
        "{stdout}"
    );
    assert!(stdout.contains("stopped (terminated): "), "{stdout}");
    assert!(
        stdout.contains("hello-bot: published (CREATE_COMPLETE"),
        "{stdout}"
    );
}
