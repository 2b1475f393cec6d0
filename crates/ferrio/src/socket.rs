//! [`SocketRef`]: a client's connection to one namespace.

use crate::adapter::Room;
use crate::client::Conn;
use crate::errors::{AckError, DisconnectReason, EmitError};
use crate::handler::{erase, isolate, run_inline, ErasedEventHandler, EventHandler, EventParts};
use crate::handshake::Handshake;
use crate::namespace::Namespace;
use crate::operators::BroadcastOperators;
use crate::parser::{event_payload, is_reserved_event, to_payload, Packet, Payload};
use ferrio_engine::Sid;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

type AnyListener = Arc<dyn Fn(&SocketRef, &str, &Payload) + Send + Sync>;
type DisconnectHandler =
    Arc<dyn Fn(SocketRef, DisconnectReason) -> crate::handler::BoxFuture + Send + Sync>;
type SocketMiddleware = Arc<dyn Fn(&SocketRef, &str, &Payload) -> Result<(), String> + Send + Sync>;
type ErrorHandler = Arc<dyn Fn(&SocketRef, &str) + Send + Sync>;

/// The JSON data of a socket ([`SocketRef::set_data`]).
#[derive(Clone)]
struct SocketData(serde_json::Value);

/// Where an acknowledgement goes when it arrives.
pub(crate) enum AckSlot {
    One(oneshot::Sender<Payload>),
    Many(mpsc::UnboundedSender<Payload>),
}

#[derive(Default)]
struct Listeners {
    events: HashMap<String, ErasedEventHandler>,
    any: Vec<(u64, AnyListener)>,
    any_outgoing: Vec<(u64, AnyListener)>,
    middlewares: Vec<SocketMiddleware>,
    disconnecting: Vec<DisconnectHandler>,
    disconnect: Vec<DisconnectHandler>,
    error: Option<ErrorHandler>,
}

pub(crate) struct SocketInner {
    pub(crate) id: Sid,
    pub(crate) pid: Option<Sid>,
    pub(crate) ns: Arc<Namespace>,
    pub(crate) conn: Conn,
    pub(crate) handshake: Handshake,
    pub(crate) connected: AtomicBool,
    pub(crate) recovered: AtomicBool,
    listeners: RwLock<Listeners>,
    listener_ids: AtomicU64,
    /// Pending acknowledgements, with the time after which nobody waits for them.
    pub(crate) acks: Mutex<HashMap<u64, (AckSlot, Instant)>>,
    extensions: RwLock<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

/// A handle to a socket: a client's connection to one namespace. Cheap to clone.
///
/// ```no_run
/// use ferrio::{Data, SocketIo, SocketRef};
/// # fn f(io: SocketIo) {
/// io.ns("/", |socket: SocketRef| async move {
///     socket.join("lobby");
///     socket.emit("welcome", &format!("hello {}", socket.id())).ok();
///     socket.on("chat", |socket: SocketRef, Data(msg): Data<String>| async move {
///         socket.broadcast().emit("chat", &msg).await.ok();
///     });
/// });
/// # }
/// ```
#[derive(Clone)]
pub struct SocketRef(pub(crate) Arc<SocketInner>);

impl fmt::Debug for SocketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketRef")
            .field("id", &self.0.id)
            .field("nsp", &self.0.ns.name)
            .field("connected", &self.connected())
            .finish()
    }
}

impl PartialEq for SocketRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl SocketRef {
    pub(crate) fn new(
        id: Sid,
        pid: Option<Sid>,
        ns: Arc<Namespace>,
        conn: Conn,
        handshake: Handshake,
    ) -> Self {
        SocketRef(Arc::new(SocketInner {
            id,
            pid,
            ns,
            conn,
            handshake,
            connected: AtomicBool::new(false),
            recovered: AtomicBool::new(false),
            listeners: RwLock::new(Listeners::default()),
            listener_ids: AtomicU64::new(0),
            acks: Mutex::new(HashMap::new()),
            extensions: RwLock::new(HashMap::new()),
        }))
    }

