//! A YAML document as a tree whose every node knows where it came from.
//!
//! serde_yaml reports the position of the first error only; botpub reports every problem in a spec with its
//! line and column, so it parses into this tree first. The tree is built iteratively from the parser's
//! events (no recursion, so deep nesting cannot overflow the stack), rejects duplicate keys, and shares
//! aliased nodes instead of copying them (so alias bombs stay small).

use std::collections::HashMap;
use std::rc::Rc;

use yaml_rust2::parser::{Event, Parser};

use super::path::{Path, Seg};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deeper nesting than this is never a spec; refusing it bounds the work done on hostile input.
const MAX_DEPTH: usize = 64;

/// The tree holds at most this many values. The largest real spec holds a few tens of thousands (the
/// longest lists are 10,000 IP ranges per family); past this, memory would grow with the input, so the rest
/// of the file is only checked as YAML.
pub const MAX_VALUES: usize = 50_000;

/// A 1-based line and column in the spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    // 32 bits: a spec is at most 10 MiB, and the tree holds a position for every value.
    pub line: u32,
    pub column: u32,
}

impl Pos {
    fn from_marker(mark: &Marker) -> Pos {
        Pos {
            line: mark.line() as u32,
            column: mark.col() as u32 + 1,
        }
    }
}

#[derive(Debug)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug)]
pub enum Value {
    /// A scalar; `plain` is false when it was quoted or a block scalar, so `"50"` stays a string.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Rc<Node>>),
    Map(Vec<Entry>),
}

#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Rc<Node>,
}

impl Node {
    /// A null: `~`, `null`, or nothing at all.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What the node is, in words, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.value {
            _ if self.is_null() => "nothing (null)".to_string(),
            Value::Scalar { text, plain } => {
                let shown: String = text.chars().take(40).collect();
                let ellipsis = if shown.len() < text.len() { "…" } else { "" };
                if *plain {
                    format!("`{shown}{ellipsis}`")
                } else {
                    format!("the string \"{shown}{ellipsis}\"")
                }
            }
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        }
    }
}

/// A syntax error: the file is not YAML botpub can read.
#[derive(Debug)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Problems found while building the tree that do not stop it (duplicate keys).
#[derive(Debug)]
pub struct DuplicateKey {
    /// Path of the mapping that holds the key twice.
    pub path: Path,
    pub key: String,
    pub pos: Pos,
    pub first: Pos,
}

pub struct Document {
    /// `None` for an empty file.
    pub root: Option<Rc<Node>>,
    /// Where the tree stopped taking values, when the file holds more than [`MAX_VALUES`].
    pub cut: Option<Cut>,
}

/// Where the tree stopped: the first value it did not take.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub pos: Pos,
    /// The mappings that were open at the cut, whose later fields are not in the tree.
    pub mappings: Vec<Path>,
}

/// Counts the values of the tree — an alias as everything it stands for, since reading walks it again —
/// and notes where they pass [`MAX_VALUES`].
#[derive(Default)]
struct Budget {
    values: usize,
    cut: Option<(Pos, Vec<Path>)>,
}

impl Budget {
    /// Takes `n` more values at `pos`; false once past the limit, noting the first such place.
    fn take(&mut self, n: usize, pos: Pos, stack: &[Open]) -> bool {
        self.values += n;
        if self.values <= MAX_VALUES {
            return true;
        }
        self.cut.get_or_insert_with(|| (pos, open_mappings(stack)));
        false
    }
}

/// A collection whose end event has not been seen yet.
enum Open {
    Seq {
        pos: Pos,
        anchor: usize,
        /// The budget's count before this collection, to know how many values it holds.
        start: usize,
        items: Vec<Rc<Node>>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        start: usize,
        entries: Vec<Entry>,
        /// Where each key was first seen, to find duplicates without a quadratic scan.
        seen: HashMap<String, Pos>,
        /// A key waiting for its value.
        pending_key: Option<(String, Pos)>,
    },
}

