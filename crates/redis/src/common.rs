//! Types shared by the classic, cluster and emitter formats.

use crate::msgpack::{self, Value};
use crate::Error;

/// Socket.IO packet type of an EVENT: the only type the adapters broadcast.
pub const EVENT: u64 = 2;

/// How a payload was serialized: Node decides by its first byte (`{` is JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `JSON.stringify` text.
    Json,
    /// notepack.io msgpack.
    Msgpack,
}

impl Encoding {
    /// The encoding a receiver assumes for `payload`: JSON if it starts with `0x7b` (`{`).
    pub fn of(payload: &[u8]) -> Encoding {
        if payload.first() == Some(&b'{') {
            Encoding::Json
        } else {
            Encoding::Msgpack
        }
    }
}

/// Decodes a payload the way the adapters do (first byte `{` = JSON, else msgpack).
pub fn decode_payload(payload: &[u8]) -> Result<(Value, Encoding), Error> {
    let enc = Encoding::of(payload);
    let v = match enc {
        Encoding::Json => {
            let json: serde_json::Value =
                serde_json::from_slice(payload).map_err(|e| Error::Json(e.to_string()))?;
            Value::from(&json)
        }
        Encoding::Msgpack => msgpack::decode(payload)?,
    };
    Ok((v, enc))
}

/// Serializes `value` with `encoding` (JSON as Node's `JSON.stringify`, see
/// [`Value::to_json`]).
pub fn encode_payload(value: &Value, encoding: Encoding) -> Result<Vec<u8>, Error> {
    match encoding {
        Encoding::Json => {
            serde_json::to_vec(&value.to_json()).map_err(|e| Error::Json(e.to_string()))
        }
        Encoding::Msgpack => Ok(msgpack::encode(value)?),
    }
}

/// Something to `PUBLISH` (or `SPUBLISH`): a channel and the payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The channel.
    pub channel: String,
    /// The message.
    pub payload: Vec<u8>,
}

/// A Socket.IO packet inside a broadcast: `{type, data, nsp}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Packet type: always [`EVENT`] (2) for broadcasts, even when `data` holds binary.
    pub packet_type: u64,
    /// `[event, ...args]`, binary as `Bin`.
    pub data: Value,
    /// The namespace; the classic adapter and the emitter always set it, the ClusterAdapter
    /// does not. Receivers treat a missing `nsp` as `/`.
    pub nsp: Option<String>,
    /// Ack id; never set by the senders observed, kept if present.
    pub id: Option<u64>,
}

impl Packet {
    /// An EVENT packet.
    pub fn event(data: Value, nsp: Option<String>) -> Packet {
        Packet {
            packet_type: EVENT,
            data,
            nsp,
            id: None,
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        let mut m = vec![
            ("type", Value::UInt(self.packet_type)),
            ("data", self.data.clone()),
        ];
        if let Some(nsp) = &self.nsp {
            m.push(("nsp", Value::from(nsp.as_str())));
        }
        if let Some(id) = self.id {
            m.push(("id", Value::UInt(id)));
        }
        Value::map(m)
    }

    pub(crate) fn from_value(v: &Value) -> Result<Packet, Error> {
        expect_map(v, "packet")?;
        Ok(Packet {
            packet_type: req_u64(v, "type")?,
            data: field(v, "data").cloned().unwrap_or(Value::Undefined),
            nsp: opt_str(v, "nsp")?,
            id: match field(v, "id") {
                Some(id) => Some(id.as_u64().ok_or(Error::field("id", "an integer"))?),
                None => None,
            },
        })
    }
}

/// Broadcast flags (`volatile`, `compress`, `local`, `timeout`, …) in wire order.
///
/// The order is the order in which the sender set them (`io.volatile.compress(false)` gives
/// `{volatile, compress}`, `io.compress(false).volatile` the reverse), so it is kept to
/// re-encode byte for byte.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BroadcastFlags(pub Vec<(String, Value)>);

impl BroadcastFlags {
    /// No flags: `{}`.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Sets a flag as a JavaScript assignment would: in place if present, else appended.
    pub fn set(&mut self, name: &str, value: Value) -> &mut Self {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
        self
    }

    /// `flags.volatile` is truthy.
    pub fn volatile(&self) -> bool {
        self.get("volatile")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `flags.compress`, if set.
    pub fn compress(&self) -> Option<bool> {
        self.get("compress").and_then(Value::as_bool)
    }

    /// `flags.local` is truthy.
    pub fn local(&self) -> bool {
        self.get("local").and_then(Value::as_bool).unwrap_or(false)
    }

    /// `flags.timeout` in ms, if set (emit with acknowledgements).
    pub fn timeout(&self) -> Option<u64> {
        self.get("timeout").and_then(Value::as_u64)
    }

    pub(crate) fn to_value(&self) -> Value {
        Value::map(self.0.iter().map(|(k, v)| (k.clone(), v.clone())))
    }

    fn from_value(v: &Value) -> Result<Self, Error> {
        match v {
            Value::Map(entries) => Ok(BroadcastFlags(
                entries
                    .iter()
                    .filter(|(_, v)| !matches!(v, Value::Undefined))
                    .map(|(k, v)| (key_to_string(k), v.clone()))
                    .collect(),
            )),
            _ => Err(Error::field("flags", "an object")),
        }
    }
}

/// Which sockets a broadcast or request targets: `{rooms, except, flags?}`.
///
/// `rooms` empty means every socket. Requests of the classic adapter carry no `flags`
/// (`None`); broadcasts and every ClusterAdapter message do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BroadcastOptions {
    /// Target rooms (union); empty = all sockets.
    pub rooms: Vec<String>,
    /// Rooms whose sockets are excluded.
    pub except: Vec<String>,
    /// Flags; `None` when the key is absent.
    pub flags: Option<BroadcastFlags>,
}

/// Key order of an options object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptsOrder {
    /// `{rooms, except, flags}`: the adapters.
    Adapter,
    /// `{rooms, flags, except}`: @socket.io/redis-emitter broadcasts.
    Emitter,
}

