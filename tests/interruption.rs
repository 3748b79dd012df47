//! Pipelines race and people press Ctrl-C: botpub must leave every stack in a state the next run
//! understands. On LocalStack, end to end.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::World;

fn bot(id: &str) -> String {
    format!("  - id: {id}\n    allowed_origins: [\"https://app.example.com\"]\n")
}

/// botpub in the background, with the same clean environment as `World::botpub`.
fn spawn(world: &World, args: &[&str]) -> Child {
    world
        .command(&world.endpoint)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Waits until the stack's status satisfies `wanted`, polling quickly.
fn wait_for_status(
    world: &World,
    sdk: &common::Sdk,
    bot_id: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let started = Instant::now();
    loop {
        let described = sdk.block_on(
            sdk.cloudformation
                .describe_stacks()
                .stack_name(world.stack(bot_id))
                .send(),
        );
        if let Ok(d) = described
            && let Some(status) = d.stacks().first().and_then(|s| s.stack_status())
            && wanted(status.as_str())
        {
            return status.as_str().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the stack of {bot_id} never reached the awaited status"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn of_two_publishes_of_one_bot_exactly_one_deploys() {
    let world = World::new();
    let spec = world.spec("race.yaml", &bot("racer"));
    let args = [
        "publish",
        spec.to_str().unwrap(),
        "--yes",
        "--progress",
        "none",
    ];
    let (a, b) = (spawn(&world, &args), spawn(&world, &args));
    let (mut results, texts): (Vec<i32>, Vec<String>) = [finish(a), finish(b)].into_iter().unzip();
    results.sort();
    assert_eq!(results, [0, 4], "{texts:#?}");
    assert!(texts.iter().any(|t| t.contains("is busy")), "{texts:#?}");
    let status = world
        .botpub_bot("status", "racer", &["--output", "json"])
        .expect(0)
        .json();
    assert_eq!(status["cfn_status"], "CREATE_COMPLETE");
    assert_eq!(
        status["api_key_ids"].as_array().unwrap().len(),
        1,
        "one deployment, one default key"
    );
    // The loser left nothing behind: the next plan sees no changes.
    world.botpub(&["plan", spec.to_str().unwrap()]).expect(0);
}

#[test]
fn two_different_bots_publish_at_once() {
    let world = World::new();
    let first = world.spec("one.yaml", &bot("first"));
    let second = world.spec("two.yaml", &bot("second"));
    let a = spawn(
        &world,
        &[
            "publish",
            first.to_str().unwrap(),
            "--yes",
            "--progress",
            "none",
        ],
    );
    let b = spawn(
        &world,
        &[
            "publish",
            second.to_str().unwrap(),
            "--yes",
            "--progress",
            "none",
        ],
    );
    for (code, text) in [finish(a), finish(b)] {
        assert_eq!(code, 0, "{text}");
    }
    for id in ["first", "second"] {
        let status = world
            .botpub_bot("status", id, &["--output", "json"])
            .expect(0)
            .json();
        assert_eq!(status["cfn_status"], "CREATE_COMPLETE");
    }
}

#[test]
fn a_publish_while_unpublish_runs_is_refused() {
    let world = World::new();
    let spec = world.spec("going.yaml", &bot("going"));
    world.publish(&spec).expect(0);
    let sdk = world.sdk();
    let unpublish = spawn(
        &world,
        &[
            "unpublish",
            "going",
            "--prefix",
            &world.prefix,
            "--yes",
            "--progress",
            "none",
        ],
    );
    wait_for_status(&world, &sdk, "going", |s| s == "DELETE_IN_PROGRESS");
    let refused = world.publish(&spec);
    let (code, text) = finish(unpublish);
    assert_eq!(code, 0, "{text}");
    // Either the stack was still being deleted (refused as busy), or it was already gone (a fresh create).
    match refused.code() {
        4 => assert!(
            refused.stderr().contains("is busy (DELETE_IN_PROGRESS)"),
            "{}",
            refused.stderr()
        ),
        0 => assert!(
            refused.stderr().contains("going (create)"),
            "{}",
            refused.stderr()
        ),
        other => panic!(
            "publish during unpublish exited {other}:\n{}",
            refused.stderr()
        ),
    }
}

#[test]
fn interrupting_publish_leaves_a_deployment_that_watch_finishes() {
    for signal in ["INT", "TERM"] {
        let world = World::new();
        let spec = world.spec("interrupted.yaml", &bot("interrupted"));
        let sdk = world.sdk();
        let child = spawn(
            &world,
            &[
                "publish",
                spec.to_str().unwrap(),
                "--yes",
                "--progress",
                "events",
            ],
        );
        wait_for_status(&world, &sdk, "interrupted", |s| {
            s == "CREATE_IN_PROGRESS" || s == "CREATE_COMPLETE"
        });
        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let (code, text) = finish(child);
        let expected = if signal == "INT" { 130 } else { 143 };
        if code == 0 {
            // The deployment finished before the signal arrived: nothing to interrupt.
            assert!(text.contains("created CREATE_COMPLETE"), "{text}");
        } else {
            assert_eq!(code, expected, "{text}");
            assert!(text.contains("goes on deploying in AWS"), "{text}");
            assert!(
                text.contains(&format!(
                    "botpub watch interrupted --prefix {}",
                    world.prefix
                )),
                "{text}"
            );
        }
        let watched = world
            .botpub_bot("watch", "interrupted", &["--progress", "none"])
            .expect(0);
        assert!(
            watched.stdout().contains("CREATE_COMPLETE"),
            "{}",
            watched.stdout()
        );
        world.botpub(&["plan", spec.to_str().unwrap()]).expect(0);
    }
}

/// What `tests/support/ctrl_c_at_prompt.py` saw: botpub run in a terminal, answered with Ctrl-C.
fn ctrl_c_at_the_question(world: &World, args: &[&str]) -> serde_json::Value {
    let mut command = world.clean(Command::new("python3"), &world.endpoint);
    command
        .arg(common::root().join("tests/support/ctrl_c_at_prompt.py"))
        .args(["[y/N]", "--", env!("CARGO_BIN_EXE_botpub")])
        .args(args);
    let out = command.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the driver prints one JSON line")
}

#[test]
fn ctrl_c_at_the_confirmation_question_removes_what_was_prepared_and_exits_130() {
    let world = World::new();
    let sdk = world.sdk();
    let spec = world.spec("asked.yaml", &bot("asked"));
    let spec = spec.to_str().unwrap();

    let seen = ctrl_c_at_the_question(&world, &["publish", spec, "--progress", "none"]);
    assert_eq!(seen["prompted"], true, "{seen:#}");
    assert_eq!(seen["code"], 130, "{seen:#}");
    let output = seen["output"].as_str().unwrap();
    assert!(
        output.contains("error: interrupted: not confirmed; nothing was changed"),
        "{output}"
    );
    // The change set and the empty stack it made are gone: nothing is left in review.
    let listed = sdk
        .block_on(sdk.cloudformation.list_stacks().send())
        .unwrap();
    let left: Vec<_> = listed
        .stack_summaries()
        .iter()
        .filter(|s| s.stack_name() == Some(world.stack("asked").as_str()))
        .filter_map(|s| s.stack_status().map(|s| s.as_str().to_string()))
        .filter(|status| status != "DELETE_COMPLETE")
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // The same for the question before unpublishing: the bot stays published.
    world
        .publish(&world.dir.path().join("asked.yaml"))
        .expect(0);
    let seen = ctrl_c_at_the_question(&world, &["unpublish", "asked", "--prefix", &world.prefix]);
    assert_eq!(seen["code"], 130, "{seen:#}");
    world.botpub_bot("status", "asked", &[]).expect(0);
}

/// The change sets of a stack that could still be executed, by name (none when the stack does not exist).
/// LocalStack also lists executed ones, which AWS removes.
fn change_sets(sdk: &common::Sdk, stack: &str) -> Vec<String> {
    let Ok(described) = sdk.block_on(
        sdk.cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send(),
    ) else {
        return Vec::new();
    };
    let Some(id) = described.stacks().first().and_then(|s| s.stack_id()) else {
        return Vec::new();
    };
    sdk.block_on(sdk.cloudformation.list_change_sets().stack_name(id).send())
        .unwrap()
        .summaries()
        .iter()
        .filter(|s| {
            s.execution_status()
                .is_some_and(|e| e.as_str() == "AVAILABLE")
        })
        .filter_map(|s| s.change_set_name().map(str::to_string))
        .collect()
}

/// The status of a stack, `None` once it is gone.
fn status_of(sdk: &common::Sdk, stack: &str) -> Option<String> {
    sdk.block_on(
        sdk.cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send(),
    )
    .ok()?
    .stacks()
    .first()
    .and_then(|s| s.stack_status())
    .map(|s| s.as_str().to_string())
    .filter(|s| s != "DELETE_COMPLETE")
}

/// The stacks in review (made for a change set, not yet executed).
fn in_review(sdk: &common::Sdk) -> Vec<String> {
    sdk.block_on(
        sdk.cloudformation
            .list_stacks()
            .stack_status_filter(aws_sdk_cloudformation::types::StackStatus::ReviewInProgress)
            .send(),
    )
    .map(|page| {
        page.stack_summaries()
            .iter()
            .filter_map(|s| s.stack_name().map(str::to_string))
            .collect()
    })
    .unwrap_or_default()
}

#[test]
fn ctrl_c_while_a_fleet_is_planned_removes_this_runs_change_sets_and_a_rerun_works() {
    // Stopped when the first of five new stacks is in review, when two are, and when three are (two more
    // are still to be planned each time): with Ctrl-C or SIGTERM, while a published bot has an update
    // planned.
    for (point, signal) in [(1, "INT"), (2, "TERM"), (3, "INT")] {
        let world = World::new();
        let sdk = world.sdk();
        world
            .publish(&world.spec("kept.yaml", &bot("kept")))
            .expect(0);
        let fleet = world.spec(
            "fleet.yaml",
            &[
                "  - id: kept\n    allowed_origins: [\"https://app.example.com\"]\n    throttle: { rate_limit: 7, burst_limit: 9 }\n".to_string(),
                bot("new-a"),
                bot("new-b"),
                bot("new-c"),
                bot("new-d"),
                bot("new-e"),
            ]
            .concat(),
        );
        let child = spawn(
            &world,
            &[
                "publish",
                fleet.to_str().unwrap(),
                "--yes",
                "--concurrency",
                "1",
                "--progress",
                "events",
            ],
        );
        let started = Instant::now();
        let new = ["new-a", "new-b", "new-c", "new-d", "new-e"].map(|id| world.stack(id));
        loop {
            // One request per look (not one per stack): planning a stack takes well under a second.
            let in_review = in_review(&sdk)
                .iter()
                .filter(|name| new.contains(name))
                .count();
            if in_review >= point {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "point {point}: only {in_review} stack(s) in review"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let (code, text) = finish(child);
        assert_eq!(
            code,
            if signal == "INT" { 130 } else { 143 },
            "point {point}: {text}"
        );
        assert!(
            text.contains("nothing was changed"),
            "point {point}: {text}"
        );
        for stack in &new {
            assert_eq!(
                status_of(&sdk, stack),
                None,
                "point {point}: {stack} is left:\n{text}"
            );
        }
        assert_eq!(
            status_of(&sdk, &world.stack("kept")).as_deref(),
            Some("CREATE_COMPLETE")
        );
        assert_eq!(
            change_sets(&sdk, &world.stack("kept")),
            Vec::<String>::new(),
            "point {point}:\n{text}"
        );
        // Nothing is busy or half-made: planning the same fleet right away works (and leaves nothing).
        let again = world.botpub(&["plan", fleet.to_str().unwrap()]).expect(2);
        assert!(!again.stderr().contains("busy"), "{}", again.stderr());
    }
}
