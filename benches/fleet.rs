//! Fleet benchmark against LocalStack: one `botpub publish` of a spec with many bots, run with
//! `--concurrency 1` (one stack after another) and with `--concurrency 8`, as whole processes.
//!
//!   cargo bench --bench fleet     full measurement: 20 bots each way (release build)
//!   cargo test --bench fleet      smoke run: 4 bots, concurrency 1 versus 4 (debug build)
//!
//! Each run publishes fresh stacks (its own stack prefix, so every stack is a CREATE) with `-v`, whose request
//! log gives the number of requests and of requests that needed more than one attempt (throttling and other
//! retried faults). Every stack is removed with `botpub unpublish` at the end.
//!
//! Environment: BOTPUB_BENCH_BOTS (default 20; smoke 4), BOTPUB_BENCH_BIN.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{LocalStack, REGION, utc_now, verdict};

/// What one fleet publish took.
struct Measured {
    wall: Duration,
    requests: usize,
    retried: usize,
    /// Stacks created, as the JSON result says.
    created: usize,
}

fn spec(dir: &Path, prefix: &str, bots: usize) -> std::path::PathBuf {
    let mut text = format!("version: 1\nregion: {REGION}\nstack_prefix: {prefix}\nbots:\n");
    for i in 0..bots {
        text.push_str(&format!(
            "  - id: bot{i:02}\n    throttle: {{ rate_limit: 50, burst_limit: 100 }}\n    allowed_origins: [\"https://app.example.com\"]\n"
        ));
    }
    let path = dir.join(format!("{prefix}.yaml"));
    std::fs::write(&path, text).expect("write spec");
    path
}

fn publish(bin: &Path, home: &Path, endpoint: &str, spec: &Path, concurrency: usize) -> Measured {
    let started = Instant::now();
    let output = support::botpub(bin, home, endpoint)
        .arg("publish")
        .arg(spec)
        .args(["--yes", "--progress", "none", "--output", "json", "-v"])
        .args(["--concurrency", &concurrency.to_string()])
        .output()
        .expect("run botpub");
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "publish --concurrency {concurrency} failed:\n{stderr}"
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON result");
    let requests: Vec<&str> = stderr.lines().filter(|l| l.starts_with("aws: ")).collect();
    Measured {
        wall,
        requests: requests.len(),
        retried: requests
            .iter()
            .filter(|l| !l.contains(" 1 attempt,"))
            .count(),
        created: result["stacks"]
            .as_array()
            .map_or(0, |s| s.iter().filter(|s| s["result"] == "created").count()),
    }
}

fn unpublish_all(
    bin: &Path,
    home: &Path,
    endpoint: &str,
    prefix: &str,
    bots: usize,
) -> Vec<String> {
    let mut left = Vec::new();
    for i in 0..bots {
        let id = format!("bot{i:02}");
        let output = support::botpub(bin, home, endpoint)
            .args([
                "unpublish",
                &id,
                "--prefix",
                prefix,
                "--yes",
                "--progress",
                "none",
            ])
            .output()
            .expect("run botpub");
        if !output.status.success() {
            left.push(format!("{prefix}-{id}"));
        }
    }
    left
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let bots: usize = match std::env::var("BOTPUB_BENCH_BOTS")
        .ok()
        .and_then(|b| b.parse().ok())
    {
        Some(n) if n > 0 => n,
        _ if full => 20,
        _ => 4,
    };
    let concurrency = if full { 8 } else { 4 };
    let dir = tempfile::tempdir().expect("temp dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (bin, bin_source) = support::binary();
    println!(
        "botpub fleet benchmark ({}), {}, {} build, {} cores",
        if full {
            format!("full, {bots} bots")
        } else {
            format!("smoke run: {bots} bots; `cargo bench --bench fleet` measures 20")
        },
        utc_now(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("binary: {} ({bin_source})", bin.display());
    let localstack = LocalStack::start(root);
    println!("{}", localstack.describe());
    let endpoint = localstack.endpoint.as_str();

    let tag = format!("{:06x}", fastrand::u32(..0x100_0000));
    let runs = [
        (1, format!("Fleet{tag}S")),
        (concurrency, format!("Fleet{tag}C")),
    ];
    let mut results = Vec::new();
    let measured = std::panic::catch_unwind(|| {
        let mut measured = Vec::new();
        for (n, prefix) in &runs {
            let path = spec(dir.path(), prefix, bots);
            let m = publish(&bin, dir.path(), endpoint, &path, *n);
            println!(
                "--concurrency {n:<2} {:>7.2} s wall, {:>5.2} s per bot, {} stacks created, {} requests, {} retried",
                m.wall.as_secs_f64(),
                m.wall.as_secs_f64() / bots as f64,
                m.created,
                m.requests,
                m.retried
            );
            measured.push(m);
        }
        measured
    });
    let cleaning = Instant::now();
    for (_, prefix) in &runs {
        results.extend(unpublish_all(&bin, dir.path(), endpoint, prefix, bots));
    }
    println!(
        "clean-up: {} stacks unpublished in {:.1} s{}",
        runs.len() * bots - results.len(),
        cleaning.elapsed().as_secs_f64(),
        if results.is_empty() {
            String::new()
        } else {
            format!("; left behind: {results:?}")
        }
    );
    localstack.stop();
    let measured = match measured {
        Ok(m) => m,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let (sequential, parallel) = (&measured[0], &measured[1]);
    for m in &measured {
        assert_eq!(m.created, bots, "every bot is created");
    }
    let speedup = sequential.wall.as_secs_f64() / parallel.wall.as_secs_f64();
    println!(
        "speed-up with --concurrency {concurrency}: {speedup:.2}x (target 4x on AWS: {}); requests retried: {} (target 0 failures: {})",
        if full {
            verdict(speedup >= 4.0)
        } else {
            "not judged (smoke run)"
        },
        sequential.retried + parallel.retried,
        verdict(true)
    );
    println!(
        "note: LocalStack executes one stack operation at a time, so on it only planning overlaps; the ratio on AWS, which deploys stacks in parallel, is what the target is about."
    );
    assert!(results.is_empty(), "stacks left behind: {results:?}");
}
