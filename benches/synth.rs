//! Synthesis benchmark: how long validating and synthesizing 1 and 100 bots takes, and how much memory.
//!
//!   cargo bench --bench synth            full measurement (release build), prints a table and a summary
//!   cargo test --bench synth             smoke run (debug build, a few iterations, checks the output)
//!
//! Two views:
//! - in-process: `spec::check_str` + `synth::synthesize` (and, separately, rendering every template to its
//!   JSON text) on a generated spec, median over many iterations; the heap peak of one such run is measured
//!   by a counting global allocator (switched on only for that run, so it costs the timings nothing);
//! - whole process: `botpub synth SPEC -o DIR` as users run it, wall time from spawn to exit, and the
//!   child's peak resident set size (ru_maxrss) as the kernel reports it when its parent reaps it with
//!   wait4(2) (the number GNU time's `%M` prints; cross-checked against /usr/bin/time when present).
//!
//! Why a trampoline: Linux carries a parent's peak RSS into a child it spawns (the child's mm starts as a
//! copy of, or with vfork/posix_spawn literally is, the parent's until exec, and exec keeps that high-water
//! mark in ru_maxrss). This bench grows to tens of MiB, so a child it spawned directly would report at
//! least that. Instead it re-runs its own executable as a small trampoline (BOTPUB_BENCH_TRAMPOLINE=1)
//! that does nothing but spawn botpub, reap it with wait4 and print the figures; its own resident size
//! when spawning (a few MiB, printed as the floor) is the most that can leak into the child's figure.
//!
//! The binary is the one cargo built for this profile next to this bench (`CARGO_BIN_EXE_botpub`:
//! target/release/botpub under `cargo bench`, target/debug/botpub under `cargo test`); set BOTPUB_BENCH_BIN to
//! measure another one. Timings are never asserted; the smoke run asserts that the results are sane.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use botpub::spec;
use botpub::synth;
use serde_json::Value;

/// The AWS CDK reference of the issue (aws-cdk-lib 2.x, Node 20, this 2-core machine).
const CDK_ONE_BOT_WALL: f64 = 1.8;
const CDK_ONE_BOT_MIB: f64 = 430.0;
const CDK_HUNDRED_BOTS_WALL: f64 = 4.1;
/// The targets, for a whole process.
const TARGET_ONE_BOT_WALL: f64 = 0.005;
const TARGET_HUNDRED_BOTS_WALL: f64 = 0.100;
const TARGET_PEAK_MIB: f64 = 20.0;

// ---------------------------------------------------------------------------------------------------------
// Heap accounting: a pass-through allocator that, while TRACKING is on, keeps the live and peak byte counts.

struct Counting;

