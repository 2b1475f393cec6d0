//! The adapter: how broadcasts and server-wide operations reach sockets, on one server or a
//! cluster.
//!
//! Every operation that may touch other servers is async and bounded by a timeout (design
//! principle 5). The in-memory [`MemoryAdapter`] is the one-server case: it applies each
//! operation to the local [`Namespace`] at once. Cluster adapters (Redis) publish the
//! operation to the other servers and apply it locally the same way.
//!
//! Implementations must apply an operation to local sockets *before* returning its future, so
//! that broadcasts keep the order of the calls that made them.

mod memory;

pub use memory::MemoryAdapter;

use crate::namespace::Namespace;
use crate::parser::Payload;
use crate::remote::RemoteSocket;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A room name.
pub type Room = Arc<str>;

/// Things that name one or several rooms: `&str`, `String`, `Room`, arrays and vectors of them.
pub trait IntoRooms {
    /// The rooms.
    fn into_rooms(self) -> Vec<Room>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self)]
    }
}

impl IntoRooms for String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self)]
    }
}

impl IntoRooms for &String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self.as_str())]
    }
}

impl IntoRooms for Room {
    fn into_rooms(self) -> Vec<Room> {
        vec![self]
    }
}

impl IntoRooms for ferrio_engine::Sid {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self.as_str())]
    }
}

impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

impl<T: IntoRooms, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

/// Flags of a broadcast.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastFlags {
    /// The packet may be dropped for clients that are not ready to receive it.
    pub volatile: bool,
    /// Whether to compress (kept for cluster peers; WebSocket compression is not negotiated).
    pub compress: Option<bool>,
    /// Only this server's sockets.
    pub local: bool,
    /// How long to wait for acknowledgements.
    pub timeout: Option<Duration>,
}

/// Which sockets a broadcast or a server-wide operation reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// The union of these rooms; every socket of the namespace when empty.
    pub rooms: Vec<Room>,
    /// Minus the sockets in any of these rooms.
    pub except: Vec<Room>,
    /// Flags.
    pub flags: BroadcastFlags,
}

impl BroadcastOptions {
    pub(crate) fn to_room(room: Room) -> Self {
        BroadcastOptions {
            rooms: vec![room],
            ..Default::default()
        }
    }
}

/// A room changed (the reference's adapter events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomEvent {
    /// `create-room`: a room got its first socket.
    Create(Room),
    /// `delete-room`: a room lost its last socket.
    Delete(Room),
    /// `join-room`: a socket joined a room.
    Join(Room, ferrio_engine::Sid),
    /// `leave-room`: a socket left a room.
    Leave(Room, ferrio_engine::Sid),
}

/// An adapter operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// Other servers did not answer in time.
    #[error("timeout reached while waiting for {0} response")]
    Timeout(&'static str),
    /// The cluster transport failed.
    #[error("cluster transport error: {0}")]
    Transport(String),
}

/// A boxed adapter future.
pub type AdapterFuture<T> = Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send>>;

/// The cluster interface of a namespace.
///
/// `local` is the namespace on this server; `Namespace`'s `local_*` methods do the
/// one-server part of each operation.
pub trait Adapter: Send + Sync + 'static {
    /// Called once when the namespace is created, before any socket joins: a cluster adapter
    /// keeps a [`Weak`](std::sync::Weak) handle to apply what other servers send, and starts
    /// its subscriptions.
    fn init(&self, local: &Arc<Namespace>) {
        let _ = local;
    }

    /// Called when the namespace is dropped or the server closes.
    fn close(&self) -> AdapterFuture<()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Sends an EVENT (`data` = `[event, ...args]`) to the matching sockets.
    fn broadcast(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        opts: &BroadcastOptions,
    ) -> AdapterFuture<()>;

    /// Sends an EVENT with ack id `id` and forwards every acknowledgement to `acks`;
    /// resolves to how many acknowledgements to expect.
    fn broadcast_with_ack(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        opts: &BroadcastOptions,
        id: u64,
        acks: mpsc::UnboundedSender<Payload>,
    ) -> AdapterFuture<usize>;

    /// The matching sockets of every server.
    fn fetch_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &BroadcastOptions,
    ) -> AdapterFuture<Vec<RemoteSocket>>;

    /// Makes the matching sockets join `rooms`.
    fn add_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &BroadcastOptions,
        rooms: Vec<Room>,
    ) -> AdapterFuture<()>;

    /// Makes the matching sockets leave `rooms`.
    fn del_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &BroadcastOptions,
        rooms: Vec<Room>,
    ) -> AdapterFuture<()>;

    /// Disconnects the matching sockets (and their connections with `close`).
    fn disconnect_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &BroadcastOptions,
        close: bool,
    ) -> AdapterFuture<()>;

    /// Emits an event to the other servers (`serverSideEmit`); resolves to their
    /// acknowledgements when `with_ack`.
    fn server_side_emit(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        with_ack: bool,
    ) -> AdapterFuture<Vec<Payload>>;

    /// How many servers the cluster has (1 for the in-memory adapter).
    fn server_count(&self) -> AdapterFuture<usize>;
}
