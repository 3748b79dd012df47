//! What validation tells the user: one diagnostic per problem, with file, line, column and field path.
//!
//! A file can hold hundreds of thousands of problems, so they are never all kept: [`Collector`] keeps the
//! first [`KEPT`] in file order and counts the rest by kind, which bounds memory whatever the input while
//! every count stays exact.

use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use serde::Serialize;

use super::yaml::Pos;
use crate::terminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based; absent for problems with the file as a whole (unreadable, too large).
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The field path, e.g. `bots[0].quota.period`; empty for the file as a whole.
    pub path: String,
    pub message: String,
    /// How to fix it, where that is obvious.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// A problem with the file as a whole.
    pub fn file_error(file: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            line: None,
            column: None,
            path: String::new(),
            message: message.into(),
            hint: None,
        }
    }

    /// The diagnostic with the offending source line (from [`SourceLines`]) under it and a caret at the
    /// column, for terminals.
    pub fn render(&self, line_text: Option<&str>) -> String {
        let (word, style) = match self.severity {
            Severity::Error => ("error", terminal::ERROR),
            Severity::Warning => ("warning", terminal::WARNING),
        };
        let plain = self.to_string();
        let mut out = plain.replacen(
            &format!(": {word}: "),
            &format!(": {}: ", terminal::paint(style, word)),
            1,
        );
        if let (Some(line), Some(shown)) = (self.line, line_text) {
            let column = self.column.unwrap_or(1);
            let gutter = line.to_string().len();
            let pad: String = shown
                .chars()
                .take(column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!("\n {line} | {shown}\n {:gutter$} | {pad}^", ""));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!(
                "\n  {}: {hint}",
                terminal::paint(terminal::HELP, "help")
            ));
        }
        out
    }
}

/// How many diagnostics are kept and shown: enough to fix a file in one pass, few enough to read.
pub const KEPT: usize = 1000;

/// Different kinds counted separately in the summary of omitted diagnostics; later kinds share one row.
const MAX_KINDS: usize = 100;

/// The diagnostics of one run: the first [`KEPT`] in file order, exact counts, and the rest counted by kind.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Diagnostics {
    /// Shown in full, in file order.
    pub shown: Vec<Diagnostic>,
    pub errors: usize,
    pub warnings: usize,
    /// What was not kept, by severity and kind (the message with the quoted values and numbers taken out).
    pub omitted: Vec<Omitted>,
    /// Where each kind's row is in `omitted`.
    #[serde(skip)]
    rows: HashMap<(Severity, String), usize>,
}

/// The kept diagnostics, in file order.
impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.shown.iter()
    }
}

/// Diagnostics of one kind that were counted but not kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Omitted {
    pub severity: Severity,
    pub kind: String,
    pub count: usize,
}

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.shown.iter()
    }

    /// How many were counted but not kept.
    pub fn omitted_count(&self) -> usize {
        self.omitted.iter().map(|o| o.count).sum()
    }

    /// Adds a diagnostic after all the others (a later file, a problem across files).
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.count(diagnostic.severity);
        if self.shown.len() < KEPT {
            self.shown.push(diagnostic);
        } else {
            self.omit(diagnostic.severity, &diagnostic.message, 1);
        }
    }

    /// Adds the diagnostics of a later file after these.
    pub fn extend(&mut self, other: Diagnostics) {
        for diagnostic in other.shown {
            self.push(diagnostic);
        }
        for omitted in other.omitted {
            match omitted.severity {
                Severity::Error => self.errors += omitted.count,
                Severity::Warning => self.warnings += omitted.count,
            }
            self.omit(omitted.severity, &omitted.kind, omitted.count);
        }
    }

    fn count(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
    }

    fn omit(&mut self, severity: Severity, message: &str, count: usize) {
        let mut key = (severity, kind_of(message));
        if !self.rows.contains_key(&key) && self.rows.len() >= MAX_KINDS {
            key.1 = "other problems".to_string();
        }
        let next = self.omitted.len();
        let row = *self.rows.entry(key.clone()).or_insert(next);
        if row == next {
            self.omitted.push(Omitted {
                severity,
                kind: key.1,
                count: 0,
            });
        }
        self.omitted[row].count += count;
    }

    /// The summary of what was not shown: `and 872000 more, not shown:` and a line per kind, most first.
    pub fn render_omitted(&self) -> String {
        let total = self.omitted_count();
        if total == 0 {
            return String::new();
        }
        let mut rows: Vec<&Omitted> = self.omitted.iter().collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.count));
        let width = rows[0].count.to_string().len();
        let mut out = format!("... and {total} more, not shown (the first {KEPT} are above):\n");
        for row in rows {
            let severity = match row.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            out.push_str(&format!(
                "  {:>width$} × {severity}: {}\n",
                row.count, row.kind
            ));
        }
        out
    }
}