/// Builds the tree of `text`, handing each duplicate key to `on_duplicate` as it is found (the first
/// occurrence is kept in the tree).
pub fn parse(
    text: &str,
    mut on_duplicate: impl FnMut(DuplicateKey),
) -> Result<Document, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    // Each anchored node with the number of values it holds.
    let mut anchors: HashMap<usize, (Rc<Node>, usize)> = HashMap::new();
    let mut root: Option<Rc<Node>> = None;
    let mut documents = 0;
    let mut budget = Budget::default();
    // Collections opened after the cut and not closed yet: they are parsed, not built.
    let mut skipped = 0;

    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| syntax_error(text, e.marker(), e.info()))?;
        let pos = Pos::from_marker(&mark);
        // The node, its anchor (0 for none) and how many values it holds.
        let finished: Option<(Rc<Node>, usize, usize)> = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        pos,
                        message:
                            "a spec file holds exactly one YAML document; remove the second `---`"
                                .to_string(),
                    });
                }
                None
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => None,
            Event::Alias(_) if budget.cut.is_some() => None,
            Event::Alias(id) => match anchors.get(&id) {
                Some((node, size)) => budget
                    .take(*size, pos, &stack)
                    .then(|| (node.clone(), 0, *size)),
                None => {
                    return Err(SyntaxError {
                        pos,
                        message: "alias to an unknown anchor".to_string(),
                    });
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                reject_tag(tag.as_ref(), pos)?;
                if !budget.take(1, pos, &stack) {
                    continue;
                }
                let node = Node {
                    pos,
                    value: Value::Scalar {
                        text,
                        plain: style == TScalarStyle::Plain,
                    },
                };
                Some((Rc::new(node), anchor, 1))
            }
            Event::SequenceStart(anchor, tag) => {
                open(stack.len() + skipped, pos, tag.as_ref())?;
                let start = budget.values;
                if !budget.take(1, pos, &stack) {
                    skipped += 1;
                    continue;
                }
                stack.push(Open::Seq {
                    pos,
                    anchor,
                    start,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, tag) => {
                open(stack.len() + skipped, pos, tag.as_ref())?;
                let start = budget.values;
                if !budget.take(1, pos, &stack) {
                    skipped += 1;
                    continue;
                }
                stack.push(Open::Map {
                    pos,
                    anchor,
                    start,
                    entries: Vec::new(),
                    seen: HashMap::new(),
                    pending_key: None,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd if skipped > 0 => {
                skipped -= 1;
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq {
                    pos,
                    anchor,
                    start,
                    items,
                }) => Some((
                    Rc::new(Node {
                        pos,
                        value: Value::Seq(items),
                    }),
                    anchor,
                    budget.values - start,
                )),
                Some(Open::Map {
                    pos,
                    anchor,
                    start,
                    entries,
                    ..
                }) => {
                    // A block mapping's start mark comes after its first key is scanned; the key is
                    // where a reader looks for the mapping.
                    let pos = entries.first().map_or(pos, |first| pos.min(first.key_pos));
                    Some((
                        Rc::new(Node {
                            pos,
                            value: Value::Map(entries),
                        }),
                        anchor,
                        budget.values - start,
                    ))
                }
                None => None,
            },
        };

        let Some((node, anchor, size)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), size));
        }
        let Some((top, ancestors)) = stack.split_last_mut() else {
            root = Some(node);
            continue;
        };
        match top {
            Open::Seq { items, .. } => items.push(node),
            Open::Map {
                entries,
                seen,
                pending_key,
                ..
            } => match pending_key.take() {
                None => {
                    let Value::Scalar { text, .. } = &node.value else {
                        return Err(SyntaxError {
                            pos: node.pos,
                            message: "a mapping key must be a plain string, not a list or mapping"
                                .to_string(),
                        });
                    };
                    *pending_key = Some((text.clone(), node.pos));
                }
                Some((key, key_pos)) => {
                    if let Some(&first) = seen.get(&key) {
                        on_duplicate(DuplicateKey {
                            path: ancestors.iter().filter_map(open_seg).collect(),
                            key,
                            pos: key_pos,
                            first,
                        });
                    } else {
                        seen.insert(key.clone(), key_pos);
                        entries.push(Entry {
                            key,
                            key_pos,
                            value: node,
                        });
                    }
                }
            },
        }
    }
    Ok(Document {
        root: root.filter(|node| !node.is_null()),
        cut: budget.cut.map(|(pos, mappings)| Cut { pos, mappings }),
    })
}

/// A parser error at its position. At the end of the input yaml-rust2 can count a trailing run of
/// multi-byte characters more than once (`" ééé"` ends at column 7), so the column is kept within its line.
fn syntax_error(text: &str, mark: &Marker, info: &str) -> SyntaxError {
    let mut pos = Pos::from_marker(mark);
    // Lines as YAML counts them: CR, LF and CRLF each end one.
    let line = text
        .split('\n')
        .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
        .nth(pos.line.saturating_sub(1) as usize);
    if let Some(line) = line {
        pos.column = pos.column.min(line.chars().count() as u32 + 1);
    }
    SyntaxError {
        pos,
        message: info.to_string(),
    }
}

