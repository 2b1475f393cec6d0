//! [`Namespace`]: a channel of the connection, with its sockets, rooms and middlewares.

use crate::adapter::{Adapter, BroadcastOptions, Room, RoomEvent};
use crate::client::EncodedFrames;
use crate::handler::{ConnectHandler, ConnectMiddleware};
use crate::parser::{Packet, Payload};
use crate::recovery::RecoveryStore;
use crate::remote::RemoteSocket;
use crate::rooms::Rooms;
use crate::socket::{AckSlot, SocketRef};
use ferrio_engine::Sid;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

type RoomListener = Arc<dyn Fn(&RoomEvent) + Send + Sync>;
/// Called with the namespace name when its last socket leaves.
pub(crate) type OnEmpty = Box<dyn Fn(&str) + Send + Sync>;
type ServerSideListener = Arc<dyn Fn(Payload, Option<ServerSideAck>) + Send + Sync>;

/// Answers an event another server sent with `serverSideEmit` and an acknowledgement
/// callback. Cheap to clone: every listener gets one, the first answer is sent.
#[derive(Debug, Clone)]
pub struct ServerSideAck(Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<Payload>>>>);

impl ServerSideAck {
    /// Sends `args` (the acknowledgement's argument list) to the emitting server; only the
    /// first call of all the clones counts.
    pub fn send(&self, args: Payload) {
        let tx = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = tx {
            let _ = tx.send(args);
        }
    }
}

/// Live counts of one namespace (see [`Namespace::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct NamespaceStats {
    /// The namespace name.
    pub name: String,
    /// Sockets of this server connected to it.
    pub sockets: usize,
    /// Rooms with at least one socket (each socket's own room counts).
    pub rooms: usize,
    /// Sockets with an entry in the room table (every connected socket has one: its own room).
    pub sockets_in_rooms: usize,
    /// Acknowledgements the server waits for from these sockets (`emit_with_ack`), expired
    /// ones included until they are swept.
    pub pending_acks: usize,
}

/// What a namespace does with connections: its handler and middlewares. Shared by the
/// children of a dynamic namespace.
pub(crate) struct Setup {
    pub(crate) handler: Arc<dyn ConnectHandler>,
    pub(crate) middlewares: RwLock<Vec<Arc<dyn ConnectMiddleware>>>,
}

/// A namespace on this server.
///
/// The `*_local` methods are the one-server part of the [`Adapter`] operations; adapters call
/// them.
pub struct Namespace {
    pub(crate) name: String,
    pub(crate) setup: Arc<Setup>,
    pub(crate) adapter: Arc<dyn Adapter>,
    pub(crate) recovery: Option<RecoveryStore>,
    /// Called when the last socket leaves (cleanup of empty dynamic children).
    pub(crate) on_empty: Option<OnEmpty>,
    sockets: RwLock<ferrio_engine::SidMap<SocketRef>>,
    rooms: RwLock<Rooms>,
    room_listeners: RwLock<Vec<RoomListener>>,
    server_side_listeners: RwLock<Vec<ServerSideListener>>,
    ack_ids: AtomicU64,
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("sockets", &self.socket_count())
            .finish()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Namespace {
    pub(crate) fn new(
        name: String,
        setup: Arc<Setup>,
        adapter: Arc<dyn Adapter>,
        recovery: Option<RecoveryStore>,
        on_empty: Option<OnEmpty>,
    ) -> Self {
        Namespace {
            name,
            setup,
            adapter,
            recovery,
            on_empty,
            sockets: RwLock::new(ferrio_engine::SidMap::default()),
            rooms: RwLock::new(Rooms::default()),
            room_listeners: RwLock::new(Vec::new()),
            server_side_listeners: RwLock::new(Vec::new()),
            ack_ids: AtomicU64::new(0),
        }
    }

    /// The name, e.g. `/` or `/admin`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many sockets of this server are connected to the namespace.
    pub fn socket_count(&self) -> usize {
        read(&self.sockets).len()
    }

    /// The connected socket with this id, on this server.
    pub fn socket(&self, id: Sid) -> Option<SocketRef> {
        read(&self.sockets).get(&id).cloned()
    }

    /// Every connected socket of this server.
    pub fn sockets(&self) -> Vec<SocketRef> {
        read(&self.sockets).values().cloned().collect()
    }

    /// Every room of this server with at least one socket.
    pub fn rooms(&self) -> Vec<Room> {
        read(&self.rooms).all()
    }

    /// Live counts of this namespace, for leak checks (see [`SocketIo::stats`](crate::SocketIo::stats)).
    pub fn stats(&self) -> NamespaceStats {
        let sockets = self.sockets();
        let (rooms, sockets_in_rooms) = read(&self.rooms).counts();
        NamespaceStats {
            name: self.name.clone(),
            sockets: sockets.len(),
            rooms,
            sockets_in_rooms,
            pending_acks: sockets.iter().map(|s| s.pending_acks()).sum(),
        }
    }

    /// Adds a listener of room events (`create-room`, `delete-room`, `join-room`,
    /// `leave-room`).
    pub fn on_room_event<F: Fn(&RoomEvent) + Send + Sync + 'static>(&self, f: F) {
        write(&self.room_listeners).push(Arc::new(f));
    }

