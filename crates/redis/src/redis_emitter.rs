//! [`RedisEmitter`]: emits into a cluster of classic-adapter nodes (Node.js or Ferrio) from any
//! Rust process, without a Socket.IO server, as `@socket.io/redis-emitter` 5 does.
//!
//! ```no_run
//! use ferrio_redis::RedisEmitter;
//!
//! # async fn run() -> Result<(), ferrio_redis::DriverError> {
//! let emitter = RedisEmitter::new("redis://127.0.0.1:6379")?;
//! emitter.to("room1").except("room2").emit("news", &("hello", 1)).await?;
//! emitter.of("/admin").sockets_join(["staff"]).await?;
//! emitter.server_side_emit("ping", &()).await?;
//! # Ok(()) }
//! ```
//!
//! Like the Node emitter, it only publishes: it is not a server, is not counted by
//! `PUBSUB NUMSUB`, and cannot receive acknowledgements.

use ferrio::adapter::IntoRooms;
use ferrio::parser::{event_payload, is_reserved_event, Payload};
use serde::Serialize;

use crate::driver::{DriverError, Publisher, RedisDriver};
use crate::emitter::Emitter;
use crate::{BroadcastFlags, BroadcastOptions, Publish, Value};

/// An emitter bound to a namespace and a selection of rooms. Cheap to clone; each operator
/// returns a new selection.
#[derive(Debug, Clone)]
pub struct RedisEmitter {
    publisher: Publisher,
    key: String,
    codec: Emitter,
    opts: BroadcastOptions,
}

impl RedisEmitter {
    /// An emitter on `/` with the key `socket.io`, with its own connection to `url` (made in
    /// the background and remade when lost). Needs a Tokio runtime.
    pub fn new(url: &str) -> Result<RedisEmitter, DriverError> {
        Self::with_key(url, crate::classic::DEFAULT_KEY)
    }

    /// An emitter on `/` with the channel prefix `key`.
    pub fn with_key(url: &str, key: &str) -> Result<RedisEmitter, DriverError> {
        let client =
            redis::Client::open(url).map_err(|e| DriverError::InvalidUrl(e.to_string()))?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| DriverError::NoRuntime)?;
        Ok(Self::from_publisher(Publisher::spawn(client, &handle), key))
    }

    /// An emitter sharing the publishing connection of a server's [`RedisDriver`].
    pub fn from_driver(driver: &RedisDriver, key: &str) -> RedisEmitter {
        Self::from_publisher(driver.publisher.clone(), key)
    }

    fn from_publisher(publisher: Publisher, key: &str) -> RedisEmitter {
        RedisEmitter {
            publisher,
            key: key.to_owned(),
            codec: Emitter::new(key, "/"),
            opts: BroadcastOptions::all(),
        }
    }

    /// The same emitter on namespace `nsp` (a missing leading `/` is added), with no rooms
    /// selected.
    pub fn of(&self, nsp: &str) -> RedisEmitter {
        RedisEmitter {
            publisher: self.publisher.clone(),
            key: self.key.clone(),
            codec: Emitter::new(&self.key, nsp),
            opts: BroadcastOptions::all(),
        }
    }

    /// The namespace.
    pub fn nsp(&self) -> &str {
        self.codec.nsp()
    }

    /// Only the sockets in `rooms` (a union with earlier calls).
    pub fn to(&self, rooms: impl IntoRooms) -> RedisEmitter {
        let mut e = self.clone();
        for r in rooms.into_rooms() {
            if !e.opts.rooms.iter().any(|x| **x == *r) {
                e.opts.rooms.push(r.to_string());
            }
        }
        e
    }

    /// Same as [`to`](Self::to) (`in` in Node).
    pub fn within(&self, rooms: impl IntoRooms) -> RedisEmitter {
        self.to(rooms)
    }

    /// Not the sockets in `rooms`.
    pub fn except(&self, rooms: impl IntoRooms) -> RedisEmitter {
        let mut e = self.clone();
        for r in rooms.into_rooms() {
            if !e.opts.except.iter().any(|x| **x == *r) {
                e.opts.except.push(r.to_string());
            }
        }
        e
    }

    fn flag(&self, name: &str, v: bool) -> RedisEmitter {
        let mut e = self.clone();
        e.opts
            .flags
            .get_or_insert_with(BroadcastFlags::new)
            .set(name, Value::Bool(v));
        e
    }

    /// The packet may be dropped for clients that are not ready.
    pub fn volatile(&self) -> RedisEmitter {
        self.flag("volatile", true)
    }

    /// Whether to compress the packet.
    pub fn compress(&self, compress: bool) -> RedisEmitter {
        self.flag("compress", compress)
    }

    async fn send(&self, p: Result<Publish, crate::Error>) -> Result<(), DriverError> {
        let p = p.map_err(|e| DriverError::Encode(e.to_string()))?;
        self.publisher.publish(p.channel, p.payload).await
    }

    fn data(event: &str, args: Payload) -> Result<Value, DriverError> {
        if is_reserved_event(event) {
            return Err(DriverError::Encode(format!(
                "\"{event}\" is a reserved event name"
            )));
        }
        Value::from_json_with_attachments(&args.value, &args.attachments)
            .map_err(|e| DriverError::Encode(e.to_string()))
    }

    /// Emits `event` with `args` (serialized as Ferrio does: a tuple is several arguments,
    /// `()` none, binary via `bytes::Bytes`) to the selected sockets.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), DriverError> {
        let payload = event_payload(event, args).map_err(|e| DriverError::Encode(e.to_string()))?;
        let data = Self::data(event, payload)?;
        self.send(self.codec.emit(data, &self.opts)).await
    }

    /// Emits `[event, ...args]` already in Socket.IO form (JSON with binary placeholders and
    /// attachments) to the selected sockets.
    pub async fn emit_payload(&self, event: &str, args: Payload) -> Result<(), DriverError> {
        let data = Self::data(event, with_event(event, args))?;
        self.send(self.codec.emit(data, &self.opts)).await
    }

    /// Makes the selected sockets join `rooms` (`socketsJoin`).
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), DriverError> {
        let rooms = rooms.into_rooms().iter().map(|r| r.to_string()).collect();
        self.send(self.codec.sockets_join(&self.opts, rooms)).await
    }

    /// Makes the selected sockets leave `rooms` (`socketsLeave`).
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), DriverError> {
        let rooms = rooms.into_rooms().iter().map(|r| r.to_string()).collect();
        self.send(self.codec.sockets_leave(&self.opts, rooms)).await
    }

    /// Disconnects the selected sockets (and their connections with `close`).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), DriverError> {
        self.send(self.codec.disconnect_sockets(&self.opts, close))
            .await
    }

    /// Sends `[event, ...args]` already in Socket.IO form to every server of the namespace
    /// (`serverSideEmit`, without acknowledgement).
    pub async fn server_side_emit_payload(
        &self,
        event: &str,
        args: Payload,
    ) -> Result<(), DriverError> {
        let data = Self::data(event, with_event(event, args))?;
        self.send(self.codec.server_side_emit(data)).await
    }

    /// Sends `event` with `args` to every server of the namespace (`serverSideEmit`, without
    /// acknowledgement).
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), DriverError> {
        let payload = event_payload(event, args).map_err(|e| DriverError::Encode(e.to_string()))?;
        let data = Self::data(event, payload)?;
        self.send(self.codec.server_side_emit(data)).await
    }
}

fn with_event(event: &str, args: Payload) -> Payload {
    let Payload { value, attachments } = args;
    let mut items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items.insert(0, serde_json::Value::String(event.to_owned()));
    Payload::with_attachments(items, attachments)
}
