//! # ferrio-redis
//!
//! The wire formats that let a Rust Socket.IO node join a cluster of Node.js servers through
//! Redis, as pure data and functions: no Redis connection, no runtime, no clock. A driver
//! subscribes and publishes; this crate says on which channels and with which bytes.
//!
//! | Module | Speaks with |
//! |---|---|
//! | [`msgpack`] | notepack.io 3.0.1 (the adapters' serializer), plus JSON/attachment conversions |
//! | [`classic`] | `@socket.io/redis-adapter` 8.3 `createAdapter` (PUBLISH/PSUBSCRIBE, request types 0–9) |
//! | [`cluster`] | socket.io-adapter's `ClusterAdapter` messages (types 1–13), as carried by the sharded Redis adapter (`createShardedAdapter`) and the Redis Streams adapter |
//! | [`streams`] | `@socket.io/redis-streams-adapter` 0.3.1 (stream entries, Pub/Sub channels, offsets, sessions; the adapter is [`RedisStreamsAdapter`]) |
//! | [`emitter`] | `@socket.io/redis-emitter` 5.1 (what it publishes, so a Rust process can emit into a Node cluster and a Rust node can accept it) |
//!
//! Every decoder is bounds-checked and returns an [`Error`] rather than panicking, whatever the
//! bytes. Every encoder reproduces Node's bytes exactly (key order included); the tests replay
//! traffic captured from real Node servers (`tests/fixtures`, made by `tests/capture`).
//!
//! On top of them, the adapters that run a Ferrio server in such a cluster, on redis-rs
//! ([`RedisDriver`] keeps the connections and reconnects):
//!
//! | Adapter | Peer of Node servers made with |
//! |---|---|
//! | [`RedisAdapter`] | `@socket.io/redis-adapter` `createAdapter` |
//! | [`RedisShardedAdapter`] | `@socket.io/redis-adapter` `createShardedAdapter` (Redis 7 sharded Pub/Sub) |
//! | [`RedisStreamsAdapter`] | `@socket.io/redis-streams-adapter` (connection state recovery across servers) |
//!
//! and [`RedisEmitter`], the peer of `@socket.io/redis-emitter`.
//!
//! ## Example: answering a classic-adapter request
//! ```
//! use ferrio_redis::classic::{Channels, Request, Response};
//!
//! let channels = Channels::new("socket.io", "/", "Rust01");
//! let payload = br#"{"uid":"Nvjgu2","requestId":"f9TzvV","type":1}"#;
//! let request = Request::decode(payload).unwrap();
//! let Request::AllRooms { request_id, .. } = request else { unreachable!() };
//! let reply = Response::AllRooms { request_id, rooms: vec!["room1".into()] };
//! assert_eq!(channels.response(), "socket.io-response#/#");
//! assert_eq!(reply.encode().unwrap(), br#"{"requestId":"f9TzvV","rooms":["room1"]}"#);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod adapter;
pub mod classic;
pub mod cluster;
mod cluster_adapter;
mod common;
mod driver;
pub mod emitter;
#[doc(hidden)]
pub mod fuzzing;
pub mod msgpack;
pub mod redis_emitter;
pub mod sharded;
mod sharded_subscriber;
pub mod streams;
pub mod streams_adapter;

pub use adapter::{RedisAdapter, RedisAdapterConfig};
pub use driver::{DriverError, RedisDriver};
pub use redis_emitter::RedisEmitter;
pub use sharded::{RedisShardedAdapter, RedisShardedAdapterConfig};
pub use streams_adapter::{RedisStreams, RedisStreamsAdapter, RedisStreamsAdapterConfig};

pub use cluster::SubscriptionMode;
pub use common::{
    decode_payload, encode_payload, BroadcastFlags, BroadcastOptions, Encoding, Packet, Publish,
    RemoteSocket, EVENT,
};
pub use msgpack::Value;

/// Why a message could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload is not valid msgpack.
    #[error(transparent)]
    Msgpack(#[from] msgpack::DecodeError),
    /// A value too large for msgpack.
    #[error(transparent)]
    Encode(#[from] msgpack::EncodeError),
    /// The payload starts with `{` but is not valid JSON (the text is serde_json's message).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A field is missing or has the wrong type.
    #[error("field `{field}` must be {expected}")]
    Field {
        /// The field.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// A request, response or message type this protocol does not define.
    #[error("unknown message type {0}")]
    UnknownType(u64),
}

impl Error {
    pub(crate) fn field(field: &'static str, expected: &'static str) -> Error {
        Error::Field { field, expected }
    }
}