static TRACKING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    // Blocks allocated before tracking started may be freed while it is on: never wrap below zero.
    let _ = LIVE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |live| {
        Some(live.saturating_sub(bytes))
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && TRACKING.load(Ordering::Relaxed) {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && TRACKING.load(Ordering::Relaxed) {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if TRACKING.load(Ordering::Relaxed) {
            shrank(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && TRACKING.load(Ordering::Relaxed) {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap bytes in use while `f` runs, above what was in use before it.
fn measure_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    TRACKING.store(true, Ordering::SeqCst);
    let out = f();
    TRACKING.store(false, Ordering::SeqCst);
    (out, PEAK.load(Ordering::Relaxed))
}

// ---------------------------------------------------------------------------------------------------------
// The child's peak RSS: reap it with wait4(2), which returns its resource usage. std links the C library
// already; this declares the one function it does not expose (no libc crate needed).

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod child {
    use std::process::Child;
    use std::time::Duration;

    #[repr(C)]
    struct Timeval {
        sec: i64,
        usec: i64,
    }

    /// `struct rusage` of 64-bit Linux: two timevals, then 14 longs (ru_maxrss first, in KiB).
    #[repr(C)]
    struct Rusage {
        utime: Timeval,
        stime: Timeval,
        maxrss: i64,
        rest: [i64; 13],
    }

    unsafe extern "C" {
        fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
    }

    pub struct Reaped {
        pub success: bool,
        pub max_rss_kib: Option<u64>,
        pub cpu: Duration,
    }

    /// Waits for the child and returns its exit status and resource usage.
    pub fn reap(child: Child) -> std::io::Result<Reaped> {
        let mut status = 0i32;
        let mut usage = Rusage {
            utime: Timeval { sec: 0, usec: 0 },
            stime: Timeval { sec: 0, usec: 0 },
            maxrss: 0,
            rest: [0; 13],
        };
        let pid = child.id() as i32;
        loop {
            // SAFETY: status and usage are valid, writable, correctly laid out for this target.
            let r = unsafe { wait4(pid, &mut status, 0, &mut usage) };
            if r == pid {
                break;
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
        // Exited normally (WIFEXITED) with code 0 (WEXITSTATUS).
        let success = status & 0x7f == 0 && (status >> 8) & 0xff == 0;
        let tv = |t: &Timeval| Duration::from_micros((t.sec * 1_000_000 + t.usec) as u64);
        Ok(Reaped {
            success,
            max_rss_kib: Some(usage.maxrss as u64),
            cpu: tv(&usage.utime) + tv(&usage.stime),
        })
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod child {
    use std::process::Child;
    use std::time::Duration;

    pub struct Reaped {
        pub success: bool,
        pub max_rss_kib: Option<u64>,
        pub cpu: Duration,
    }

    /// Elsewhere: exit status only (peak memory is reported as unavailable).
    pub fn reap(mut child: Child) -> std::io::Result<Reaped> {
        let status = child.wait()?;
        Ok(Reaped {
            success: status.success(),
            max_rss_kib: None,
            cpu: Duration::ZERO,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------

/// A spec with the shared firewall and `bots` bots, each using most of the format (two origins, so CORS
/// echoes the request's origin; quota; queue and results settings; tags).
fn spec_text(bots: usize) -> String {
    let mut text = String::from(
        "version: 1\nregion: us-east-1\nstack_prefix: Bench\nfirewall:\n  allowed_ipv4: [203.0.113.0/24, 198.51.100.0/25]\n  allowed_ipv6: [\"2001:db8::/32\"]\nbots:\n",
    );
    for i in 0..bots {
        text.push_str(&format!(
            "  - id: bot-{i:03}\n    description: Benchmark assistant number {i}\n    stage: prod\n    throttle: {{ rate_limit: 50, burst_limit: 100 }}\n    quota: {{ limit: 10000, period: MONTH, offset: 0 }}\n    allowed_origins: [\"https://app{i}.example.com\", \"https://dashboard.example.com\"]\n    backend: {{ type: queue }}\n    queue: {{ visibility_timeout_seconds: 1800, max_receive_count: 2, retention_days: 4 }}\n    results: {{ expire_after_days: 7 }}\n    tags: {{ team: bench, index: \"{i}\" }}\n"
        ));
    }
    text
}

fn median(samples: &mut [Duration]) -> Duration {
    assert!(!samples.is_empty());
    samples.sort();
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

struct Config {
    full: bool,
    /// In-process iterations for 1 bot and for 100 bots.
    inproc: (usize, usize),
    /// Whole-process runs for 1 bot and for 100 bots.
    process: (usize, usize),
}

struct InProcess {
    bots: usize,
    stacks: usize,
    iterations: usize,
    check_synth: Duration,
    render: Duration,
    heap_peak: usize,
    /// The heap peak when each stack is synthesized, rendered and dropped in turn (as a streaming
    /// `botpub synth` could), for comparison with `heap_peak` (everything held at once, as it does now).
    streaming_heap_peak: usize,
    template_bytes: usize,
}

/// Validates and synthesizes, failing loudly when the spec is not valid or a template is not sane.
fn check_and_synthesize(text: &str) -> Vec<synth::Stack> {
    let (spec, diagnostics) = spec::check_str("bench.yaml", text);
    let spec = spec.unwrap_or_else(|| panic!("the generated spec is invalid: {diagnostics:#?}"));
    synth::synthesize(&spec).expect("synthesis")
}

fn in_process(bots: usize, iterations: usize) -> InProcess {
    let text = spec_text(bots);
    // Sanity first (and a warm-up): every stack is there, and every template text parses back to itself.
    let stacks = check_and_synthesize(&text);
    assert_eq!(stacks.len(), bots + 1, "the firewall and one stack per bot");
    let mut template_bytes = 0;
    for stack in &stacks {
        let body = stack.template_body();
        template_bytes += body.len();
        let parsed: Value = serde_json::from_str(&body).expect("a template is JSON");
        assert_eq!(parsed, stack.template, "{} does not round-trip", stack.name);
        let resources = parsed["Resources"].as_object().expect("Resources");
        assert!(!resources.is_empty(), "{} has no resources", stack.name);
    }
    drop(stacks);

    let mut check_synth = Vec::with_capacity(iterations);
    let mut render = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let stacks = check_and_synthesize(std::hint::black_box(&text));
        check_synth.push(started.elapsed());
        let started = Instant::now();
        let bytes: usize = stacks.iter().map(|s| s.template_body().len()).sum();
        render.push(started.elapsed());
        assert_eq!(bytes, template_bytes);
    }
    let (_, heap_peak) = measure_heap(|| {
        let stacks = check_and_synthesize(&text);
        let bodies: Vec<String> = stacks.iter().map(|s| s.template_body()).collect();
        (stacks, bodies)
    });
    let (streamed, streaming_heap_peak) = measure_heap(|| {
        let (spec, _) = spec::check_str("bench.yaml", &text);
        let spec = spec.expect("valid");
        let mut bytes = 0;
        for (i, bot) in spec.bots.iter().enumerate() {
            let mut one = spec.clone();
            one.bots = vec![bot.clone()];
            for stack in synth::synthesize(&one).expect("synthesis") {
                // The firewall stack once (a streaming synth would make it once).
                if i == 0 || stack.kind != synth::StackKind::Firewall {
                    bytes += stack.template_body().len();
                }
            }
        }
        bytes
    });
    assert_eq!(
        streamed, template_bytes,
        "one stack at a time gives the same templates"
    );
    InProcess {
        bots,
        stacks: bots + 1,
        iterations,
        check_synth: median(&mut check_synth),
        render: median(&mut render),
        heap_peak,
        streaming_heap_peak,
        template_bytes,
    }
}

struct Processes {
    bots: usize,
    runs: usize,
    wall: Duration,
    wall_min: Duration,
    cpu: Duration,
    /// Peak RSS (KiB): the median and the largest over the runs.
    rss_median_kib: Option<u64>,
    rss_max_kib: Option<u64>,
    /// The largest trampoline RSS at spawn: the reported peak is max(this, botpub's own), so it is exact
    /// whenever it is above this floor.
    floor_kib: u64,
}

/// The botpub binary to measure, and where it came from.
fn binary() -> (PathBuf, &'static str) {
    match std::env::var_os("BOTPUB_BENCH_BIN") {
        Some(path) => (PathBuf::from(path), "BOTPUB_BENCH_BIN"),
        None => (
            PathBuf::from(env!("CARGO_BIN_EXE_botpub")),
            "CARGO_BIN_EXE_botpub: built by cargo for this profile",
        ),
    }
}

const TRAMPOLINE: &str = "BOTPUB_BENCH_TRAMPOLINE";

/// This process's own peak RSS (VmHWM), in KiB.
fn own_peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The trampoline: runs argv[1..] (stdout discarded, stderr inherited), reaps it, and prints
/// `wall_ns max_rss_kib cpu_us success floor_kib` on stdout.
fn trampoline() -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let floor = own_peak_kib().unwrap_or(0);
    let started = Instant::now();
    let process = Command::new(&args[0])
        .args(&args[1..])
        .env_remove(TRAMPOLINE)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", args[0]));
    let reaped = child::reap(process).expect("wait4");
    let wall = started.elapsed();
    println!(
        "{} {} {} {} {floor}",
        wall.as_nanos(),
        reaped.max_rss_kib.unwrap_or(0),
        reaped.cpu.as_micros(),
        u8::from(reaped.success)
    );
    std::process::exit(0)
}

/// One measured run of botpub.
struct Measured {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: Option<u64>,
    /// The trampoline's own peak RSS when it spawned botpub: the floor of `max_rss_kib`.
    floor_kib: u64,
}

/// Runs `bin args` through the trampoline; botpub's stderr goes to `log`, shown if it fails.
fn measure(bin: &Path, args: &[&std::ffi::OsStr], log: &Path) -> Measured {
    let stderr = File::create(log).expect("stderr log");
    let output = Command::new(std::env::current_exe().expect("current exe"))
        .env(TRAMPOLINE, "1")
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .stderr(stderr)
        .output()
        .expect("run the trampoline");
    let report = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<u64> = report
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    assert!(
        output.status.success() && fields.len() == 5,
        "the trampoline failed ({}): {report}\n{}",
        output.status,
        std::fs::read_to_string(log).unwrap_or_default()
    );
    assert!(
        fields[3] == 1,
        "botpub {args:?} failed:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    Measured {
        wall: Duration::from_nanos(fields[0]),
        max_rss_kib: (fields[1] > 0).then_some(fields[1]),
        cpu: Duration::from_micros(fields[2]),
        floor_kib: fields[4],
    }
}

/// One `botpub synth` run.
fn run_synth(bin: &Path, spec: &Path, out: &Path, log: &Path) -> Measured {
    let _ = std::fs::remove_dir_all(out);
    measure(
        bin,
        &[
            "synth".as_ref(),
            spec.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        log,
    )
}

/// What `botpub synth` wrote: a manifest naming every stack, each template a JSON object with resources.
fn check_output(out: &Path, bots: usize) {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("manifest.json")).expect("manifest.json"),
    )
    .expect("manifest.json is JSON");
    let stacks = manifest["stacks"].as_array().expect("stacks");
    assert_eq!(stacks.len(), bots + 1, "manifest lists every stack");
    for stack in stacks {
        let file = stack["template"].as_str().expect("template file");
        let template: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(file)).expect("template"))
                .unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
        assert!(
            template["Resources"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{file} has no resources"
        );
    }
}

fn processes(bin: &Path, dir: &Path, bots: usize, runs: usize) -> Processes {
    let spec = dir.join(format!("bench-{bots}.yaml"));
    std::fs::write(&spec, spec_text(bots)).expect("write spec");
    let out = dir.join(format!("out-{bots}"));
    let log = dir.join(format!("stderr-{bots}.txt"));
    // Warm-up (page cache), then check what it wrote.
    run_synth(bin, &spec, &out, &log);
    check_output(&out, bots);
    let mut walls = Vec::with_capacity(runs);
    let mut cpus = Vec::with_capacity(runs);
    let mut rss: Vec<u64> = Vec::with_capacity(runs);
    let mut floor = 0;
    for _ in 0..runs {
        let run = run_synth(bin, &spec, &out, &log);
        walls.push(run.wall);
        cpus.push(run.cpu);
        rss.extend(run.max_rss_kib);
        floor = floor.max(run.floor_kib);
    }
    check_output(&out, bots);
    rss.sort_unstable();
    let wall_min = *walls.iter().min().expect("runs");
    Processes {
        bots,
        runs,
        wall: median(&mut walls),
        wall_min,
        cpu: median(&mut cpus),
        rss_median_kib: rss.get(rss.len() / 2).copied(),
        rss_max_kib: rss.last().copied(),
        floor_kib: floor,
    }
}

/// GNU time's view of one run (`%e %M`), to cross-check the wait4 figures; None when it is not installed.
fn gnu_time(bin: &Path, dir: &Path, bots: usize) -> Option<(String, u64)> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let spec = dir.join(format!("bench-{bots}.yaml"));
    let out = dir.join(format!("out-time-{bots}"));
    let report = dir.join("time.txt");
    let status = Command::new(time)
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&report)
        .arg(bin)
        .arg("synth")
        .arg(&spec)
        .arg("-o")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let text = std::fs::read_to_string(report).ok()?;
    let mut fields = text.split_whitespace();
    let seconds = fields.next()?.to_string();
    let kib = fields.next()?.parse().ok()?;
    Some((seconds, kib))
}

/// The date and time of the measurement (UTC, RFC 3339), as botpub itself prints AWS timestamps.
fn utc_now() -> String {
    botpub::cloudformation::stack::timestamp(&aws_smithy_types::DateTime::from(
        std::time::SystemTime::now(),
    ))
}

/// Targets are judged on optimized builds only: a debug build's timings say nothing about them.
fn verdict(ok: bool) -> &'static str {
    match (cfg!(debug_assertions), ok) {
        (true, _) => "not judged (debug build)",
        (false, true) => "met",
        (false, false) => "MISSED",
    }
}

fn main() {
    if std::env::var_os(TRAMPOLINE).is_some() {
        trampoline();
    }
    let full = std::env::args().any(|a| a == "--bench");
    let config = if full {
        Config {
            full,
            inproc: (300, 30),
            process: (40, 20),
        }
    } else {
        Config {
            full,
            inproc: (3, 1),
            process: (2, 1),
        }
    };
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let (bin, bin_source) = binary();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let started = Instant::now();
    println!(
        "botpub synth benchmark ({}), {}, {profile} build, {cores} cores",
        if full {
            "full"
        } else {
            "smoke run: a few iterations; `cargo bench --bench synth` measures"
        },
        utc_now()
    );
    println!("binary: {} ({bin_source})", bin.display());
    assert!(
        bin.exists(),
        "{} does not exist; build it (cargo build) or unset BOTPUB_BENCH_BIN",
        bin.display()
    );

    // In-process.
    let one = in_process(1, config.inproc.0);
    let hundred = in_process(100, config.inproc.1);
    println!();
    println!(
        "In process (spec::check_str + synth::synthesize; rendering the JSON text separately):"
    );
    println!(
        "| bots | stacks | iterations | validate+synthesize | per bot | + JSON text | heap peak, all at once | heap peak, one stack at a time | template bytes |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in [&one, &hundred] {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2} MiB | {:.2} MiB | {} |",
            r.bots,
            r.stacks,
            r.iterations,
            ms(r.check_synth),
            ms(r.check_synth / r.bots as u32),
            ms(r.render),
            mib(r.heap_peak as f64),
            mib(r.streaming_heap_peak as f64),
            r.template_bytes
        );
    }

    // Whole process.
    let dir = tempfile::tempdir().expect("temp dir");
    let baseline = {
        // The process floor: `botpub --version` (start, parse arguments, exit).
        let log = dir.path().join("version.txt");
        let mut walls = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..config.process.0 {
            let run = measure(&bin, &["--version".as_ref()], &log);
            walls.push(run.wall);
            rss.extend(run.max_rss_kib);
        }
        rss.sort_unstable();
        (median(&mut walls), rss.get(rss.len() / 2).copied())
    };
    let p_one = processes(&bin, dir.path(), 1, config.process.0);
    let p_hundred = processes(&bin, dir.path(), 100, config.process.1);
    let kib = |k: Option<u64>| {
        k.map_or("n/a".to_string(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    println!();
    println!(
        "Whole process (`botpub synth SPEC -o DIR`; wall from spawn to exit; peak RSS = ru_maxrss from wait4):"
    );
    println!(
        "| bots | runs | wall median | wall min | per bot | CPU (user+sys) | peak RSS median | peak RSS max |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for p in [&p_one, &p_hundred] {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            p.bots,
            p.runs,
            ms(p.wall),
            ms(p.wall_min),
            ms(p.wall / p.bots as u32),
            ms(p.cpu),
            kib(p.rss_median_kib),
            kib(p.rss_max_kib)
        );
    }
    println!(
        "(process floor, `botpub --version`: {} wall, {} peak RSS; the trampoline's own RSS when spawning: {})",
        ms(baseline.0),
        kib(baseline.1),
        kib(Some(p_one.floor_kib.max(p_hundred.floor_kib)))
    );
    if full {
        for bots in [1, 100] {
            match gnu_time(&bin, dir.path(), bots) {
                Some((seconds, k)) => println!(
                    "cross-check, /usr/bin/time -f '%e %M' on {bots} bot(s): {seconds} s, {:.1} MiB",
                    k as f64 / 1024.0
                ),
                None => {
                    println!("cross-check with /usr/bin/time: not installed or failed; skipped")
                }
            }
        }
    }

    for p in [&p_one, &p_hundred] {
        if p.rss_median_kib.is_some_and(|k| k <= p.floor_kib) {
            println!(
                "note: the {}-bot peak RSS equals the trampoline's floor ({:.1} MiB): botpub's own peak is at most that",
                p.bots,
                p.floor_kib as f64 / 1024.0
            );
        }
    }

    // Sanity of the measurements themselves (never of their size).
    for p in [&p_one, &p_hundred] {
        assert!(p.wall > Duration::ZERO);
        if cfg!(all(target_os = "linux", target_pointer_width = "64")) {
            assert!(
                p.rss_max_kib.is_some_and(|k| k > 0),
                "wait4 reported no peak RSS"
            );
        }
    }
    assert!(one.heap_peak > 0 && hundred.heap_peak > one.heap_peak);

    let peak_mib = p_one
        .rss_max_kib
        .max(p_hundred.rss_max_kib)
        .map(|k| k as f64 / 1024.0);
    println!();
    println!("Summary ({}, {profile} build, {cores} cores):", utc_now());
    println!();
    println!(
        "| synthesis | botpub (whole process) | AWS CDK (reference) | CDK / botpub | target |"
    );
    println!("| --- | ---: | ---: | ---: | --- |");
    let wall_one = p_one.wall.as_secs_f64();
    let wall_hundred = p_hundred.wall.as_secs_f64();
    println!(
        "| 1 bot, wall | {} | {CDK_ONE_BOT_WALL} s | {:.0}× | < 5 ms: {} |",
        ms(p_one.wall),
        CDK_ONE_BOT_WALL / wall_one,
        verdict(wall_one < TARGET_ONE_BOT_WALL)
    );
    println!(
        "| 100 bots, wall | {} | {CDK_HUNDRED_BOTS_WALL} s | {:.0}× | < 100 ms: {} |",
        ms(p_hundred.wall),
        CDK_HUNDRED_BOTS_WALL / wall_hundred,
        verdict(wall_hundred < TARGET_HUNDRED_BOTS_WALL)
    );
    println!(
        "| 100 bots, per bot | {} | {:.1} ms | | |",
        ms(p_hundred.wall / 100),
        CDK_HUNDRED_BOTS_WALL * 1e3 / 100.0
    );
    match (p_one.rss_max_kib, peak_mib) {
        (Some(k), Some(peak)) => {
            let one_mib = k as f64 / 1024.0;
            println!(
                "| 1 bot, peak RSS | {one_mib:.1} MiB | {CDK_ONE_BOT_MIB} MiB | {:.0}× | < 20 MiB: {} |",
                CDK_ONE_BOT_MIB / one_mib,
                verdict(one_mib < TARGET_PEAK_MIB)
            );
            println!(
                "| 100 bots, peak RSS | {} | — | | < 20 MiB: {} |",
                kib(p_hundred.rss_max_kib),
                verdict(peak < TARGET_PEAK_MIB)
            );
        }
        _ => println!("| peak RSS | n/a on this platform | {CDK_ONE_BOT_MIB} MiB | | |"),
    }
    println!(
        "| in process, per bot (1 / 100 bots) | {} / {} | | | |",
        ms(one.check_synth),
        ms(hundred.check_synth / 100)
    );
    if !config.full {
        println!();
        println!(
            "smoke run done in {:.1} s: templates parse, manifests list every stack (timings of a {profile} build are not representative)",
            started.elapsed().as_secs_f64()
        );
    }
}
