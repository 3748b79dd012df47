//! The source tree keeps its shape: data flows one way between modules (no module uses a module that
//! uses it back, however long the way round), and files stay short enough to read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files allowed past the length limit, each with the reason.
const LONG_FILES: &[(&str, &str)] = &[
    (
        "src/spec/validate.rs",
        "every rule of the spec, one function each, in the order of the spec reference",
    ),
    (
        "src/cloudformation/changeset.rs",
        "a fifth of it is the unit tests of the change-set reading it holds",
    ),
];
const MAX_LINES: usize = 600;

fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut out,
    );
    out.sort();
    out
}

/// `src/a/b.rs` → `lib::a::b`, `src/a/mod.rs` → `lib::a`; the command line (`src/main.rs`, `src/cli/`)
/// is the binary crate, `bin`.
fn module_of(path: &Path) -> Vec<String> {
    let relative = path
        .strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
        .unwrap();
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    let crate_name =
        if parts.first().is_some_and(|p| p == "cli") || relative == Path::new("main.rs") {
            "bin"
        } else {
            "lib"
        };
    std::iter::once(crate_name.to_string())
        .chain(parts)
        .collect()
}

/// The modules a file refers to by path (`crate::`, `super::`, `botpub::`), outside its unit tests.
fn references(path: &Path, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let code: String = text
        .split("\n#[cfg(test)]")
        .next()
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| [line, "\n"])
        .collect();
    let code = expand_use_groups(&code);
    let me = module_of(path);
    let mut found = BTreeSet::new();
    let bytes = code.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !word(bytes[i]) || (i > 0 && (word(bytes[i - 1]) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (word(bytes[i]) || bytes[i] == b':') {
            i += 1;
        }
        let segments: Vec<&str> = code[start..i].split("::").collect();
        if segments.len() < 2 {
            continue;
        }
        let mut target: Vec<String> = match segments[0] {
            "crate" => vec![me[0].clone()],
            "botpub" => vec!["lib".to_string()],
            "super" => {
                let mut parent = me.clone();
                // In a folder's mod.rs as in a file, `super` is the module that declares this one.
                parent.pop();
                parent
            }
            _ => continue,
        };
        for segment in &segments[1..] {
            let mut next = target.clone();
            next.push(segment.to_string());
            if !known.contains(&next) {
                break;
            }
            target = next;
        }
        if target != me && target.len() > 1 {
            found.insert(target);
        }
    }
    found
}

/// `use a::{b, c::{d}};` → `use a::b; use a::c::d;`, so that every path in a group is read whole.
fn expand_use_groups(code: &str) -> String {
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        match tree.find('{') {
            Some(open) if tree.ends_with('}') => {
                let head = format!("{prefix}{}", &tree[..open]);
                let inner = &tree[open + 1..tree.len() - 1];
                let (mut depth, mut start) = (0, 0);
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&head, &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                expand(&head, &inner[start..], out);
            }
            _ if !tree.is_empty() => out.push(format!("{prefix}{tree}")),
            _ => {}
        }
    }
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let starts_word = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric();
        let Some(end) = rest[at..].find(';').map(|e| at + e) else {
            break;
        };
        out.push_str(&rest[..at]);
        if starts_word {
            let mut paths = Vec::new();
            let tree: String = rest[at + 4..end].split_whitespace().collect();
            expand("", &tree, &mut paths);
            for path in paths {
                out.push_str(&format!("use {};\n", path.trim_end_matches("::self")));
            }
        } else {
            out.push_str(&rest[at..=end]);
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn no_module_uses_a_module_that_uses_it_back() {
    let files = sources();
    let known: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = files
        .iter()
        .map(|f| (module_of(f), references(f, &known)))
        .collect();
    assert!(
        graph[&vec![
            "lib".to_string(),
            "cloudformation".to_string(),
            "deploy".to_string()
        ]]
            .contains(&vec![
                "lib".into(),
                "cloudformation".into(),
                "changeset".into()
            ]),
        "the reference reader must see deploy's use of changeset"
    );
    // Depth-first search for a way back to where it started.
    fn back(
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        node: &Vec<String>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            return Some(path[at..].iter().cloned().chain([node.clone()]).collect());
        }
        if !done.insert(node.clone()) {
            return None;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = back(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = back(&graph, node, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!("modules use each other in a circle: {}", names.join(" → "));
        }
    }
}

#[test]
fn every_file_is_short_enough_to_read_or_says_why_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    for file in sources() {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        let name = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if lines > MAX_LINES && !LONG_FILES.iter().any(|(f, _)| *f == name) {
            long.push(format!("{name}: {lines} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines without a reason: {long:?}"
    );
}

#[test]
fn every_folder_says_what_it_owns() {
    for file in sources() {
        if file.file_name().is_some_and(|n| n == "mod.rs") {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                text.starts_with("//!"),
                "{} must open with a doc comment saying what the folder owns",
                file.display()
            );
        }
    }
}

/// The deployment engine deploys any stack: it uses nothing of what is built on it (publication, the
/// worker, the command line) and reads no stack output by name (a bot's are `synth::outputs`'s, read by
/// publication/).
#[test]
fn the_engine_knows_nothing_of_bots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = sources();
    let known: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let mut found = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.starts_with(root.join("src/cloudformation")))
    {
        let name = file.strip_prefix(root).unwrap().display().to_string();
        for used in references(file, &known) {
            let top = used.get(1).map(String::as_str).unwrap_or_default();
            if ["publication", "worker"].contains(&top) || used[0] == "bin" {
                found.push(format!("{name} uses {}", used.join("::")));
            }
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("\n#[cfg(test)]").next().unwrap();
        for read in [".output(\"", "outputs::", "[\"Outputs\"]["] {
            if code.contains(read) {
                found.push(format!("{name} reads a stack output by name ({read}…)"));
            }
        }
        // The engine names the stack that goes on in AWS (outcome::stack_to_follow); the command line
        // says which of its commands follows it. No command text, nor a way to pass one in.
        for command in [
            "botpub watch",
            "DEFAULT_PREFIX",
            "hint: &str",
            "Fn(&str) -> String",
        ] {
            if code.contains(command) {
                found.push(format!(
                    "{name} spells out or takes a command of the command line ({command})"
                ));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
