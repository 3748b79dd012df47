//! Reads the position tree into the spec file types, recording every problem instead of stopping at the first.
//!
//! This is a serde `Deserializer` over [`Node`]. Where a value has the wrong shape it records the problem
//! (with the field path and position) and hands the visitor a neutral placeholder, so reading goes on and
//! the user sees all problems in one run. Struct field names come from serde itself (`deserialize_struct`
//! receives them), so unknown fields are caught — with a suggestion — without a second list of names.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::diagnostic::{Collector, Severity};
use super::path::Path;
use super::yaml::{Entry, Node, Pos, Value};

/// Reads `root` as a `T`, recording problems in the shape of the file (wrong type, unknown field, unknown
/// enum value) in `collector`. Returns the value — `None` only when a problem could not be papered over —
/// and adds to `problems` the paths whose value had a problem, under which the rules should stay quiet
/// rather than repeat it.
pub fn read<T: DeserializeOwned>(
    root: &Node,
    collector: &mut Collector,
    problems: &mut HashSet<Path>,
) -> Option<T> {
    read_at(root, Path::root(), collector, problems)
}

/// [`read`] for a node that stands at `path` in the file.
pub fn read_at<T: DeserializeOwned>(
    node: &Node,
    path: Path,
    collector: &mut Collector,
    problems: &mut HashSet<Path>,
) -> Option<T> {
    let sink = RefCell::new(Sink {
        collector: &mut *collector,
        paths: problems,
    });
    T::deserialize(NodeDe {
        node,
        path,
        sink: &sink,
    })
    .ok()
}

/// Reports a key that the mapping at `mapping` does not have, suggesting the field it may be a
/// misspelling of. Nothing is read from it, so no rule can repeat it; but a misspelt field is the reason
/// its correct spelling is missing, so that path joins `problems`.
pub fn unknown_field(
    collector: &mut Collector,
    problems: &mut HashSet<Path>,
    mapping: &Path,
    key: &str,
    pos: Pos,
    fields: &[&str],
) {
    let message = format!("unknown field `{key}`");
    if !collector.keeps(pos) {
        collector.count_only(Severity::Error, &message);
        problems.extend(suggest(key, fields).map(|known| mapping.key(known)));
        return;
    }
    let known = suggest(key, fields);
    let hint = match known {
        Some(known) => format!("did you mean `{known}`?"),
        None => format!("known fields here: {}", fields.join(", ")),
    };
    collector.report(
        Severity::Error,
        pos,
        mapping.key(key).to_string(),
        message,
        Some(hint),
    );
    problems.extend(known.map(|known| mapping.key(known)));
}

/// Where problems go as they are found.
struct Sink<'c> {
    collector: &'c mut Collector,
    paths: &'c mut HashSet<Path>,
}

impl Sink<'_> {
    /// A value of the wrong shape at `path`.
    fn shape(&mut self, path: Path, pos: Pos, message: String, hint: Option<String>) {
        self.collector
            .report(Severity::Error, pos, path.to_string(), message, hint);
        self.paths.insert(path);
    }
}

/// The closest of `candidates` to `input`: a case-insensitive match, else a near spelling.
pub fn suggest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(input)) {
        return Some(same);
    }
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(input, c), *c))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, c)| c)
}

#[derive(Debug)]
enum Error {
    /// Already recorded in the sink; only unwinds.
    Recorded,
    /// Raised by a visitor; recorded by the node that called it.
    Custom(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Recorded => f.write_str("problem recorded"),
            Error::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: Path,
    sink: &'a RefCell<Sink<'a>>,
}

impl<'a> NodeDe<'a> {
    fn child(&self, node: &'a Node, path: Path) -> NodeDe<'a> {
        NodeDe {
            node,
            path,
            sink: self.sink,
        }
    }

    fn record(&self, path: Path, pos: Pos, message: String, hint: Option<String>) {
        self.sink.borrow_mut().shape(path, pos, message, hint);
    }

    fn mismatch(&self, expected: &str) {
        let hint = match (&self.node.value, expected) {
            (Value::Scalar { plain: false, .. }, "a number" | "a whole number") => {
                Some("remove the quotes around the number".to_string())
            }
            (Value::Scalar { text, .. }, "a list") if !self.node.is_null() => Some(format!(
                "write it as a list: [{}]",
                serde_json::Value::from(text.as_str())
            )),
            _ => None,
        };
        let message = format!("expected {expected}, found {}", self.node.describe());
        self.record(self.path.clone(), self.node.pos, message, hint);
    }

    /// Records a visitor's own complaint at this node, once.
    fn settle<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|error| {
            if let Error::Custom(message) = error {
                self.record(self.path.clone(), self.node.pos, message, None);
            }
            Error::Recorded
        })
    }

