//! The adapter: how broadcasts and server-wide operations reach sockets, on one server or a
//! cluster.
//!
//! Every operation that may touch other servers is async and bounded by a timeout (design
//! principle 5). The in-memory [`MemoryAdapter`] is the one-server case: it applies each
//! operation to the local [`Namespace`] at once. Cluster adapters (Redis) publish the
//! operation to the other servers and apply it locally the same way.
//!
//! Implementations must apply an operation to local sockets *before* returning its future, so
//! that broadcasts keep the order of the calls that made them. The one exception is an adapter
//! that [assigns the recovery offsets](Adapter::assigns_offsets) itself (the Redis Streams
//! adapter): with connection state recovery on, a broadcast needs its offset (a stream entry
//! id) before it can reach the local sockets, so it is applied when the future completes, still
//! in call order.
//!
//! Connection state recovery goes through the adapter too: [`Adapter::persist_session`] and
//! [`Adapter::restore_session`] keep and give back [`Session`]s (in the server's memory by
//! default), so that a cluster adapter can restore a client on another server.

mod memory;

pub use memory::MemoryAdapter;

use crate::namespace::Namespace;
use crate::parser::Payload;
use crate::recovery::RecoveryConfig;
use crate::remote::RemoteSocket;
use ferrio_engine::Sid;
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

/// A socket's state kept for connection state recovery (the reference's `Session`): persisted
/// when the socket leaves for a recoverable reason, restored when its client comes back with
/// `{pid, offset}`.
///
/// ```
/// use ferrio::adapter::{Room, Session};
/// use ferrio::Sid;
///
/// // What an adapter is given to keep when a socket leaves for a recoverable reason.
/// let sid = Sid::new();
/// let session = Session {
///     sid,
///     pid: Sid::new(),
///     rooms: vec![Room::from(sid.as_str()), Room::from("room1")],
///     data: serde_json::json!({ "user": "bob" }),
///     missed_packets: Vec::new(),
/// };
/// assert_ne!(session.sid, session.pid);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The socket id, given back to the restored socket.
    pub sid: Sid,
    /// The private session id the client sends back (`pid`).
    pub pid: Sid,
    /// The rooms the socket was in (its own room included).
    pub rooms: Vec<Room>,
    /// `socket.data` (`null` when unset).
    pub data: serde_json::Value,
    /// When restored: the EVENTs it missed (`[event, ...args, offset]`), oldest first, sent to
    /// the client before the CONNECT reply. Empty when persisting.
    pub missed_packets: Vec<Payload>,
}

/// Whether a socket that was in `session_rooms` would have received a packet sent to `rooms`
/// (every socket when empty) minus the sockets in `except` (the reference's
/// `shouldIncludePacket`): how restored sessions pick their missed packets.
///
/// ```
/// use ferrio::adapter::{should_include_packet, Room};
/// let mine = [Room::from("sid1"), Room::from("a")];
/// assert!(should_include_packet(&mine, &[], &[]));
/// assert!(should_include_packet(&mine, &[Room::from("a")], &[]));
/// assert!(!should_include_packet(&mine, &[Room::from("b")], &[]));
/// assert!(!should_include_packet(&mine, &[], &[Room::from("a")]));
/// ```
pub fn should_include_packet(session_rooms: &[Room], rooms: &[Room], except: &[Room]) -> bool {
    let included = rooms.is_empty() || session_rooms.iter().any(|r| rooms.contains(r));
    let excluded = session_rooms.iter().any(|r| except.contains(r));
    included && !excluded
}

thread_local! {
    /// The offset an adapter assigned to the packet `broadcast_local_at` is sending.
    static ASSIGNED_OFFSET: std::cell::RefCell<Option<Option<String>>> =
        const { std::cell::RefCell::new(None) };
}

/// Takes the offset an adapter assigned to the packet being broadcast, if one did: `Some(None)`
/// means "assigned: no offset".
pub(crate) fn take_assigned_offset() -> Option<Option<String>> {
    ASSIGNED_OFFSET.with(|o| o.borrow_mut().take())
}

/// What adapters need of connection state recovery.
impl Namespace {
    /// The connection state recovery options, when recovery is on.
    pub fn recovery_config(&self) -> Option<RecoveryConfig> {
        self.recovery.as_ref().map(|r| r.config)
    }

    /// [`broadcast_local`](Namespace::broadcast_local) for an adapter that
    /// [assigns offsets](Adapter::assigns_offsets): with recovery on, `offset` (e.g. the
    /// Redis stream entry id of the broadcast) is appended to the packet instead of one from
    /// the in-memory store; `None` sends it without offset.
    pub fn broadcast_local_at(&self, data: Payload, opts: &BroadcastOptions, offset: Option<&str>) {
        ASSIGNED_OFFSET.with(|o| *o.borrow_mut() = Some(offset.map(str::to_owned)));
        self.broadcast_local(data, opts);
        ASSIGNED_OFFSET.with(|o| *o.borrow_mut() = None);
    }
}

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

    /// Whether this adapter assigns the connection state recovery offsets (`false`: the
    /// server's in-memory store does).
    ///
    /// An adapter that does passes the offset of each broadcast to
    /// [`Namespace::broadcast_local_at`], answers [`current_offset`](Adapter::current_offset)
    /// for packets sent to one socket without a broadcast, and implements
    /// [`persist_session`](Adapter::persist_session) and
    /// [`restore_session`](Adapter::restore_session) with its own storage.
    fn assigns_offsets(&self) -> bool {
        false
    }

    /// With [`assigns_offsets`](Adapter::assigns_offsets): the offset of a packet emitted to
    /// one socket of this server directly (`socket.emit`), i.e. the newest offset this server
    /// has delivered; `None` sends the packet without one.
    fn current_offset(&self) -> Option<String> {
        None
    }

    /// Keeps the session of a socket that left for a recoverable reason, for
    /// [`RecoveryConfig::max_disconnection_duration`] (`persistSession`). By default in the
    /// server's memory.
    fn persist_session(&self, local: &Arc<Namespace>, session: Session) {
        if let Some(store) = &local.recovery {
            store.persist_local(session);
        }
    }

    /// Takes back the session `pid` with the packets sent after `offset` that it would have
    /// received (`restoreSession`); `None` when the session or the offset is unknown (the
    /// client then gets a new session). By default from the server's memory.
    fn restore_session(
        &self,
        local: &Arc<Namespace>,
        pid: Sid,
        offset: String,
    ) -> AdapterFuture<Option<Session>> {
        let restored = local
            .recovery
            .as_ref()
            .and_then(|store| store.restore(pid, &offset));
        Box::pin(std::future::ready(Ok(restored)))
    }
}
