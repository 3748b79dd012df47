//! The shape of the spec format as serde sees the file types: which places hold mappings with which
//! fields, lists, free mappings or single values.
//!
//! It is read off the types themselves, by deserializing one of each with a deserializer that records what
//! each type asks for, so the tree builder (`yaml`) knows what to keep without a second description of the
//! format that could drift from `file`.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::path::{Path, Seg};

#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A struct: its fields with their shapes, in declaration order.
    Fields(&'static [&'static str], Vec<Shape>),
    List(Box<Shape>),
    /// A mapping of any keys, such as `tags`.
    Map(Box<Shape>),
    Scalar,
}

impl Shape {
    /// The shape of a type's values.
    pub fn of<T: DeserializeOwned>() -> Shape {
        let mut shape = None;
        T::deserialize(Probe { out: &mut shape }).expect("a probe reads every file type");
        shape.expect("the probe saw the type")
    }

    /// The shape at `path`; `None` where the format has nothing.
    pub fn at(&self, path: &Path) -> Option<&Shape> {
        path.segments()
            .iter()
            .try_fold(self, |shape, seg| match (shape, seg) {
                (Shape::Fields(names, shapes), Seg::Key(key)) => {
                    names.iter().position(|n| n == key).map(|i| &shapes[i])
                }
                (Shape::List(item), Seg::Index(_)) | (Shape::Map(item), Seg::Key(_)) => {
                    Some(&**item)
                }
                _ => None,
            })
    }
}

#[derive(Debug)]
struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Hands every type the simplest value it asks for, and notes what it asked for.
struct Probe<'o> {
    out: &'o mut Option<Shape>,
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        *self.out = Some(Shape::Scalar);
        visitor.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        *self.out = Some(Shape::Scalar);
        visitor.visit_bool(false)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        *self.out = Some(Shape::Scalar);
        visitor.visit_u64(0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        *self.out = Some(Shape::Scalar);
        visitor.visit_f64(0.0)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        *self.out = Some(Shape::Scalar);
        visitor.visit_str("")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut item = None;
        let value = visitor.visit_seq(One {
            item: &mut item,
            done: false,
        })?;
        *self.out = Some(Shape::List(Box::new(item.unwrap_or(Shape::Scalar))));
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut value_shape = None;
        let value = visitor.visit_map(Fields {
            names: &["key"],
            shapes: Vec::new(),
            slot: &mut value_shape,
        })?;
        *self.out = Some(Shape::Map(Box::new(value_shape.unwrap_or(Shape::Scalar))));
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut unused = None;
        let mut access = Fields {
            names: fields,
            shapes: Vec::new(),
            slot: &mut unused,
        };
        let value = visitor.visit_map(&mut access)?;
        *self.out = Some(Shape::Fields(fields, access.shapes));
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        *self.out = Some(Shape::Scalar);
        visitor.visit_enum(variants[0].into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u128 f32 char bytes byte_buf unit unit_struct newtype_struct
        tuple tuple_struct identifier ignored_any
    }
}

/// A list of one item.
struct One<'o> {
    item: &'o mut Option<Shape>,
    done: bool,
}

impl<'de> de::SeqAccess<'de> for One<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        seed.deserialize(Probe { out: self.item }).map(Some)
    }
}

/// Every field of a struct once (or one key of a free mapping), each value probed in turn.
struct Fields<'o> {
    names: &'static [&'static str],
    shapes: Vec<Shape>,
    /// Where a free mapping's value shape goes.
    slot: &'o mut Option<Shape>,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.names.get(self.shapes.len()) {
            Some(name) => seed.deserialize((*name).into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let mut shape = None;
        let value = seed.deserialize(Probe { out: &mut shape })?;
        let shape = shape.unwrap_or(Shape::Scalar);
        *self.slot = Some(shape.clone());
        self.shapes.push(shape);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::file::SpecFile;

    #[test]
    fn the_shape_follows_the_file_types() {
        let shape = Shape::of::<SpecFile>();
        let at = |text: &[Seg]| shape.at(&text.iter().cloned().collect()).cloned();
        let key = |k: &str| Seg::Key(k.to_string());
        assert!(matches!(at(&[]), Some(Shape::Fields(names, _)) if names.contains(&"bots")));
        assert!(matches!(
            at(&[key("bots"), Seg::Index(3)]),
            Some(Shape::Fields(names, _)) if names.contains(&"allowed_origins")
        ));
        assert_eq!(
            at(&[key("bots"), Seg::Index(0), key("allowed_origins")]),
            Some(Shape::List(Box::new(Shape::Scalar)))
        );
        assert_eq!(
            at(&[key("bots"), Seg::Index(0), key("tags")]),
            Some(Shape::Map(Box::new(Shape::Scalar)))
        );
        // A renamed field is known by its name in the file.
        assert!(matches!(
            at(&[key("bots"), Seg::Index(0), key("backend")]),
            Some(Shape::Fields(names, _)) if names.contains(&"type")
        ));
        assert_eq!(at(&[key("bots"), Seg::Index(0), key("nonsense")]), None);
    }
}