impl BroadcastOptions {
    /// All sockets, with empty flags `{}`.
    pub fn all() -> Self {
        BroadcastOptions {
            flags: Some(BroadcastFlags::new()),
            ..Default::default()
        }
    }

    /// The flags, or empty flags.
    pub fn flags(&self) -> BroadcastFlags {
        self.flags.clone().unwrap_or_default()
    }

    pub(crate) fn to_value(&self, order: OptsOrder) -> Value {
        let rooms = Value::str_array(&self.rooms);
        let except = Value::str_array(&self.except);
        let mut m = vec![("rooms", rooms)];
        if order == OptsOrder::Adapter {
            m.push(("except", except.clone()));
        }
        if let Some(f) = &self.flags {
            m.push(("flags", f.to_value()));
        }
        if order == OptsOrder::Emitter {
            m.push(("except", except));
        }
        Value::map(m)
    }

    pub(crate) fn from_value(v: &Value) -> Result<Self, Error> {
        expect_map(v, "opts")?;
        Ok(BroadcastOptions {
            rooms: str_list(v, "rooms")?,
            except: str_list(v, "except")?,
            flags: match field(v, "flags") {
                Some(Value::Nil) | None => None,
                Some(f) => Some(BroadcastFlags::from_value(f)?),
            },
        })
    }
}

/// One socket in a fetchSockets response: `{id, handshake, rooms, data}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSocket {
    /// Socket id.
    pub id: String,
    /// The handshake object (`headers`, `time`, `address`, `xdomain`, `secure`, `issued`,
    /// `url`, `query`, `auth`), without `sessionStore`.
    pub handshake: Value,
    /// The rooms the socket is in (its own id first).
    pub rooms: Vec<String>,
    /// `socket.data`; `Undefined` omits the key.
    pub data: Value,
}

impl RemoteSocket {
    pub(crate) fn to_value(&self) -> Value {
        Value::map([
            ("id", Value::from(self.id.as_str())),
            ("handshake", self.handshake.clone()),
            ("rooms", Value::str_array(&self.rooms)),
            ("data", self.data.clone()),
        ])
    }

    pub(crate) fn from_value(v: &Value) -> Result<Self, Error> {
        expect_map(v, "socket")?;
        Ok(RemoteSocket {
            id: req_str(v, "id")?,
            handshake: field(v, "handshake").cloned().unwrap_or(Value::Undefined),
            rooms: str_list(v, "rooms")?,
            data: field(v, "data").cloned().unwrap_or(Value::Undefined),
        })
    }

    pub(crate) fn list_from(v: &Value, name: &'static str) -> Result<Vec<Self>, Error> {
        match field(v, name) {
            Some(Value::Array(items)) => items.iter().map(RemoteSocket::from_value).collect(),
            _ => Err(Error::field(name, "an array")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field access helpers (a missing key and `undefined` are the same thing, as in JavaScript).

pub(crate) fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get(name).filter(|x| !matches!(x, Value::Undefined))
}

pub(crate) fn expect_map(v: &Value, what: &'static str) -> Result<(), Error> {
    match v {
        Value::Map(_) => Ok(()),
        _ => Err(Error::field(what, "an object")),
    }
}

pub(crate) fn req_u64(v: &Value, name: &'static str) -> Result<u64, Error> {
    field(v, name)
        .and_then(Value::as_u64)
        .ok_or(Error::field(name, "a non-negative integer"))
}

pub(crate) fn req_str(v: &Value, name: &'static str) -> Result<String, Error> {
    field(v, name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(Error::field(name, "a string"))
}

pub(crate) fn opt_str(v: &Value, name: &'static str) -> Result<Option<String>, Error> {
    match field(v, name) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::field(name, "a string")),
    }
}

/// A room name: strings as they are; numbers (JavaScript allows `socket.join(1)`) in decimal.
fn room_name(v: &Value, name: &'static str) -> Result<String, Error> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(_) | Value::UInt(_) | Value::F64(_) => Ok(key_to_string(v)),
        _ => Err(Error::field(name, "an array of room names")),
    }
}

pub(crate) fn str_list(v: &Value, name: &'static str) -> Result<Vec<String>, Error> {
    match field(v, name) {
        None | Some(Value::Nil) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|x| room_name(x, name)).collect(),
        Some(_) => Err(Error::field(name, "an array of room names")),
    }
}

pub(crate) fn key_to_string(k: &Value) -> String {
    match k.to_json() {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}