/// A message with what varies taken out (quoted values, numbers), so that the same rule counts as one kind:
/// "unknown field `f12`" and "unknown field `x`" are both "unknown field `…`".
fn kind_of(message: &str) -> String {
    let mut kind = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' | '"' => {
                for inner in chars.by_ref() {
                    if inner == c {
                        break;
                    }
                }
                kind.push(c);
                kind.push('…');
                kind.push(c);
            }
            '0'..='9' => {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                kind.push('N');
            }
            _ => kind.push(c),
        }
    }
    kind
}

/// Gathers the diagnostics of one file as the checks find them, in any order, keeping only the first
/// [`KEPT`] by position: a max-heap on position holds them, so each new one costs a comparison with the last
/// kept rather than memory.
pub struct Collector {
    file: String,
    kept: BinaryHeap<Ranked>,
    found: u64,
    counted: Diagnostics,
}

/// A kept diagnostic ordered by position, then by when it was found.
struct Ranked {
    key: (u32, u32, u64),
    diagnostic: Diagnostic,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

impl Collector {
    pub fn new(file: &str) -> Collector {
        Collector {
            file: file.to_string(),
            kept: BinaryHeap::new(),
            found: 0,
            counted: Diagnostics::default(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.counted.has_errors()
    }

    pub fn errors(&self) -> usize {
        self.counted.errors
    }

    /// Records a problem at a position. The message and hint are built by the caller even when the problem
    /// is not kept; only its kind is remembered then.
    pub fn report(
        &mut self,
        severity: Severity,
        pos: Pos,
        path: String,
        message: String,
        hint: Option<String>,
    ) {
        if !self.keeps(pos) {
            self.count_only(severity, &message);
            return;
        }
        let key = (pos.line, pos.column, self.found);
        let file = self.file.clone();
        self.keep(
            key,
            Diagnostic {
                severity,
                file,
                line: Some(pos.line as usize),
                column: Some(pos.column as usize),
                path,
                message,
                hint,
            },
        );
    }

    /// Whether a problem found now at `pos` would be kept; one that would not is only counted, so a caller
    /// with many problems can leave its path and hint unbuilt ([`Collector::count_only`]).
    pub fn keeps(&self, pos: Pos) -> bool {
        let key = (pos.line, pos.column, self.found);
        self.kept.len() < KEPT || self.kept.peek().is_some_and(|r| key < r.key)
    }

    /// Counts a problem that is not kept (see [`Collector::keeps`]): only its kind is remembered.
    pub fn count_only(&mut self, severity: Severity, message: &str) {
        self.found += 1;
        self.counted.count(severity);
        self.counted.omit(severity, message, 1);
    }

    /// A problem with the file as a whole; it goes before those with a position.
    pub fn file_error(&mut self, message: impl Into<String>, hint: Option<String>) {
        let mut diagnostic = Diagnostic::file_error(&self.file, message);
        diagnostic.hint = hint;
        self.keep((0, 0, self.found), diagnostic);
    }

    fn keep(&mut self, key: (u32, u32, u64), diagnostic: Diagnostic) {
        self.found += 1;
        self.counted.count(diagnostic.severity);
        self.kept.push(Ranked { key, diagnostic });
        if self.kept.len() > KEPT
            && let Some(dropped) = self.kept.pop()
        {
            let d = dropped.diagnostic;
            self.counted.omit(d.severity, &d.message, 1);
        }
    }

    /// The kept diagnostics in file order, with the counts.
    pub fn finish(self) -> Diagnostics {
        let mut diagnostics = self.counted;
        diagnostics.shown = self
            .kept
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.diagnostic)
            .collect();
        diagnostics
    }
}

/// The lines of a source shown under its diagnostics. They are asked for in file order, so a cursor reads
/// a large file once however many lines are shown, and each line is cut at [`SHOWN_CHARS`].
pub struct SourceLines<'a> {
    text: &'a str,
    /// The text from the start of line `next` on.
    rest: &'a str,
    next: usize,
}

/// Characters of a source line shown: a 10 MiB file can be a single line.
const SHOWN_CHARS: usize = 160;

impl<'a> SourceLines<'a> {
    pub fn new(text: &'a str) -> SourceLines<'a> {
        SourceLines {
            text,
            rest: text,
            next: 1,
        }
    }

    /// Line `line` (1-based) as YAML counts lines, as the parser numbers them: LF, CRLF and a lone CR each
    /// end one. `None` past the end, as for `str::lines`.
    pub fn get(&mut self, line: usize) -> Option<&'a str> {
        if line < self.next {
            *self = SourceLines::new(self.text);
        }
        while self.next < line {
            let end = self.rest.find(['\r', '\n'])?;
            let skip = if self.rest[end..].starts_with("\r\n") {
                2
            } else {
                1
            };
            self.rest = &self.rest[end + skip..];
            self.next += 1;
        }
        if self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .char_indices()
            .take(SHOWN_CHARS)
            .find(|(_, c)| matches!(c, '\r' | '\n'))
            .map_or_else(
                || {
                    let shown = self.rest.char_indices().nth(SHOWN_CHARS);
                    shown.map_or(self.rest.len(), |(i, _)| i)
                },
                |(i, _)| i,
            );
        Some(&self.rest[..end])
    }
}

/// `file:line:column: severity: path: message` — the form editors and CI annotators recognise.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {severity}: ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_source_line_with_a_caret() {
        let d = Diagnostic {
            severity: Severity::Error,
            file: "spec.yaml".into(),
            line: Some(2),
            column: Some(5),
            path: "bots[0].stage".into(),
            message: "bad".into(),
            hint: Some("fix it".into()),
        };
        let plain = |text: String| anstream::adapter::strip_str(&text).to_string();
        let line_2 = |text| SourceLines::new(text).get(2);
        assert_eq!(
            plain(d.render(line_2("a: 1\nb:  x\n"))),
            "spec.yaml:2:5: error: bots[0].stage: bad\n 2 | b:  x\n   |     ^\n  help: fix it"
        );
        // A lone CR ends a line for the YAML parser, so it does for the line shown.
        assert_eq!(
            plain(d.render(line_2("a: 1\rb:  x\r\nc: 2\n"))),
            "spec.yaml:2:5: error: bots[0].stage: bad\n 2 | b:  x\n   |     ^\n  help: fix it"
        );
    }

    fn at(line: u32) -> Pos {
        Pos { line, column: 1 }
    }

    #[test]
    fn the_first_in_file_order_are_kept_and_every_one_is_counted() {
        let mut collector = Collector::new("spec.yaml");
        // Found out of order, as the rules find them after reading.
        for line in (1..=KEPT as u32 + 500).rev() {
            let message = format!("unknown field `f{line}`");
            collector.report(Severity::Error, at(line), String::new(), message, None);
        }
        collector.report(Severity::Warning, at(3), String::new(), "w 7".into(), None);
        let diagnostics = collector.finish();
        assert_eq!((diagnostics.errors, diagnostics.warnings), (KEPT + 500, 1));
        assert_eq!(diagnostics.shown.len(), KEPT);
        let lines: Vec<usize> = diagnostics.iter().filter_map(|d| d.line).collect();
        assert!(lines.windows(2).all(|w| w[0] <= w[1]), "in file order");
        assert_eq!(lines[0], 1);
        assert_eq!(diagnostics.omitted_count(), 501);
        assert_eq!(
            diagnostics.omitted,
            [Omitted {
                severity: Severity::Error,
                kind: "unknown field `…`".into(),
                count: 501
            }]
        );
        let summary = diagnostics.render_omitted();
        assert!(
            summary.starts_with("... and 501 more, not shown"),
            "{summary}"
        );
        assert!(
            summary.contains("501 × error: unknown field `…`"),
            "{summary}"
        );
    }

    #[test]
    fn kinds_leave_out_what_varies() {
        assert_eq!(
            kind_of("`x y` is not an origin (line 12)"),
            "`…` is not an origin (line N)"
        );
        assert_eq!(
            kind_of("expected a number, found the string \"5\""),
            "expected a number, found the string \"…\""
        );
    }

    #[test]
    fn later_files_come_after_and_counts_add_up() {
        let file = |name: &str, n: u32| {
            let mut collector = Collector::new(name);
            for line in 1..=n {
                collector.report(
                    Severity::Error,
                    at(line),
                    String::new(),
                    format!("e{line}"),
                    None,
                );
            }
            collector.finish()
        };
        let mut all = file("a.yaml", KEPT as u32 - 2);
        all.extend(file("b.yaml", 5));
        all.push(Diagnostic::file_error("b.yaml", "conflict"));
        assert_eq!(all.errors, KEPT + 4);
        assert_eq!(all.shown.len(), KEPT);
        assert_eq!(all.shown[KEPT - 1].file, "b.yaml");
        assert_eq!(all.shown[KEPT - 1].line, Some(2));
        assert_eq!(all.omitted_count(), 4);
    }

    #[test]
    fn kinds_beyond_the_limit_share_one_row() {
        let mut diagnostics = Diagnostics::default();
        for i in 0..KEPT + MAX_KINDS + 10 {
            let message = format!("problem {}", "x".repeat(i % (MAX_KINDS + 10)));
            diagnostics.push(Diagnostic::file_error("spec.yaml", message));
        }
        assert_eq!(diagnostics.omitted.len(), MAX_KINDS + 1);
        assert_eq!(diagnostics.omitted.last().unwrap().kind, "other problems");
        assert_eq!(diagnostics.omitted_count(), MAX_KINDS + 10);
    }
}
