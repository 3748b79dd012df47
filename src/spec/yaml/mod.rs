//! A YAML document as a tree whose every node knows where it came from.
//!
//! serde_yaml reports the position of the first error only; botpub reports every problem in a spec with its
//! line and column, so it parses into this tree first. The tree is built iteratively from the parser's
//! events (no recursion, so deep nesting cannot overflow the stack), rejects duplicate keys, and shares
//! aliased nodes instead of copying them (so alias bombs stay small).
//!
//! A [`Guide`] that knows the file's format says what each place holds, so that the tree keeps only what
//! will be read and its size stays bounded whatever the input: an unknown key's value is parsed but not
//! built, a list or mapping where one value belongs is kept empty, and the items of a list past its limit
//! are handed to the guide one by one as they are built, then dropped.

use std::collections::HashMap;
use std::rc::Rc;

use yaml_rust2::parser::{Event, Parser};

use super::path::{Path, Seg};
use open::{Open, OpenKind, add, end_skipped_value, open_map, skips_value};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deeper nesting than this is never a spec; refusing it bounds the work done on hostile input.
const MAX_DEPTH: usize = 64;

/// Values that anchored nodes may hold in all: they are kept for later aliases, even where the tree itself
/// lets an item go (past its list's limit).
pub const MAX_ANCHORED_VALUES: usize = 100_000;

/// Values that aliases may stand for in all: reading walks an aliased value once per alias, so this bounds
/// the work an alias bomb makes.
pub const MAX_ALIASED_VALUES: usize = 1_000_000;

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
    /// Items (or entries) of this list (or mapping) past the guide's limit: handed over, not kept.
    pub past_limit: usize,
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
    fn new(pos: Pos, value: Value) -> Node {
        Node {
            pos,
            value,
            past_limit: 0,
        }
    }

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

/// A key given twice in one mapping (the first is kept).
#[derive(Debug)]
pub struct DuplicateKey {
    /// Path of the mapping that holds the key twice.
    pub path: Path,
    pub key: String,
    pub pos: Pos,
    pub first: Pos,
}

/// What the file's format holds at a place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// A mapping with these keys; another key goes to [`Guide::unknown_key`] and its value is not built.
    Fields(&'static [&'static str]),
    /// A list of which the first `keep` items are kept; later ones go to [`Guide::past_limit`].
    List { keep: usize },
    /// A mapping of any keys, of which the first `keep` entries are kept; later ones go to the guide.
    Map { keep: usize },
    /// One value: a list or mapping here is kept empty (enough to say what it is), its contents unread.
    Scalar,
}

/// Why an alias was not given its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unread {
    /// The anchored value lies where botpub reads nothing (an unknown key's value, a list or mapping where
    /// one value belongs).
    Skipped,
    /// The anchors before it hold [`MAX_ANCHORED_VALUES`] values already.
    TooManyAnchors,
    /// The aliases before it stand for [`MAX_ALIASED_VALUES`] values already.
    TooManyValues,
}

/// Knows the file's format: what each place holds, and what to do with what the tree does not keep.
pub trait Guide {
    fn expect(&self, path: &Path) -> Expect;
    /// A key that the mapping at `mapping` does not have; `fields` are those it has.
    fn unknown_key(&mut self, mapping: &Path, key: &str, pos: Pos, fields: &'static [&'static str]);
    fn duplicate(&mut self, duplicate: DuplicateKey);
    /// An item (`at` an index) or entry (`at` a key) of the collection at `collection`, past its limit.
    fn past_limit(&mut self, collection: &Path, at: Seg, node: &Node);
    /// An alias at `path` that stands for nothing here (it reads as null).
    fn unread_alias(&mut self, path: &Path, pos: Pos, why: Unread);
}

pub struct Document {
    /// `None` for an empty file.
    pub root: Option<Rc<Node>>,
}

/// An anchored value, for later aliases.
enum Anchored {
    Kept(Rc<Node>, usize),
    Unread(Unread),
}

/// Values parsed but not built: the contents of a collection left empty, or an unknown key's value.
struct Skipping {
    depth: usize,
    /// The empty node that stands for the skipped collection; `None` for an unknown key's value.
    then: Option<(Pos, bool)>,
    /// Where its first item or key is: a block mapping is found by its first key.
    first: Option<Pos>,
}

