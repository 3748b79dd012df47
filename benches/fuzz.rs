//! A time-budgeted fuzzer over spec checking and synthesis: no panic, no hang, bounded memory, and every
//! accepted spec synthesizes templates that parse back as JSON (and as YAML) and have the expected structure.
//!
//!   cargo bench --bench fuzz     fuzzes for BOTPUB_FUZZ_SECONDS (default 60) in a release build, prints counts
//!   cargo test --bench fuzz      smoke run: a few seconds (debug build), the same checks
//!
//! There is no nightly toolchain here, so this is not cargo-fuzz: it is a seeded generator (fastrand) with four
//! kinds of input, each at most 64 KiB:
//! - random bytes (made UTF-8 with replacement characters, as `check_str` takes text);
//! - random UTF-8 text, biased to YAML punctuation, control characters and characters that are hard for parsers;
//! - mutations of the example specs and the invalid-spec corpus (`examples/*.yaml`, `tests/invalid/*.yaml`):
//!   byte flips, line deletion, duplication and swaps, splicing two inputs, YAML syntax (`&a`, `*a`, `<<:`, `!!str`,
//!   `---`, tags, block scalars), deep nesting, huge numbers, unicode, values from the spec grammar; inputs that
//!   produce a diagnostic not seen before join the mutation corpus (a coarse stand-in for coverage feedback);
//! - structured specs built from the spec grammar, each field valid or invalid (every spec picks how often).
//!
//! Every input goes through `spec::check_str`; every diagnostic is rendered and serialized; an accepted spec is
//! synthesized twice (the results must be identical), and each template body is re-parsed as JSON and as YAML
//! and checked: resource ids and types, the outputs of a bot stack, the description and stage where they belong.
//!
//! Failures: a panic (caught, message kept), a broken invariant, an input slower than the limit (1 s in release,
//! 20 s in a debug build; BOTPUB_FUZZ_INPUT_LIMIT_MS), or resident memory over BOTPUB_FUZZ_MAX_RSS_MB (1024).
//! A watchdog thread notices an input that never returns. Each failing input is written, minimized where it
//! can be, to tests/fuzz_regressions/ (which tests/fuzz_regressions.rs replays), and the run exits 1.
//! BOTPUB_FUZZ_SEED repeats a run (the seed is printed); BOTPUB_FUZZ_THREADS sets the workers (default: cores).

#[path = "../tests/common/yaml_quoted.rs"]
mod yaml_quoted;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use botpub::spec::diagnostic::SourceLines;
use botpub::spec::{self, Severity, Spec};
use botpub::synth::{self, StackKind};
use fastrand::Rng;
use serde_json::Value;
use sha2::{Digest, Sha256};
use yaml_quoted::yaml_quoted;

/// The largest input generated; spec files may be larger (10 MiB), but this bounds each execution.
const MAX_INPUT: usize = 64 * 1024;
/// A worker's mutation corpus stops growing here.
const MAX_CORPUS: usize = 4096;
/// Time spent minimizing one failing input.
const MINIMIZE_BUDGET: Duration = Duration::from_secs(20);
/// Inputs kept per distinct failure message (the rest are counted).
const KEEP_PER_FAILURE: usize = 2;

// ---------------------------------------------------------------------------------------------------------
// Configuration

struct Config {
    bench: bool,
    budget: Duration,
    seed: u64,
    threads: usize,
    input_limit: Duration,
    max_rss_kib: u64,
    regressions: PathBuf,
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            eprintln!("fuzz: ignoring {name}={text:?} (not a whole number)");
            None
        }
    }
}

