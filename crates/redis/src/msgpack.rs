//! A msgpack codec that makes the same choices as [notepack.io] 3.0.1, the serializer of
//! `@socket.io/redis-adapter` and `@socket.io/redis-emitter`.
//!
//! # Encoding (what Node emits, and what [`encode`] emits)
//! | [`Value`] | bytes |
//! |---|---|
//! | `Nil` | `c0` |
//! | `Undefined` | `d4 00 00` (the legacy fixext1 form; notepack 3 *emits* `c0` for `undefined` but still decodes this) |
//! | `Bool` | `c2` / `c3` |
//! | `Int`, `UInt`, and any integral finite `F64` in the 64-bit range | smallest of positive fixint, `cc`–`cf`, negative fixint, `d0`–`d3` |
//! | other `F64` (fractional, NaN, ±∞) | always float64 `cb` |
//! | `Str` | fixstr / `d9` / `da` / `db` by UTF-8 length |
//! | `Bin` | `c4` / `c5` / `c6` |
//! | `Array` | fixarray / `dc` / `dd` |
//! | `Map` | fixmap / `de` / `df`, entries in order, entries whose value is `Undefined` skipped (as notepack skips `undefined` properties) |
//! | `Ext(t, d)` | fixext 1/2/4/8/16 when `d` has that length, else `c7`/`c8`/`c9` |
//!
//! A JavaScript `Date` is `Ext(-1, …)` (msgpack timestamp, 32/64/96-bit as notepack picks): build
//! one with [`Value::date`], read one with [`Value::as_date_millis`].
//!
//! # Decoding
//! [`decode`] accepts everything notepack emits and everything notepack's decoder accepts:
//! float32 `ca` (widened to `F64`), `d4 00 xx` (undefined), `d7 00` + int64 ms (the notepack 2
//! Date, kept as `Ext(0, …)` and understood by [`Value::as_date_millis`]), and `c7`/`c8`/`c9`
//! with ext type 0 (notepack 2's ArrayBuffer, decoded as `Bin`). Non-negative integers decode to
//! `UInt`, negative ones to `Int`. Strings are decoded like Node's `buffer.toString("utf8")`:
//! invalid UTF-8 becomes U+FFFD. Trailing bytes are an error (as in notepack). The reader is
//! bounds-checked, never pre-allocates more than the input could hold, and stops at
//! [`MAX_DEPTH`] nested containers; it never panics.
//!
//! # JSON and binary attachments
//! Socket.IO represents event arguments as JSON plus binary attachments referenced by
//! placeholders `{"_placeholder":true,"num":i}`. [`Value::to_json_with_attachments`] and
//! [`Value::from_json_with_attachments`] convert between that form and a [`Value`] holding
//! `Bin`. [`Value::to_json`] instead renders a value the way `JSON.stringify` would in Node
//! (used for the JSON messages of the adapters: a `Buffer` becomes
//! `{"type":"Buffer","data":[…]}`, a `Date` its ISO string).
//!
//! [notepack.io]: https://github.com/darrachequesne/notepack

use bytes::Bytes;
use serde_json::{Map as JsonMap, Number, Value as Json};

/// Deepest nesting of arrays, maps and extension values that [`decode`] accepts.
///
/// Kept well below serde_json's recursion limit (128), so that whatever [`decode`] accepts can
/// be re-encoded as JSON (where binary adds up to three levels: `[type, {"data": [...]}]`) and
/// read back by this crate's JSON decoder: a message relayed from msgpack to JSON (as the
/// sharded adapter does when it holds no binary) must not become one that no node can read.
pub const MAX_DEPTH: usize = 100;