/// Builds the tree of `text` as `guide` directs.
pub fn parse(text: &str, guide: &mut impl Guide) -> Result<Document, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Anchored> = HashMap::new();
    let mut anchored_values = 0;
    let mut aliased = 0;
    let mut root: Option<Rc<Node>> = None;
    let mut documents = 0;
    let mut skipping: Option<Skipping> = None;

    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| syntax_error(text, e.marker(), e.info()))?;
        let pos = Pos::from_marker(&mark);
        let depth = stack.len() + skipping.as_ref().map_or(0, |s| s.depth);
        let is_map = matches!(event, Event::MappingStart(..));
        if let Some(skip) = &mut skipping {
            if skip.depth == 1 && skip.first.is_none() {
                skip.first = Some(pos);
            }
            match &event {
                Event::Scalar(_, _, anchor, tag) => {
                    reject_tag(tag.as_ref(), pos)?;
                    unread_anchor(&mut anchors, *anchor);
                }
                Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                    open(depth, pos, tag.as_ref())?;
                    unread_anchor(&mut anchors, *anchor);
                    skip.depth += 1;
                }
                Event::SequenceEnd | Event::MappingEnd => skip.depth -= 1,
                _ => {}
            }
            if skip.depth > 0 {
                continue;
            }
        }
        // A node that is complete: the node, its anchor (0 for none) and how many values it holds.
        let finished: Option<(Rc<Node>, usize, usize)> = match event {
            _ if skipping.is_some() => match skipping.take().and_then(|s| Some((s.then?, s.first)))
            {
                Some(((pos, is_map), first)) => {
                    let pos = match first {
                        Some(first) if is_map => pos.min(first),
                        _ => pos,
                    };
                    let value = if is_map {
                        Value::Map(Vec::new())
                    } else {
                        Value::Seq(Vec::new())
                    };
                    Some((Rc::new(Node::new(pos, value)), 0, 1))
                }
                None => {
                    end_skipped_value(&mut stack);
                    None
                }
            },
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
            _ if skips_value(&stack) => {
                match &event {
                    Event::Scalar(_, _, anchor, tag) => {
                        reject_tag(tag.as_ref(), pos)?;
                        unread_anchor(&mut anchors, *anchor);
                        end_skipped_value(&mut stack);
                    }
                    Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                        open(depth, pos, tag.as_ref())?;
                        unread_anchor(&mut anchors, *anchor);
                        skipping = Some(Skipping {
                            depth: 1,
                            then: None,
                            first: None,
                        });
                    }
                    _ => end_skipped_value(&mut stack),
                }
                None
            }
            Event::Alias(id) => {
                let unread = match anchors.get(&id) {
                    None => {
                        return Err(SyntaxError {
                            pos,
                            message: "alias to an unknown anchor".to_string(),
                        });
                    }
                    Some(Anchored::Kept(node, size)) if aliased + size <= MAX_ALIASED_VALUES => {
                        aliased += size;
                        Ok((node.clone(), *size))
                    }
                    Some(Anchored::Kept(..)) => Err(Unread::TooManyValues),
                    Some(Anchored::Unread(why)) => Err(*why),
                };
                match unread {
                    Ok((node, size)) => Some((node, 0, size)),
                    Err(why) => {
                        let path = stack.last().map_or_else(Path::root, |top| {
                            top.child_path().unwrap_or_else(|| top.path.clone())
                        });
                        guide.unread_alias(&path, pos, why);
                        let null = Value::Scalar {
                            text: String::new(),
                            plain: true,
                        };
                        Some((Rc::new(Node::new(pos, null)), 0, 1))
                    }
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                reject_tag(tag.as_ref(), pos)?;
                let value = Value::Scalar {
                    text,
                    plain: style == TScalarStyle::Plain,
                };
                Some((Rc::new(Node::new(pos, value)), anchor, 1))
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                open(depth, pos, tag.as_ref())?;
                let path = match stack.last() {
                    Some(top) => top.child_path().unwrap_or_default(),
                    None => Path::root(),
                };
                let kind = match (guide.expect(&path), is_map) {
                    (Expect::List { keep }, false) => Some(OpenKind::Seq {
                        keep,
                        items: Vec::new(),
                    }),
                    (Expect::Fields(fields), true) => Some(open_map(Some(fields), usize::MAX)),
                    (Expect::Map { keep }, true) => Some(open_map(None, keep)),
                    _ => None,
                };
                match kind {
                    Some(kind) => stack.push(Open {
                        pos,
                        anchor,
                        path,
                        size: 1,
                        past_limit: 0,
                        kind,
                    }),
                    None => {
                        unread_anchor(&mut anchors, anchor);
                        skipping = Some(Skipping {
                            depth: 1,
                            then: Some((pos, is_map)),
                            first: None,
                        });
                    }
                }
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|open| {
                let (pos, value) = match open.kind {
                    OpenKind::Seq { items, .. } => (open.pos, Value::Seq(items)),
                    OpenKind::Map { entries, .. } => {
                        // A block mapping's start mark comes after its first key is scanned; the key is
                        // where a reader looks for the mapping.
                        let pos = entries
                            .first()
                            .map_or(open.pos, |first| open.pos.min(first.key_pos));
                        (pos, Value::Map(entries))
                    }
                };
                let node = Node {
                    pos,
                    value,
                    past_limit: open.past_limit,
                };
                (Rc::new(node), open.anchor, open.size)
            }),
        };

        let Some((node, anchor, size)) = finished else {
            continue;
        };
        if anchor != 0 {
            let anchored = if anchored_values + size <= MAX_ANCHORED_VALUES {
                anchored_values += size;
                Anchored::Kept(node.clone(), size)
            } else {
                Anchored::Unread(Unread::TooManyAnchors)
            };
            anchors.insert(anchor, anchored);
        }
        let Some(top) = stack.last_mut() else {
            root = Some(node);
            continue;
        };
        add(top, node, size, guide)?;
    }
    Ok(Document {
        root: root.filter(|node| !node.is_null()),
    })
}

fn unread_anchor(anchors: &mut HashMap<usize, Anchored>, anchor: usize) {
    if anchor != 0 {
        anchors.insert(anchor, Anchored::Unread(Unread::Skipped));
    }
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

mod open;
#[cfg(test)]
mod tests;