    /// The text of a non-null scalar, and whether it was written plain (unquoted).
    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.node.value {
            Value::Scalar { text, plain } if !self.node.is_null() => Some((text.as_str(), *plain)),
            _ => None,
        }
    }

    fn plain_scalar(&self) -> Option<&'a str> {
        self.scalar()
            .filter(|(_, plain)| *plain)
            .map(|(text, _)| text)
    }

    fn entries(&self, fields: Option<&'static [&'static str]>) -> Entries<'a> {
        let entries: &'a [Entry] = match &self.node.value {
            Value::Map(entries) => entries,
            _ => &[],
        };
        Entries {
            iter: entries.iter(),
            fields,
            current: None,
            path: self.path.clone(),
            sink: self.sink,
        }
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// YAML 1.2 core-schema integers: decimal, `0x` hex, `0o` octal, optional sign.
fn parse_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(octal) = digits.strip_prefix("0o") {
        i128::from_str_radix(octal, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Finite decimal numbers only: `.inf` and `.nan` are never meaningful in a spec.
fn parse_float(text: &str) -> Option<f64> {
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if let Some(int) = parse_int(text) {
        return Some(int as f64);
    }
    text.parse::<f64>()
        .ok()
        .filter(|n| looks_numeric && n.is_finite())
}

macro_rules! unsigned {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.unsigned(visitor)
        }
    )*};
}

