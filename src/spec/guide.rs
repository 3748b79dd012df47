//! What the tree builder keeps of a spec file, and the checks of what it lets go.
//!
//! The guide answers `yaml`'s questions from the file types' [`Shape`] and the limits of `validate`: the
//! fields a mapping has (another key is reported here and its value never built), and how many items of
//! each list the tree keeps. An item past its list's limit is checked on its own as soon as it is built,
//! then dropped, so memory stays bounded while every problem is still counted.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::diagnostic::{Collector, Severity};
use super::file::SpecFile;
use super::path::{Path, Seg};
use super::read;
use super::shape::Shape;
use super::validate;
use super::yaml::{
    DuplicateKey, Expect, Guide, MAX_ALIASED_VALUES, MAX_ANCHORED_VALUES, Node, Pos, Unread,
};

pub struct SpecGuide<'c> {
    shape: &'static Shape,
    collector: &'c mut Collector,
    /// Paths with a problem found while building the tree, under which the rules stay quiet.
    pub problems: HashSet<Path>,
}

impl<'c> SpecGuide<'c> {
    pub fn new(collector: &'c mut Collector) -> SpecGuide<'c> {
        static SHAPE: OnceLock<Shape> = OnceLock::new();
        SpecGuide {
            shape: SHAPE.get_or_init(Shape::of::<SpecFile>),
            collector,
            problems: HashSet::new(),
        }
    }
}

impl Guide for SpecGuide<'_> {
    fn expect(&self, path: &Path) -> Expect {
        match self.shape.at(path) {
            Some(Shape::Fields(names, _)) => Expect::Fields(names),
            Some(Shape::List(_)) => Expect::List {
                keep: validate::limit(path).unwrap_or(0),
            },
            Some(Shape::Map(_)) => Expect::Map {
                keep: validate::limit(path).unwrap_or(0),
            },
            Some(Shape::Scalar) | None => Expect::Scalar,
        }
    }

    fn unknown_key(
        &mut self,
        mapping: &Path,
        key: &str,
        pos: Pos,
        fields: &'static [&'static str],
    ) {
        read::unknown_field(
            self.collector,
            &mut self.problems,
            mapping,
            key,
            pos,
            fields,
        );
    }

    fn duplicate(&mut self, dup: DuplicateKey) {
        let path = dup.path.key(&dup.key).to_string();
        let message = format!(
            "duplicate key `{}` (first at line {})",
            dup.key, dup.first.line
        );
        let hint = Some("remove one of them".to_string());
        self.collector
            .report(Severity::Error, dup.pos, path, message, hint);
    }

    fn past_limit(&mut self, collection: &Path, at: Seg, node: &Node) {
        validate::past_limit(collection, at, node, self.collector);
    }

    fn unread_alias(&mut self, path: &Path, pos: Pos, why: Unread) {
        let message = match why {
            Unread::Skipped => {
                "this alias stands for a value botpub does not read (under an unknown \
                 field, or a list or mapping where one value belongs)"
                    .to_string()
            }
            Unread::TooManyAnchors => format!(
                "this alias comes after anchors holding more than {MAX_ANCHORED_VALUES} values; botpub keeps no more of them"
            ),
            Unread::TooManyValues => format!(
                "the aliases up to here stand for more than {MAX_ALIASED_VALUES} values; botpub reads no more of them"
            ),
        };
        let hint = Some("write the value out here instead of the alias".to_string());
        self.collector
            .report(Severity::Error, pos, path.to_string(), message, hint);
        self.problems.insert(path.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every list and free mapping of the format has a limit: without one the tree would keep none of its
    /// items and no check would read them.
    #[test]
    fn every_list_of_the_format_has_a_limit() {
        fn walk(shape: &Shape, path: Path, lists: &mut Vec<Path>) {
            match shape {
                Shape::Fields(names, shapes) => {
                    for (name, shape) in names.iter().zip(shapes) {
                        walk(shape, path.key(name), lists);
                    }
                }
                Shape::List(item) => {
                    lists.push(path.clone());
                    walk(item, path.index(0), lists);
                }
                Shape::Map(value) => {
                    lists.push(path.clone());
                    walk(value, path.key("key"), lists);
                }
                Shape::Scalar => {}
            }
        }
        let mut lists = Vec::new();
        walk(&Shape::of::<SpecFile>(), Path::root(), &mut lists);
        assert!(lists.len() >= 7, "{lists:?}");
        for list in lists {
            assert!(validate::limit(&list).is_some(), "{list} has no limit");
        }
    }
}