    /// Adds a listener of the events other servers of the cluster send with `serverSideEmit`
    /// (`namespace.on("event")` for server-side events in the reference). `data` is
    /// `[event, ...args]`; `ack` is set when the sender waits for an acknowledgement.
    pub fn on_server_side_emit<F>(&self, f: F)
    where
        F: Fn(Payload, Option<ServerSideAck>) + Send + Sync + 'static,
    {
        write(&self.server_side_listeners).push(Arc::new(f));
    }

    /// Delivers an event from another server to the [`on_server_side_emit`] listeners
    /// (adapters call this). With `with_ack`, returns the receiver of the first answer; it
    /// resolves to an error when no listener answers.
    ///
    /// [`on_server_side_emit`]: Self::on_server_side_emit
    pub fn server_side_emit_local(
        &self,
        data: Payload,
        with_ack: bool,
    ) -> Option<tokio::sync::oneshot::Receiver<Payload>> {
        let listeners = read(&self.server_side_listeners).clone();
        let (ack, rx) = if with_ack {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (
                Some(ServerSideAck(Arc::new(std::sync::Mutex::new(Some(tx))))),
                Some(rx),
            )
        } else {
            (None, None)
        };
        for l in &listeners {
            l(data.clone(), ack.clone());
        }
        rx
    }