impl NodeDe<'_> {
    fn unsigned<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let text = self.plain_scalar();
        let value = match text.map(|t| (parse_int(t), parse_float(t))) {
            Some((Some(n), _)) if n >= 0 && n <= u64::MAX as i128 => n as u64,
            Some((Some(n), _)) if n < 0 => {
                self.mismatch("a whole number of at least 0");
                0
            }
            Some((None, Some(_))) => {
                self.mismatch("a whole number");
                0
            }
            Some(_) => {
                self.mismatch("a whole number no larger than 18446744073709551615");
                0
            }
            None => {
                self.mismatch(if self.scalar().is_some() {
                    "a whole number"
                } else {
                    "a number"
                });
                0
            }
        };
        let result = visitor.visit_u64(value);
        self.settle(result)
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            _ if self.node.is_null() => visitor.visit_unit(),
            Value::Scalar { text, plain: true } => {
                if let Some(b) = parse_bool(text) {
                    visitor.visit_bool(b)
                } else if let Some(n) = parse_int(text).and_then(|n| i64::try_from(n).ok()) {
                    visitor.visit_i64(n)
                } else if let Some(n) = parse_float(text) {
                    visitor.visit_f64(n)
                } else {
                    visitor.visit_str(text)
                }
            }
            Value::Scalar { text, plain: false } => visitor.visit_str(text),
            Value::Seq(_) => return self.deserialize_seq(visitor),
            Value::Map(_) => return self.deserialize_map(visitor),
        };
        self.settle(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = self.plain_scalar().and_then(parse_bool).unwrap_or_else(|| {
            self.mismatch("true or false");
            false
        });
        let result = visitor.visit_bool(value);
        self.settle(result)
    }

    unsigned! { deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = self
            .plain_scalar()
            .and_then(parse_float)
            .unwrap_or_else(|| {
                self.mismatch("a number");
                0.0
            });
        let result = visitor.visit_f64(value);
        self.settle(result)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = self.scalar().map(|(text, _)| text).unwrap_or_else(|| {
            self.mismatch("a string");
            ""
        });
        let result = visitor.visit_str(value);
        self.settle(result)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            let result = visitor.visit_none();
            self.settle(result)
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = visitor.visit_unit();
        self.settle(result)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let items: &[std::rc::Rc<Node>] = match &self.node.value {
            Value::Seq(items) => items,
            _ => {
                self.mismatch("a list");
                &[]
            }
        };
        let result = visitor.visit_seq(Items {
            iter: items.iter().enumerate(),
            parent: &self,
        });
        self.settle(result)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if !matches!(self.node.value, Value::Map(_)) {
            self.mismatch("a mapping");
        }
        let result = visitor.visit_map(self.entries(None));
        self.settle(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if !matches!(self.node.value, Value::Map(_)) {
            self.mismatch(&format!("a mapping with {}", fields.join(", ")));
        }
        let result = visitor.visit_map(self.entries(Some(fields)));
        self.settle(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let text = self.scalar().map(|(text, _)| text);
        let chosen = match text {
            Some(text) if variants.contains(&text) => text,
            _ => {
                let listed = variants.join(", ");
                let (message, hint) = match text {
                    Some(text) => (
                        format!("unknown value `{text}`; expected one of {listed}"),
                        suggest(text, variants).map(|s| format!("did you mean `{s}`?")),
                    ),
                    None => (
                        format!("expected one of {listed}, found {}", self.node.describe()),
                        None,
                    ),
                };
                self.record(self.path.clone(), self.node.pos, message, hint);
                variants.first().copied().unwrap_or_default()
            }
        };
        let result = visitor.visit_enum(chosen.into_deserializer());
        self.settle(result)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u128 char bytes byte_buf unit_struct newtype_struct tuple tuple_struct identifier
    }
}

struct Items<'a, 'p> {
    iter: std::iter::Enumerate<std::slice::Iter<'a, std::rc::Rc<Node>>>,
    parent: &'p NodeDe<'a>,
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            Some((index, node)) => {
                let child = self.parent.child(node, self.parent.path.index(index));
                seed.deserialize(child).map(Some)
            }
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Entries<'a> {
    iter: std::slice::Iter<'a, Entry>,
    /// The struct's field names; `None` for a free-form map such as `tags`.
    fields: Option<&'static [&'static str]>,
    current: Option<&'a Entry>,
    path: Path,
    sink: &'a RefCell<Sink<'a>>,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for entry in self.iter.by_ref() {
            // The tree holds no unknown key, but an alias can put a mapping where other fields belong.
            if let Some(fields) = self
                .fields
                .filter(|fields| !fields.contains(&entry.key.as_str()))
            {
                let sink = &mut *self.sink.borrow_mut();
                unknown_field(
                    sink.collector,
                    sink.paths,
                    &self.path,
                    &entry.key,
                    entry.key_pos,
                    fields,
                );
                continue;
            }
            self.current = Some(entry);
            return seed
                .deserialize(entry.key.as_str().into_deserializer())
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let entry = self.current.take().ok_or(Error::Recorded)?;
        seed.deserialize(NodeDe {
            node: &entry.value,
            path: self.path.key(&entry.key),
            sink: self.sink,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::file::SpecFile;
    use crate::spec::guide::SpecGuide;
    use crate::spec::yaml;

    fn problems(text: &str) -> Vec<crate::spec::Diagnostic> {
        let mut collector = Collector::new("spec.yaml");
        let mut guide = SpecGuide::new(&mut collector);
        let doc = yaml::parse(text, &mut guide).unwrap();
        let mut problems = std::mem::take(&mut guide.problems);
        let _: Option<SpecFile> = read(doc.root.as_ref().unwrap(), &mut collector, &mut problems);
        collector.finish().shown
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let found = problems(
            "version: 1\nbots:\n  - id: a\n    throttle: {rate_limit: fast, burst_limt: 3}\n    quota: {limit: 5, period: month}\n    allowd_origins: []\n",
        );
        let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "bots[0].throttle.rate_limit",
                "bots[0].throttle.burst_limt",
                "bots[0].quota.period",
                "bots[0].allowd_origins"
            ]
        );
        assert_eq!(
            found[1].hint.as_deref(),
            Some("did you mean `burst_limit`?")
        );
        assert_eq!(found[2].hint.as_deref(), Some("did you mean `MONTH`?"));
        assert_eq!(
            found[3].hint.as_deref(),
            Some("did you mean `allowed_origins`?")
        );
        assert_eq!((found[1].line, found[1].column), (Some(4), Some(34)));
    }

    #[test]
    fn quoted_numbers_and_fractions_are_type_errors() {
        let found =
            problems("version: 1\nbots:\n  - throttle: {rate_limit: \"5\", burst_limit: 1.5}\n");
        assert_eq!(
            found[0].message,
            "expected a number, found the string \"5\""
        );
        assert_eq!(
            found[0].hint.as_deref(),
            Some("remove the quotes around the number")
        );
        assert_eq!(found[1].message, "expected a whole number, found `1.5`");
    }

    #[test]
    fn a_string_where_a_list_belongs_suggests_the_list() {
        let found = problems("version: 1\nbots:\n  - allowed_origins: https://a.example\n");
        assert_eq!(
            found[0].hint.as_deref(),
            Some("write it as a list: [\"https://a.example\"]")
        );
    }

    #[test]
    fn integers_follow_the_yaml_core_schema() {
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("-0o17"), Some(-15));
        assert_eq!(parse_int("1_000"), None);
        assert_eq!(parse_float(".inf"), None);
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_float("2.5e1"), Some(25.0));
    }
}
