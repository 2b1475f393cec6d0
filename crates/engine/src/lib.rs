//! # ferrio-engine
//!
//! An [Engine.IO](https://socket.io/docs/v4/engine-io-protocol/) server (protocol v4): the
//! transport layer under Ferrio's Socket.IO server, usable on its own. It speaks the protocol
//! of the reference Node.js server byte for byte, so the official clients connect unchanged:
//! HTTP long-polling (XHR and JSONP), WebSocket, the upgrade from one to the other, the
//! heartbeat, payload limits, CORS and the reference's error codes.
//!
//! ## Layout
//! The protocol core is sans-IO: [`packet`], [`payload`], [`heartbeat`] and [`upgrade`] are
//! plain data and functions, with no sockets and no clock of their own. The transports are thin
//! drivers around them: one task per session owns its heartbeat and, once upgraded, its
//! WebSocket.
//!
//! ## Example: an echo server
//! ```no_run
//! use ferrio_engine::{serve, CloseReason, Engine, EngineConfig, EngineHandler, Message, Socket};
//!
//! struct Echo;
//! impl EngineHandler for Echo {
//!     type Data = ();
//!     fn on_open(&self, _socket: &Socket) {}
//!     fn on_message(&self, socket: &Socket, message: Message) {
//!         let _ = match message {
//!             Message::Text(t) => socket.send_text(&t),
//!             Message::Binary(b) => socket.send_binary(b),
//!         };
//!     }
//!     fn on_close(&self, _socket: &Socket, _reason: CloseReason) {}
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let engine = Engine::new(EngineConfig::default(), Echo);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! serve(listener, engine.into_service()).await
//! # }
//! ```
//!
//! To mount the engine in an existing hyper or axum server, use [`EngineService`] (or
//! [`EngineLayer`]): it answers requests under the engine's path and passes every other
//! request to the inner service.
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod config;
mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod heartbeat;
pub mod packet;
pub mod payload;
mod queue;
mod service;
mod sid;
mod socket;
mod str;
mod transport;
pub mod upgrade;
pub mod ws;

pub use config::{
    AllowRequest, BoxFuture, Cookie, Cors, CorsOrigin, EngineConfig, HttpCompression, Transports,
};
pub use engine::{Engine, EngineHandler, Message, RemoteAddr};
pub use error::{CloseReason, ErrorCode, SendError};
pub use packet::{DecodeError, Frame, Packet, PacketType, ProtocolVersion};
pub use service::{serve, serve_with_shutdown, EngineLayer, EngineService, NotFound, ResponseBody};
pub use sid::{BuildSidHasher, InvalidSid, Sid, SidHasher, SidMap, SidSet};
pub use socket::{RequestInfo, Socket, TransportKind, MAX_WRITE_PAUSE};
pub use str::Str;
