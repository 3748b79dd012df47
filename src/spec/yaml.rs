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

/// A 1-based line and column in the spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_marker(mark: &Marker) -> Pos {
        Pos {
            line: mark.line(),
            column: mark.col() + 1,
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
    pub duplicates: Vec<DuplicateKey>,
}

/// A collection whose end event has not been seen yet.
enum Open {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Rc<Node>>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        /// Where each key was first seen, to find duplicates without a quadratic scan.
        seen: HashMap<String, Pos>,
        /// A key waiting for its value.
        pending_key: Option<(String, Pos)>,
    },
}

pub fn parse(text: &str) -> Result<Document, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Rc<Node>> = HashMap::new();
    let mut duplicates = Vec::new();
    let mut root: Option<Rc<Node>> = None;
    let mut documents = 0;

    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| syntax_error(text, e.marker(), e.info()))?;
        let pos = Pos::from_marker(&mark);
        let finished: Option<(Rc<Node>, usize)> = match event {
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
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => Some((node.clone(), 0)),
                None => {
                    return Err(SyntaxError {
                        pos,
                        message: "alias to an unknown anchor".to_string(),
                    });
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                reject_tag(tag.as_ref(), pos)?;
                let node = Node {
                    pos,
                    value: Value::Scalar {
                        text,
                        plain: style == TScalarStyle::Plain,
                    },
                };
                Some((Rc::new(node), anchor))
            }
            Event::SequenceStart(anchor, tag) => {
                open(&stack, pos, tag.as_ref())?;
                stack.push(Open::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, tag) => {
                open(&stack, pos, tag.as_ref())?;
                stack.push(Open::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    seen: HashMap::new(),
                    pending_key: None,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq { pos, anchor, items }) => Some((
                    Rc::new(Node {
                        pos,
                        value: Value::Seq(items),
                    }),
                    anchor,
                )),
                Some(Open::Map {
                    pos,
                    anchor,
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
                    ))
                }
                None => None,
            },
        };

        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
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
                        duplicates.push(DuplicateKey {
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
        duplicates,
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
        .nth(pos.line.saturating_sub(1));
    if let Some(line) = line {
        pos.column = pos.column.min(line.chars().count() + 1);
    }
    SyntaxError {
        pos,
        message: info.to_string(),
    }
}

/// Checks that a new collection may be opened here.
fn open(
    stack: &[Open],
    pos: Pos,
    tag: Option<&yaml_rust2::parser::Tag>,
) -> Result<(), SyntaxError> {
    reject_tag(tag, pos)?;
    if stack.len() >= MAX_DEPTH {
        return Err(SyntaxError {
            pos,
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    Ok(())
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
        let doc = parse("a: 1\nb:\n  c: x\n").unwrap();
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
        let doc = parse("bots:\n  - id: a\n    id: b\n").unwrap();
        assert_eq!(doc.duplicates.len(), 1);
        let dup = &doc.duplicates[0];
        assert_eq!(dup.key, "id");
        assert_eq!(dup.path.to_string(), "bots[0]");
        assert_eq!((dup.pos.line, dup.first.line), (3, 2));
    }

    #[test]
    fn quoted_scalars_are_not_plain() {
        let doc = parse("a: \"50\"\nb: 50\n").unwrap();
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
        assert!(parse(&text).is_err());
        let block: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        let err = parse(&block).err().expect("too deep");
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
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn a_syntax_error_at_the_end_stays_on_its_line() {
        let err = parse(":\n|\n ééé").err().expect("not YAML");
        assert_eq!(err.pos, Pos { line: 3, column: 5 });
        let err = parse(":\r|\r\n ééé").err().expect("not YAML");
        assert_eq!(err.pos, Pos { line: 3, column: 5 });
    }

    #[test]
    fn second_document_is_refused() {
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn empty_file_has_no_root() {
        assert!(parse("").unwrap().root.is_none());
        assert!(parse("# only a comment\n").unwrap().root.is_none());
    }
}
