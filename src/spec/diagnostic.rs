//! What validation tells the user: one diagnostic per problem, with file, line, column and field path.

use std::fmt;

use serde::Serialize;

use crate::terminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

    /// The diagnostic with the offending source line under it and a caret at the column, for terminals.
    pub fn render(&self, source: Option<&str>) -> String {
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
        let line_text = self
            .line
            .zip(source)
            .and_then(|(line, text)| source_line(text, line));
        if let (Some(line), Some(text)) = (self.line, line_text) {
            let column = self.column.unwrap_or(1);
            let shown: String = text.chars().take(160).collect();
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

/// Line `line` (1-based) of `text` as YAML counts lines, as the parser numbers them: LF, CRLF and a lone CR
/// each end one. `None` past the end, as for `str::lines`.
fn source_line(text: &str, line: usize) -> Option<&str> {
    let mut rest = text;
    for _ in 1..line {
        let end = rest.find(['\r', '\n'])?;
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
    }
    if rest.is_empty() {
        return None;
    }
    Some(&rest[..rest.find(['\r', '\n']).unwrap_or(rest.len())])
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
        assert_eq!(
            plain(d.render(Some("a: 1\nb:  x\n"))),
            "spec.yaml:2:5: error: bots[0].stage: bad\n 2 | b:  x\n   |     ^\n  help: fix it"
        );
        // A lone CR ends a line for the YAML parser, so it does for the line shown.
        assert_eq!(
            plain(d.render(Some("a: 1\rb:  x\r\nc: 2\n"))),
            "spec.yaml:2:5: error: bots[0].stage: bad\n 2 | b:  x\n   |     ^\n  help: fix it"
        );
    }
}