/// A msgpack value, as notepack.io produces and consumes them.
///
/// Equality is JavaScript-like for numbers: `Int(2) == UInt(2) == F64(2.0)`; `NaN` equals `NaN`
/// so that round trips can be compared.
#[derive(Debug, Clone)]
pub enum Value {
    /// `null` (`c0`).
    Nil,
    /// JavaScript `undefined`: `d4 00 00` on the wire; as a map value, the entry is omitted.
    Undefined,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer (decoding produces this only for negative numbers).
    Int(i64),
    /// An unsigned integer (decoding produces this for every non-negative integer).
    UInt(u64),
    /// A JavaScript number that is not an integer (integral values are encoded as integers).
    F64(f64),
    /// A UTF-8 string.
    Str(String),
    /// Binary data (a Node `Buffer`).
    Bin(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// A map, in wire order (duplicate keys are kept; [`Value::get`] returns the last one, as a
    /// JavaScript object would).
    Map(Vec<(Value, Value)>),
    /// An extension value: type and payload. Type `-1` is a msgpack timestamp (JS `Date`).
    Ext(i8, Bytes),
}

/// Why [`decode`] rejected its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("msgpack: unexpected end of input at byte {offset}")]
    UnexpectedEnd {
        /// Where the missing bytes should have started.
        offset: usize,
    },
    /// A byte that starts no msgpack value (`c1`).
    #[error("msgpack: invalid byte 0x{byte:02x} at byte {offset}")]
    InvalidByte {
        /// The byte.
        byte: u8,
        /// Its position.
        offset: usize,
    },
    /// More than [`MAX_DEPTH`] nested containers.
    #[error("msgpack: nesting deeper than {MAX_DEPTH} at byte {offset}")]
    TooDeep {
        /// Where the container that went too deep starts.
        offset: usize,
    },
    /// Bytes left after the first value.
    #[error("msgpack: {count} trailing bytes")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// Why [`encode`] could not encode a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string, binary, array, map or extension longer than msgpack's 2³²−1 limit.
    #[error("msgpack: {what} of {len} items/bytes exceeds the 32-bit length limit")]
    TooLarge {
        /// What kind of value.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

/// Why [`Value::from_json_with_attachments`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// A placeholder whose `num` is missing, not a number, or out of range (socket.io-parser's
    /// "illegal attachments").
    #[error("illegal attachments: placeholder {num:?} with {count} attachments")]
    IllegalPlaceholder {
        /// The `num` field as written.
        num: Option<String>,
        /// How many attachments there were.
        count: usize,
    },
}

// ---------------------------------------------------------------------------------------------
// Equality and accessors

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Nil, Nil) | (Undefined, Undefined) => true,
            (Bool(a), Bool(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (Bin(a), Bin(b)) => a == b,
            (Array(a), Array(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (Ext(ta, a), Ext(tb, b)) => ta == tb && a == b,
            (a, b) => match (a.number(), b.number()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }
}

/// A number widened for comparison.
#[derive(Debug, Clone, Copy)]
enum Num {
    I(i128),
    F(f64),
}

impl PartialEq for Num {
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Num::I(a), Num::I(b)) => a == b,
            (Num::F(a), Num::F(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Num::I(i), Num::F(f)) | (Num::F(f), Num::I(i)) => {
                f.is_finite() && f.fract() == 0.0 && f64_to_i128(f) == Some(i)
            }
        }
    }
}

fn f64_to_i128(f: f64) -> Option<i128> {
    // 2^100 is far beyond u64; anything integral below it converts exactly.
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1.0e30 {
        Some(f as i128)
    } else {
        None
    }
}

impl Value {
    fn number(&self) -> Option<Num> {
        match *self {
            Value::Int(i) => Some(Num::I(i as i128)),
            Value::UInt(u) => Some(Num::I(u as i128)),
            Value::F64(f) => Some(Num::F(f)),
            _ => None,
        }
    }

    /// The string, if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is an `Array`.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The boolean, if this is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The number as a `u64`, if this is a non-negative integer (an integral `F64` counts).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::UInt(u) => Some(u),
            Value::Int(i) => u64::try_from(i).ok(),
            Value::F64(f) => f64_to_i128(f).and_then(|i| u64::try_from(i).ok()),
            _ => None,
        }
    }

    /// The number as an `f64`, if this is any number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::UInt(u) => Some(u as f64),
            Value::Int(i) => Some(i as f64),
            Value::F64(f) => Some(f),
            _ => None,
        }
    }

    /// `true` for `Nil` and `Undefined`.
    pub fn is_nullish(&self) -> bool {
        matches!(self, Value::Nil | Value::Undefined)
    }

    /// The value of the last entry whose key is the string `key`, if this is a `Map`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A map with string keys, in the given order.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Str(k.into()), v))
                .collect(),
        )
    }

    /// An array of strings.
    pub fn str_array<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
        Value::Array(
            items
                .into_iter()
                .map(|s| Value::Str(s.as_ref().to_owned()))
                .collect(),
        )
    }

    /// Does this value contain `Bin` (or a non-date extension) anywhere? This is
    /// socket.io-adapter's `hasBinary`, which decides between JSON and msgpack.
    pub fn has_binary(&self) -> bool {
        match self {
            Value::Bin(_) => true,
            Value::Ext(..) => self.as_date_millis().is_none(),
            Value::Array(a) => a.iter().any(Value::has_binary),
            Value::Map(m) => m.iter().any(|(k, v)| k.has_binary() || v.has_binary()),
            _ => false,
        }
    }

    /// A JavaScript `Date` of `millis` ms since the epoch, as notepack 3 encodes it: a msgpack
    /// timestamp extension (type −1) in its 32-, 64- or 96-bit form.
    pub fn date(millis: i64) -> Value {
        let secs = millis.div_euclid(1000);
        let nanos = (millis.rem_euclid(1000) as u32) * 1_000_000;
        let mut b = Vec::with_capacity(12);
        if (0..=0x3_ffff_ffff).contains(&secs) {
            if nanos == 0 && secs <= 0xffff_ffff {
                b.extend_from_slice(&(secs as u32).to_be_bytes());
            } else {
                let v = ((nanos as u64) << 34) | secs as u64;
                b.extend_from_slice(&v.to_be_bytes());
            }
        } else {
            b.extend_from_slice(&nanos.to_be_bytes());
            b.extend_from_slice(&secs.to_be_bytes());
        }
        Value::Ext(-1, Bytes::from(b))
    }

    /// If this is a date — a msgpack timestamp (ext −1 of 4, 8 or 12 bytes) or notepack 2's
    /// `d7 00` form — its time in ms since the epoch, as a JavaScript `Date` would hold it.
    pub fn as_date_millis(&self) -> Option<f64> {
        let Value::Ext(t, d) = self else { return None };
        let d: &[u8] = d;
        match (*t, d.len()) {
            (-1, 4) => Some(u32::from_be_bytes(d.try_into().ok()?) as f64 * 1e3),
            (-1, 8) => {
                let v = u64::from_be_bytes(d.try_into().ok()?);
                let secs = (v & 0x3_ffff_ffff) as f64;
                let nanos = (v >> 34) as f64;
                Some(secs * 1e3 + nanos / 1e6)
            }
            (-1, 12) => {
                let nanos = u32::from_be_bytes(d[..4].try_into().ok()?) as f64;
                let secs = i64::from_be_bytes(d[4..].try_into().ok()?) as f64;
                Some(secs * 1e3 + nanos / 1e6)
            }
            (0, 8) => Some(i64::from_be_bytes(d.try_into().ok()?) as f64),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(u: u64) -> Self {
        Value::UInt(u)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        if i >= 0 {
            Value::UInt(i as u64)
        } else {
            Value::Int(i)
        }
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::F64(f)
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Bin(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoder

/// Encodes `value` as notepack.io would.
pub fn encode(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `value` to `out` (on error, `out` may hold a partial encoding).
pub fn encode_into(value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match value {
        Value::Nil => out.push(0xc0),
        Value::Undefined => out.extend_from_slice(&[0xd4, 0x00, 0x00]),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::UInt(u) => encode_uint(*u, out),
        Value::Int(i) => encode_int(*i, out),
        Value::F64(f) => encode_f64(*f, out),
        Value::Str(s) => {
            let len = len32("string", s.len())?;
            if len < 0x20 {
                out.push(0xa0 | len as u8);
            } else if len < 0x100 {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len < 0x10000 {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&len.to_be_bytes());
            }
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bin(b) => {
            let len = len32("binary", b.len())?;
            if len < 0x100 {
                out.extend_from_slice(&[0xc4, len as u8]);
            } else if len < 0x10000 {
                out.push(0xc5);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xc6);
                out.extend_from_slice(&len.to_be_bytes());
            }
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            container_header(len32("array", items.len())?, 0x90, 0xdc, 0xdd, out);
            for item in items {
                encode_into(item, out)?;
            }
        }
        Value::Map(entries) => {
            let present = entries
                .iter()
                .filter(|(_, v)| !matches!(v, Value::Undefined))
                .count();
            container_header(len32("map", present)?, 0x80, 0xde, 0xdf, out);
            for (k, v) in entries {
                if matches!(v, Value::Undefined) {
                    continue;
                }
                encode_into(k, out)?;
                encode_into(v, out)?;
            }
        }
        Value::Ext(t, d) => {
            let len = len32("extension", d.len())?;
            let fix = match len {
                1 => Some(0xd4),
                2 => Some(0xd5),
                4 => Some(0xd6),
                8 => Some(0xd7),
                16 => Some(0xd8),
                _ => None,
            };
            if let Some(fix) = fix {
                out.push(fix);
            } else if len < 0x100 {
                out.extend_from_slice(&[0xc7, len as u8]);
            } else if len < 0x10000 {
                out.push(0xc8);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xc9);
                out.extend_from_slice(&len.to_be_bytes());
            }
            out.push(*t as u8);
            out.extend_from_slice(d);
        }
    }
    Ok(())
}

fn len32(what: &'static str, len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::TooLarge { what, len })
}

fn container_header(len: u32, fix: u8, b16: u8, b32: u8, out: &mut Vec<u8>) {
    if len < 0x10 {
        out.push(fix | len as u8);
    } else if len < 0x10000 {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

fn encode_uint(u: u64, out: &mut Vec<u8>) {
    if u < 0x80 {
        out.push(u as u8);
    } else if u < 0x100 {
        out.extend_from_slice(&[0xcc, u as u8]);
    } else if u < 0x10000 {
        out.push(0xcd);
        out.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u < 0x1_0000_0000 {
        out.push(0xce);
        out.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        encode_uint(i as u64, out);
    } else if i >= -0x20 {
        out.push(i as u8);
    } else if i >= -0x80 {
        out.extend_from_slice(&[0xd0, i as u8]);
    } else if i >= -0x8000 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= -0x8000_0000 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn encode_f64(f: f64, out: &mut Vec<u8>) {
    // notepack: `Math.floor(v) !== v || !isFinite(v)` -> float64, otherwise an integer form
    // (so -0 becomes 0x00). Integral values beyond the 64-bit range stay float64 here, where
    // notepack would write a garbled uint64.
    if f.is_finite() && f.fract() == 0.0 {
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            return encode_uint(f as u64, out);
        }
        if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
            return encode_int(f as i64, out);
        }
    }
    out.push(0xcb);
    out.extend_from_slice(&f.to_be_bytes());
}

// ---------------------------------------------------------------------------------------------
// Decoder

/// Decodes one msgpack value that must span all of `input`. Binary values are copied.
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    Reader::new(input, None).finish()
}

/// Like [`decode`], but binary and extension payloads are zero-copy slices of `input`.
pub fn decode_bytes(input: &Bytes) -> Result<Value, DecodeError> {
    Reader::new(input, Some(input)).finish()
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    shared: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], shared: Option<&'a Bytes>) -> Self {
        Reader {
            buf,
            pos: 0,
            shared,
        }
    }

    fn finish(mut self) -> Result<Value, DecodeError> {
        let v = self.value(0)?;
        match self.buf.len() - self.pos {
            0 => Ok(v),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError::UnexpectedEnd { offset: self.pos })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?) as usize)
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?) as usize)
    }

    fn bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        let s = self.take(n)?;
        Ok(match self.shared {
            Some(b) => b.slice(start..start + n),
            None => Bytes::copy_from_slice(s),
        })
    }

    fn str(&mut self, n: usize) -> Result<Value, DecodeError> {
        let s = self.take(n)?;
        Ok(Value::Str(String::from_utf8_lossy(s).into_owned()))
    }

    fn ext(&mut self, n: usize, fixed: bool) -> Result<Value, DecodeError> {
        let t = self.u8()? as i8;
        if t == 0 {
            if fixed && n == 1 {
                self.take(1)?;
                return Ok(Value::Undefined);
            }
            if !fixed {
                // notepack 2's ArrayBuffer; decoded by notepack 3 as binary.
                return Ok(Value::Bin(self.bytes(n)?));
            }
        }
        Ok(Value::Ext(t, self.bytes(n)?))
    }

    fn seq(&mut self, n: usize, depth: usize, start: usize) -> Result<Vec<Value>, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { offset: start });
        }
        // Every element takes at least one byte: never reserve more than what is left.
        let mut items = Vec::with_capacity(n.min(self.buf.len() - self.pos));
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(items)
    }

    fn map(&mut self, n: usize, depth: usize, start: usize) -> Result<Value, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { offset: start });
        }
        let mut entries = Vec::with_capacity(n.min((self.buf.len() - self.pos) / 2));
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let start = self.pos;
        let b = self.u8()?;
        Ok(match b {
            0x00..=0x7f => Value::UInt(b as u64),
            0x80..=0x8f => self.map((b & 0x0f) as usize, depth, start)?,
            0x90..=0x9f => Value::Array(self.seq((b & 0x0f) as usize, depth, start)?),
            0xa0..=0xbf => self.str((b & 0x1f) as usize)?,
            0xc0 => Value::Nil,
            0xc1 => {
                return Err(DecodeError::InvalidByte {
                    byte: b,
                    offset: start,
                })
            }
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let n = self.u8()? as usize;
                Value::Bin(self.bytes(n)?)
            }
            0xc5 => {
                let n = self.u16()?;
                Value::Bin(self.bytes(n)?)
            }
            0xc6 => {
                let n = self.u32()?;
                Value::Bin(self.bytes(n)?)
            }
            0xc7 => {
                let n = self.u8()? as usize;
                self.ext(n, false)?
            }
            0xc8 => {
                let n = self.u16()?;
                self.ext(n, false)?
            }
            0xc9 => {
                let n = self.u32()?;
                self.ext(n, false)?
            }
            0xca => Value::F64(f32::from_be_bytes(self.array()?) as f64),
            0xcb => Value::F64(f64::from_be_bytes(self.array()?)),
            0xcc => Value::UInt(self.u8()? as u64),
            0xcd => Value::UInt(self.u16()? as u64),
            0xce => Value::UInt(self.u32()? as u64),
            0xcf => Value::UInt(u64::from_be_bytes(self.array()?)),
            0xd0 => Value::from(i8::from_be_bytes(self.array()?) as i64),
            0xd1 => Value::from(i16::from_be_bytes(self.array()?) as i64),
            0xd2 => Value::from(i32::from_be_bytes(self.array()?) as i64),
            0xd3 => Value::from(i64::from_be_bytes(self.array()?)),
            0xd4 => self.ext(1, true)?,
            0xd5 => self.ext(2, true)?,
            0xd6 => self.ext(4, true)?,
            0xd7 => self.ext(8, true)?,
            0xd8 => self.ext(16, true)?,
            0xd9 => {
                let n = self.u8()? as usize;
                self.str(n)?
            }
            0xda => {
                let n = self.u16()?;
                self.str(n)?
            }
            0xdb => {
                let n = self.u32()?;
                self.str(n)?
            }
            0xdc => {
                let n = self.u16()?;
                Value::Array(self.seq(n, depth, start)?)
            }
            0xdd => {
                let n = self.u32()?;
                Value::Array(self.seq(n, depth, start)?)
            }
            0xde => {
                let n = self.u16()?;
                self.map(n, depth, start)?
            }
            0xdf => {
                let n = self.u32()?;
                self.map(n, depth, start)?
            }
            0xe0..=0xff => Value::Int(b as i8 as i64),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

impl From<&Json> for Value {
    /// JSON to msgpack value: numbers become `UInt`/`Int`/`F64`, objects keep their key order
    /// (serde_json's `preserve_order`, enabled by this crate).
    fn from(json: &Json) -> Self {
        match json {
            Json::Null => Value::Nil,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => number_to_value(n),
            Json::String(s) => Value::Str(s.clone()),
            Json::Array(a) => Value::Array(a.iter().map(Value::from).collect()),
            Json::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<Json> for Value {
    fn from(json: Json) -> Self {
        Value::from(&json)
    }
}

fn number_to_value(n: &Number) -> Value {
    if let Some(u) = n.as_u64() {
        Value::UInt(u)
    } else if let Some(i) = n.as_i64() {
        Value::Int(i)
    } else {
        Value::F64(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// A number as `JSON.stringify` writes it: integral values without a fraction, non-finite as
/// `null`.
fn f64_to_json(f: f64) -> Json {
    if !f.is_finite() {
        return Json::Null;
    }
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        return Json::from(f as i64);
    }
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// How a map key becomes a JavaScript property name.
fn key_string(k: &Value) -> String {
    match k {
        Value::Str(s) => s.clone(),
        Value::Nil => "null".into(),
        Value::Undefined => "undefined".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::F64(f) => match f64_to_json(*f) {
            Json::Null if f.is_nan() => "NaN".into(),
            Json::Null if *f > 0.0 => "Infinity".into(),
            Json::Null => "-Infinity".into(),
            other => other.to_string(),
        },
        Value::Array(items) => items.iter().map(key_string).collect::<Vec<_>>().join(","),
        Value::Map(_) => "[object Object]".into(),
        Value::Bin(b) => b
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(","),
        Value::Ext(..) => match k.as_date_millis() {
            Some(ms) => iso_date(ms),
            None => "[object Object]".into(),
        },
    }
}

impl Value {
    /// Renders the value as Node's `JSON.stringify` would after notepack decoded it: `Bin` as
    /// `{"type":"Buffer","data":[…]}`, a date as its ISO string, another extension as
    /// `[type, Buffer]`, `Undefined` as `null` in arrays and omitted in maps, non-finite numbers
    /// as `null`, integral floats as integers.
    pub fn to_json(&self) -> Json {
        self.to_json_with(&mut |b: &Bytes| {
            let mut o = JsonMap::new();
            o.insert("type".into(), Json::from("Buffer"));
            o.insert(
                "data".into(),
                Json::Array(b.iter().map(|x| Json::from(*x)).collect()),
            );
            Json::Object(o)
        })
    }

    /// Splits the value into JSON with Socket.IO placeholders `{"_placeholder":true,"num":i}`
    /// and the binary attachments they point to, numbered depth-first in order (as
    /// socket.io-parser's `deconstructPacket`). Other values follow [`Value::to_json`].
    pub fn to_json_with_attachments(&self) -> (Json, Vec<Bytes>) {
        let mut attachments = Vec::new();
        let json = self.to_json_with(&mut |b: &Bytes| {
            let mut o = JsonMap::new();
            o.insert("_placeholder".into(), Json::Bool(true));
            o.insert("num".into(), Json::from(attachments.len()));
            attachments.push(b.clone());
            Json::Object(o)
        });
        (json, attachments)
    }

    fn to_json_with(&self, bin: &mut dyn FnMut(&Bytes) -> Json) -> Json {
        match self {
            Value::Nil | Value::Undefined => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::UInt(u) => Json::from(*u),
            Value::F64(f) => f64_to_json(*f),
            Value::Str(s) => Json::String(s.clone()),
            Value::Bin(b) => bin(b),
            Value::Array(items) => Json::Array(items.iter().map(|v| v.to_json_with(bin)).collect()),
            Value::Map(entries) => {
                // A JavaScript object keeps the first position and the last value of a
                // duplicated key; values that lose are never seen (nor their binary).
                let keys: Vec<String> = entries.iter().map(|(k, _)| key_string(k)).collect();
                let mut last = std::collections::HashMap::with_capacity(keys.len());
                for (i, k) in keys.iter().enumerate() {
                    last.insert(k.as_str(), i);
                }
                let mut o = JsonMap::new();
                for k in &keys {
                    let Some(&j) = last.get(k.as_str()) else {
                        continue;
                    };
                    if o.contains_key(k) {
                        continue;
                    }
                    let v = &entries[j].1;
                    if matches!(v, Value::Undefined) {
                        continue;
                    }
                    o.insert(k.clone(), v.to_json_with(bin));
                }
                Json::Object(o)
            }
            Value::Ext(t, d) => match self.as_date_millis() {
                Some(ms) if ms.is_finite() => Json::String(iso_date(ms)),
                Some(_) => Json::Null,
                None => Json::Array(vec![Json::from(*t), bin(d)]),
            },
        }
    }

    /// Rebuilds a value from Socket.IO JSON and its attachments: every object with
    /// `"_placeholder": true` becomes `Bin(attachments[num])`. Fails like socket.io-parser's
    /// `reconstructPacket` on a bad `num`.
    pub fn from_json_with_attachments(
        json: &Json,
        attachments: &[Bytes],
    ) -> Result<Value, AttachmentError> {
        Ok(match json {
            Json::Array(a) => Value::Array(
                a.iter()
                    .map(|v| Value::from_json_with_attachments(v, attachments))
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(o) => {
                if o.get("_placeholder") == Some(&Json::Bool(true)) {
                    let num = o.get("num");
                    let index = num
                        .and_then(Json::as_f64)
                        .filter(|n| n.fract() == 0.0 && *n >= 0.0)
                        .map(|n| n as usize)
                        .filter(|&i| i < attachments.len());
                    return match index {
                        Some(i) => Ok(Value::Bin(attachments[i].clone())),
                        None => Err(AttachmentError::IllegalPlaceholder {
                            num: num.map(|n| n.to_string()),
                            count: attachments.len(),
                        }),
                    };
                }
                Value::Map(
                    o.iter()
                        .map(|(k, v)| {
                            Ok((
                                Value::Str(k.clone()),
                                Value::from_json_with_attachments(v, attachments)?,
                            ))
                        })
                        .collect::<Result<_, AttachmentError>>()?,
                )
            }
            other => Value::from(other),
        })
    }
}

/// `Date.prototype.toISOString` for a finite time value.
pub(crate) fn iso_date(ms: f64) -> String {
    let ms = ms.floor() as i64;
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y < 0 {
        format!("-{:06}", -y)
    } else {
        format!("+{y:06}")
    };
    format!("{year}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests;