    /// A fresh acknowledgement id for a broadcast with acknowledgements (adapters use it for
    /// the broadcasts other servers ask for).
    pub fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    fn emit_room_events(&self, events: Vec<RoomEvent>) {
        if events.is_empty() {
            return;
        }
        let listeners = read(&self.room_listeners).clone();
        for l in &listeners {
            for e in &events {
                let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(e)));
                if let Err(panic) = call {
                    // The rooms changed before the listeners ran: nothing is half done. The
                    // socket the event is about loses its connection.
                    let sid = match e {
                        RoomEvent::Join(_, sid) | RoomEvent::Leave(_, sid) => Some(*sid),
                        RoomEvent::Create(_) | RoomEvent::Delete(_) => None,
                    };
                    match sid.and_then(|sid| self.socket(sid)) {
                        Some(s) => crate::handler::panicked(&s.0.conn, "a room listener", &*panic),
                        None => {
                            tracing::error!(target: "ferrio::handler", "a room listener panicked")
                        }
                    }
                }
            }
        }
    }

    // ---- rooms ------------------------------------------------------------------------

    pub(crate) fn join(&self, id: Sid, rooms: Vec<Room>) {
        let mut events = Vec::new();
        write(&self.rooms).join(id, rooms, &mut events);
        self.emit_room_events(events);
    }

    pub(crate) fn leave(&self, id: Sid, room: &Room) {
        let mut events = Vec::new();
        write(&self.rooms).leave(id, room, &mut events);
        self.emit_room_events(events);
    }

    fn leave_all(&self, id: Sid) {
        let mut events = Vec::new();
        write(&self.rooms).leave_all(id, &mut events);
        self.emit_room_events(events);
    }

    pub(crate) fn socket_rooms(&self, id: Sid) -> Vec<Room> {
        read(&self.rooms).of(id)
    }

    // ---- membership -------------------------------------------------------------------

    pub(crate) fn add_socket(&self, socket: &SocketRef, rooms: Vec<Room>) {
        write(&self.sockets).insert(socket.id(), socket.clone());
        let mut all = vec![Room::from(socket.id().as_str())];
        all.extend(rooms);
        self.join(socket.id(), all);
    }

    pub(crate) fn remove_socket(&self, socket: &SocketRef) {
        self.leave_all(socket.id());
        let empty = {
            let mut sockets = write(&self.sockets);
            sockets.remove(&socket.id());
            sockets.is_empty()
        };
        if empty {
            if let Some(f) = &self.on_empty {
                f(&self.name);
            }
        }
    }

    /// The local sockets that `opts` selects, each once.
    pub fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketRef> {
        let r = read(&self.rooms);
        let sockets = read(&self.sockets);
        match r.select(opts) {
            Some(ids) => ids
                .iter()
                .filter_map(|id| sockets.get(id).cloned())
                .collect(),
            None => {
                let except = r.excluded(opts);
                sockets
                    .iter()
                    .filter(|(id, _)| !except.contains(id))
                    .map(|(_, s)| s.clone())
                    .collect()
            }
        }
    }

    // ---- the local halves of the adapter operations -----------------------------------

    /// Sends an EVENT to the local sockets `opts` selects, encoded once.
    pub fn broadcast_local(&self, mut data: Payload, opts: &BroadcastOptions) {
        if let Some(store) = &self.recovery {
            if !opts.flags.volatile {
                store.store(&mut data, opts);
            }
        }
        let targets = self.local_sockets(opts);
        if targets.is_empty() {
            return;
        }
        let event = data
            .items()
            .first()
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let packet = Packet::event(self.name.clone(), data, None);
        let frames = EncodedFrames::encode(&packet);
        let Packet {
            kind: crate::parser::PacketKind::Event { data, .. },
            ..
        } = &packet
        else {
            return;
        };
        for socket in targets {
            socket.notify_outgoing(&event, data);
            let _ = socket.0.conn.send_frames(&frames, opts.flags.volatile);
        }
    }

    /// Sends an EVENT with ack id `id` to the local sockets; returns how many were reached.
    pub fn broadcast_with_ack_local(
        &self,
        data: Payload,
        opts: &BroadcastOptions,
        id: u64,
        acks: mpsc::UnboundedSender<Payload>,
    ) -> usize {
        let targets = self.local_sockets(opts);
        if targets.is_empty() {
            return 0;
        }
        let packet = Packet::event(self.name.clone(), data, Some(id));
        let frames = EncodedFrames::encode(&packet);
        let expires = std::time::Instant::now()
            + opts
                .flags
                .timeout
                .unwrap_or(crate::operators::DEFAULT_ACK_TIMEOUT);
        let mut n = 0;
        for socket in targets {
            socket.register_ack(id, AckSlot::Many(acks.clone()), expires);
            if socket
                .0
                .conn
                .send_frames(&frames, opts.flags.volatile)
                .is_ok()
            {
                n += 1;
            } else {
                socket.take_ack(id);
            }
        }
        n
    }

    /// The local sockets `opts` selects, as [`RemoteSocket`]s.
    pub fn fetch_sockets_local(self: &Arc<Self>, opts: &BroadcastOptions) -> Vec<RemoteSocket> {
        self.local_sockets(opts)
            .iter()
            .map(|s| RemoteSocket::from_local(self.clone(), s))
            .collect()
    }

    /// Makes the local sockets `opts` selects join `rooms`.
    pub fn add_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for s in self.local_sockets(opts) {
            self.join(s.id(), rooms.to_vec());
        }
    }

    /// Makes the local sockets `opts` selects leave `rooms`.
    pub fn del_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for s in self.local_sockets(opts) {
            for room in rooms {
                self.leave(s.id(), room);
            }
        }
    }

    /// Disconnects the local sockets `opts` selects.
    pub fn disconnect_sockets_local(&self, opts: &BroadcastOptions, close: bool) {
        for s in self.local_sockets(opts) {
            s.disconnect(close);
        }
    }
}

/// Setup of a namespace: add middlewares after [`SocketIo::ns`](crate::SocketIo::ns).
#[derive(Clone)]
pub struct NamespaceRef {
    pub(crate) setup: Arc<Setup>,
    pub(crate) ns: Option<Arc<Namespace>>,
}

impl fmt::Debug for NamespaceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceRef")
            .field("ns", &self.ns.as_ref().map(|n| n.name.clone()))
            .finish()
    }
}

impl NamespaceRef {
    /// Adds a middleware run, in order, before each socket joins (`namespace.use`). An
    /// `Err` refuses the socket with a CONNECT_ERROR.
    ///
    /// ```no_run
    /// use ferrio::{ConnectError, SocketIo, SocketRef};
    /// # fn f(io: SocketIo) {
    /// io.ns("/private", |_s: SocketRef| async move {}).with(|socket: SocketRef| async move {
    ///     match socket.handshake().auth.get("token") {
    ///         Some(t) if t == "secret" => Ok(()),
    ///         _ => Err(ConnectError::new("unauthorized")),
    ///     }
    /// });
    /// # }
    /// ```
    pub fn with<M: ConnectMiddleware>(self, middleware: M) -> Self {
        write(&self.setup.middlewares).push(Arc::new(middleware));
        self
    }

    /// The namespace (none for a dynamic namespace's parent).
    pub fn namespace(&self) -> Option<&Arc<Namespace>> {
        self.ns.as_ref()
    }
}
