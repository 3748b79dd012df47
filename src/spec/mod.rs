//! The publication spec: reading a file, checking it completely, and producing the validated [`Spec`].
//!
//! The pipeline is text → position tree (`yaml`, kept to what the format reads by `guide`) → file types
//! (`read`, shape problems) → rules (`validate`, meaning problems) → [`Spec`]. Every stage records problems
//! and goes on, so one run reports all of them, each with file, line, column and field path; items of a
//! list past its limit are checked on their own as they are parsed, so memory stays bounded.

pub mod diagnostic;
pub mod file;
mod guide;
pub mod limits;
pub mod model;
mod path;
mod read;
mod shape;
mod validate;
mod yaml;

use std::collections::HashMap;
use std::io::Read;

use diagnostic::{Collector, SourceLines};
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use model::Spec;
pub use validate::TAG_PREFIX;

/// Larger files are refused before parsing: no spec comes near it, and it bounds memory and time.
pub const MAX_SPEC_BYTES: u64 = 10 * 1024 * 1024;

/// The outcome of checking one or more spec files: the specs when all are valid, and every diagnostic.
#[derive(Debug, Default)]
pub struct Checked {
    pub specs: Vec<Spec>,
    pub diagnostics: Diagnostics,
    /// Source text by file name, for showing the offending line under a diagnostic.
    pub sources: HashMap<String, String>,
}

/// Diagnostics shown with their source line; the other kept ones get one line each, which keeps a long
/// report scannable.
const SHOWN_WITH_SOURCE: usize = 200;

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.has_errors()
    }

    /// The diagnostics, for people: `file:line:col: severity: path: message`, the first ones with the
    /// offending line, a caret and a hint, then a count by kind of those not kept.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut lines: HashMap<&str, SourceLines> = HashMap::new();
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            if i < SHOWN_WITH_SOURCE {
                let source = self.sources.get(&diagnostic.file).and_then(|text| {
                    let file_lines = lines
                        .entry(&diagnostic.file)
                        .or_insert_with(|| SourceLines::new(text));
                    file_lines.get(diagnostic.line?)
                });
                out.push_str(&diagnostic.render(source));
                out.push_str("\n\n");
            } else {
                out.push_str(&diagnostic.to_string());
                out.push('\n');
            }
        }
        out.push_str(&self.diagnostics.render_omitted());
        out
    }
}

/// Checks spec files (and, across them, that no stack is defined twice).
pub fn check_files(paths: &[std::path::PathBuf]) -> Checked {
    let mut checked = Checked::default();
    for path in paths {
        let name = path.display().to_string();
        match read_file(path) {
            Ok(text) => {
                let (spec, diagnostics) = check_str(&name, &text);
                checked.specs.extend(spec);
                checked.diagnostics.extend(diagnostics);
                checked.sources.insert(name, text);
            }
            Err(message) => checked
                .diagnostics
                .push(Diagnostic::file_error(&name, message)),
        }
    }
    for conflict in cross_file_conflicts(&checked.specs) {
        checked.diagnostics.push(conflict);
    }
    if checked.has_errors() {
        checked.specs.clear();
    }
    checked
}

/// Checks one spec given as text; `name` is used in diagnostics.
pub fn check_str(name: &str, text: &str) -> (Option<Spec>, Diagnostics) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut collector = Collector::new(name);
    let mut guide = guide::SpecGuide::new(&mut collector);
    let parsed = yaml::parse(text, &mut guide);
    let mut problems = std::mem::take(&mut guide.problems);
    let root = match parsed {
        Ok(yaml::Document { root: Some(root) }) => root,
        Ok(yaml::Document { root: None }) => {
            let hint = "a spec needs at least `version: 1` and a `bots:` list; see `botpub schema`";
            collector.file_error("the file is empty", Some(hint.to_string()));
            return (None, collector.finish());
        }
        Err(e) => {
            // A syntax error ends reading: what was found before it is not worth showing beside it.
            let mut only = Collector::new(name);
            let message = format!("not valid YAML: {}", e.message);
            only.report(Severity::Error, e.pos, String::new(), message, None);
            return (None, only.finish());
        }
    };
    let file = read::read::<file::SpecFile>(&root, &mut collector, &mut problems);
    let spec =
        file.and_then(|file| validate::validate(name, &file, &root, &problems, &mut collector));
    let spec = spec.filter(|_| !collector.has_errors());
    (spec, collector.finish())
}

/// Reads a spec file, refusing what cannot be a spec with a message that says why.
fn read_file(path: &std::path::Path) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|e| io_message(&e))?;
    if metadata.is_dir() {
        return Err("is a directory; pass a spec file".to_string());
    }
    let file = std::fs::File::open(path).map_err(|e| io_message(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_message(&e))?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        let size = metadata.len().max(bytes.len() as u64);
        return Err(format!(
            "is {size} bytes; a spec file is at most {MAX_SPEC_BYTES} bytes (10 MiB)"
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        format!("is not UTF-8 text (invalid byte at offset {offset}); a spec is a YAML text file")
    })
}

fn io_message(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "cannot be read: permission denied".to_string(),
        _ => format!("cannot be read: {error}"),
    }
}

/// Two files that define the same stack would fight over it. That holds for a custom domain too: its
/// stack belongs to the one file that declares it, with the bots served on it, so that no two files
/// disagree about its certificate and no file's bots are left mapped onto a domain another file removes.
fn cross_file_conflicts(specs: &[Spec]) -> Vec<Diagnostic> {
    let mut owners: HashMap<(Option<&str>, String), &str> = HashMap::new();
    let mut diagnostics = Vec::new();
    for spec in specs {
        let firewall = spec.firewall.as_ref().map(|_| spec.stack_name("firewall"));
        let domains = spec.domains.iter().map(|d| spec.domain_stack_name(&d.name));
        let bots = spec.bots.iter().map(|b| spec.stack_name(&b.id));
        for stack in firewall.into_iter().chain(domains).chain(bots) {
            let key = (spec.region.as_deref(), stack.to_ascii_lowercase());
            match owners.get(&key) {
                Some(first) => diagnostics.push(Diagnostic::file_error(
                    &spec.source,
                    format!("stack `{stack}` is also defined in {first}; each stack belongs to one spec file"),
                )),
                None => {
                    owners.insert(key, &spec.source);
                }
            }
        }
    }
    diagnostics
}
