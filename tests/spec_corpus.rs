//! The invalid-spec corpus: every file in tests/invalid/ states, in its leading comments, exactly the
//! diagnostics botpub must report for it:
//!
//!     # error at LINE:COLUMN PATH: MESSAGE (help: PART OF THE HINT)
//!     # warning at LINE:COLUMN PATH: MESSAGE
//!
//! MESSAGE must begin the reported message; the help text, when given, must occur in the reported hint.
//! No other diagnostic may be reported.

use std::path::Path;

use botpub::spec::{Severity, check_str};

struct Expected {
    line: String,
    severity: Severity,
    position: (usize, usize),
    path: String,
    message: String,
    help: Option<String>,
}

fn expectations(text: &str) -> Vec<Expected> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| {
            let (severity, rest) = if let Some(rest) = l.strip_prefix("# error at ") {
                (Severity::Error, rest)
            } else {
                (Severity::Warning, l.strip_prefix("# warning at ")?)
            };
            let (position, rest) = rest.split_once(' ')?;
            let (line, column) = position.split_once(':')?;
            let (path, message) = rest.split_once(": ")?;
            let (message, help) = match message.rsplit_once(" (help: ") {
                Some((m, h)) => (m, Some(h.trim_end_matches(')').to_string())),
                None => (message, None),
            };
            Some(Expected {
                line: l.to_string(),
                severity,
                position: (line.parse().ok()?, column.parse().ok()?),
                path: path.to_string(),
                message: message.to_string(),
                help,
            })
        })
        .collect()
}

#[test]
fn every_invalid_spec_reports_exactly_its_expected_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let expected = expectations(&text);
        assert!(!expected.is_empty(), "{name} states no expectation");
        let (spec, actual) = check_str(&name, &text);
        let expects_error = expected.iter().any(|e| e.severity == Severity::Error);
        if spec.is_some() == expects_error {
            failures.push(format!(
                "{name}: spec accepted = {}, expected errors = {expects_error}",
                spec.is_some()
            ));
        }
        let mut unmatched: Vec<_> = actual.iter().collect();
        for e in &expected {
            let found = unmatched.iter().position(|d| {
                d.severity == e.severity
                    && (d.line.unwrap_or(0), d.column.unwrap_or(0)) == e.position
                    && d.path == e.path
                    && d.message.starts_with(&e.message)
                    && e.help
                        .as_ref()
                        .is_none_or(|h| d.hint.as_deref().unwrap_or("").contains(h.as_str()))
            });
            match found {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => failures.push(format!("{name}: not reported: {}", e.line)),
            }
        }
        for d in unmatched {
            failures.push(format!("{name}: unexpected: {d} (hint: {:?})", d.hint));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