fn config() -> Config {
    let bench = std::env::args().any(|a| a == "--bench");
    let default_seconds = if bench { 60 } else { 3 };
    let seed = env_u64("BOTPUB_FUZZ_SEED").unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        nanos ^ u64::from(std::process::id()).rotate_left(32)
    });
    let default_limit_ms = if cfg!(debug_assertions) {
        20_000
    } else {
        1_000
    };
    let threads = env_u64("BOTPUB_FUZZ_THREADS")
        .map(|n| n.max(1) as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    Config {
        bench,
        budget: Duration::from_secs(env_u64("BOTPUB_FUZZ_SECONDS").unwrap_or(default_seconds)),
        seed,
        threads,
        input_limit: Duration::from_millis(
            env_u64("BOTPUB_FUZZ_INPUT_LIMIT_MS").unwrap_or(default_limit_ms),
        ),
        max_rss_kib: env_u64("BOTPUB_FUZZ_MAX_RSS_MB").unwrap_or(1024) * 1024,
        regressions: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// One execution and its invariants

/// What one input did, when it broke nothing.
struct Outcome {
    accepted: bool,
    stacks: usize,
    /// Kinds of diagnostic the input produced (path without indices, message without quoted values).
    kinds: Vec<String>,
}

/// Runs one input through checking and, when accepted, synthesis; `Err` is a broken invariant.
fn execute(text: &str) -> Result<Outcome, String> {
    let (spec, diagnostics) = spec::check_str("fuzz.yaml", text);
    // Exact, including those counted but not kept.
    let errors = diagnostics.errors;
    if spec.is_some() == (errors > 0) {
        return Err(format!(
            "check_str returned a spec: {} with {errors} error(s)",
            spec.is_some()
        ));
    }
    // Lines as YAML counts them: CR, LF and CRLF each end one.
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let source_lines: Vec<&str> = normalized.lines().collect();
    let lines = source_lines.len();
    for d in &diagnostics {
        if d.file != "fuzz.yaml" || d.message.trim().is_empty() {
            return Err(format!("malformed diagnostic {d:?}"));
        }
        if let Some(line) = d.line
            && (line == 0 || line > lines + 1)
        {
            return Err(format!(
                "diagnostic at line {line} of a {lines}-line file: {d}"
            ));
        }
        if d.column == Some(0) || d.line.is_none() != d.column.is_none() {
            return Err(format!("diagnostic with a bad column: {d:?}"));
        }
        let shown_line = d.line.and_then(|line| SourceLines::new(text).get(line));
        let rendered = d.render(shown_line);
        if !rendered.starts_with("fuzz.yaml") {
            return Err(format!("rendered diagnostic lost its file: {rendered}"));
        }
        // Where the line exists, it is shown under the diagnostic, and the column lies within it.
        if let (Some(line), Some(column)) = (d.line, d.column)
            && let Some(source) = source_lines.get(line - 1)
        {
            if !rendered.contains(&format!("\n {line} | ")) {
                return Err(format!(
                    "rendered diagnostic lacks its source line {line}: {d}"
                ));
            }
            if column > source.chars().count() + 1 {
                return Err(format!(
                    "diagnostic column {column} beyond the end of line {line}: {d}"
                ));
            }
        }
    }
    serde_json::to_string(&diagnostics)
        .map_err(|e| format!("diagnostics do not serialize: {e}"))?;
    let kinds = diagnostics.iter().map(kind).collect();
    let Some(spec) = spec else {
        return Ok(Outcome {
            accepted: false,
            stacks: 0,
            kinds,
        });
    };
    let stacks = check_synthesis(&spec)?;
    Ok(Outcome {
        accepted: true,
        stacks,
        kinds,
    })
}

/// A diagnostic's kind, for corpus feedback: its path without indices and its message without values.
fn kind(d: &spec::Diagnostic) -> String {
    let severity = match d.severity {
        Severity::Error => 'E',
        Severity::Warning => 'W',
    };
    // Field names stay; indices go; the path stops at the first free-text segment (a tag or unknown key).
    let mut path = Vec::new();
    for segment in d.path.split(['.', '[', ']']) {
        if segment.is_empty() || segment.parse::<usize>().is_ok() {
            continue;
        }
        let known = FIELDS.contains(&segment);
        path.push(if known { segment } else { "*" });
        if !known || segment == "tags" {
            break;
        }
    }
    // The rule, not the value: whatever lies between the first and the last quote goes, then all but letters.
    let text = &d.message;
    let quote = |c: char| c == '`' || c == '"';
    let outside = match (text.find(quote), text.rfind(quote)) {
        (Some(first), Some(last)) if first < last => {
            format!("{}{}", &text[..first], &text[last + 1..])
        }
        _ => text.clone(),
    };
    let message: String = outside
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == ' ')
        .take(60)
        .collect();
    format!("{severity} {}: {message}", path.join("."))
}

/// Every field name of the spec format.
const FIELDS: &[&str] = &[
    "version",
    "region",
    "stack_prefix",
    "firewall",
    "allowed_ipv4",
    "allowed_ipv6",
    "bots",
    "id",
    "description",
    "stage",
    "throttle",
    "rate_limit",
    "burst_limit",
    "quota",
    "limit",
    "period",
    "offset",
    "allowed_origins",
    "backend",
    "type",
    "function_arn",
    "worker_function_arn",
    "queue",
    "visibility_timeout_seconds",
    "max_receive_count",
    "retention_days",
    "results",
    "expire_after_days",
    "tags",
];

fn check_synthesis(spec: &Spec) -> Result<usize, String> {
    let stacks = synth::synthesize(spec)
        .map_err(|e| format!("an accepted spec does not synthesize: {e:#}"))?;
    let expected = spec.bots.len() + spec.domains.len() + usize::from(spec.firewall.is_some());
    if stacks.len() != expected {
        return Err(format!("{} stacks for {expected} expected", stacks.len()));
    }
    let again = synth::synthesize(spec).map_err(|e| format!("second synthesis failed: {e:#}"))?;
    let mut names = HashSet::new();
    for (stack, twin) in stacks.iter().zip(&again) {
        if !names.insert(stack.name.to_ascii_lowercase()) {
            return Err(format!("stack {} appears twice", stack.name));
        }
        let body = stack.template_body();
        if body != twin.template_body() || stack.tags != twin.tags {
            return Err(format!("{}: synthesis is not deterministic", stack.name));
        }
        let parsed: Value = serde_json::from_str(&body)
            .map_err(|e| format!("{}: template body is not JSON: {e}", stack.name))?;
        if parsed != stack.template {
            return Err(format!(
                "{}: template body does not parse back to the template",
                stack.name
            ));
        }
        let yaml = stack.template_yaml();
        let from_yaml: Value = serde_yaml::from_str(&yaml)
            .map_err(|e| format!("{}: YAML template does not parse: {e}", stack.name))?;
        if from_yaml != stack.template {
            return Err(format!(
                "{}: YAML template differs from the JSON one",
                stack.name
            ));
        }
        structure(spec, stack)?;
    }
    Ok(stacks.len())
}

/// The structure every template must have whatever the spec said, checked independently of `synth::check`.
fn structure(spec: &Spec, stack: &synth::Stack) -> Result<(), String> {
    let name = &stack.name;
    let top = stack
        .template
        .as_object()
        .ok_or_else(|| format!("{name}: template is not an object"))?;
    let allowed = [
        "AWSTemplateFormatVersion",
        "Description",
        "Metadata",
        "Resources",
        "Outputs",
    ];
    if let Some(key) = top.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("{name}: unexpected top-level key {key:?}"));
    }
    let resources = top
        .get("Resources")
        .and_then(Value::as_object)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| format!("{name}: no Resources"))?;
    for (id, resource) in resources {
        let kind = resource.get("Type").and_then(Value::as_str).unwrap_or("");
        if id.is_empty()
            || !id.chars().all(|c| c.is_ascii_alphanumeric())
            || !kind.starts_with("AWS::")
        {
            return Err(format!("{name}: resource {id:?} of type {kind:?}"));
        }
    }
    let prop = |id: &str, key: &str| {
        resources
            .get(id)
            .and_then(|r| r.get("Properties"))
            .and_then(|p| p.get(key))
    };
    match &stack.kind {
        StackKind::Firewall => {
            if !resources.contains_key("WebAcl") {
                return Err(format!("{name}: no WebAcl"));
            }
        }
        StackKind::Domain { .. } => {
            if !resources.contains_key("Domain") {
                return Err(format!("{name}: no Domain"));
            }
        }
        StackKind::Toolkit => return Err(format!("{name}: a spec made a toolkit stack")),
        StackKind::Bot { id } => {
            let bot = spec
                .bots
                .iter()
                .find(|b| &b.id == id)
                .ok_or_else(|| format!("{name}: no bot {id}"))?;
            let outputs = top
                .get("Outputs")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("{name}: no Outputs"))?;
            let mut wanted = vec![
                "Endpoint",
                "ApiId",
                "Stage",
                "UsagePlanId",
                "DefaultApiKeyId",
                "Contract",
                "QueueUrl",
                "QueueArn",
                "DeadLetterQueueUrl",
                "OpenApiPath",
            ];
            if matches!(bot.backend, spec::model::Backend::Queue { .. }) {
                wanted.push("ResultsBucket");
            }
            if bot.domain.is_some() {
                wanted.push("DomainEndpoint");
            }
            if bot.token_budget.is_some() {
                wanted.push("TokenBudget");
            }
            let mut found: Vec<&str> = outputs.keys().map(String::as_str).collect();
            found.sort_unstable();
            wanted.sort_unstable();
            if found != wanted {
                return Err(format!("{name}: outputs {found:?}, expected {wanted:?}"));
            }
            let description = prop("Api", "Description").and_then(Value::as_str);
            let expected = match bot.description.as_deref() {
                Some(text) if !text.is_empty() => text.to_string(),
                _ => format!("Published by botpub: bot {}", bot.id),
            };
            if description != Some(expected.as_str()) {
                return Err(format!("{name}: Api description is not the spec's"));
            }
            if prop("Stage", "StageName").and_then(Value::as_str) != Some(bot.stage.as_str()) {
                return Err(format!("{name}: StageName is not the spec's stage"));
            }
            let deployments = resources
                .values()
                .filter(|r| {
                    r.get("Type").and_then(Value::as_str) == Some("AWS::ApiGateway::Deployment")
                })
                .count();
            if deployments != 1 {
                return Err(format!("{name}: {deployments} deployments"));
            }
            for (key, value) in &bot.tags {
                if stack.tags.get(key) != Some(value) {
                    return Err(format!("{name}: stack tag {key:?} is missing or changed"));
                }
            }
            if stack.tags.get(synth::BOT_ID_TAG) != Some(&bot.id)
                || stack.tags.len() != bot.tags.len() + 2
            {
                return Err(format!(
                    "{name}: botpub's stack tags are wrong: {:?}",
                    stack.tags
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Panics: caught per execution, their message kept instead of printed.

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// True while `run` executes an input: panics there are findings, elsewhere they are the fuzzer's own.
    static IN_RUN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string payload)".to_string());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!("panic at {location}: {message}");
        if IN_RUN.with(|r| r.get()) {
            PANIC.with(|p| *p.borrow_mut() = Some(message));
        } else {
            eprintln!("fuzz: internal {message}");
        }
    }));
}

/// How one input ended: fine, or one of the failures this fuzzer looks for.
enum Verdict {
    Fine(Outcome),
    Panic(String),
    Broken(String),
}

fn run(text: &str) -> Verdict {
    IN_RUN.with(|r| r.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| execute(text)));
    IN_RUN.with(|r| r.set(false));
    match result {
        Ok(Ok(outcome)) => Verdict::Fine(outcome),
        Ok(Err(message)) => Verdict::Broken(message),
        Err(_) => Verdict::Panic(
            PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "panic".to_string()),
        ),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Random text