    /// The socket id: 20 characters, distinct from the Engine.IO session id.
    pub fn id(&self) -> Sid {
        self.0.id
    }

    /// The namespace name.
    pub fn nsp(&self) -> &str {
        &self.0.ns.name
    }

    /// The handshake: headers, query, auth, address, …
    pub fn handshake(&self) -> &Handshake {
        &self.0.handshake
    }

    /// Whether the socket is connected to its namespace.
    pub fn connected(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    /// Whether this socket was restored by connection state recovery.
    pub fn recovered(&self) -> bool {
        self.0.recovered.load(Ordering::Acquire)
    }

    /// The Engine.IO session id of the underlying connection.
    pub fn conn_id(&self) -> Sid {
        self.0.conn.id()
    }

    /// The transport the connection currently uses.
    pub fn transport(&self) -> ferrio_engine::TransportKind {
        self.0.conn.transport()
    }

    // ---- data -------------------------------------------------------------------------

    /// Stores a value of type `T` with the socket (`socket.data` in the reference), replacing
    /// any previous one.
    pub fn insert<T: Any + Send + Sync>(&self, value: T) {
        if let Ok(mut e) = self.0.extensions.write() {
            e.insert(TypeId::of::<T>(), Box::new(value));
        }
    }

    /// A clone of the stored value of type `T`.
    pub fn get<T: Any + Send + Sync + Clone>(&self) -> Option<T> {
        let e = self.0.extensions.read().ok()?;
        e.get(&TypeId::of::<T>())?.downcast_ref::<T>().cloned()
    }

    /// Removes the stored value of type `T`.
    pub fn remove<T: Any + Send + Sync>(&self) -> Option<T> {
        let mut e = self.0.extensions.write().ok()?;
        e.remove(&TypeId::of::<T>())?
            .downcast::<T>()
            .ok()
            .map(|b| *b)
    }

    /// Sets the socket's JSON data (`socket.data` in the reference): unlike the typed values
    /// of [`insert`](Self::insert), it travels with the socket in `fetch_sockets` results,
    /// across a cluster too.
    pub fn set_data<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(data)?;
        self.insert(SocketData(value));
        Ok(())
    }

