//! Serde bridges between user types and [`Payload`]s with binary attachments.
//!
//! # Binary values
//!
//! A value that serde serialises as *bytes* — [`bytes::Bytes`],
//! `serde_bytes::ByteBuf`/`Bytes`, or a `Vec<u8>` field marked
//! `#[serde(with = "serde_bytes")]` — becomes an attachment, and a placeholder
//! `{"_placeholder":true,"num":i}` takes its place in the JSON, numbered
//! depth-first in serialisation order (the reference numbers depth-first in
//! array and key order, which is the same thing for structs). A plain
//! `Vec<u8>` serialises as a JSON array of numbers, **not** as binary.
//!
//! When deserialising, a placeholder whose `num` indexes an attachment is
//! handed to the visitor as bytes (`visit_borrowed_bytes`), so `Bytes`,
//! `ByteBuf`, `serde_bytes` fields and `&[u8]` receive it; a plain `Vec<u8>`
//! or `[u8; N]` receives it too (as a sequence of bytes). Bytes are copied out
//! of the attachment; read [`Payload::attachments`] directly for zero-copy
//! access. A placeholder cannot be deserialised into `serde_json::Value`
//! (that fails with "invalid type: byte array"); read `Payload::value`
//! instead. An object that looks like a placeholder but whose `num` indexes no
//! attachment is an ordinary object (the decoder already rejects those in
//! binary packets, so this only happens in packets without attachments, where
//! the reference leaves them alone too).
//!
//! # Argument lists
//!
//! Socket.IO events carry a list of arguments. The rule used by
//! [`event_payload`], [`to_payload`] and [`from_args`] follows the serde data
//! model and is symmetric:
//!
//! | Rust type                                    | arguments                         |
//! |----------------------------------------------|-----------------------------------|
//! | `()`                                         | none                              |
//! | a tuple `(A, B, …)`, a tuple struct, `[T; N]` | one argument per element (spread) |
//! | anything else (`String`, a struct, `Vec<T>`, `Option<T>`, a newtype, …) | exactly one argument |
//!
//! So `("hi", 1)` sends `["ev","hi",1]`, `vec![1, 2]` sends `["ev",[1,2]]` and
//! `(vec![1, 2],)` sends the same. When reading, a tuple takes the arguments in
//! order, ignores extra ones and reads missing ones as `null` (so trailing
//! `Option`s may be omitted, as JavaScript's `undefined`); `()` accepts any
//! arguments; any other type reads the first argument (`null` if there is
//! none).

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::ser::{self, Serialize};
use serde::Deserialize;
use serde_json::{Error, Map, Value};

use super::packet::Payload;

/// `null`, for missing arguments.
static NULL: Value = Value::Null;

/// The placeholder object that stands for attachment `num`:
/// `{"_placeholder":true,"num":num}`.
pub fn placeholder(num: usize) -> Value {
    let mut map = Map::with_capacity(2);
    map.insert("_placeholder".to_owned(), Value::Bool(true));
    map.insert("num".to_owned(), Value::from(num));
    Value::Object(map)
}

/// Reads `map` as a placeholder: `None` if it is not one (no
/// `"_placeholder": true`), `Some(None)` if its `num` is not a non-negative
/// integer, `Some(Some(num))` otherwise. The caller checks the bound.
pub(crate) fn placeholder_num(map: &Map<String, Value>) -> Option<Option<usize>> {
    if map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    let num = match map.get("num") {
        Some(Value::Number(n)) => n.as_u64().or_else(|| {
            // JS numbers are doubles: `0.0` is the same index as `0`.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9.007_199_254_740_992e15)
                .map(|f| f as u64)
        }),
        _ => None,
    };
    Some(num.and_then(|n| usize::try_from(n).ok()))
}

// ---------------------------------------------------------------------------
// Serialisation
// ---------------------------------------------------------------------------

/// Converts `value` to JSON, moving every binary value to `attachments`
/// (appended, so numbering continues after any attachments already there)
/// and leaving a placeholder in its place.
pub fn to_value<T: ?Sized + Serialize>(
    value: &T,
    attachments: &mut Vec<Bytes>,
) -> Result<Value, Error> {
    value.serialize(ValueSerializer {
        attachments,
        shape: None,
    })
}

/// Builds an argument list (an ACK payload, for instance) from `args`,
/// following the [argument rule](self#argument-lists).
pub fn to_payload<T: ?Sized + Serialize>(args: &T) -> Result<Payload, Error> {
    args_into(Vec::new(), args)
}

