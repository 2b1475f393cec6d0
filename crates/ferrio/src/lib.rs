//! # Ferrio: Socket.IO for Rust
//!
//! A Socket.IO server (protocol v5) that the official clients — JavaScript, Python, Java,
//! Swift, C++ — connect to unchanged, built on [`ferrio_engine`] (Engine.IO v4).
//!
//! ## A server in ten lines
//! ```no_run
//! use ferrio::{Data, SocketIo, SocketRef};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let io = SocketIo::new();
//!     io.ns("/", |socket: SocketRef| async move {
//!         socket.on("chat message", |socket: SocketRef, Data(msg): Data<String>| async move {
//!             socket.broadcast().emit("chat message", &msg).await.ok();
//!         });
//!     });
//!     io.listen("127.0.0.1:3000").await
//! }
//! ```
//!
//! ## In the order you meet it
//! - **Server**: [`SocketIo`], built with [`SocketIo::builder`]; serve it with
//!   [`SocketIo::listen`], or mount it in hyper/axum with [`SocketIo::layer`].
//! - **Namespaces**: [`SocketIo::ns`] (static), [`SocketIo::dyn_ns`] (dynamic); middlewares
//!   with [`NamespaceRef::with`].
//! - **Events**: [`SocketRef::on`] with [extractor](handler) arguments; [`SocketRef::emit`].
//! - **Acknowledgements**: [`AckSender`] answers the client;
//!   [`SocketRef::emit_with_ack`] and [`BroadcastOperators::emit_with_ack`] wait for clients.
//! - **Rooms and broadcasting**: [`SocketRef::join`], [`SocketRef::broadcast`],
//!   [`SocketIo::to`], and the [`BroadcastOperators`].
//! - **Recovery**: [`SocketIoBuilder::connection_state_recovery`].
//! - **Adapters**: [`adapter::Adapter`], the cluster interface; [`adapter::MemoryAdapter`].
//! - **The browser client**: [`SocketIoBuilder::serve_client`] serves the official
//!   `socket.io.js` at `/socket.io/socket.io.js` ([`client_bundle`]).
//!
//! ## Logs
//! Ferrio logs with `tracing` on the targets `ferrio::client`, `ferrio::socket`,
//! `ferrio::handler` and `ferrio::server`, and the engine under `ferrio_engine` — the
//! equivalent of `DEBUG=socket.io*`: `RUST_LOG=ferrio=debug,ferrio_engine=debug`.
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod adapter;
mod client;
pub mod client_bundle;
mod errors;
pub mod handler;
mod handshake;
mod namespace;
mod operators;
pub mod parser;
mod recovery;
mod remote;
mod rooms;
mod server;
mod socket;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

pub use client::{Client, ClientData};

/// The longest namespace name a CONNECT may carry, in bytes. The reference has no limit (only
/// `maxHttpBufferSize`); here a longer name closes the connection (as a parse error) instead
/// of being kept as a dynamic namespace or echoed back in a `CONNECT_ERROR`.
pub const MAX_NAMESPACE_LEN: usize = 1024;
pub use client_bundle::{ClientBundle, SocketIoLayer, SocketIoService};
pub use errors::{AckError, ConnectError, DisconnectReason, EmitError};
pub use ferrio_engine::{self as engine, Sid};
pub use handler::{Data, Event, TryData};
pub use handshake::Handshake;
pub use namespace::{Namespace, NamespaceRef, NamespaceStats, ServerSideAck};
pub use operators::{BroadcastAckError, BroadcastOperators, DEFAULT_ACK_TIMEOUT};
pub use recovery::RecoveryConfig;
pub use remote::RemoteSocket;
pub use server::{SocketIo, SocketIoBuilder, SocketIoConfig, Stats};
pub use socket::{AckSender, FromAck, SocketRef};