    /// The socket's JSON data, deserialized into `T` (`None` when unset or of another shape).
    pub fn data<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.get::<SocketData>()?.0).ok()
    }

    /// The socket's JSON data as it is (`null` when unset).
    pub fn data_value(&self) -> serde_json::Value {
        self.get::<SocketData>()
            .map(|d| d.0)
            .unwrap_or(serde_json::Value::Null)
    }

    // ---- listeners --------------------------------------------------------------------

    fn listeners_mut(&self) -> std::sync::RwLockWriteGuard<'_, Listeners> {
        self.0.listeners.write().unwrap_or_else(|e| e.into_inner())
    }

    fn listeners(&self) -> std::sync::RwLockReadGuard<'_, Listeners> {
        self.0.listeners.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the handler of `event` (replacing a previous one).
    pub fn on<M, H: EventHandler<M>>(&self, event: impl Into<String>, handler: H) {
        self.listeners_mut()
            .events
            .insert(event.into(), erase(handler));
    }

    /// Removes the handler of `event`.
    pub fn off(&self, event: &str) {
        self.listeners_mut().events.remove(event);
    }

    fn next_listener_id(&self) -> u64 {
        self.0.listener_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a listener called with every incoming event (`onAny`); returns its id for
    /// [`off_any`](Self::off_any).
    pub fn on_any<F>(&self, f: F) -> u64
    where
        F: Fn(&SocketRef, &str, &Payload) + Send + Sync + 'static,
    {
        let id = self.next_listener_id();
        self.listeners_mut().any.push((id, Arc::new(f)));
        id
    }

    /// Like [`on_any`](Self::on_any), but called before the other catch-all listeners.
    pub fn prepend_any<F>(&self, f: F) -> u64
    where
        F: Fn(&SocketRef, &str, &Payload) + Send + Sync + 'static,
    {
        let id = self.next_listener_id();
        self.listeners_mut().any.insert(0, (id, Arc::new(f)));
        id
    }

    /// Removes a catch-all listener, or all of them with `None` (`offAny`).
    pub fn off_any(&self, id: Option<u64>) {
        let mut l = self.listeners_mut();
        match id {
            Some(id) => l.any.retain(|(i, _)| *i != id),
            None => l.any.clear(),
        }
    }

    /// Adds a listener called with every outgoing event (`onAnyOutgoing`).
    pub fn on_any_outgoing<F>(&self, f: F) -> u64
    where
        F: Fn(&SocketRef, &str, &Payload) + Send + Sync + 'static,
    {
        let id = self.next_listener_id();
        self.listeners_mut().any_outgoing.push((id, Arc::new(f)));
        id
    }

    /// Removes an outgoing catch-all listener, or all with `None` (`offAnyOutgoing`).
    pub fn off_any_outgoing(&self, id: Option<u64>) {
        let mut l = self.listeners_mut();
        match id {
            Some(id) => l.any_outgoing.retain(|(i, _)| *i != id),
            None => l.any_outgoing.clear(),
        }
    }

    /// Adds a packet middleware (`socket.use`): it sees every incoming event before the
    /// handlers; an `Err` stops the event and is passed to the [`on_error`](Self::on_error)
    /// handler.
    pub fn use_middleware<F>(&self, f: F)
    where
        F: Fn(&SocketRef, &str, &Payload) -> Result<(), String> + Send + Sync + 'static,
    {
        self.listeners_mut().middlewares.push(Arc::new(f));
    }

    /// Sets the handler of middleware errors (the socket's `error` event).
    pub fn on_error<F>(&self, f: F)
    where
        F: Fn(&SocketRef, &str) + Send + Sync + 'static,
    {
        self.listeners_mut().error = Some(Arc::new(f));
    }

    /// Adds a `disconnecting` handler: the socket is leaving, its rooms are still readable.
    pub fn on_disconnecting<F, Fut>(&self, f: F)
    where
        F: Fn(SocketRef, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.listeners_mut()
            .disconnecting
            .push(Arc::new(move |s, r| Box::pin(f(s, r))));
    }

    /// Adds a `disconnect` handler.
    pub fn on_disconnect<F, Fut>(&self, f: F)
    where
        F: Fn(SocketRef, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.listeners_mut()
            .disconnect
            .push(Arc::new(move |s, r| Box::pin(f(s, r))));
    }

    // ---- rooms ------------------------------------------------------------------------

    /// Joins one or more rooms.
    pub fn join(&self, rooms: impl crate::adapter::IntoRooms) {
        self.0.ns.join(self.0.id, rooms.into_rooms());
    }

    /// Leaves a room.
    pub fn leave(&self, room: impl Into<Room>) {
        self.0.ns.leave(self.0.id, &room.into());
    }

    /// The rooms the socket is in (its own id room included).
    pub fn rooms(&self) -> Vec<Room> {
        self.0.ns.socket_rooms(self.0.id)
    }

    // ---- emitting ---------------------------------------------------------------------

    fn check_event(event: &str) -> Result<(), EmitError> {
        if is_reserved_event(event) || event == "connection" || event == "new_namespace" {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        Ok(())
    }

    pub(crate) fn notify_outgoing(&self, event: &str, data: &Payload) {
        let l = self.listeners();
        if l.any_outgoing.is_empty() {
            return;
        }
        let listeners: Vec<_> = l.any_outgoing.iter().map(|(_, f)| f.clone()).collect();
        drop(l);
        let args = Payload::with_attachments(
            data.items().iter().skip(1).cloned().collect(),
            data.attachments.clone(),
        );
        for f in listeners {
            if isolate(&self.0.conn, "an on_any_outgoing listener", || {
                f(self, event, &args)
            })
            .is_none()
            {
                return;
            }
        }
    }

    /// Emits an event to this client. `args` follows the [argument
    /// rule](crate::parser::value#argument-lists): a tuple sends several arguments.
    ///
    /// With connection state recovery on, the packet is stored and carries an offset.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        Self::check_event(event)?;
        let data = event_payload(event, args)?;
        self.emit_data(event, data)
    }

    /// Emits an event with raw arguments (JSON values with binary placeholders, and their
    /// attachments), e.g. relaying what a client sent.
    pub fn emit_payload(&self, event: &str, args: Payload) -> Result<(), EmitError> {
        Self::check_event(event)?;
        self.emit_data(event, with_event(event, args))
    }

    fn emit_data(&self, event: &str, data: Payload) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        if self.0.ns.recovery.is_some() {
            // Through the room of the socket so that the packet is stored with an offset
            // (the broadcast notifies the outgoing listeners).
            let opts = crate::adapter::BroadcastOptions::to_room(self.0.id.as_str().into());
            self.0.ns.broadcast_local(data, &opts);
            return Ok(());
        }
        self.notify_outgoing(event, &data);
        let packet = Packet::event(self.0.ns.name.clone(), data, None);
        self.0.conn.send_packet(&packet, false)
    }

    /// Emits an event and waits for the client's acknowledgement, for at most `timeout`
    /// (`socket.timeout(ms).emitWithAck()`).
    ///
    /// `T` receives the acknowledgement's arguments by the [argument
    /// rule](crate::parser::value#argument-lists); use [`Payload`] for the raw list.
    pub fn emit_with_ack<R: FromAck, T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> impl Future<Output = Result<R, AckError>> + Send + 'static {
        let sent = Self::check_event(event)
            .and_then(|()| Ok(event_payload(event, args)?))
            .and_then(|data| self.send_with_ack(event, data, timeout));
        Self::wait_ack(sent, timeout)
    }

    /// Like [`emit_with_ack`](Self::emit_with_ack), with raw arguments.
    pub fn emit_payload_with_ack<R: FromAck>(
        &self,
        event: &str,
        args: Payload,
        timeout: Duration,
    ) -> impl Future<Output = Result<R, AckError>> + Send + 'static {
        let sent = Self::check_event(event)
            .and_then(|()| self.send_with_ack(event, with_event(event, args), timeout));
        Self::wait_ack(sent, timeout)
    }

    async fn wait_ack<R: FromAck>(
        sent: Result<oneshot::Receiver<Payload>, EmitError>,
        timeout: Duration,
    ) -> Result<R, AckError> {
        let rx = sent?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(payload)) => Ok(R::from_ack(payload)?),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => Err(AckError::Timeout(timeout)),
        }
    }

    fn send_with_ack(
        &self,
        event: &str,
        data: Payload,
        timeout: Duration,
    ) -> Result<oneshot::Receiver<Payload>, EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        self.notify_outgoing(event, &data);
        let id = self.0.ns.next_ack_id();
        let (tx, rx) = oneshot::channel();
        self.register_ack(id, AckSlot::One(tx), Instant::now() + timeout);
        let packet = Packet::event(self.0.ns.name.clone(), data, Some(id));
        if let Err(e) = self.0.conn.send_packet(&packet, false) {
            self.take_ack(id);
            return Err(e);
        }
        Ok(rx)
    }

    /// Registers a pending acknowledgement; `expires` is when its waiter gives up. Expired
    /// entries are swept as the map grows, so unanswered requests do not pile up.
    pub(crate) fn register_ack(&self, id: u64, slot: AckSlot, expires: Instant) {
        if let Ok(mut acks) = self.0.acks.lock() {
            if acks.len() >= 16 && acks.len().is_power_of_two() {
                let now = Instant::now();
                acks.retain(|_, (_, exp)| *exp > now);
            }
            acks.insert(id, (slot, expires));
        }
    }

    pub(crate) fn take_ack(&self, id: u64) -> Option<AckSlot> {
        self.0.acks.lock().ok()?.remove(&id).map(|(slot, _)| slot)
    }

    /// How many acknowledgements this socket still waits for (expired ones included until
    /// they are swept).
    pub fn pending_acks(&self) -> usize {
        self.0.acks.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// Operators that broadcast to every socket of the namespace but this one.
    pub fn broadcast(&self) -> BroadcastOperators {
        BroadcastOperators::new(self.0.ns.clone()).except(self.0.id.as_str())
    }

    /// Operators that broadcast to `rooms`, this socket excluded (`socket.to(room)`).
    pub fn to(&self, rooms: impl crate::adapter::IntoRooms) -> BroadcastOperators {
        self.broadcast().to(rooms)
    }

    /// Same as [`to`](Self::to).
    pub fn within(&self, rooms: impl crate::adapter::IntoRooms) -> BroadcastOperators {
        self.to(rooms)
    }

    /// Operators that broadcast to the namespace except `rooms` and this socket.
    pub fn except(&self, rooms: impl crate::adapter::IntoRooms) -> BroadcastOperators {
        self.broadcast().except(rooms)
    }

    /// Operators that only reach sockets of this server (not the cluster).
    pub fn local(&self) -> BroadcastOperators {
        self.broadcast().local()
    }

    /// Operators whose packets may be dropped when a client is not ready.
    pub fn volatile(&self) -> BroadcastOperators {
        self.broadcast().volatile()
    }

    // ---- leaving ----------------------------------------------------------------------

    /// Disconnects the socket from its namespace (`socket.disconnect()`): the client gets a
    /// DISCONNECT packet and the reason is `server namespace disconnect`.
    ///
    /// With `close`, every namespace of the connection is disconnected and the connection
    /// itself closed (`socket.disconnect(true)`).
    pub fn disconnect(&self, close: bool) {
        if !self.connected() {
            return;
        }
        if close {
            self.0.conn.disconnect_all();
        } else {
            let packet = Packet::disconnect(self.0.ns.name.clone());
            let _ = self.0.conn.send_packet(&packet, false);
            self.close(DisconnectReason::ServerNamespaceDisconnect);
        }
    }

    /// Leaves the namespace: handlers, rooms, recovery session, client bookkeeping.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        if !self.0.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        tracing::debug!(target: "ferrio::socket", id = %self.0.id, nsp = %self.0.ns.name, %reason, "disconnect");
        let disconnecting = self.listeners().disconnecting.clone();
        let conn = &self.0.conn;
        for h in disconnecting {
            if let Some(fut) = isolate(conn, "a disconnecting listener", || h(self.clone(), reason))
            {
                run_inline(fut, conn);
            }
        }
        if reason.is_recoverable() {
            if let (Some(store), Some(pid)) = (&self.0.ns.recovery, self.0.pid) {
                store.persist(pid, self.0.id, self.rooms(), self.data_value());
            }
        }
        self.0.ns.remove_socket(self);
        self.0.conn.remove_socket(&self.0.ns.name);
        if let Ok(mut acks) = self.0.acks.lock() {
            acks.clear();
        }
        let disconnect = self.listeners().disconnect.clone();
        for h in disconnect {
            if let Some(fut) = isolate(conn, "a disconnect listener", || h(self.clone(), reason)) {
                run_inline(fut, conn);
            }
        }
        // Handlers may hold clones of this socket; drop the listeners to break cycles.
        *self.listeners_mut() = Listeners::default();
    }

    /// The `socket` span (id, namespace, connection) that handlers run in.
    pub(crate) fn span(&self) -> tracing::Span {
        tracing::debug_span!(target: "ferrio::socket", "socket", id = %self.0.id, nsp = %self.0.ns.name, conn = %self.0.conn.id())
    }

    // ---- incoming ---------------------------------------------------------------------

    pub(crate) fn on_event(&self, mut data: Payload, id: Option<u64>) {
        let event = match data.items().first() {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => return,
        };
        if let serde_json::Value::Array(items) = &mut data.value {
            items.remove(0);
        }
        let (middlewares, any, handler, error) = {
            let l = self.listeners();
            (
                l.middlewares.clone(),
                l.any.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(),
                l.events.get(&event).cloned(),
                l.error.clone(),
            )
        };
        let conn = &self.0.conn;
        for mw in &middlewares {
            match isolate(conn, "a packet middleware", || mw(self, &event, &data)) {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    if let Some(h) = &error {
                        isolate(conn, "an error listener", || h(self, &e));
                    }
                    return;
                }
                None => return,
            }
        }
        for f in &any {
            if isolate(conn, "an on_any listener", || f(self, &event, &data)).is_none() {
                return;
            }
        }
        let Some(handler) = handler else {
            tracing::trace!(target: "ferrio::socket", %event, "no handler");
            return;
        };
        let parts = EventParts {
            socket: self.clone(),
            event,
            args: data,
            ack: AckSender {
                socket: self.clone(),
                id,
            },
        };
        if let Some(Some(fut)) = isolate(conn, "an event handler", || handler(parts)) {
            run_inline(
                Box::pin(tracing::Instrument::instrument(fut, self.span())),
                conn,
            );
        }
    }

    pub(crate) fn on_ack(&self, id: u64, data: Payload) {
        match self.take_ack(id) {
            Some(AckSlot::One(tx)) => {
                let _ = tx.send(data);
            }
            Some(AckSlot::Many(tx)) => {
                let _ = tx.send(data);
            }
            None => tracing::trace!(target: "ferrio::socket", id, "unknown ack id"),
        }
    }
}

