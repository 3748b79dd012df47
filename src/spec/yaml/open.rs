//! The collections being built: a list or mapping whose end the parser has not reached yet, and how a
//! finished node joins it (kept, handed to the guide past the limit, or reported as a duplicate key).

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use super::{DuplicateKey, Entry, Guide, Node, Pos, SyntaxError, Value};
use crate::spec::path::{Path, Seg};

/// What a mapping does with its next value.
pub(super) enum Pending {
    /// The next node is a key.
    Key,
    /// The next node is the value of this key.
    Value(String, Pos),
    /// The next node is the value of an unknown key: parsed, not built.
    Skip,
}

/// A collection whose end event has not been seen yet.
pub(super) struct Open {
    pub(super) pos: Pos,
    pub(super) anchor: usize,
    pub(super) path: Path,
    /// Values built in it so far (for what an alias of it stands for).
    pub(super) size: usize,
    pub(super) past_limit: usize,
    pub(super) kind: OpenKind,
}

pub(super) enum OpenKind {
    Seq {
        keep: usize,
        items: Vec<Rc<Node>>,
    },
    Map {
        /// The keys it has; `None` for a free mapping such as `tags`.
        fields: Option<&'static [&'static str]>,
        keep: usize,
        entries: Vec<Entry>,
        /// Where each kept key was first seen, to find duplicates without a quadratic scan.
        seen: HashMap<String, Pos>,
        /// The same for keys past the limit, by a 64-bit hash of the key: their number is bounded only by
        /// the file's size, and a hash holds each in a few bytes.
        seen_past: HashMap<u64, Pos>,
        pending: Pending,
    },
}

impl Open {
    /// The path of the node it is waiting for.
    pub(super) fn child_path(&self) -> Option<Path> {
        match &self.kind {
            OpenKind::Seq { items, .. } => Some(self.path.index(items.len() + self.past_limit)),
            OpenKind::Map {
                pending: Pending::Value(key, _),
                ..
            } => Some(self.path.key(key)),
            OpenKind::Map { .. } => None,
        }
    }
}

pub(super) fn open_map(fields: Option<&'static [&'static str]>, keep: usize) -> OpenKind {
    OpenKind::Map {
        fields,
        keep,
        entries: Vec::new(),
        seen: HashMap::new(),
        seen_past: HashMap::new(),
        pending: Pending::Key,
    }
}

/// Whether the innermost mapping is waiting for the value of an unknown key.
pub(super) fn skips_value(stack: &[Open]) -> bool {
    matches!(
        stack.last().map(|open| &open.kind),
        Some(OpenKind::Map {
            pending: Pending::Skip,
            ..
        })
    )
}

pub(super) fn end_skipped_value(stack: &mut [Open]) {
    if let Some(Open {
        kind: OpenKind::Map { pending, .. },
        ..
    }) = stack.last_mut()
    {
        *pending = Pending::Key;
    }
}

/// Adds a finished node to the collection it belongs to.
pub(super) fn add(
    top: &mut Open,
    node: Rc<Node>,
    size: usize,
    guide: &mut impl Guide,
) -> Result<(), SyntaxError> {
    match &mut top.kind {
        OpenKind::Seq { keep, items } => {
            if items.len() < *keep {
                items.push(node);
                top.size += size;
            } else {
                let index = items.len() + top.past_limit;
                guide.past_limit(&top.path, Seg::Index(index), &node);
                top.past_limit += 1;
            }
        }
        OpenKind::Map {
            fields,
            keep,
            entries,
            seen,
            seen_past,
            pending,
        } => match std::mem::replace(pending, Pending::Key) {
            Pending::Key => {
                let Value::Scalar { text, .. } = &node.value else {
                    return Err(SyntaxError {
                        pos: node.pos,
                        message: "a mapping key must be a plain string, not a list or mapping"
                            .to_string(),
                    });
                };
                *pending = match fields {
                    Some(fields) if !fields.contains(&text.as_str()) => {
                        guide.unknown_key(&top.path, text, node.pos, fields);
                        Pending::Skip
                    }
                    _ => Pending::Value(text.clone(), node.pos),
                };
            }
            Pending::Value(key, key_pos) => {
                let hash = || {
                    let mut hasher = DefaultHasher::new();
                    key.hash(&mut hasher);
                    hasher.finish()
                };
                let first = seen.get(&key).or_else(|| seen_past.get(&hash())).copied();
                if let Some(first) = first {
                    guide.duplicate(DuplicateKey {
                        path: top.path.clone(),
                        key,
                        pos: key_pos,
                        first,
                    });
                } else if entries.len() < *keep {
                    seen.insert(key.clone(), key_pos);
                    entries.push(Entry {
                        key,
                        key_pos,
                        value: node,
                    });
                    top.size += size + 1;
                } else {
                    seen_past.insert(hash(), key_pos);
                    guide.past_limit(&top.path, Seg::Key(key), &node);
                    top.past_limit += 1;
                }
            }
            Pending::Skip => {}
        },
    }
    Ok(())
}
