//! Replays every input in tests/fuzz_regressions/ (written there by `cargo bench --bench fuzz` when an input
//! panicked, hung, or broke an invariant) with the fuzzer's checks: no panic, a bounded time, diagnostics whose
//! line and column name a real place in the file (and render with that line), and, for an accepted spec,
//! templates that synthesize and parse back as JSON.

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use botpub::spec::diagnostic::SourceLines;
use botpub::{spec, synth};

/// Generous for a debug build; the fuzzer's own limit (release) is 1 s.
const LIMIT: Duration = Duration::from_secs(20);

fn check(text: &str) -> Result<(), String> {
    let (spec, diagnostics) = spec::check_str("regression.yaml", text);
    // Exact, including those counted but not kept.
    let errors = diagnostics.errors;
    if spec.is_some() == (errors > 0) {
        return Err(format!("a spec: {} with {errors} error(s)", spec.is_some()));
    }
    // Lines as YAML counts them: CR, LF and CRLF each end one.
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.lines().collect();
    for d in &diagnostics {
        let shown_line = d.line.and_then(|line| SourceLines::new(text).get(line));
        let rendered = d.render(shown_line);
        let (Some(line), Some(column)) = (d.line, d.column) else {
            continue;
        };
        if line == 0 || column == 0 || line > lines.len() + 1 {
            return Err(format!("{d}: outside a {}-line file", lines.len()));
        }
        if let Some(source) = lines.get(line - 1) {
            if column > source.chars().count() + 1 {
                return Err(format!("{d}: column past the end of the line"));
            }
            if !rendered.contains(&format!("\n {line} | ")) {
                return Err(format!("{d}: rendered without its line: {rendered}"));
            }
        }
    }
    if let Some(spec) = spec {
        let stacks = synth::synthesize(&spec).map_err(|e| format!("synthesis: {e:#}"))?;
        for stack in stacks {
            serde_json::from_str::<serde_json::Value>(&stack.template_body())
                .map_err(|e| format!("{}: not JSON: {e}", stack.name))?;
        }
    }
    Ok(())
}

#[test]
fn every_saved_fuzz_input_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    let mut failures = Vec::new();
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        // check_str takes text; the fuzzer made its inputs UTF-8 the same way.
        let text = String::from_utf8_lossy(&bytes);
        let start = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| check(&text)));
        let elapsed = start.elapsed();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match outcome {
            Ok(Ok(())) if elapsed <= LIMIT => {}
            Ok(Ok(())) => failures.push(format!("{name}: took {elapsed:?}")),
            Ok(Err(problem)) => failures.push(format!("{name}: {problem}")),
            Err(_) => failures.push(format!("{name}: panicked (message above)")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