/// `[event, ...args]` from `args`.
pub(crate) fn with_event(event: &str, args: Payload) -> Payload {
    let Payload { value, attachments } = args;
    let mut items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items.insert(0, serde_json::Value::String(event.to_owned()));
    Payload::with_attachments(items, attachments)
}

/// Answers a client's acknowledgement request. Only the first answer is sent.
#[derive(Debug)]
pub struct AckSender {
    socket: SocketRef,
    id: Option<u64>,
}

impl AckSender {
    pub(crate) fn none(socket: SocketRef) -> Self {
        AckSender { socket, id: None }
    }

    /// Whether the client asked for an acknowledgement.
    pub fn is_requested(&self) -> bool {
        self.id.is_some()
    }

    /// Sends the acknowledgement with `args` ([argument
    /// rule](crate::parser::value#argument-lists): a tuple sends several values).
    pub fn send<T: Serialize + ?Sized>(self, args: &T) -> Result<(), EmitError> {
        let Some(id) = self.id else { return Ok(()) };
        let data = to_payload(args)?;
        self.send_payload(id, data)
    }

    /// Sends the acknowledgement with raw arguments.
    pub fn send_raw(self, args: Payload) -> Result<(), EmitError> {
        let Some(id) = self.id else { return Ok(()) };
        self.send_payload(id, args)
    }

    fn send_payload(&self, id: u64, data: Payload) -> Result<(), EmitError> {
        let packet = Packet::ack(self.socket.0.ns.name.clone(), data, id);
        self.socket.0.conn.send_packet(&packet, false)
    }
}

/// A type an acknowledgement can be read as.
pub trait FromAck: Sized + Send + 'static {
    /// Reads the acknowledgement's arguments.
    fn from_ack(args: Payload) -> Result<Self, serde_json::Error>;
}

impl<T: DeserializeOwned + Send + 'static> FromAck for T {
    fn from_ack(args: Payload) -> Result<Self, serde_json::Error> {
        crate::parser::from_args(args.items(), &args.attachments)
    }
}

/// The raw argument list of an acknowledgement.
impl FromAck for Payload {
    fn from_ack(args: Payload) -> Result<Self, serde_json::Error> {
        Ok(args)
    }
}