/// Builds an EVENT payload: `[event, ...args]`, with `args` spread following
/// the [argument rule](self#argument-lists).
pub fn event_payload<T: ?Sized + Serialize>(event: &str, args: &T) -> Result<Payload, Error> {
    args_into(vec![Value::String(event.to_owned())], args)
}

fn args_into<T: ?Sized + Serialize>(mut items: Vec<Value>, args: &T) -> Result<Payload, Error> {
    let mut attachments = Vec::new();
    let mut shape = Shape::Single;
    let value = args.serialize(ValueSerializer {
        attachments: &mut attachments,
        shape: Some(&mut shape),
    })?;
    match (shape, value) {
        (Shape::Unit, _) => {}
        (Shape::Tuple, Value::Array(spread)) => items.extend(spread),
        (_, value) => items.push(value),
    }
    Ok(Payload::with_attachments(items, attachments))
}

/// What the top-level value turned out to be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Unit,
    Tuple,
    Single,
}

/// A `serde_json::value::Serializer` that turns bytes into placeholders.
struct ValueSerializer<'a> {
    attachments: &'a mut Vec<Bytes>,
    /// Set only for the top-level value of an argument list.
    shape: Option<&'a mut Shape>,
}

impl ValueSerializer<'_> {
    fn child(&mut self) -> ValueSerializer<'_> {
        ValueSerializer {
            attachments: self.attachments,
            shape: None,
        }
    }

    fn mark(&mut self, shape: Shape) {
        if let Some(s) = self.shape.as_deref_mut() {
            *s = shape;
        }
    }
}

macro_rules! delegate_scalars {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<Value, Error> {
            serde_json::value::Serializer.$method(v)
        }
    )*};
}

impl<'a> ser::Serializer for ValueSerializer<'a> {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = SerializeVec<'a>;
    type SerializeTuple = SerializeVec<'a>;
    type SerializeTupleStruct = SerializeVec<'a>;
    type SerializeTupleVariant = SerializeVariant<SerializeVec<'a>>;
    type SerializeMap = SerializeMap<'a>;
    type SerializeStruct = SerializeMap<'a>;
    type SerializeStructVariant = SerializeVariant<SerializeMap<'a>>;

    delegate_scalars!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
    );

    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        let num = self.attachments.len();
        self.attachments.push(Bytes::copy_from_slice(v));
        Ok(placeholder(num))
    }

    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }

    fn serialize_some<T: ?Sized + Serialize>(mut self, value: &T) -> Result<Value, Error> {
        value.serialize(self.child())
    }

    fn serialize_unit(mut self) -> Result<Value, Error> {
        self.mark(Shape::Unit);
        Ok(Value::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, Error> {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, Error> {
        Ok(Value::String(variant.to_owned()))
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        mut self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        value.serialize(self.child())
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        let mut map = Map::with_capacity(1);
        map.insert(variant.to_owned(), value.serialize(self.child())?);
        Ok(Value::Object(map))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SerializeVec<'a>, Error> {
        Ok(SerializeVec {
            attachments: self.attachments,
            items: Vec::with_capacity(len.unwrap_or(0)),
        })
    }

    fn serialize_tuple(mut self, len: usize) -> Result<SerializeVec<'a>, Error> {
        self.mark(Shape::Tuple);
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SerializeVec<'a>, Error> {
        self.serialize_tuple(len)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Ok(SerializeVariant {
            variant,
            inner: SerializeVec {
                attachments: self.attachments,
                items: Vec::with_capacity(len),
            },
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<SerializeMap<'a>, Error> {
        Ok(SerializeMap {
            attachments: self.attachments,
            map: Map::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<SerializeMap<'a>, Error> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Ok(SerializeVariant {
            variant,
            inner: SerializeMap {
                attachments: self.attachments,
                map: Map::with_capacity(len),
                key: None,
            },
        })
    }
}

struct SerializeVec<'a> {
    attachments: &'a mut Vec<Bytes>,
    items: Vec<Value>,
}

impl SerializeVec<'_> {
    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        let v = value.serialize(ValueSerializer {
            attachments: self.attachments,
            shape: None,
        })?;
        self.items.push(v);
        Ok(())
    }
}

impl ser::SerializeSeq for SerializeVec<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Array(self.items))
    }
}

impl ser::SerializeTuple for SerializeVec<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Array(self.items))
    }
}

impl ser::SerializeTupleStruct for SerializeVec<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Array(self.items))
    }
}

struct SerializeMap<'a> {
    attachments: &'a mut Vec<Bytes>,
    map: Map<String, Value>,
    key: Option<String>,
}

impl SerializeMap<'_> {
    fn field<T: ?Sized + Serialize>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        let v = value.serialize(ValueSerializer {
            attachments: self.attachments,
            shape: None,
        })?;
        self.map.insert(key.to_owned(), v);
        Ok(())
    }
}