/// Checks that a new collection may be opened here.
fn open(depth: usize, pos: Pos, tag: Option<&yaml_rust2::parser::Tag>) -> Result<(), SyntaxError> {
    reject_tag(tag, pos)?;
    if depth >= MAX_DEPTH {
        return Err(SyntaxError {
            pos,
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    Ok(())
}

/// The paths of the open mappings, outermost first.
fn open_mappings(stack: &[Open]) -> Vec<Path> {
    (0..stack.len())
        .filter(|&depth| matches!(stack[depth], Open::Map { .. }))
        .map(|depth| stack[..depth].iter().filter_map(open_seg).collect())
        .collect()
}

/// Where an open collection is placing the node being built, for naming where a duplicate sits.
fn open_seg(open: &Open) -> Option<Seg> {
    match open {
        Open::Map { pending_key, .. } => pending_key.as_ref().map(|(key, _)| Seg::Key(key.clone())),
        Open::Seq { items, .. } => Some(Seg::Index(items.len())),
    }
}

fn reject_tag(tag: Option<&yaml_rust2::parser::Tag>, pos: Pos) -> Result<(), SyntaxError> {
    match tag {
        // `!!str` and friends are the standard schema's own tags; custom tags like `!Ref` are not spec syntax.
        Some(tag) if tag.handle != "tag:yaml.org,2002:" && tag.handle != "!!" => Err(SyntaxError {
            pos,
            message: format!(
                "YAML tag `{}{}` is not supported in a spec",
                tag.handle, tag.suffix
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let doc = parse("a: 1\nb:\n  c: x\n", |_| {}).unwrap();
        let Value::Map(entries) = &doc.root.unwrap().value else {
            panic!("not a map")
        };
        assert_eq!(entries[1].key_pos, Pos { line: 2, column: 1 });
        let Value::Map(inner) = &entries[1].value.value else {
            panic!("not a map")
        };
        assert_eq!(inner[0].value.pos, Pos { line: 3, column: 6 });
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_positions() {
        let mut duplicates = Vec::new();
        parse("bots:\n  - id: a\n    id: b\n", |d| duplicates.push(d)).unwrap();
        assert_eq!(duplicates.len(), 1);
        let dup = &duplicates[0];
        assert_eq!(dup.key, "id");
        assert_eq!(dup.path.to_string(), "bots[0]");
        assert_eq!((dup.pos.line, dup.first.line), (3, 2));
    }

    #[test]
    fn quoted_scalars_are_not_plain() {
        let doc = parse("a: \"50\"\nb: 50\n", |_| {}).unwrap();
        let Value::Map(entries) = &doc.root.unwrap().value else {
            panic!("not a map")
        };
        assert!(matches!(
            entries[0].value.value,
            Value::Scalar { plain: false, .. }
        ));
        assert!(matches!(
            entries[1].value.value,
            Value::Scalar { plain: true, .. }
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(100_000);
        assert!(parse(&text, |_| {}).is_err());
        let block: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        let err = parse(&block, |_| {}).err().expect("too deep");
        assert!(err.message.contains("nesting"), "{}", err.message);
    }

    #[test]
    fn aliases_are_shared_not_copied() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..30 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&text, |_| {}).is_ok());
    }

    #[test]
    fn a_syntax_error_at_the_end_stays_on_its_line() {
        let err = parse(":\n|\n ééé", |_| {}).err().expect("not YAML");
        assert_eq!(err.pos, Pos { line: 3, column: 5 });
        let err = parse(":\r|\r\n ééé", |_| {}).err().expect("not YAML");
        assert_eq!(err.pos, Pos { line: 3, column: 5 });
    }

    #[test]
    fn second_document_is_refused() {
        assert!(parse("a: 1\n---\nb: 2\n", |_| {}).is_err());
    }

    #[test]
    fn empty_file_has_no_root() {
        assert!(parse("", |_| {}).unwrap().root.is_none());
        assert!(parse("# only a comment\n", |_| {}).unwrap().root.is_none());
    }

    #[test]
    fn the_tree_stops_taking_values_past_the_limit() {
        let items: String = (0..MAX_VALUES + 5)
            .map(|i| format!("    - o{i}\n"))
            .collect();
        let text = format!("bots:\n  - id: a\n    allowed_origins:\n{items}    stage: x\n");
        let doc = parse(&text, |_| {}).unwrap();
        let cut = doc.cut.expect("cut");
        // Eight values come first (the root mapping, `bots`, the list, the bot, `id`, `a`,
        // `allowed_origins`, the origins list), and the first origin is on line 4.
        assert_eq!(cut.pos.line as usize, 4 + MAX_VALUES - 8);
        let paths: Vec<String> = cut.mappings.iter().map(Path::to_string).collect();
        assert_eq!(paths, ["(top level)", "bots[0]"]);
    }

    #[test]
    fn an_alias_counts_as_what_it_stands_for() {
        let list: String = (0..1000).map(|i| format!("o{i},")).collect();
        let aliases = "- *x\n".repeat(MAX_VALUES / 1000 + 1);
        let text = format!("- &x [{list}]\n{aliases}");
        let doc = parse(&text, |_| {}).unwrap();
        assert!(doc.cut.is_some());
        assert!(
            parse(&format!("- &x [{list}]\n- *x\n"), |_| {})
                .unwrap()
                .cut
                .is_none()
        );
    }
}
