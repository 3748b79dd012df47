//! The offline commands as a user runs them: `validate`, `synth`, `schema`, and how they treat files that
//! are not specs at all.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn botpub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_botpub"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn examples() -> Vec<String> {
    let mut found: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .unwrap()
            .map(|e| format!("examples/{}", e.unwrap().file_name().to_string_lossy()))
            .filter(|p| p.ends_with(".yaml"))
            .collect();
    found.sort();
    found
}

#[test]
fn every_example_validates() {
    for example in examples() {
        let out = botpub(&["validate", &example]);
        assert_eq!(out.status.code(), Some(0), "{example}: {}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("{example}: valid")),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn validate_shows_each_error_at_its_line_with_the_source_and_a_fix() {
    let out = botpub(&["validate", "tests/invalid/every-problem-at-once.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("tests/invalid/every-problem-at-once.yaml:17:33: error: bots[0].throttle.burst_limt: unknown field `burst_limt`"),
        "{err}"
    );
    assert!(
        err.contains(" 17 |     throttle: { rate_limit: 50, burst_limt: 100 }"),
        "{err}"
    );
    assert!(err.contains("help: did you mean `burst_limit`?"), "{err}");
    assert!(err.contains("help: did you mean `WEEK`?"), "{err}");
    assert!(
        err.contains("8 error(s), 0 warning(s): nothing was created"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn validate_json_lists_every_diagnostic_with_its_location() {
    let out = botpub(&[
        "validate",
        "--output",
        "json",
        "tests/invalid/quota-period.yaml",
        "examples/full.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    let diagnostics = doc["diagnostics"].as_array().unwrap();
    let first = &diagnostics[0];
    assert_eq!(first["file"], "tests/invalid/quota-period.yaml");
    assert_eq!(first["line"], 6);
    assert_eq!(first["column"], 34);
    assert_eq!(first["path"], "bots[0].quota.period");
    assert_eq!(first["severity"], "error");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown value `month`")
    );
    assert_eq!(first["hint"], "did you mean `MONTH`?");
    // The valid file's warning is reported too, as a warning.
    assert!(
        diagnostics
            .iter()
            .any(|d| d["file"] == "examples/full.yaml" && d["severity"] == "warning")
    );
    assert!(
        stderr(&out).is_empty(),
        "JSON mode keeps stderr quiet: {}",
        stderr(&out)
    );
}

#[test]
fn files_that_are_not_specs_get_one_clear_error_each() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let empty = write(d, "empty.yaml", "");
    let comment = write(d, "comment.yaml", "# nothing here\n");
    let binary = write(d, "binary.yaml", [0u8, 159, 146, 150, 255, 0, 1, 2]);
    let big = write(d, "big.yaml", vec![b'#'; 10 * 1024 * 1024 + 1]);
    let parent = write(d, "plain-file", "x");
    let cases: Vec<(PathBuf, &str)> = vec![
        (d.join("missing.yaml"), "no such file"),
        (d.to_path_buf(), "is a directory; pass a spec file"),
        (empty, "the file is empty"),
        (comment, "the file is empty"),
        (binary, "is not UTF-8 text (invalid byte at offset 1)"),
        (
            big,
            "is 10485761 bytes; a spec file is at most 10485760 bytes",
        ),
        (parent.join("child.yaml"), "cannot be read"),
    ];
    for (path, message) in cases {
        let path = path.to_string_lossy().to_string();
        let out = botpub(&["validate", &path]);
        assert_eq!(out.status.code(), Some(1), "{path}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{path}: error: {message}")),
            "{path}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn hostile_yaml_is_refused_quickly_without_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let nested_flow = write(d, "flow.yaml", "[".repeat(1_000_000));
    let nested_block: String = (0..5_000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    let nested_block = write(d, "block.yaml", nested_block);
    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..40 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("version: 1\nbots: *a39\n");
    let bomb = write(d, "bomb.yaml", bomb);
    // A spec just under the size limit: one bot with a 10 MB description.
    let huge = format!(
        "version: 1\nbots:\n  - id: big\n    allowed_origins: [\"https://app.example.com\"]\n    description: \"{}\"\n",
        "x".repeat(10 * 1024 * 1024 - 200)
    );
    let huge = write(d, "huge.yaml", huge);
    // Tens of thousands of values of the wrong type: each is reported once, in linear time.
    let shapes = format!(
        "version: 1\nbots:\n{}",
        "  - {id: [1], allowed_origins: 3, stage: {}}\n".repeat(20_000)
    );
    let shapes = write(d, "shapes.yaml", shapes);
    for (path, expected_code) in [
        (nested_flow, 1),
        (nested_block, 1),
        (bomb, 1),
        (huge, 0),
        (shapes, 1),
    ] {
        let started = Instant::now();
        let out = botpub(&["validate", path.to_str().unwrap()]);
        let elapsed = started.elapsed();
        assert_eq!(
            out.status.code(),
            Some(expected_code),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"));
        assert!(
            elapsed < Duration::from_secs(10),
            "{} took {elapsed:?}",
            path.display()
        );
    }
}

#[test]
fn more_than_ten_thousand_ranges_is_an_error_naming_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let ranges: Vec<String> = (0..10_001u32)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let spec = format!(
        "version: 1\nfirewall:\n  allowed_ipv4: [{}]\nbots:\n  - id: a\n    allowed_origins: [\"https://a.example\"]\n",
        ranges.join(", ")
    );
    let path = write(dir.path(), "many.yaml", spec);
    let out = botpub(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("firewall.allowed_ipv4: 10001 ranges; a WAF IP set holds at most 10000"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn synth_writes_one_template_per_stack_and_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = botpub(&[
        "synth",
        "examples/full.yaml",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut files: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "BotPub-firewall.template.json",
            "BotPub-internal-bot.template.json",
            "BotPub-sales-bot.template.json",
            "BotPub-support-bot.template.json",
            "manifest.json"
        ]
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    let stacks = manifest["stacks"].as_array().unwrap();
    assert_eq!(
        stacks[0]["stack_name"], "BotPub-firewall",
        "the firewall comes first: bots import from it"
    );
    let support = &stacks[1];
    assert_eq!(support["bot_id"], "support-bot");
    assert_eq!(support["tags"]["botpub:bot-id"], "support-bot");
    assert_eq!(support["tags"]["team"], "support");
    assert_eq!(
        support["tags"]["botpub:spec-hash"].as_str().unwrap().len(),
        16
    );
    let template = std::fs::read(out_dir.join("BotPub-support-bot.template.json")).unwrap();
    let template: serde_json::Value = serde_json::from_slice(&template).unwrap();
    assert_eq!(
        template["Resources"]["UsagePlan"]["Properties"]["Quota"]["Period"],
        "MONTH"
    );
    assert_eq!(
        template["Resources"]["FirewallAssociation"]["Properties"]["WebACLArn"]["Fn::ImportValue"],
        "BotPub-firewall-WebAclArn"
    );
}

#[test]
fn synth_is_deterministic_and_yaml_says_the_same_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b, y] = ["a", "b", "y"].map(|n| dir.path().join(n));
    for (path, format) in [(&a, "json"), (&b, "json"), (&y, "yaml")] {
        let out = botpub(&[
            "synth",
            "examples/full.yaml",
            "examples/lambda.yaml",
            "-o",
            path.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    for stack in [
        "BotPub-firewall",
        "BotPub-support-bot",
        "BotPub-webhook-bot",
    ] {
        let json_a = std::fs::read(a.join(format!("{stack}.template.json"))).unwrap();
        let json_b = std::fs::read(b.join(format!("{stack}.template.json"))).unwrap();
        assert_eq!(json_a, json_b, "{stack} differs between two runs");
        let yaml: serde_json::Value = serde_yaml::from_slice(
            &std::fs::read(y.join(format!("{stack}.template.yaml"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            yaml,
            serde_json::from_slice::<serde_json::Value>(&json_a).unwrap()
        );
    }
}

#[test]
fn synth_of_an_invalid_spec_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = botpub(&[
        "synth",
        "examples/full.yaml",
        "tests/invalid/quota-offset.yaml",
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !out_dir.exists(),
        "nothing may be written when any spec is invalid"
    );
}

#[test]
fn two_files_defining_the_same_stack_are_refused() {
    let out = botpub(&["validate", "examples/full.yaml", "examples/full.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("stack `BotPub-firewall` is also defined in examples/full.yaml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_schema_describes_the_spec_and_accepts_every_example() {
    let out = botpub(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "botpub publication spec");
    assert_eq!(schema["required"], serde_json::json!(["version", "bots"]));
    assert_eq!(schema["additionalProperties"], false);
    let validator = jsonschema::validator_for(&schema).unwrap();
    for example in examples() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&example)).unwrap();
        let instance: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{example}: {errors:?}");
    }
    for invalid in [
        "unknown-field-typo.yaml",
        "quota-period.yaml",
        "missing-version.yaml",
    ] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/invalid")
                .join(invalid),
        )
        .unwrap();
        let instance: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        assert!(
            !validator.is_valid(&instance),
            "the schema should reject {invalid}"
        );
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in ["validate", "synth", "schema"] {
        let out = botpub(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stdout(&out).contains("Example:\n  botpub"),
            "{command}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn forty_thousand_errors_are_counted_exactly_and_the_first_thousand_shown() {
    let dir = tempfile::tempdir().unwrap();
    let origins: String = (0..40_000)
        .map(|i| format!("      - bad origin {i}\n"))
        .collect();
    let path = write(
        dir.path(),
        "many.yaml",
        format!("version: 1\nbots:\n  - id: a\n    allowed_origins:\n{origins}"),
    );
    let started = Instant::now();
    let out = botpub(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let error =
        |i: usize| format!("bots[0].allowed_origins[{i}]: `bad origin {i}` is not an origin");
    // The list's own error comes first, then the items in file order; those past the list's limit of
    // 100 are checked all the same.
    assert!(err.contains("bots[0].allowed_origins: 40000 origins; at most 100"));
    assert!(
        err.contains(&error(0)) && err.contains(&error(998)),
        "the first thousand are shown"
    );
    assert!(!err.contains(&error(999)), "the rest are only counted");
    assert!(
        err.contains("... and 39001 more, not shown"),
        "{}",
        &err[err.len() - 400..]
    );
    assert!(err.contains("39001 × error: `…` is not an origin"));
    assert!(err.contains("40001 error(s), 0 warning(s)"));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    let out = botpub(&["validate", path.to_str().unwrap(), "--output", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], 40_001);
    assert_eq!(report["diagnostics"].as_array().unwrap().len(), 1000);
    assert_eq!(
        report["omitted"],
        serde_json::json!([{"severity": "error", "kind": "`…` is not an origin", "count": 39_001}])
    );
}

/// Runs botpub and returns its output with the most memory it held (`ru_maxrss`, KiB).
///
/// A process's `ru_maxrss` keeps the peak of the process it was before `exec`: a child started straight from
/// this test process would report this process's peak if larger. So a small Python process forks and
/// execs botpub, and reports the rusage of that child alone (its own ~10 MB is a floor, not a sum).
fn botpub_peak_kib(dir: &Path, args: &[&str]) -> (Output, u64) {
    const MEASURE: &str = "import os, sys\n\
        pid = os.fork()\n\
        if pid == 0:\n    os.execv(sys.argv[2], sys.argv[2:])\n\
        _, status, usage = os.wait4(pid, 0)\n\
        open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n\
        sys.exit(os.waitstatus_to_exitcode(status))\n";
    let report = dir.join("maxrss");
    let output = Command::new("python3")
        .args(["-c", MEASURE])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_botpub"))
        .args(args)
        .output()
        .expect("python3 runs");
    let peak = std::fs::read_to_string(&report)
        .expect("the measuring process reported")
        .parse()
        .unwrap();
    (output, peak)
}

/// A spec at the 10 MiB limit with close to a million problems is checked in bounded memory, whatever its
/// shape, and every problem is counted: a mapping of unknown fields, a flow list of one-letter values (the
/// most values per byte), hundreds of thousands of small bots (the most work per value), a mapping of tags
/// (free keys, each checked for duplicates) and one key given a million times.
#[test]
fn a_ten_mebibyte_spec_full_of_errors_is_checked_in_under_64_mib_with_exact_counts() {
    const LIMIT: usize = 10 * 1024 * 1024;
    // The text, and how many units it holds.
    let fill = |head: &str, unit: &dyn Fn(usize) -> String, tail: &str| {
        let mut text = head.to_string();
        let mut units = 0;
        for i in 0.. {
            let next = unit(i);
            if text.len() + next.len() + tail.len() > LIMIT {
                break;
            }
            text.push_str(&next);
            units += 1;
        }
        (text + tail, units)
    };
    // Each shape, with its errors and warnings as a function of its units.
    type Counts = fn(usize) -> (usize, usize);
    let shapes: [(&str, (String, usize), Counts); 5] = [
        (
            // Each field is unknown, and the bot lacks allowed_origins.
            "fields",
            fill(
                "version: 1\nbots:\n  - id: a\n",
                &|i| format!("    f{i}: 1\n"),
                "",
            ),
            |n| (n + 1, 0),
        ),
        (
            // Each origin is not one (the last one too), the list is too long, and the first 100 hold
            // 99 repeats.
            "flow",
            fill(
                "version: 1\nbots:\n  - id: a\n    allowed_origins: [",
                &|_| "a,".to_string(),
                "a]\n",
            ),
            |n| (n + 2, 99),
        ),
        (
            // Each bot has an unknown field and no allowed_origins, and the list is too long.
            "bots",
            fill(
                "version: 1\nbots:\n",
                &|i| format!("  - {{id: b{i}, x: 1}}\n"),
                "",
            ),
            |n| (2 * n + 1, 0),
        ),
        (
            // Each tag key is reserved, and there are too many.
            "tags",
            fill(
                "version: 1\nbots:\n  - id: a\n    allowed_origins: ['*']\n    tags:\n",
                &|i| format!("      aws:k{i}: v\n"),
                "",
            ),
            |n| (n + 1, 1),
        ),
        (
            "duplicates",
            fill(
                "version: 1\nbots:\n  - id: a\n    allowed_origins: ['*']\n",
                &|_| "    id: b\n".to_string(),
                "",
            ),
            |n| (n, 1),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, (text, units), expected) in shapes {
        assert!(text.len() > LIMIT - 100 && text.len() <= LIMIT);
        let path = write(dir.path(), &format!("{name}.yaml"), text);
        let (out, peak_kib) = botpub_peak_kib(dir.path(), &["validate", path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            peak_kib < 64 * 1024,
            "{name}: peak resident memory {} MiB",
            peak_kib / 1024
        );
        let (errors, warnings) = expected(units);
        assert!(
            err.contains(&format!("\n{errors} error(s), {warnings} warning(s)")),
            "{name}: {units} units: {}",
            &err[err.len().saturating_sub(1500)..]
        );
        eprintln!("{name}: {errors} errors, peak {} MiB", peak_kib / 1024);
    }
}

#[test]
fn a_template_over_one_megabyte_is_refused_before_any_aws_call() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "huge.yaml",
        format!(
            "version: 1\nregion: us-east-1\nbots:\n  - id: huge\n    description: \"{}\"\n    allowed_origins: [\"https://app.example.com\"]\n",
            "x".repeat(1_100_000)
        ),
    );
    // Nothing listens on the endpoint: an AWS call would fail with "cannot connect".
    let out = Command::new(env!("CARGO_BIN_EXE_botpub"))
        .args([
            "plan",
            spec.to_str().unwrap(),
            "--endpoint-url",
            "http://127.0.0.1:9",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    // The description is in the template twice: the REST API's, and the OpenAPI document's it serves.
    let size: usize = err
        .split("the template of BotPub-huge is ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        size > 2_200_000 && err.contains("bytes, over CloudFormation's limit of 1000000 bytes"),
        "{err}"
    );
    assert!(!err.contains("connect"), "{err}");
}

/// A command-line mistake exits 1, never 2: 2 is `plan`'s "there are changes", and a pipeline that
/// branches on it must not read a typo or a renamed flag as changes to review.
#[test]
fn usage_mistakes_exit_1_with_clap_s_message_and_help_exits_0() {
    let spec = "examples/quickstart.yaml";
    // (arguments, what clap says) for a bad flag, a missing argument and a bad value of every family.
    let mistakes: &[(&[&str], &str)] = &[
        (&["nonsense"], "unrecognized subcommand 'nonsense'"),
        (&[], "Usage: botpub"),
        (&["validate"], "required"),
        (
            &["validate", spec, "--bogus"],
            "unexpected argument '--bogus'",
        ),
        (&["synth"], "required"),
        (
            &["synth", spec, "-o", "out", "--format", "xml"],
            "invalid value 'xml'",
        ),
        (&["schema", "--bogus"], "unexpected argument '--bogus'"),
        (&["plan"], "required"),
        (&["plan", spec, "--bogus"], "unexpected argument '--bogus'"),
        (&["plan", spec, "--output", "yaml"], "invalid value 'yaml'"),
        (
            &["plan", spec, "--concurrency", "many"],
            "invalid value 'many'",
        ),
        (&["apply"], "required"),
        (
            &["apply", "plan.json", "--timeout", "soon"],
            "invalid value 'soon'",
        ),
        (&["publish"], "required"),
        (
            &["publish", spec, "--progress", "loud"],
            "invalid value 'loud'",
        ),
        (&["bootstrap", "--bogus"], "unexpected argument '--bogus'"),
        (&["watch"], "required"),
        (&["status"], "required"),
        (
            &["status", "bot", "--bogus"],
            "unexpected argument '--bogus'",
        ),
        (&["list", "--bogus"], "unexpected argument '--bogus'"),
        (&["unpublish"], "required"),
        (&["keys"], "Usage: botpub keys"),
        (&["keys", "create"], "required"),
        (
            &["keys", "list", "bot", "--bogus"],
            "unexpected argument '--bogus'",
        ),
        (&["keys", "get"], "required"),
        (&["keys", "delete", "bot"], "required"),
        (
            &["keys", "rotate", "bot", "key", "--output", "xml"],
            "invalid value 'xml'",
        ),
        (&["worker", "bot"], "required"),
        (
            &["worker", "bot", "--concurrency", "0", "--", "true"],
            "invalid value '0'",
        ),
        (
            &["worker", "bot", "--grace", "soon", "--", "true"],
            "invalid value 'soon'",
        ),
        (&["ask", "bot"], "required"),
        (
            &["ask", "bot", "hi", "--bogus"],
            "unexpected argument '--bogus'",
        ),
        (&["dlq"], "required"),
        (&["dlq", "bot", "--bogus"], "unexpected argument '--bogus'"),
        (&["metrics"], "required"),
        (
            &["metrics", "bot", "--since", "soon"],
            "invalid value 'soon'",
        ),
        (
            &["usage", "bot", "--bogus"],
            "unexpected argument '--bogus'",
        ),
        (
            &["ask", "bot", "hi", "--conversation"],
            "a value is required",
        ),
        (&["completions", "klingon"], "invalid value 'klingon'"),
        (&["man", "--bogus"], "unexpected argument '--bogus'"),
    ];
    for (args, says) in mistakes {
        let out = botpub(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "botpub {args:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(says),
            "botpub {args:?} should say {says:?}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "botpub {args:?}: {}", stdout(&out));
    }
    for args in [
        &["--help"][..],
        &["--version"],
        &["plan", "--help"],
        &["keys", "create", "--help"],
        &["help", "publish"],
    ] {
        let out = botpub(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "botpub {args:?}: {}",
            stderr(&out)
        );
        assert!(!stdout(&out).is_empty(), "botpub {args:?} prints to stdout");
    }
}

/// Completions load in bash and complete a subcommand; the man page renders, one page per command too.
#[test]
fn completions_load_in_bash_and_the_man_pages_render() {
    let bin = env!("CARGO_BIN_EXE_botpub");
    let script = format!(
        "source <('{bin}' completions bash) && COMP_WORDS=(botpub wor) && COMP_CWORD=1 && _botpub botpub wor botpub && echo \"${{COMPREPLY[@]}}\""
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).is_empty(),
        "loads without errors: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out).trim(), "worker");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = botpub(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(stdout(&out).contains("publish"), "{shell}");
    }
    let page = botpub(&["man"]);
    assert_eq!(page.status.code(), Some(0));
    assert!(stdout(&page).contains(".TH botpub 1"), "{}", stdout(&page));
    let dir = tempfile::tempdir().unwrap();
    let out = botpub(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for page in ["botpub.1", "botpub-worker.1", "botpub-keys-create.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".SH NAME"), "{page}");
    }
}

#[test]
fn usage_refuses_a_date_it_cannot_read_before_calling_aws() {
    for (args, says) in [
        (
            &["usage", "bot", "--from", "yesterday"][..],
            "--from yesterday: give a date as YYYY-MM-DD",
        ),
        (
            &["usage", "bot", "--to", "2026-02-30"][..],
            "--to 2026-02-30: give a date as YYYY-MM-DD",
        ),
        (
            &["usage", "bot", "--from", "2026-11-29", "--to", "2026-11-01"][..],
            "--from 2026-11-29 is after --to 2026-11-01",
        ),
    ] {
        let out = botpub(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn colour_only_where_it_can_be_read_or_was_asked_for() {
    let spec = "tests/invalid/lambda-arn.yaml";
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_botpub"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Not a terminal: plain text, whatever the default.
    let plain = run(&["validate", spec], &[]);
    assert!(
        !plain.contains('\x1b') && plain.contains(": error: "),
        "{plain}"
    );
    assert!(
        !run(
            &["--color", "never", "validate", spec],
            &[("CLICOLOR_FORCE", "1")]
        )
        .contains('\x1b')
    );
    // Asked for: the severity and the help in colour, the text unchanged around them.
    let coloured = run(&["--color", "always", "validate", spec], &[]);
    assert!(
        coloured.contains("\x1b[1m\x1b[31merror\x1b[0m") || coloured.contains("\x1b[1;31merror"),
        "{coloured:?}"
    );
    assert_eq!(anstream::adapter::strip_str(&coloured).to_string(), plain);
    assert!(run(&["validate", spec], &[("CLICOLOR_FORCE", "1")]).contains('\x1b'));
}

#[test]
fn a_custom_domain_declared_in_two_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.yaml");
    std::fs::write(
        &other,
        "version: 1\nregion: us-east-1\ndomains:\n  - name: bots.example.com\n    certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/abc\nbots:\n  - id: other-bot\n    allowed_origins: [\"https://app.example.com\"]\n    domain: {name: bots.example.com}\n",
    )
    .unwrap();
    let out = botpub(&["validate", "examples/domains.yaml", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "stack `BotPub-domain-bots-example-com` is also defined in examples/domains.yaml"
        ),
        "{}",
        stderr(&out)
    );
}