/// Map keys become strings like serde_json does (strings, numbers, booleans,
/// chars, unit variants); anything else is an error.
fn map_key<T: ?Sized + Serialize>(key: &T) -> Result<String, Error> {
    match key.serialize(serde_json::value::Serializer)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ser::Error::custom("key must be a string")),
    }
}

impl ser::SerializeMap for SerializeMap<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(map_key(key)?);
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ser::Error::custom("serialize_value called before serialize_key"))?;
        let v = value.serialize(ValueSerializer {
            attachments: self.attachments,
            shape: None,
        })?;
        self.map.insert(key, v);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Object(self.map))
    }
}

impl ser::SerializeStruct for SerializeMap<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Object(self.map))
    }
}

struct SerializeVariant<S> {
    variant: &'static str,
    inner: S,
}

fn wrap_variant(variant: &'static str, value: Value) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(variant.to_owned(), value);
    Value::Object(map)
}

impl ser::SerializeTupleVariant for SerializeVariant<SerializeVec<'_>> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.inner.push(value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(wrap_variant(self.variant, Value::Array(self.inner.items)))
    }
}

impl ser::SerializeStructVariant for SerializeVariant<SerializeMap<'_>> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.inner.field(key, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(wrap_variant(self.variant, Value::Object(self.inner.map)))
    }
}

// ---------------------------------------------------------------------------
// Deserialisation
// ---------------------------------------------------------------------------

/// Deserialises `T` from `value`, resolving placeholders against
/// `attachments` (see the [module docs](self#binary-values)). Everything else
/// behaves like `T::deserialize(&value)` with serde_json; `T` may borrow
/// strings from `value` and bytes from `attachments`.
pub fn from_value<'a, T: Deserialize<'a>>(
    value: &'a Value,
    attachments: &'a [Bytes],
) -> Result<T, Error> {
    if attachments.is_empty() {
        // No placeholder can be valid: plain serde_json.
        T::deserialize(value)
    } else {
        T::deserialize(ValueDeserializer { value, attachments })
    }
}

/// Like [`from_value`], but consumes `value`, which saves copying strings
/// when there are no attachments.
pub fn from_payload<T: de::DeserializeOwned>(
    value: Value,
    attachments: &[Bytes],
) -> Result<T, Error> {
    if attachments.is_empty() {
        serde_json::from_value(value)
    } else {
        T::deserialize(ValueDeserializer {
            value: &value,
            attachments,
        })
    }
}

/// Deserialises `T` from an argument list, following the
/// [argument rule](self#argument-lists): a tuple takes the arguments in
/// order, `()` takes none, any other type takes the first.
///
/// `args` is [`Packet::args`](super::Packet::args) (an event's array without
/// its name, or an ack's array) and `attachments`
/// [`Packet::attachments`](super::Packet::attachments).
pub fn from_args<'a, T: Deserialize<'a>>(
    args: &'a [Value],
    attachments: &'a [Bytes],
) -> Result<T, Error> {
    T::deserialize(ArgsDeserializer { args, attachments })
}

/// A deserializer over `&Value` that turns valid placeholders into bytes.
#[derive(Clone, Copy)]
struct ValueDeserializer<'a> {
    value: &'a Value,
    attachments: &'a [Bytes],
}

impl<'a> ValueDeserializer<'a> {
    fn at(self, value: &'a Value) -> Self {
        Self {
            value,
            attachments: self.attachments,
        }
    }

    /// The attachment this value stands for, if it is a valid placeholder.
    fn binary(self) -> Option<&'a Bytes> {
        match self.value {
            Value::Object(map) => placeholder_num(map)
                .flatten()
                .and_then(|n| self.attachments.get(n)),
            _ => None,
        }
    }

    fn visit_array<V: Visitor<'a>>(
        self,
        items: &'a [Value],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut seq = SeqDeserializer {
            iter: items.iter(),
            de: self,
        };
        let out = visitor.visit_seq(&mut seq)?;
        if seq.iter.len() == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(
                items.len(),
                &"fewer elements in array",
            ))
        }
    }

    fn visit_object<V: Visitor<'a>>(
        self,
        map: &'a Map<String, Value>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut access = MapDeserializer {
            iter: map.iter(),
            value: None,
            de: self,
        };
        let out = visitor.visit_map(&mut access)?;
        if access.iter.len() == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(
                map.len(),
                &"fewer elements in map",
            ))
        }
    }
}

macro_rules! delegate_to_value {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
            self.value.$method(visitor)
        }
    )*};
}