/// Fragments that mean something to YAML, JSON, minijinja, CloudFormation or Velocity, and hard characters;
/// [`token`] adds the spec's field names.
const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "<<: *a",
    "<<: {}",
    "!!str ",
    "!!int ",
    "!!float ",
    "!!map ",
    "!!seq ",
    "!!binary ",
    "!!null ",
    "!Ref ",
    "!custom ",
    "!<tag:yaml.org,2002:str> ",
    "---\n",
    "--- ",
    "...\n",
    "? ",
    "- ",
    ": ",
    ":",
    "|\n  ",
    "|-\n",
    ">+\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "#",
    "# c\n",
    "%YAML 1.2\n",
    "%YAML 1.1\n---\n",
    "%TAG !e! tag:e.com,2000:\n",
    "\t",
    "\r\n",
    "\r",
    "\n",
    "\u{feff}",
    "~",
    "null",
    "true",
    "yes",
    "no",
    "on",
    ".inf",
    "-.inf",
    ".nan",
    "0x",
    "0x1F",
    "0o17",
    "-0",
    "+1",
    "1e400",
    "1e-400",
    "1.7976931348623157e308",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "1_000",
    "0.000695",
    "\"\\uD800\"",
    "\"\\U0010FFFF\"",
    "\"\\U00110000\"",
    "\"\\x00\"",
    "\"\\0\"",
    "\"\\q\"",
    "\"\\N\\_\\L\\P\"",
    "'it''s'",
    "{{ x }}",
    "{{",
    "}}",
    "{% if x %}",
    "{%",
    "%}",
    "{# c #}",
    "{%- raw %}",
    "${AWS::Region}",
    "${Api}",
    "${!x}",
    "#set($x = 1)",
    "$context.requestId",
    "$input.body",
    "\u{202e}",
    "\u{200b}",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\u{a0}",
    "\u{0}",
    "\u{1}",
    "\u{7f}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{10ffff}",
    "😀",
    "👨‍👩‍👧",
    "שלום",
    "مرحبا",
    "日本語",
    "é",
    "e\u{301}",
    "İ",
    "ß",
    "MONTH",
    "WEEK",
    "DAY",
    "lambda",
    "*",
    "https://app.example.com",
    "http://[::1]:8080",
    "203.0.113.0/24",
    "2001:db8::/32",
    "0.0.0.0/0",
    "arn:aws:lambda:us-east-1:123456789012:function:f",
    "aws:x",
    "botpub:x",
    "firewall",
    "toolkit",
];

/// Characters a parser may find hard, by range.
fn hard_char(rng: &mut Rng) -> char {
    match rng.u8(..10) {
        0..=3 => pick(
            rng,
            b" \t\n\r-:?,[]{}#&*!|>'\"%@`\\/.=+0123456789aAzZ_~$()<>;",
        ) as char,
        4 => rng.char('\u{0}'..='\u{1f}'),
        5 => rng.char('\u{7f}'..='\u{ff}'),
        6 => pick(
            rng,
            &[
                '\u{feff}', '\u{2028}', '\u{2029}', '\u{202e}', '\u{200f}', '\u{fffd}', '\u{fffe}',
            ],
        ),
        7 => rng.char('\u{100}'..='\u{d7ff}'),
        8 => rng.char('\u{e000}'..='\u{ffff}'),
        _ => rng.char('\u{10000}'..='\u{10ffff}'),
    }
}

fn pick<T: Clone>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())].clone()
}

/// One of the [`TOKENS`] or one of the [`FIELDS`], all equally likely.
fn token(rng: &mut Rng) -> &'static str {
    let i = rng.usize(..TOKENS.len() + FIELDS.len());
    match TOKENS.get(i) {
        Some(token) => token,
        None => FIELDS[i - TOKENS.len()],
    }
}

/// A length from a distribution that is mostly small and sometimes large.
fn length(rng: &mut Rng, max: usize) -> usize {
    match rng.u8(..10) {
        0..=5 => rng.usize(..=16.min(max)),
        6..=8 => rng.usize(..=256.min(max)),
        _ => rng.usize(..=max),
    }
}

/// Text that is hard to carry through YAML, JSON and templates unchanged.
fn adversarial(rng: &mut Rng) -> String {
    let mut text = String::new();
    let parts = length(rng, 40);
    for _ in 0..parts {
        if rng.bool() {
            text.push_str(token(rng));
        } else {
            text.push(hard_char(rng));
        }
    }
    if rng.u8(..40) == 0 {
        // A 16-60 KiB value: large strings must not be slow or change anything but themselves.
        let unit = if text.is_empty() {
            "x".to_string()
        } else {
            text.clone()
        };
        let target = rng.usize(16 * 1024..60 * 1024);
        while text.len() < target {
            text.push_str(&unit);
        }
        truncate(&mut text, target);
    }
    text
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Generators

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Generator {
    Bytes,
    Utf8,
    Mutation,
    Structured,
}

const GENERATORS: [Generator; 4] = [
    Generator::Bytes,
    Generator::Utf8,
    Generator::Mutation,
    Generator::Structured,
];

impl Generator {
    fn name(self) -> &'static str {
        match self {
            Generator::Bytes => "random bytes",
            Generator::Utf8 => "random UTF-8",
            Generator::Mutation => "mutated specs",
            Generator::Structured => "structured specs",
        }
    }
}

fn random_bytes(rng: &mut Rng) -> String {
    let mut bytes = vec![0u8; length(rng, MAX_INPUT)];
    rng.fill(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn random_utf8(rng: &mut Rng) -> String {
    let n = length(rng, 8 * 1024);
    let mut text = String::new();
    for _ in 0..n {
        if rng.u8(..4) == 0 {
            text.push_str(token(rng));
        } else {
            text.push(hard_char(rng));
        }
    }
    truncate(&mut text, MAX_INPUT);
    text
}

fn mutate(rng: &mut Rng, corpus: &[String]) -> String {
    let mut text = pick(rng, corpus);
    let rounds = if rng.bool() { 1 } else { rng.usize(2..=4) };
    for _ in 0..rounds {
        text = mutate_once(rng, text, corpus);
        truncate(&mut text, MAX_INPUT);
    }
    text
}

fn lines_of(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

fn boundary(rng: &mut Rng, text: &str) -> usize {
    let mut at = rng.usize(..=text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate_once(rng: &mut Rng, text: String, corpus: &[String]) -> String {
    let mut lines = lines_of(&text);
    match rng.u8(..16) {
        // Byte flips (the result made UTF-8 again).
        0 => {
            let mut bytes = text.into_bytes();
            for _ in 0..rng.usize(1..=8) {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.usize(..bytes.len());
                bytes[at] = match rng.u8(..3) {
                    0 => bytes[at] ^ (1 << rng.u8(..8)),
                    1 => rng.u8(..),
                    _ => pick(rng, b"\n :-[]{}'\"#&*!|>\t"),
                };
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        1 if !lines.is_empty() => {
            let n = rng.usize(1..=3.min(lines.len()));
            let at = rng.usize(..=lines.len() - n);
            lines.drain(at..at + n);
            lines.concat()
        }
        2 if !lines.is_empty() => {
            let at = rng.usize(..lines.len());
            let copies = if rng.u8(..8) == 0 {
                rng.usize(2..200)
            } else {
                1
            };
            let line = lines[at].clone();
            for _ in 0..copies {
                lines.insert(at, line.clone());
            }
            lines.concat()
        }
        3 if lines.len() > 1 => {
            let (a, b) = (rng.usize(..lines.len()), rng.usize(..lines.len()));
            lines.swap(a, b);
            lines.concat()
        }
        // Splice: the start of this input and the end of another.
        4 => {
            let other = lines_of(&pick(rng, corpus));
            let head = rng.usize(..=lines.len());
            let tail = rng.usize(..=other.len());
            let mut out = lines[..head].concat();
            out.push_str(&other[tail..].concat());
            out
        }
        5 | 6 => {
            let mut text = text;
            for _ in 0..rng.usize(1..=3) {
                let at = boundary(rng, &text);
                let token = token(rng);
                text.insert_str(at, token);
            }
            text
        }
        // Replace a value with another value from the grammar (or from nowhere).
        7 | 8 if !lines.is_empty() => {
            let at = rng.usize(..lines.len());
            if let Some(colon) = lines[at].find(": ") {
                let value = if rng.bool() {
                    any_value(rng)
                } else {
                    quote_adversarial(rng)
                };
                let mut line = lines[at][..colon + 2].to_string();
                line.push_str(&value);
                line.push('\n');
                lines[at] = line;
            }
            lines.concat()
        }
        // Deep nesting.
        9 => {
            let depth = pick(rng, &[10, 63, 64, 65, 100, 1000, 20_000]);
            let (open, close) = pick(rng, &[("[", "]"), ("{a: ", "}"), ("- ", ""), ("? ", "")]);
            let mut text = text;
            let at = boundary(rng, &text);
            let mut nest = open.repeat(depth);
            if rng.bool() {
                nest.push('x');
                nest.push_str(&close.repeat(depth));
            }
            text.insert_str(at, &nest);
            text
        }
        10 => {
            let depth = rng.usize(1..200);
            let ladder: String = (0..depth)
                .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
                .collect();
            let at = rng.usize(..=lines.len());
            lines.insert(at, ladder);
            lines.concat()
        }
        // Huge or odd numbers in place of digits.
        11 => {
            let Some(start) = text.find(|c: char| c.is_ascii_digit()) else {
                return text;
            };
            let end = text[start..]
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .map_or(text.len(), |e| start + e);
            let mut out = text[..start].to_string();
            out.push_str(&number(rng, false));
            out.push_str(&text[end..]);
            out
        }
        12 => {
            let mut text = text;
            let at = boundary(rng, &text);
            let n = rng.usize(1..8);
            let chars: String = (0..n).map(|_| hard_char(rng)).collect();
            text.insert_str(at, &chars);
            text
        }
        // Indentation: one line shifted, or a tab where spaces were.
        13 if !lines.is_empty() => {
            let at = rng.usize(..lines.len());
            let line = &lines[at];
            lines[at] = match rng.u8(..3) {
                0 => format!("{}{line}", " ".repeat(rng.usize(1..5))),
                1 => line.trim_start_matches(' ').to_string(),
                _ => line.replacen("  ", "\t", 1),
            };
            lines.concat()
        }
        // Anchors and aliases: a value anchored, then aliased or merged elsewhere.
        14 if lines.len() > 1 => {
            let a = rng.usize(..lines.len());
            if let Some(colon) = lines[a].find(": ") {
                lines[a].insert_str(colon + 2, "&a ");
            } else if let Some(colon) = lines[a].find(':') {
                lines[a].insert_str(colon + 1, " &a");
            }
            let b = rng.usize(..lines.len());
            let indent: String = lines[b].chars().take_while(|c| *c == ' ').collect();
            let alias = match rng.u8(..3) {
                0 => format!("{indent}<<: *a\n"),
                1 => format!("{indent}alias: *a\n"),
                _ => format!("{indent}- *a\n"),
            };
            lines.insert(b, alias);
            lines.concat()
        }
        // Delete a random range.
        _ => {
            let mut text = text;
            let a = boundary(rng, &text);
            let b = boundary(rng, &text);
            let (a, mut b) = (a.min(b), a.max(b).min(a + 256));
            while !text.is_char_boundary(b) {
                b -= 1;
            }
            text.replace_range(a..b, "");
            text
        }
    }
}

// Structured specs: a tree emitted as YAML in block or flow style.

enum Y {
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
    /// A scalar, already written as YAML (plain, quoted or a number).
    S(String),
}

fn emit(y: &Y, rng: &mut Rng, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Y::Map(entries) if !entries.is_empty() => {
            for (key, value) in entries {
                out.push_str(&pad);
                out.push_str(key);
                out.push(':');
                emit_value(value, rng, indent, out);
            }
        }
        Y::Seq(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                emit_value(item, rng, indent, out);
            }
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&inline(y));
            out.push('\n');
        }
    }
}

fn emit_value(value: &Y, rng: &mut Rng, indent: usize, out: &mut String) {
    let nested =
        matches!(value, Y::Map(e) if !e.is_empty()) || matches!(value, Y::Seq(i) if !i.is_empty());
    if nested && rng.u8(..4) != 0 {
        out.push('\n');
        emit(value, rng, indent + 2, out);
    } else {
        out.push(' ');
        out.push_str(&inline(value));
        out.push('\n');
    }
}

fn inline(y: &Y) -> String {
    match y {
        Y::S(text) => text.clone(),
        Y::Seq(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        Y::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{k}: {}", inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `text` as a YAML scalar, in a random style that keeps it a string where possible.
fn quote(rng: &mut Rng, text: &str) -> String {
    let plain_safe = !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || "-_./@+=".contains(c)
                || (c as u32 > 0x7f && c.is_alphanumeric())
        });
    match rng.u8(..4) {
        0 if plain_safe => text.to_string(),
        1 if !text.contains(|c: char| c.is_control() || !(' '..='\u{d7ff}').contains(&c)) => {
            format!("'{}'", text.replace('\'', "''"))
        }
        // Sometimes raw, whatever it holds: mostly a syntax error, sometimes not.
        2 if rng.u8(..8) == 0 => text.to_string(),
        _ => yaml_quoted(text),
    }
}

fn quote_adversarial(rng: &mut Rng) -> String {
    let text = adversarial(rng);
    quote(rng, &text)
}

fn number(rng: &mut Rng, positive: bool) -> String {
    match rng.u8(..12) {
        0..=3 => rng.u64(1..100).to_string(),
        4 => rng.u64(..u64::MAX).to_string(),
        5 => format!("{:.*}", rng.usize(..8), rng.f64() * 20_000.0),
        6 => pick(
            rng,
            &[
                "0", "1", "1.0", "0.5", "1e3", "2.5e1", "0x10", "0o17", "+5", "1_000",
            ],
        )
        .to_string(),
        7 => pick(
            rng,
            &[
                "18446744073709551615",
                "18446744073709551616",
                "1e308",
                "1e309",
                "1e-320",
                "4.9e-324",
            ],
        )
        .to_string(),
        8 if !positive => {
            pick(rng, &["-1", "-0", "-0.0", "-9223372036854775808", "-1e308"]).to_string()
        }
        9 if !positive => pick(rng, &[".inf", "-.inf", ".nan", ".NaN", "inf", "nan"]).to_string(),
        10 if !positive => format!("\"{}\"", rng.u64(1..100)),
        _ => rng.u64(1..10_000).to_string(),
    }
}

/// Any scalar or small structure: what a value of the wrong shape looks like.
fn any_value(rng: &mut Rng) -> String {
    match rng.u8(..8) {
        0 | 1 => number(rng, false),
        2 => pick(
            rng,
            &[
                "~", "null", "", "true", "false", "yes", "[]", "{}", "[1, 2]", "{a: 1}", "*a",
            ],
        )
        .to_string(),
        3 => quote_adversarial(rng),
        _ => {
            let mut word = String::new();
            for _ in 0..rng.usize(1..12) {
                word.push(rng.alphanumeric());
            }
            word
        }
    }
}

/// A name of `[first][rest]*` characters.
fn name(rng: &mut Rng, first: &[u8], rest: &[u8], len: usize) -> String {
    let mut out = String::new();
    out.push(pick(rng, first) as char);
    for _ in 1..len.max(1) {
        out.push(pick(rng, rest) as char);
    }
    out
}

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ID_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";

/// The custom domains structured specs declare and map bots onto (`a-b.example.com` shares no stack name
/// with the others; the invalid variants cover the collisions).
const DOMAIN_NAMES: [&str; 3] = ["bots.example.com", "chat.example.com", "a-b.example.com"];

/// Builds specs from the grammar: each field valid with probability `valid`.
struct Builder<'r> {
    rng: &'r mut Rng,
    valid: f64,
}

impl Builder<'_> {
    fn ok(&mut self) -> bool {
        self.rng.f64() < self.valid
    }

    fn sometimes(&mut self, p: f64) -> bool {
        self.rng.f64() < p
    }

    fn bad(&mut self) -> Y {
        Y::S(any_value(self.rng))
    }

    fn spec(&mut self) -> String {
        let mut top = Vec::new();
        if self.ok() || self.sometimes(0.5) {
            let version = if self.ok() {
                "1".to_string()
            } else {
                any_value(self.rng)
            };
            top.push(("version".to_string(), Y::S(version)));
        }
        if self.sometimes(0.5) {
            top.push(("region".to_string(), self.region()));
        }
        if self.sometimes(0.3) {
            let prefix = if self.ok() {
                let len = self.rng.usize(1..=64);
                Y::S(name(
                    self.rng,
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    b"abcXYZ0123456789-",
                    len,
                ))
            } else {
                self.bad()
            };
            top.push(("stack_prefix".to_string(), prefix));
        }
        if self.sometimes(0.3) {
            let firewall = self.firewall();
            top.push(("firewall".to_string(), firewall));
        }
        if self.sometimes(0.2) {
            let domains = self.domains();
            top.push(("domains".to_string(), domains));
        }
        if self.ok() || self.sometimes(0.5) {
            let count = match self.rng.u8(..20) {
                0 => 0,
                1 => self.rng.usize(4..40),
                2 if self.sometimes(0.1) => self.rng.usize(40..300),
                _ => self.rng.usize(1..4),
            };
            let mut ids = Vec::new();
            let bots = (0..count).map(|_| self.bot(&mut ids)).collect();
            top.push(("bots".to_string(), Y::Seq(bots)));
        }
        if self.sometimes(0.03) {
            top.push((
                pick(self.rng, &["bot", "Version", "firewal", "x"]).to_string(),
                Y::S("1".into()),
            ));
        }
        self.rng.shuffle(&mut top);
        let mut out = String::new();
        if self.sometimes(0.1) {
            out.push_str(pick(
                self.rng,
                &["# spec\n", "---\n", "%YAML 1.2\n---\n", "\u{feff}"],
            ));
        }
        emit(&Y::Map(top), self.rng, 0, &mut out);
        truncate(&mut out, MAX_INPUT);
        out
    }

    fn region(&mut self) -> Y {
        if self.ok() {
            Y::S(
                pick(
                    self.rng,
                    &[
                        "us-east-1",
                        "eu-west-1",
                        "us-gov-west-1",
                        "ap-southeast-2",
                        "cn-north-1",
                    ],
                )
                .to_string(),
            )
        } else {
            Y::S(
                pick(
                    self.rng,
                    &[
                        "US-EAST-1",
                        "useast1",
                        "us-east-+1",
                        "us-east-256",
                        "u-east-1",
                        "us--1",
                        "Europe",
                    ],
                )
                .to_string(),
            )
        }
    }

    fn cidr(&mut self, v6: bool) -> String {
        let rng = &mut *self.rng;
        let (addr, bits): (std::net::IpAddr, u8) = if v6 {
            (std::net::Ipv6Addr::from(rng.u128(..)).into(), 128)
        } else {
            (std::net::Ipv4Addr::from(rng.u32(..)).into(), 32)
        };
        let prefix = rng.u8(1..=bits);
        let net = ipnet::IpNet::new(addr, prefix).map(|n| n.trunc());
        let valid = self.rng.f64() < self.valid;
        match (valid, net) {
            (true, Ok(net)) => net.to_string(),
            _ => match self.rng.u8(..6) {
                0 => format!("{addr}/{prefix}"),
                1 => format!("{addr}/0"),
                2 => addr.to_string(),
                3 => format!("{addr}/{}", bits + 1),
                4 => {
                    if v6 {
                        "10.0.0.0/8".to_string()
                    } else {
                        "2001:db8::/32".to_string()
                    }
                }
                _ => adversarial(self.rng),
            },
        }
    }

    fn firewall(&mut self) -> Y {
        if !self.ok() && self.sometimes(0.3) {
            return self.bad();
        }
        let mut entries = Vec::new();
        for (key, v6) in [("allowed_ipv4", false), ("allowed_ipv6", true)] {
            if self.sometimes(0.7) {
                let count = if self.sometimes(0.05) {
                    self.rng.usize(50..1500)
                } else {
                    self.rng.usize(0..5)
                };
                let ranges = (0..count).map(|_| {
                    let text = self.cidr(v6);
                    Y::S(quote(self.rng, &text))
                });
                entries.push((key.to_string(), Y::Seq(ranges.collect())));
            }
        }
        Y::Map(entries)
    }

    fn domains(&mut self) -> Y {
        if !self.ok() && self.sometimes(0.3) {
            return self.bad();
        }
        let count = self.rng.usize(0..4);
        Y::Seq((0..count).map(|_| self.domain()).collect())
    }

    fn domain(&mut self) -> Y {
        let mut d = Vec::new();
        if self.ok() || self.sometimes(0.5) {
            let name = if self.ok() {
                pick(self.rng, &DOMAIN_NAMES).to_string()
            } else {
                match self.rng.u8(..3) {
                    0 => pick(
                        self.rng,
                        &[
                            "Bots.Example.com",
                            "a.b-example.com",
                            "localhost",
                            "x.",
                            "*.example.com",
                            "",
                            "-a.example.com",
                        ],
                    )
                    .to_string(),
                    1 => format!("{}.example.com", "a".repeat(self.rng.usize(60..300))),
                    _ => adversarial(self.rng),
                }
            };
            d.push(("name".to_string(), Y::S(quote(self.rng, &name))));
        }
        if self.ok() || self.sometimes(0.5) {
            let arn = if self.ok() {
                "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a".to_string()
            } else {
                match self.rng.u8(..2) {
                    0 => pick(
                        self.rng,
                        &[
                            "arn:aws:acm:eu-west-1:123456789012:certificate/x",
                            "arn:aws:iam::123456789012:server-certificate/x",
                            "arn:aws:acm:us-east-1:1:certificate/",
                            "",
                        ],
                    )
                    .to_string(),
                    _ => adversarial(self.rng),
                }
            };
            d.push(("certificate_arn".to_string(), Y::S(quote(self.rng, &arn))));
        }
        if self.sometimes(0.3) {
            let zone = if self.ok() {
                "Z0123456789ABCDEFGHIJ".to_string()
            } else {
                pick(
                    self.rng,
                    &["z1", "", "/hostedzone/Z1", "Z".repeat(40).as_str()],
                )
                .to_string()
            };
            d.push(("hosted_zone_id".to_string(), Y::S(quote(self.rng, &zone))));
        }
        if self.sometimes(0.2) {
            let policy = if self.ok() {
                pick(self.rng, &["TLS_1_2", "TLS_1_0"])
            } else {
                "TLS_1_3"
            };
            d.push(("security_policy".to_string(), Y::S(policy.to_string())));
        }
        self.rng.shuffle(&mut d);
        Y::Map(d)
    }

    fn bot_domain(&mut self) -> Y {
        if !self.ok() && self.sometimes(0.2) {
            return self.bad();
        }
        let mut d = Vec::new();
        if self.ok() || self.sometimes(0.5) {
            let name = if self.ok() {
                pick(self.rng, &DOMAIN_NAMES).to_string()
            } else {
                adversarial(self.rng)
            };
            d.push(("name".to_string(), Y::S(quote(self.rng, &name))));
        }
        if self.sometimes(0.5) {
            let path = if self.ok() {
                pick(self.rng, &["support", "v1", "(none)", "a.b_c-d"]).to_string()
            } else {
                match self.rng.u8(..2) {
                    0 => pick(self.rng, &["a/b", "", "sp ace", "..", "(None)"]).to_string(),
                    _ => adversarial(self.rng),
                }
            };
            d.push(("base_path".to_string(), Y::S(quote(self.rng, &path))));
        }
        self.rng.shuffle(&mut d);
        Y::Map(d)
    }

    fn bot(&mut self, ids: &mut Vec<String>) -> Y {
        let mut b = Vec::new();
        if self.ok() || self.sometimes(0.3) {
            let id = if self.ok() {
                let len = self.rng.usize(1..20);
                let id = name(
                    self.rng,
                    b"abcdefghijklmnopqrstuvwxyz0123456789",
                    ID_CHARS,
                    len,
                );
                let id = format!("{id}{}", ids.len());
                ids.push(id.clone());
                id
            } else {
                match self.rng.u8(..6) {
                    0 if !ids.is_empty() => pick(self.rng, ids).to_uppercase(),
                    1 => {
                        pick(self.rng, &["firewall", "Toolkit", "-a", "a_b", "", "ünï"]).to_string()
                    }
                    2 => "a".repeat(self.rng.usize(100..200)),
                    _ => adversarial(self.rng),
                }
            };
            b.push(("id".to_string(), Y::S(quote(self.rng, &id))));
        }
        if self.sometimes(0.5) {
            let value = if self.sometimes(0.9) {
                Y::S(quote_adversarial(self.rng))
            } else {
                self.bad()
            };
            b.push(("description".to_string(), value));
        }
        if self.sometimes(0.4) {
            let stage = if self.ok() {
                let len = self.rng.usize(1..=128);
                name(self.rng, ALNUM, b"abcXYZ019-_", len)
            } else {
                match self.rng.u8(..3) {
                    0 => "a".repeat(129),
                    1 => pick(self.rng, &["", "a b", "a/b", "prød", "$default"]).to_string(),
                    _ => adversarial(self.rng),
                }
            };
            b.push(("stage".to_string(), Y::S(quote(self.rng, &stage))));
        }
        if self.sometimes(0.4) {
            let mut t = Vec::new();
            if self.sometimes(0.8) {
                let rate = if self.ok() {
                    self.positive(20_000.0)
                } else {
                    number(self.rng, false)
                };
                t.push(("rate_limit".to_string(), Y::S(rate)));
            }
            if self.sometimes(0.8) {
                let burst = if self.ok() {
                    self.rng.u64(1..10_000).to_string()
                } else {
                    number(self.rng, false)
                };
                t.push(("burst_limit".to_string(), Y::S(burst)));
            }
            if self.sometimes(0.03) {
                t.push(("burst_limt".to_string(), Y::S("1".into())));
            }
            b.push(("throttle".to_string(), Y::Map(t)));
        }
        if self.sometimes(0.3) {
            let mut q = Vec::new();
            let limit = self.rng.u64(1..1_000_000);
            if self.ok() || self.sometimes(0.5) {
                let text = if self.ok() {
                    limit.to_string()
                } else {
                    number(self.rng, false)
                };
                q.push(("limit".to_string(), Y::S(text)));
            }
            if self.ok() || self.sometimes(0.5) {
                let period = if self.ok() {
                    pick(self.rng, &["DAY", "WEEK", "MONTH"]).to_string()
                } else {
                    pick(self.rng, &["month", "YEAR", "1", "", "Day"]).to_string()
                };
                q.push(("period".to_string(), Y::S(period)));
            }
            if self.sometimes(0.5) {
                let offset = if self.ok() {
                    self.rng.u64(..limit).to_string()
                } else {
                    number(self.rng, false)
                };
                q.push(("offset".to_string(), Y::S(offset)));
            }
            b.push(("quota".to_string(), Y::Map(q)));
        }
        if self.ok() || self.sometimes(0.5) {
            let origins = self.origins();
            b.push(("allowed_origins".to_string(), origins));
        }
        if self.sometimes(0.4) {
            let backend = self.backend();
            b.push(("backend".to_string(), backend));
        }
        if self.sometimes(0.3) {
            let mut q = Vec::new();
            if self.sometimes(0.7) {
                let v = if self.ok() {
                    self.rng.u64(..=43_200).to_string()
                } else {
                    number(self.rng, false)
                };
                q.push(("visibility_timeout_seconds".to_string(), Y::S(v)));
            }
            if self.sometimes(0.7) {
                let v = if self.ok() {
                    self.rng.u64(1..=1000).to_string()
                } else {
                    number(self.rng, false)
                };
                q.push(("max_receive_count".to_string(), Y::S(v)));
            }
            if self.sometimes(0.7) {
                let v = if self.ok() {
                    format!("{:.6}", 0.000_695 + self.rng.f64() * 13.99)
                } else {
                    number(self.rng, false)
                };
                q.push(("retention_days".to_string(), Y::S(v)));
            }
            b.push(("queue".to_string(), Y::Map(q)));
        }
        if self.sometimes(0.2) {
            let v = if self.ok() {
                self.rng.u64(1..=3650).to_string()
            } else {
                number(self.rng, false)
            };
            b.push((
                "results".to_string(),
                Y::Map(vec![("expire_after_days".to_string(), Y::S(v))]),
            ));
        }
        if self.sometimes(0.3) {
            let tags = self.tags();
            b.push(("tags".to_string(), tags));
        }
        if self.sometimes(0.2) {
            let domain = self.bot_domain();
            b.push(("domain".to_string(), domain));
        }
        if self.sometimes(0.02) {
            b.push((
                pick(self.rng, &["allowd_origins", "desc", "Stage"]).to_string(),
                Y::S("x".into()),
            ));
        }
        self.rng.shuffle(&mut b);
        Y::Map(b)
    }

    fn positive(&mut self, max: f64) -> String {
        match self.rng.u8(..4) {
            0 => format!("{:.3}", 0.001 + self.rng.f64() * max),
            1 => pick(self.rng, &["1e300", "0.0001", "10000", "10001", "1e-300"]).to_string(),
            _ => self.rng.u64(1..max as u64).to_string(),
        }
    }

    fn origin(&mut self) -> String {
        if self.ok() {
            let scheme = if self.rng.bool() { "https" } else { "http" };
            let host = match self.rng.u8(..5) {
                0 => "[::1]".to_string(),
                1 => "localhost".to_string(),
                _ => {
                    let labels = self.rng.usize(1..4);
                    (0..labels)
                        .map(|_| {
                            let len = self.rng.usize(1..12);
                            name(self.rng, LOWER, b"abcxyz0189", len)
                        })
                        .collect::<Vec<_>>()
                        .join(".")
                }
            };
            let port = if self.rng.bool() {
                format!(":{}", self.rng.u16(1024..))
            } else {
                String::new()
            };
            format!("{scheme}://{host}{port}")
        } else {
            let base = pick(
                self.rng,
                &[
                    "https://",
                    "http://",
                    "https://[::1]",
                    "https://a.example:",
                    "https://a.example",
                    "ftp://a",
                    "",
                ],
            );
            match self.rng.u8(..4) {
                0 => pick(
                    self.rng,
                    &[
                        "https://A.example",
                        "https://a.example/",
                        "https://a.example:443",
                        "http://a.example:80",
                        "https://[::1",
                        "https://a..b",
                        "https://a.example:+8080",
                        "*",
                    ],
                )
                .to_string(),
                _ => format!("{base}{}", adversarial(self.rng)),
            }
        }
    }

    fn origins(&mut self) -> Y {
        if !self.ok() && self.sometimes(0.2) {
            return match self.rng.u8(..3) {
                0 => Y::Seq(Vec::new()),
                1 => Y::S("https://a.example".into()),
                _ => self.bad(),
            };
        }
        if self.sometimes(0.15) {
            return Y::Seq(vec![Y::S("\"*\"".into())]);
        }
        let count = if self.sometimes(0.02) {
            self.rng.usize(10..500)
        } else {
            self.rng.usize(1..4)
        };
        let origins = (0..count).map(|_| {
            let origin = self.origin();
            Y::S(quote(self.rng, &origin))
        });
        Y::Seq(origins.collect())
    }

    fn arn(&mut self) -> String {
        if self.ok() {
            let partition = pick(self.rng, &["aws", "aws-cn", "aws-us-gov"]);
            let region = pick(self.rng, &["us-east-1", "eu-west-1", "cn-north-1"]);
            let account: String = (0..12).map(|_| self.rng.digit(10)).collect();
            let len = self.rng.usize(1..=64);
            let function = name(self.rng, ALNUM, b"abcXYZ019-_", len);
            let qualifier = match self.rng.u8(..3) {
                0 => ":$LATEST".to_string(),
                1 => format!(":{}", self.rng.u32(1..1000)),
                _ => String::new(),
            };
            format!("arn:{partition}:lambda:{region}:{account}:function:{function}{qualifier}")
        } else {
            let base = "arn:aws:lambda:us-east-1:123456789012:function:f";
            match self.rng.u8(..4) {
                0 => format!("{base}:{}", adversarial(self.rng)),
                1 => format!("{base}{}", adversarial(self.rng)),
                2 => pick(
                    self.rng,
                    &[
                        "arn:aws:s3:us-east-1:123456789012:function:f",
                        "arn:aws:lambda:us-east-+1:123456789012:function:f",
                        "arn:aws:lambda:us-east-1:1234:function:f",
                        "f",
                        "",
                    ],
                )
                .to_string(),
                _ => adversarial(self.rng),
            }
        }
    }

    fn backend(&mut self) -> Y {
        if !self.ok() && self.sometimes(0.2) {
            return self.bad();
        }
        let mut b = Vec::new();
        let lambda = self.rng.bool();
        if self.sometimes(0.8) {
            let kind = if self.ok() {
                if lambda { "lambda" } else { "queue" }
            } else {
                pick(self.rng, &["Lambda", "sqs", "", "http"])
            };
            b.push(("type".to_string(), Y::S(kind.to_string())));
        }
        if lambda == self.ok() || self.sometimes(0.1) {
            let arn = self.arn();
            b.push(("function_arn".to_string(), Y::S(quote(self.rng, &arn))));
        }
        if self.sometimes(0.3) {
            let arn = self.arn();
            b.push((
                "worker_function_arn".to_string(),
                Y::S(quote(self.rng, &arn)),
            ));
        }
        Y::Map(b)
    }

    fn tag_text(&mut self, max: usize) -> String {
        let len = self.rng.usize(1..=max);
        (0..len)
            .map(|_| match self.rng.u8(..8) {
                0 => pick(self.rng, &[' ', '_', '.', ':', '/', '=', '+', '-', '@']),
                1 => pick(self.rng, &['é', 'ß', 'ж', 'ש', 'م', '日', '٣', 'Ⅻ']),
                _ => self.rng.alphanumeric(),
            })
            .collect()
    }

    fn tags(&mut self) -> Y {
        if !self.ok() && self.sometimes(0.2) {
            return self.bad();
        }
        let count = if self.sometimes(0.05) {
            self.rng.usize(45..60)
        } else {
            self.rng.usize(0..5)
        };
        let mut entries = Vec::new();
        for i in 0..count {
            let key = if self.ok() {
                let max = if self.sometimes(0.1) { 128 } else { 20 };
                format!("{}{i}", self.tag_text(max))
            } else {
                match self.rng.u8(..4) {
                    0 => format!(
                        "{}{i}",
                        pick(self.rng, &["aws:x", "AWS:y", "botpub:z", "BotPub:w"])
                    ),
                    1 => "k".repeat(129),
                    _ => adversarial(self.rng),
                }
            };
            let value = if self.ok() {
                let max = if self.sometimes(0.1) { 256 } else { 20 };
                if self.sometimes(0.05) {
                    String::new()
                } else {
                    self.tag_text(max)
                }
            } else if self.rng.bool() {
                "v".repeat(257)
            } else {
                adversarial(self.rng)
            };
            entries.push((yaml_quoted(&key), Y::S(quote(self.rng, &value))));
        }
        Y::Map(entries)
    }
}

fn structured(rng: &mut Rng) -> String {
    let valid = pick(rng, &[1.0, 1.0, 0.98, 0.9, 0.7, 0.4]);
    Builder { rng, valid }.spec()
}

// ---------------------------------------------------------------------------------------------------------
// Seeds

fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = Vec::new();
    for dir in ["examples", "tests/invalid", "tests/fuzz_regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.extension().is_some_and(|e| e == "yaml")
                && let Ok(bytes) = std::fs::read(&path)
            {
                let mut text = String::from_utf8_lossy(&bytes).into_owned();
                truncate(&mut text, MAX_INPUT);
                seeds.push(text);
            }
        }
    }
    // YAML features the examples do not use.
    seeds.push(
        "version: 1\nbase: &base\n  allowed_origins: [\"https://a.example\"]\n  stage: prod\nbots:\n  - <<: *base\n    id: a\n  - *base\n"
            .to_string(),
    );
    seeds.push(
        "version: 1\nbots:\n- id: a\n  description: |\n    multi\n    line\n  allowed_origins:\n  - https://a.example\n  tags: {? team : x}\n"
            .to_string(),
    );
    seeds.push(
        "{version: 1, bots: [{id: a, allowed_origins: ['*'], description: !!str 1}]}".to_string(),
    );
    seeds
}

// ---------------------------------------------------------------------------------------------------------
// Failures

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum FailureKind {
    Panic,
    Broken,
    Slow,
    Hang,
    Memory,
}

impl FailureKind {
    fn name(self) -> &'static str {
        match self {
            FailureKind::Panic => "panic",
            FailureKind::Broken => "broken",
            FailureKind::Slow => "slow",
            FailureKind::Hang => "hang",
            FailureKind::Memory => "memory",
        }
    }
}