impl<'a> de::Deserializer<'a> for ValueDeserializer<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Some(bin) = self.binary() {
            return visitor.visit_borrowed_bytes(bin);
        }
        match self.value {
            Value::Array(items) => self.visit_array(items, visitor),
            Value::Object(map) => self.visit_object(map, visitor),
            scalar => scalar.deserialize_any(visitor),
        }
    }

    delegate_to_value!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_unit,
        deserialize_identifier,
    );

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.value.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Some(bin) = self.binary() {
            // A plain `Vec<u8>` / `[u8; N]` asks for a sequence of bytes.
            return de::value::SeqDeserializer::<_, Error>::new(bin.iter().copied())
                .deserialize_seq(visitor);
        }
        match self.value {
            Value::Array(items) => self.visit_array(items, visitor),
            other => other.deserialize_seq(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => self.visit_object(map, visitor),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => self.visit_object(map, visitor),
            Value::Array(items) => self.visit_array(items, visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) if map.len() == 1 => {
                let Some((variant, value)) = map.iter().next() else {
                    return Err(de::Error::custom("empty enum map"));
                };
                visitor.visit_enum(EnumDeserializer {
                    variant,
                    de: self.at(value),
                })
            }
            other => other.deserialize_enum(name, variants, visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqDeserializer<'a> {
    iter: std::slice::Iter<'a, Value>,
    de: ValueDeserializer<'a>,
}

impl<'a> SeqAccess<'a> for SeqDeserializer<'a> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'a>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        self.iter
            .next()
            .map(|v| seed.deserialize(self.de.at(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDeserializer<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
    de: ValueDeserializer<'a>,
}

impl<'a> MapAccess<'a> for MapDeserializer<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(KeyDeserializer(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'a>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value is missing"))?;
        seed.deserialize(self.de.at(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// Object keys, which may be read as strings, numbers or booleans (like
/// serde_json's own map keys).
struct KeyDeserializer<'a>(&'a str);

macro_rules! parse_key {
    ($($method:ident => $visit:ident($ty:ty)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0.parse::<$ty>() {
                Ok(v) => visitor.$visit(v),
                Err(_) => visitor.visit_borrowed_str(self.0),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for KeyDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.0)
    }

    parse_key!(
        deserialize_bool => visit_bool(bool),
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
        deserialize_f32 => visit_f32(f32),
        deserialize_f64 => visit_f64(f64),
    );

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::value::BorrowedStrDeserializer::<Error>::new(self.0)
            .deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct EnumDeserializer<'a> {
    variant: &'a str,
    de: ValueDeserializer<'a>,
}

impl<'a> EnumAccess<'a> for EnumDeserializer<'a> {
    type Error = Error;
    type Variant = ValueDeserializer<'a>;

    fn variant_seed<S: DeserializeSeed<'a>>(
        self,
        seed: S,
    ) -> Result<(S::Value, ValueDeserializer<'a>), Error> {
        let variant = seed.deserialize(de::value::BorrowedStrDeserializer::<Error>::new(
            self.variant,
        ))?;
        Ok((variant, self.de))
    }
}

impl<'a> VariantAccess<'a> for ValueDeserializer<'a> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        <()>::deserialize(self)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'a>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

/// The top level of an argument list (see the [rule](self#argument-lists)).
struct ArgsDeserializer<'a> {
    args: &'a [Value],
    attachments: &'a [Bytes],
}

impl<'a> ArgsDeserializer<'a> {
    fn first(&self) -> ValueDeserializer<'a> {
        ValueDeserializer {
            value: self.args.first().unwrap_or(&NULL),
            attachments: self.attachments,
        }
    }
}

macro_rules! forward_to_first {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
            self.first().$method(visitor)
        }
    )*};
}

impl<'a> de::Deserializer<'a> for ArgsDeserializer<'a> {
    type Error = Error;

    forward_to_first!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
    );

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.first().deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.first().deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(ArgsSeq {
            args: self.args,
            attachments: self.attachments,
            index: 0,
            len,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.first().deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.first().deserialize_enum(name, variants, visitor)
    }
}

/// The elements of a spread tuple: the arguments, padded with `null` up to
/// the tuple's length; extra arguments are ignored.
struct ArgsSeq<'a> {
    args: &'a [Value],
    attachments: &'a [Bytes],
    index: usize,
    len: usize,
}

impl<'a> SeqAccess<'a> for ArgsSeq<'a> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'a>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        if self.index >= self.len {
            return Ok(None);
        }
        let value = self.args.get(self.index).unwrap_or(&NULL);
        self.index += 1;
        seed.deserialize(ValueDeserializer {
            value,
            attachments: self.attachments,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len - self.index)
    }
}