/// An input being executed: since when, the input, and where it came from.
type Running = (Instant, Arc<String>, Generator);

struct Shared {
    config: Config,
    stop: AtomicBool,
    failures: Mutex<Vec<String>>,
    kept: Mutex<HashMap<(FailureKind, String), usize>>,
    /// What each worker is running, and since when, for the watchdog.
    slots: Vec<Mutex<Option<Running>>>,
    peak_rss_kib: AtomicU64,
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Shared {
    /// Records a failure, saves its input (the first few per message), and returns the saved path.
    fn fail(
        &self,
        kind: FailureKind,
        message: &str,
        input: &str,
        generator: Generator,
    ) -> Option<PathBuf> {
        let first_line = message.lines().next().unwrap_or_default().to_string();
        // Failures differing only in numbers (times, lines, sizes) are the same failure.
        let key: String = first_line.chars().filter(|c| !c.is_ascii_digit()).collect();
        let count = {
            let mut kept = self.kept.lock().unwrap();
            let n = kept.entry((kind, key)).or_insert(0);
            *n += 1;
            *n
        };
        let mut saved = None;
        if count <= KEEP_PER_FAILURE {
            let _ = std::fs::create_dir_all(&self.config.regressions);
            let path = self.config.regressions.join(format!(
                "{}-{}.yaml",
                kind.name(),
                hex(input.as_bytes())
            ));
            if std::fs::write(&path, input).is_ok() {
                saved = Some(path);
            }
        }
        let shown = saved.as_ref().map_or(
            "(not saved: already kept two inputs for it)".to_string(),
            |p| p.display().to_string(),
        );
        let line = format!(
            "FUZZ FAILURE [{}] from {}: {first_line}\n  input ({} bytes): {shown}",
            kind.name(),
            generator.name(),
            input.len()
        );
        if count <= KEEP_PER_FAILURE {
            eprintln!("{line}");
        }
        self.failures.lock().unwrap().push(line);
        saved
    }
}

/// Shrinks `input` while `still_fails` holds: lines first, then characters, within a time budget.
fn minimize(input: &str, still_fails: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + MINIMIZE_BUDGET;
    let mut units: Vec<String> = lines_of(input);
    for by_chars in [false, true] {
        if by_chars {
            units = units.concat().chars().map(String::from).collect();
        }
        let mut chunk = units.len().div_ceil(2).max(1);
        loop {
            let mut at = 0;
            while at < units.len() && Instant::now() < deadline {
                let end = (at + chunk).min(units.len());
                let candidate: String = units[..at].concat() + &units[end..].concat();
                if still_fails(&candidate) {
                    units.drain(at..end);
                } else {
                    at += chunk;
                }
            }
            if chunk == 1 || Instant::now() >= deadline {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    units.concat()
}

fn same_failure(text: &str, kind: FailureKind, first_line: &str) -> bool {
    let line = |m: &str| m.lines().next().unwrap_or_default().to_string();
    match (run(text), kind) {
        (Verdict::Panic(m), FailureKind::Panic) => line(&m) == first_line,
        // A broken invariant's message names values and positions; compare its words.
        (Verdict::Broken(m), FailureKind::Broken) => {
            let words = |m: &str| -> String {
                let head = m.split(':').next().unwrap_or_default();
                head.chars().filter(|c| !c.is_ascii_digit()).collect()
            };
            words(&line(&m)) == words(first_line)
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Workers, watchdog, report

#[derive(Default, Clone)]
struct Stats {
    executions: u64,
    accepted: u64,
    stacks: u64,
    bytes: u64,
    by_generator: HashMap<Generator, (u64, u64)>,
    slowest: Duration,
    slowest_len: usize,
    slowest_generator: Option<Generator>,
    kinds: HashSet<String>,
    corpus: usize,
}

fn worker(shared: &Shared, index: usize, deadline: Instant) -> Stats {
    let mut rng = Rng::with_seed(
        shared
            .config
            .seed
            .wrapping_add(index as u64 * 0x9e37_79b9_7f4a_7c15),
    );
    let mut corpus = seeds();
    let seed_count = corpus.len();
    let mut stats = Stats::default();
    while !shared.stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let generator = match rng.u8(..20) {
            0 | 1 => Generator::Bytes,
            2 | 3 => Generator::Utf8,
            4..=11 => Generator::Mutation,
            _ => Generator::Structured,
        };
        let input = Arc::new(match generator {
            Generator::Bytes => random_bytes(&mut rng),
            Generator::Utf8 => random_utf8(&mut rng),
            // Half the time from the hand-written seeds, which are (nearly) valid specs.
            Generator::Mutation if rng.bool() => mutate(&mut rng, &corpus[..seed_count]),
            Generator::Mutation => mutate(&mut rng, &corpus),
            Generator::Structured => structured(&mut rng),
        });
        let start = Instant::now();
        *shared.slots[index].lock().unwrap() = Some((start, input.clone(), generator));
        let verdict = run(&input);
        let elapsed = start.elapsed();
        let is_panic = matches!(verdict, Verdict::Panic(_));
        *shared.slots[index].lock().unwrap() = None;

        stats.executions += 1;
        stats.bytes += input.len() as u64;
        let counts = stats.by_generator.entry(generator).or_default();
        counts.0 += 1;
        if elapsed > stats.slowest {
            stats.slowest = elapsed;
            stats.slowest_len = input.len();
            stats.slowest_generator = Some(generator);
        }
        if elapsed > shared.config.input_limit {
            let message = format!(
                "input took {:.3} s (limit {:.3} s)",
                elapsed.as_secs_f64(),
                shared.config.input_limit.as_secs_f64()
            );
            shared.fail(FailureKind::Slow, &message, &input, generator);
        }
        match verdict {
            Verdict::Fine(outcome) => {
                if outcome.accepted {
                    stats.accepted += 1;
                    counts.1 += 1;
                    stats.stacks += outcome.stacks as u64;
                }
                let mut new = false;
                for kind in outcome.kinds {
                    if !stats.kinds.contains(&kind) {
                        stats.kinds.insert(kind);
                        new = true;
                    }
                }
                // Random text that found a new diagnostic is still random text: only spec-like inputs join.
                let spec_like = matches!(generator, Generator::Mutation | Generator::Structured);
                if new && spec_like && corpus.len() < MAX_CORPUS {
                    corpus.push(input.to_string());
                }
            }
            Verdict::Panic(message) | Verdict::Broken(message) => {
                let kind = if is_panic {
                    FailureKind::Panic
                } else {
                    FailureKind::Broken
                };
                let first_line = message.lines().next().unwrap_or_default().to_string();
                if let Some(path) = shared.fail(kind, &message, &input, generator) {
                    let small = minimize(&input, |t| same_failure(t, kind, &first_line));
                    if small.len() < input.len() {
                        let min_path = path.with_file_name(format!(
                            "{}-{}-min.yaml",
                            kind.name(),
                            hex(small.as_bytes())
                        ));
                        if std::fs::write(&min_path, &small).is_ok() {
                            eprintln!(
                                "  minimized ({} bytes): {}",
                                small.len(),
                                min_path.display()
                            );
                        }
                    }
                }
            }
        }
    }
    stats.corpus = corpus.len() - seed_count;
    stats
}

/// A field of /proc/self/status in KiB (VmRSS, VmHWM), when the kernel has one.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Watches every worker: an input still running long after the limit is a hang; resident memory over the
/// limit is a failure. Either one ends the process: the worker cannot be stopped from outside.
fn watchdog(shared: &Shared, done: &AtomicBool) {
    let hang_after = shared.config.input_limit * 5;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(rss) = status_kib("VmRSS:") {
            shared.peak_rss_kib.fetch_max(rss, Ordering::Relaxed);
            if rss > shared.config.max_rss_kib {
                for slot in &shared.slots {
                    if let Some((_, input, generator)) = slot.lock().unwrap().clone() {
                        let message = format!("resident memory reached {} MiB", rss / 1024);
                        shared.fail(FailureKind::Memory, &message, &input, generator);
                    }
                }
                eprintln!(
                    "fuzz: FAILED: resident memory {} MiB is over the limit",
                    rss / 1024
                );
                std::process::exit(1);
            }
        }
        for slot in &shared.slots {
            let running = slot.lock().unwrap().clone();
            if let Some((since, input, generator)) = running
                && since.elapsed() > hang_after
            {
                let message = format!(
                    "input still running after {:.3} s",
                    since.elapsed().as_secs_f64()
                );
                shared.fail(FailureKind::Hang, &message, &input, generator);
                eprintln!("fuzz: FAILED: an input hangs; see the file above");
                std::process::exit(1);
            }
        }
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn main() {
    let config = config();
    quiet_panics();
    let mode = if config.bench { "bench" } else { "smoke" };
    println!(
        "fuzz ({mode}, {} build): {} s, {} thread(s), seed {} (BOTPUB_FUZZ_SEED), input limit {} ms, memory limit {}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        config.budget.as_secs(),
        config.threads,
        config.seed,
        config.input_limit.as_millis(),
        mib(config.max_rss_kib),
    );
    let threads = config.threads;
    let shared = Shared {
        slots: (0..threads).map(|_| Mutex::new(None)).collect(),
        config,
        stop: AtomicBool::new(false),
        failures: Mutex::new(Vec::new()),
        kept: Mutex::new(HashMap::new()),
        peak_rss_kib: AtomicU64::new(0),
    };
    let started = Instant::now();
    let deadline = started + shared.config.budget;
    let done = AtomicBool::new(false);
    let all: Vec<Option<Stats>> = std::thread::scope(|scope| {
        let watch = scope.spawn(|| watchdog(&shared, &done));
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let shared = &shared;
                std::thread::Builder::new()
                    // Deep YAML is refused at 64 levels; the stack size is the default one of a main thread.
                    .stack_size(8 * 1024 * 1024)
                    .spawn_scoped(scope, move || worker(shared, i, deadline))
                    .expect("spawn a fuzz worker")
            })
            .collect();
        let stats = workers.into_iter().map(|w| w.join().ok()).collect();
        done.store(true, Ordering::Relaxed);
        let _ = watch.join();
        stats
    });
    let elapsed = started.elapsed().as_secs_f64();
    if all.iter().any(Option::is_none) {
        eprintln!("fuzz: FAILED: a worker died (the fuzzer's own bug; its panic is printed above)");
        std::process::exit(2);
    }
    let all: Vec<Stats> = all.into_iter().flatten().collect();

    let mut total = Stats::default();
    for s in &all {
        total.executions += s.executions;
        total.accepted += s.accepted;
        total.stacks += s.stacks;
        total.bytes += s.bytes;
        total.corpus += s.corpus;
        total.kinds.extend(s.kinds.iter().cloned());
        for (g, (n, a)) in &s.by_generator {
            let entry = total.by_generator.entry(*g).or_default();
            entry.0 += n;
            entry.1 += a;
        }
        if s.slowest > total.slowest {
            total.slowest = s.slowest;
            total.slowest_len = s.slowest_len;
            total.slowest_generator = s.slowest_generator;
        }
    }
    let peak = status_kib("VmHWM:")
        .unwrap_or(0)
        .max(shared.peak_rss_kib.load(Ordering::Relaxed));
    let rejected = total.executions - total.accepted;
    println!("duration:      {elapsed:.1} s");
    println!(
        "executions:    {} ({:.0}/s, {:.1} MiB of input)",
        total.executions,
        total.executions as f64 / elapsed,
        total.bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "accepted:      {} (synthesized {} stacks, each twice, JSON and YAML re-parsed)",
        total.accepted, total.stacks
    );
    println!("rejected:      {rejected}");
    for g in GENERATORS {
        let (n, a) = total.by_generator.get(&g).copied().unwrap_or_default();
        println!("  {:<17} {n:>9} executions, {a:>8} accepted", g.name());
    }
    println!(
        "diagnostics:   {} distinct kinds; {} inputs added to the mutation corpus",
        total.kinds.len(),
        total.corpus
    );
    if let Ok(path) = std::env::var("BOTPUB_FUZZ_KINDS") {
        let mut kinds: Vec<&String> = total.kinds.iter().collect();
        kinds.sort();
        let list: String = kinds.iter().map(|k| format!("{k}\n")).collect();
        let _ = std::fs::write(&path, list);
    }
    println!(
        "slowest input: {:.1} ms ({} bytes, {})",
        total.slowest.as_secs_f64() * 1000.0,
        total.slowest_len,
        total.slowest_generator.map_or("-", Generator::name)
    );
    println!("peak memory:   {} (VmHWM)", mib(peak));
    let failures = shared.failures.lock().unwrap();
    if failures.is_empty() {
        println!("failures:      0");
    } else {
        println!("failures:      {}", failures.len());
        eprintln!(
            "fuzz: FAILED: {} failing input(s); the first ones are saved in {} (tests/fuzz_regressions.rs replays them)",
            failures.len(),
            shared.config.regressions.display()
        );
        std::process::exit(1);
    }
    if total.executions == 0 || total.accepted == 0 {
        eprintln!(
            "fuzz: FAILED: no executions, or no spec was ever accepted (the generators are broken)"
        );
        std::process::exit(1);
    }
}
