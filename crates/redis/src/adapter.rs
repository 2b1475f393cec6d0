//! [`RedisAdapter`]: a Ferrio [`Adapter`] that joins a cluster of `@socket.io/redis-adapter`
//! 8.3 nodes (`createAdapter`, the classic Pub/Sub adapter) as an equal.
//!
//! ```no_run
//! use ferrio::SocketIo;
//! use ferrio_redis::{RedisAdapter, RedisAdapterConfig, RedisDriver};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let driver = RedisDriver::new("redis://127.0.0.1:6379")?;
//! let io = SocketIo::builder()
//!     .adapter(RedisAdapter::factory(driver.clone(), RedisAdapterConfig::default()))
//!     .build();
//! io.ns("/", |_socket: ferrio::SocketRef| async move {});
//! driver.ready(Duration::from_secs(2)).await; // subscribed (or Redis is down: go on anyway)
//! io.listen("127.0.0.1:3000").await?;
//! # Ok(()) }
//! ```
//!
//! # What it does, as the Node adapter
//! * Each namespace adapter has its own `uid`, PSUBSCRIBEs `key#N#*` and SUBSCRIBEs
//!   `key-request#N#`, `key-response#N#` and `key-response#N#<uid>#`.
//! * A broadcast reaches the local sockets at once, then is published (on `key#N#room#` when it
//!   names exactly one room). Broadcasts from other nodes (and from the emitter) are applied to
//!   the local sockets, honouring `volatile`; this node's own are ignored.
//! * `socketsJoin`/`socketsLeave`/`disconnectSockets` are applied locally when called and
//!   published; they come back on the request channel and are then ignored (by `uid`), so each
//!   is applied once.
//! * It answers every request type: SOCKETS, ALL_ROOMS, REMOTE_FETCH, the legacy
//!   join/leave/disconnect by socket id, SERVER_SIDE_EMIT (with an acknowledgement when asked:
//!   the first answer of [`Namespace::on_server_side_emit`] listeners, or none), and BROADCAST
//!   with acks (a client count, even 0, then one response per client ack).
//! * Its own `fetchSockets`, `serverSideEmit` with acks and broadcasts with acks count the
//!   servers with `PUBSUB NUMSUB key-request#N#` and wait for the others' answers for at most
//!   [`RedisAdapterConfig::requests_timeout`] (the ack timeout for broadcasts).
//!
//! # Redis down
//! Local delivery never depends on Redis. While it is unreachable, publishing fails with
//! [`AdapterError::Transport`] (after the local part was done), requests that must count the
//! servers fail the same way, and both connections are remade in the background (the
//! subscriptions are restored).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use ferrio::adapter::{
    Adapter, AdapterError, AdapterFuture, BroadcastFlags as LocalFlags,
    BroadcastOptions as LocalOptions, Room,
};
use ferrio::parser::Payload;
use ferrio::{Handshake, Namespace, RemoteSocket as LocalRemoteSocket, Sid};
use tokio::sync::mpsc;

use crate::classic::{
    generate_uid, BroadcastMessage, ChannelKind, Channels, Request, RequestType, Response,
};
use crate::cluster::{ClusterBody, MessageType};
use crate::driver::{DriverError, Incoming, RedisDriver};
use crate::{BroadcastFlags, BroadcastOptions, Packet, RemoteSocket, Value};

/// Options of the [`RedisAdapter`] (those of `createAdapter` in Node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAdapterConfig {
    /// The prefix of the channels (`key`, default `socket.io`).
    pub key: String,
    /// How long to wait for the other servers' answers to a request (`requestsTimeout`,
    /// default 5 s).
    pub requests_timeout: Duration,
    /// Answer requests on the requester's own response channel `key-response#N#<uid>#`
    /// (`publishOnSpecificResponseChannel`, default false).
    pub publish_on_specific_response_channel: bool,
}

impl Default for RedisAdapterConfig {
    fn default() -> Self {
        RedisAdapterConfig {
            key: crate::classic::DEFAULT_KEY.to_owned(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
        }
    }
}

/// The default wait for acknowledgements of a broadcast without a timeout (as Ferrio's).
pub(crate) const DEFAULT_ACK_TIMEOUT: Duration = ferrio::DEFAULT_ACK_TIMEOUT;

/// A request of this server that waits for the other servers' answers (of type `R`, for a
/// request of kind `K`); shared with the sharded adapter.
pub(crate) enum Pending<K, R> {
    /// Responses to a request of this kind go to `tx`.
    Collect {
        kind: K,
        tx: mpsc::UnboundedSender<R>,
    },
    /// A broadcast with acks: client counts to `counts`, client acks to `acks`.
    Broadcast {
        counts: mpsc::UnboundedSender<u64>,
        acks: mpsc::UnboundedSender<Payload>,
    },
}

/// The pending requests of an adapter, by request id.
pub(crate) struct PendingRequests<K, R>(Mutex<HashMap<String, Pending<K, R>>>);

impl<K, R> Default for PendingRequests<K, R> {
    fn default() -> Self {
        PendingRequests(Mutex::new(HashMap::new()))
    }
}

impl<K: Send + 'static, R: Send + 'static> PendingRequests<K, R> {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending<K, R>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a request until the returned guard is dropped (the requester is done).
    pub(crate) fn register(&self, id: String, p: Pending<K, R>) -> PendingGuard<'_, K, R> {
        self.lock().insert(id.clone(), p);
        PendingGuard(self, id)
    }

    /// Registers a request for `ttl` (then late answers are dropped), on `handle`.
    pub(crate) fn register_for(
        self: &Arc<Self>,
        handle: &tokio::runtime::Handle,
        id: String,
        p: Pending<K, R>,
        ttl: Duration,
    ) {
        self.lock().insert(id.clone(), p);
        let weak = Arc::downgrade(self);
        handle.spawn(async move {
            tokio::time::sleep(ttl).await;
            if let Some(me) = weak.upgrade() {
                me.lock().remove(&id);
            }
        });
    }
}

/// Removes a pending request when the requester is done (or dropped).
pub(crate) struct PendingGuard<'a, K: Send + 'static, R: Send + 'static>(
    &'a PendingRequests<K, R>,
    String,
);

impl<K: Send + 'static, R: Send + 'static> Drop for PendingGuard<'_, K, R> {
    fn drop(&mut self) {
        self.0.lock().remove(&self.1);
    }
}

struct Inner {
    nsp: String,
    channels: Channels,
    config: RedisAdapterConfig,
    driver: RedisDriver,
    ns: OnceLock<Weak<Namespace>>,
    subscription: OnceLock<u64>,
    pending: Arc<PendingRequests<RequestType, Response>>,
}

/// The adapter of one namespace; see the [module](self) documentation.
pub struct RedisAdapter {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("nsp", &self.inner.nsp)
            .field("uid", &self.inner.channels.uid())
            .field("config", &self.inner.config)
            .finish()
    }
}

impl RedisAdapter {
    /// The adapter of namespace `nsp` over `driver`'s connections.
    pub fn new(driver: RedisDriver, config: RedisAdapterConfig, nsp: &str) -> RedisAdapter {
        let uid = generate_uid();
        RedisAdapter {
            inner: Arc::new(Inner {
                nsp: nsp.to_owned(),
                channels: Channels::new(&config.key, nsp, &uid),
                config,
                driver,
                ns: OnceLock::new(),
                subscription: OnceLock::new(),
                pending: Arc::default(),
            }),
        }
    }

    /// A factory for [`SocketIoBuilder::adapter`](ferrio::SocketIoBuilder::adapter): one
    /// adapter per namespace, all sharing `driver`'s connections.
    pub fn factory(
        driver: RedisDriver,
        config: RedisAdapterConfig,
    ) -> impl Fn(&str) -> Arc<dyn Adapter> + Send + Sync + 'static {
        move |nsp: &str| Arc::new(RedisAdapter::new(driver.clone(), config.clone(), nsp))
    }

    /// This adapter's uid (`uid2(6)`), as other nodes see it.
    pub fn uid(&self) -> &str {
        self.inner.channels.uid()
    }
}

impl Drop for RedisAdapter {
    fn drop(&mut self) {
        if let Some(id) = self.inner.subscription.get() {
            self.inner.driver.subscriber.remove(*id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Conversions between Ferrio's types and the wire's, and the request bookkeeping shared with
// the sharded adapter (`crate::sharded`).

/// Socket.IO JSON with placeholders + attachments -> a value holding `Bin`.
pub(crate) fn payload_to_value(p: &Payload) -> Result<Value, AdapterError> {
    Value::from_json_with_attachments(&p.value, &p.attachments)
        .map_err(|e| AdapterError::Transport(format!("cannot encode payload: {e}")))
}

/// A value holding `Bin` -> Socket.IO JSON with placeholders + attachments.
pub(crate) fn value_to_payload(v: &Value) -> Payload {
    let (value, attachments) = v.to_json_with_attachments();
    Payload { value, attachments }
}

/// The list `[v]`, or `[]` for `undefined`, as a payload (one server's or client's answer).
pub(crate) fn answer_payload(v: &Value) -> Payload {
    match v {
        Value::Undefined => Payload::new(Vec::new()),
        v => value_to_payload(&Value::Array(vec![v.clone()])),
    }
}

/// The first argument of an answer, `undefined` if none.
pub(crate) fn first_arg(p: &Payload) -> Value {
    match payload_to_value(p) {
        Ok(Value::Array(mut items)) if !items.is_empty() => items.swap_remove(0),
        _ => Value::Undefined,
    }
}

fn wire_flags(f: &LocalFlags) -> BroadcastFlags {
    let mut flags = BroadcastFlags::new();
    if f.volatile {
        flags.set("volatile", Value::Bool(true));
    }
    if let Some(c) = f.compress {
        flags.set("compress", Value::Bool(c));
    }
    if let Some(t) = f.timeout {
        flags.set("timeout", Value::UInt(t.as_millis() as u64));
    }
    flags
}

pub(crate) fn wire_opts(o: &LocalOptions, with_flags: bool) -> BroadcastOptions {
    BroadcastOptions {
        rooms: o.rooms.iter().map(|r| r.to_string()).collect(),
        except: o.except.iter().map(|r| r.to_string()).collect(),
        flags: with_flags.then(|| wire_flags(&o.flags)),
    }
}

pub(crate) fn local_opts(o: &BroadcastOptions, with_flags: bool) -> LocalOptions {
    let flags = match (&o.flags, with_flags) {
        (Some(f), true) => LocalFlags {
            volatile: f.volatile(),
            compress: f.compress(),
            local: false,
            timeout: f.timeout().map(Duration::from_millis),
        },
        _ => LocalFlags::default(),
    };
    LocalOptions {
        rooms: o.rooms.iter().map(|r| Room::from(r.as_str())).collect(),
        except: o.except.iter().map(|r| Room::from(r.as_str())).collect(),
        flags,
    }
}

pub(crate) fn rooms_of(rooms: &[String]) -> Vec<Room> {
    rooms.iter().map(|r| Room::from(r.as_str())).collect()
}

pub(crate) fn to_wire_socket(s: &LocalRemoteSocket) -> RemoteSocket {
    let handshake = serde_json::to_value(&s.handshake)
        .map(|j| Value::from(&j))
        .unwrap_or(Value::Undefined);
    RemoteSocket {
        id: s.id.to_string(),
        handshake,
        rooms: s.rooms.iter().map(|r| r.to_string()).collect(),
        data: match &s.data {
            serde_json::Value::Null => Value::Undefined,
            data => Value::from(data),
        },
    }
}

pub(crate) fn from_wire_socket(ns: &Arc<Namespace>, s: RemoteSocket) -> Option<LocalRemoteSocket> {
    let id: Sid = s.id.parse().ok()?;
    let handshake: Handshake = serde_json::from_value(s.handshake.to_json()).ok()?;
    Some(
        LocalRemoteSocket::from_parts(ns.clone(), id, handshake, rooms_of(&s.rooms))
            .with_data(s.data.to_json()),
    )
}

pub(crate) fn ready<T: Send + 'static>(v: T) -> AdapterFuture<T> {
    Box::pin(std::future::ready(Ok(v)))
}

pub(crate) fn err<T: Send + 'static>(e: AdapterError) -> AdapterFuture<T> {
    Box::pin(std::future::ready(Err(e)))
}

/// The name of a request of the `ClusterAdapter` format, for its timeout error.
pub(crate) fn request_name(kind: MessageType) -> &'static str {
    match kind {
        MessageType::FetchSockets => "fetchSockets",
        MessageType::ServerSideEmit => "serverSideEmit",
        _ => "request",
    }
}

/// Hands a response of the `ClusterAdapter` format (the sharded and the streams adapters) to
/// the request of this server that waits for it; others are dropped.
pub(crate) fn route_cluster_response(
    pending: &PendingRequests<MessageType, ClusterBody>,
    body: ClusterBody,
) {
    let request_id = match &body {
        ClusterBody::FetchSocketsResponse { request_id, .. }
        | ClusterBody::ServerSideEmitResponse { request_id, .. }
        | ClusterBody::BroadcastClientCount { request_id, .. }
        | ClusterBody::BroadcastAck { request_id, .. } => request_id,
        _ => return,
    };
    let pending = pending.lock();
    match (pending.get(request_id), body) {
        (Some(Pending::Collect { kind, tx }), body) => {
            let expected = match kind {
                MessageType::FetchSockets => MessageType::FetchSocketsResponse,
                _ => MessageType::ServerSideEmitResponse,
            };
            if body.message_type() == expected {
                let _ = tx.send(body);
            }
        }
        (
            Some(Pending::Broadcast { counts, .. }),
            ClusterBody::BroadcastClientCount { client_count, .. },
        ) => {
            let _ = counts.send(client_count);
        }
        (Some(Pending::Broadcast { acks, .. }), ClusterBody::BroadcastAck { packet, .. }) => {
            let _ = acks.send(answer_payload(&packet));
        }
        _ => {}
    }
}

/// One request of this server to the `servers - 1` others (a request of kind `kind`, named
/// `name` in its timeout error): registered as `request_id`, then sent by `publish` (called
/// only once registered: an answer may come back before the send's own reply), then their
/// answers, all within `timeout` of the send.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn request_answers<K, R, P>(
    pending: &PendingRequests<K, R>,
    nsp: &str,
    kind: K,
    name: &'static str,
    request_id: String,
    servers: usize,
    timeout: Duration,
    publish: impl FnOnce() -> P,
) -> Result<Vec<R>, AdapterError>
where
    K: Copy + fmt::Debug + Send + 'static,
    R: Send + 'static,
    P: std::future::Future<Output = Result<(), AdapterError>>,
{
    let expected = servers.saturating_sub(1);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _guard = pending.register(request_id, Pending::Collect { kind, tx });
    publish().await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::with_capacity(expected);
    while out.len() < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => out.push(r),
            _ => {
                tracing::debug!(target: "ferrio_redis", %nsp, ?kind, got = out.len(), expected, "request timed out");
                return Err(AdapterError::Timeout(name));
            }
        }
    }
    Ok(out)
}

/// What this server's broadcast with acks to the others needs before it is published: its
/// request id, registered until a second after `timeout` (late acks are dropped once the caller
/// stopped waiting), with client counts to the returned receiver and client acks to `acks`;
/// the wire options, with the timeout flag Node sends; and the timeout itself (the `timeout`
/// flag, or the ack default).
pub(crate) struct BroadcastWithAck {
    pub(crate) request_id: String,
    pub(crate) opts: BroadcastOptions,
    pub(crate) timeout: Duration,
    pub(crate) counts: mpsc::UnboundedReceiver<u64>,
}

impl BroadcastWithAck {
    pub(crate) fn register<K: Send + 'static, R: Send + 'static>(
        pending: &Arc<PendingRequests<K, R>>,
        handle: &tokio::runtime::Handle,
        opts: &LocalOptions,
        acks: mpsc::UnboundedSender<Payload>,
    ) -> Self {
        let timeout = opts.flags.timeout.unwrap_or(DEFAULT_ACK_TIMEOUT);
        let request_id = generate_uid();
        let (counts_tx, counts) = mpsc::unbounded_channel();
        pending.register_for(
            handle,
            request_id.clone(),
            Pending::Broadcast {
                counts: counts_tx,
                acks,
            },
            timeout + Duration::from_secs(1),
        );
        let mut wire = wire_opts(opts, true);
        if let Some(f) = wire.flags.as_mut() {
            f.set("timeout", Value::UInt(timeout.as_millis() as u64));
        }
        BroadcastWithAck {
            request_id,
            opts: wire,
            timeout,
            counts,
        }
    }
}

/// How many acknowledgements a broadcast with acks (of namespace `nsp`) expects, once its
/// request is `published`: `local` plus the client counts of the other servers (`servers`
/// counts them all) received on `counts` within `timeout`. A server that did not tell its
/// count in time stands for one missing answer, so that the caller's wait ends in a timeout
/// with the answers that came. When the request could not be published or the servers not
/// counted, only the local clients are expected.
pub(crate) async fn expected_acks<E: fmt::Display>(
    nsp: String,
    published: impl std::future::Future<Output = Result<(), AdapterError>>,
    servers: impl std::future::Future<Output = Result<usize, E>>,
    mut counts: mpsc::UnboundedReceiver<u64>,
    local: usize,
    timeout: Duration,
) -> Result<usize, AdapterError> {
    let deadline = tokio::time::Instant::now() + timeout;
    if let Err(e) = published.await {
        tracing::warn!(target: "ferrio_redis", %nsp, error = %e, "broadcast with acks reached this server only");
        return Ok(local);
    }
    let others = match servers.await {
        Ok(n) => n.saturating_sub(1),
        Err(e) => {
            tracing::warn!(target: "ferrio_redis", %nsp, error = %e, "cannot count servers");
            return Ok(local);
        }
    };
    let mut total = local;
    let mut answered = 0;
    while answered < others {
        match tokio::time::timeout_at(deadline, counts.recv()).await {
            Ok(Some(n)) => {
                answered += 1;
                total += n as usize;
            }
            _ => break,
        }
    }
    Ok(total + (others - answered))
}

/// Another server's broadcast with acks, applied to the local sockets: returns how many were
/// reached and where their acknowledgements arrive (awaited for `wait`). The flags are
/// dropped, as Node does (but for how long the acks are awaited).
pub(crate) fn broadcast_with_ack_for_peer(
    ns: &Arc<Namespace>,
    packet: &Packet,
    opts: &BroadcastOptions,
    wait: Duration,
) -> (usize, mpsc::UnboundedReceiver<Payload>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let count = if matches!(packet.data, Value::Array(_)) {
        let id = ns.next_ack_id();
        let mut local = local_opts(opts, false);
        local.flags.timeout = Some(wait);
        ns.broadcast_with_ack_local(value_to_payload(&packet.data), &local, id, tx)
    } else {
        0
    };
    (count, rx)
}

/// Passes the first argument of each of the `count` client acknowledgements arriving on `rx`
/// within `wait` (plus a second of grace) to `respond`.
pub(crate) async fn forward_client_acks(
    mut rx: mpsc::UnboundedReceiver<Payload>,
    count: usize,
    wait: Duration,
    mut respond: impl FnMut(Value),
) {
    let deadline = tokio::time::Instant::now() + wait + Duration::from_secs(1);
    let mut got = 0;
    while got < count {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ack)) => {
                got += 1;
                respond(first_arg(&ack));
            }
            _ => break,
        }
    }
}

/// The first argument of a server-side listener's answer, `undefined` if none came within
/// `wait`.
pub(crate) async fn server_side_answer(
    answer: tokio::sync::oneshot::Receiver<Payload>,
    wait: Duration,
) -> Value {
    match tokio::time::timeout(wait, answer).await {
        Ok(Ok(p)) => first_arg(&p),
        _ => Value::Undefined,
    }
}

// ---------------------------------------------------------------------------------------------

impl Inner {
    fn uid(&self) -> &str {
        self.channels.uid()
    }

    fn namespace(&self) -> Option<Arc<Namespace>> {
        self.ns.get().and_then(Weak::upgrade)
    }

    fn is_own(&self, uid: Option<&str>) -> bool {
        uid == Some(self.uid())
    }

    fn publish_request(
        &self,
        req: &Request,
    ) -> impl std::future::Future<Output = Result<(), AdapterError>> + Send + 'static {
        let publish = req
            .publish(&self.channels)
            .map_err(|e| DriverError::Encode(e.to_string()))
            .map(|p| self.driver.publisher.publish(p.channel, p.payload));
        async move { Ok(publish?.await?) }
    }

    fn respond(&self, requester: Option<&str>, resp: Response) {
        let channel = match requester {
            Some(uid) => self
                .channels
                .response_channel_for(uid, self.config.publish_on_specific_response_channel),
            None => self.channels.response().to_owned(),
        };
        self.respond_on(channel, resp);
    }

    fn respond_on(&self, channel: String, resp: Response) {
        match resp.encode() {
            Ok(payload) => self.driver.publisher.publish_detached(channel, payload),
            Err(e) => {
                tracing::warn!(target: "ferrio_redis", nsp = %self.nsp, error = %e, "cannot encode response")
            }
        }
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        Ok(self
            .driver
            .publisher
            .numsub(self.channels.request().to_owned())
            .await?)
    }

    // ---- incoming ---------------------------------------------------------------------

    fn on_message(self: &Arc<Self>, msg: Incoming) {
        let Some(ns) = self.namespace() else {
            return;
        };
        match self.channels.classify(&msg.channel) {
            ChannelKind::Broadcast { .. } => self.on_broadcast(&ns, &msg.payload),
            ChannelKind::Request => match Request::decode(&msg.payload) {
                Ok(req) => self.on_request(&ns, req),
                Err(e) => {
                    tracing::debug!(target: "ferrio_redis", nsp = %self.nsp, error = %e, "ignoring undecodable request")
                }
            },
            ChannelKind::Response => self.on_response(&msg.payload),
            ChannelKind::Other => {}
        }
    }

    fn on_broadcast(&self, ns: &Arc<Namespace>, payload: &[u8]) {
        let msg = match BroadcastMessage::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(target: "ferrio_redis", nsp = %self.nsp, error = %e, "ignoring undecodable broadcast");
                return;
            }
        };
        if msg.uid == self.uid() || msg.packet.nsp.as_deref().unwrap_or("/") != self.nsp {
            return;
        }
        if !matches!(msg.packet.data, Value::Array(_)) {
            return;
        }
        ns.broadcast_local(
            value_to_payload(&msg.packet.data),
            &local_opts(&msg.opts, true),
        );
    }

    fn on_request(self: &Arc<Self>, ns: &Arc<Namespace>, req: Request) {
        if let Some(rid) = req.request_id() {
            if self.pending.lock().contains_key(rid) {
                return; // our own request, back to us
            }
        }
        match req {
            Request::Sockets {
                uid,
                request_id,
                rooms,
            } => {
                let opts = LocalOptions {
                    rooms: rooms_of(&rooms),
                    ..Default::default()
                };
                let sockets = ns
                    .local_sockets(&opts)
                    .iter()
                    .map(|s| s.id().to_string())
                    .collect();
                self.respond(
                    uid.as_deref(),
                    Response::Sockets {
                        request_id,
                        sockets,
                    },
                );
            }
            Request::AllRooms { uid, request_id } => {
                let rooms = ns.rooms().iter().map(|r| r.to_string()).collect();
                self.respond(uid.as_deref(), Response::AllRooms { request_id, rooms });
            }
            Request::RemoteJoin { uid, opts, rooms } => {
                if !self.is_own(uid.as_deref()) {
                    ns.add_sockets_local(&local_opts(&opts, false), &rooms_of(&rooms));
                }
            }
            Request::RemoteLeave { uid, opts, rooms } => {
                if !self.is_own(uid.as_deref()) {
                    ns.del_sockets_local(&local_opts(&opts, false), &rooms_of(&rooms));
                }
            }
            Request::RemoteDisconnect { uid, opts, close } => {
                if !self.is_own(uid.as_deref()) {
                    ns.disconnect_sockets_local(&local_opts(&opts, false), close);
                }
            }
            Request::LegacyRoom {
                uid,
                request_id,
                join,
                sid,
                room,
            } => {
                let Some(id) = sid
                    .parse::<Sid>()
                    .ok()
                    .filter(|id| ns.socket(*id).is_some())
                else {
                    return;
                };
                let opts = LocalOptions {
                    rooms: vec![Room::from(id.as_str())],
                    ..Default::default()
                };
                let rooms = [Room::from(room.as_str())];
                if join {
                    ns.add_sockets_local(&opts, &rooms);
                } else {
                    ns.del_sockets_local(&opts, &rooms);
                }
                self.respond(uid.as_deref(), Response::Ack { request_id });
            }
            Request::LegacyDisconnect {
                uid,
                request_id,
                sid,
                close,
            } => {
                let Some(id) = sid
                    .parse::<Sid>()
                    .ok()
                    .filter(|id| ns.socket(*id).is_some())
                else {
                    return;
                };
                let opts = LocalOptions {
                    rooms: vec![Room::from(id.as_str())],
                    ..Default::default()
                };
                ns.disconnect_sockets_local(&opts, close);
                self.respond(uid.as_deref(), Response::Ack { request_id });
            }
            Request::RemoteFetch {
                uid,
                request_id,
                opts,
            } => {
                if self.is_own(uid.as_deref()) {
                    return;
                }
                let sockets = ns
                    .fetch_sockets_local(&local_opts(&opts, false))
                    .iter()
                    .map(to_wire_socket)
                    .collect();
                self.respond(
                    uid.as_deref(),
                    Response::FetchSockets {
                        request_id,
                        sockets,
                    },
                );
            }
            Request::ServerSideEmit {
                uid,
                request_id,
                data,
            } => {
                if self.is_own(uid.as_deref()) {
                    return;
                }
                let answer =
                    ns.server_side_emit_local(value_to_payload(&data), request_id.is_some());
                if let (Some(request_id), Some(answer)) = (request_id, answer) {
                    // Node answers on the common response channel, whatever the option.
                    let me = self.clone();
                    let wait = self.config.requests_timeout;
                    self.driver.handle.spawn(async move {
                        let data = server_side_answer(answer, wait).await;
                        let channel = me.channels.response().to_owned();
                        me.respond_on(channel, Response::ServerSideEmit { request_id, data });
                    });
                }
            }
            Request::Broadcast {
                uid,
                request_id,
                packet,
                opts,
            } => {
                if self.is_own(uid.as_deref()) {
                    return;
                }
                self.on_broadcast_with_ack(ns, uid, request_id, packet, opts);
            }
        }
    }

    fn on_broadcast_with_ack(
        self: &Arc<Self>,
        ns: &Arc<Namespace>,
        uid: Option<String>,
        request_id: String,
        packet: Packet,
        opts: BroadcastOptions,
    ) {
        let wait = opts
            .flags
            .as_ref()
            .and_then(BroadcastFlags::timeout)
            .map(Duration::from_millis)
            .unwrap_or(self.config.requests_timeout);
        let (count, rx) = broadcast_with_ack_for_peer(ns, &packet, &opts, wait);
        self.respond(
            uid.as_deref(),
            Response::BroadcastClientCount {
                request_id: request_id.clone(),
                client_count: count as u64,
            },
        );
        if count == 0 {
            return;
        }
        let me = self.clone();
        self.driver
            .handle
            .spawn(forward_client_acks(rx, count, wait, move |packet| {
                me.respond(
                    uid.as_deref(),
                    Response::BroadcastAck {
                        request_id: request_id.clone(),
                        packet,
                    },
                );
            }));
    }

    fn on_response(&self, payload: &[u8]) {
        let Ok(Some(rid)) = Response::peek_request_id(payload) else {
            return;
        };
        let pending = self.pending.lock();
        let Some(p) = pending.get(&rid) else {
            return;
        };
        match p {
            Pending::Collect { kind, tx } => {
                if let Ok(resp) = Response::decode(payload, *kind) {
                    let _ = tx.send(resp);
                }
            }
            Pending::Broadcast { counts, acks } => {
                match Response::decode(payload, RequestType::BroadcastClientCount) {
                    Ok(Response::BroadcastClientCount { client_count, .. }) => {
                        let _ = counts.send(client_count);
                    }
                    Ok(Response::BroadcastAck { packet, .. }) => {
                        let _ = acks.send(answer_payload(&packet));
                    }
                    _ => {}
                }
            }
        }
    }

    // ---- outgoing requests --------------------------------------------------------------

    /// Publishes a request and collects the answers of the `servers - 1` other servers.
    async fn collect(
        &self,
        kind: RequestType,
        make: impl FnOnce(String) -> Request,
    ) -> Result<Vec<Response>, AdapterError> {
        let servers = self.server_count().await?;
        if servers <= 1 {
            return Ok(Vec::new());
        }
        let request_id = generate_uid();
        let name = match kind {
            RequestType::RemoteFetch => "fetchSockets",
            RequestType::ServerSideEmit => "serverSideEmit",
            RequestType::AllRooms => "allRooms",
            _ => "request",
        };
        let request = make(request_id.clone());
        request_answers(
            &self.pending,
            &self.nsp,
            kind,
            name,
            request_id,
            servers,
            self.config.requests_timeout,
            || self.publish_request(&request),
        )
        .await
    }
}

impl Adapter for RedisAdapter {
    fn init(&self, local: &Arc<Namespace>) {
        let _ = self.inner.ns.set(Arc::downgrade(local));
        let (tx, mut rx) = mpsc::unbounded_channel::<Incoming>();
        let channels = self
            .inner
            .channels
            .subscriptions()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let patterns = vec![self.inner.channels.broadcast_pattern()];
        let id = self.inner.driver.subscriber.add(channels, patterns, tx);
        let _ = self.inner.subscription.set(id);
        // Messages are handled one at a time, in the order Redis delivered them.
        let inner = Arc::downgrade(&self.inner);
        self.inner.driver.handle.spawn(async move {
            while let Some(msg) = rx.recv().await {
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                inner.on_message(msg);
            }
        });
    }

    fn close(&self) -> AdapterFuture<()> {
        if let Some(id) = self.inner.subscription.get() {
            self.inner.driver.subscriber.remove(*id);
        }
        ready(())
    }

    fn broadcast(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        opts: &LocalOptions,
    ) -> AdapterFuture<()> {
        let value = if opts.flags.local {
            None
        } else {
            Some(payload_to_value(&data))
        };
        local.broadcast_local(data, opts);
        let Some(value) = value else {
            return ready(());
        };
        let msg = value.map(|data| BroadcastMessage {
            uid: self.inner.uid().to_owned(),
            packet: Packet::event(data, Some(self.inner.nsp.clone())),
            opts: wire_opts(opts, true),
        });
        let publish = msg.and_then(|m| {
            m.publish(&self.inner.channels)
                .map_err(|e| AdapterError::Transport(format!("cannot encode broadcast: {e}")))
                .map(|p| self.inner.driver.publisher.publish(p.channel, p.payload))
        });
        Box::pin(async move { Ok(publish?.await?) })
    }

    fn broadcast_with_ack(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        opts: &LocalOptions,
        id: u64,
        acks: mpsc::UnboundedSender<Payload>,
    ) -> AdapterFuture<usize> {
        let value = if opts.flags.local {
            None
        } else {
            Some(payload_to_value(&data))
        };
        let local_count = local.broadcast_with_ack_local(data, opts, id, acks.clone());
        let Some(Ok(value)) = value else {
            return ready(local_count);
        };
        let inner = self.inner.clone();
        let b = BroadcastWithAck::register(&inner.pending, &inner.driver.handle, opts, acks);
        let published = inner.publish_request(&Request::Broadcast {
            uid: Some(inner.uid().to_owned()),
            request_id: b.request_id,
            packet: Packet::event(value, Some(inner.nsp.clone())),
            opts: b.opts,
        });
        let servers = inner
            .driver
            .publisher
            .numsub(inner.channels.request().to_owned());
        Box::pin(expected_acks(
            inner.nsp.clone(),
            published,
            servers,
            b.counts,
            local_count,
            b.timeout,
        ))
    }

    fn fetch_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &LocalOptions,
    ) -> AdapterFuture<Vec<LocalRemoteSocket>> {
        let mut sockets = local.fetch_sockets_local(opts);
        if opts.flags.local {
            return ready(sockets);
        }
        let inner = self.inner.clone();
        let ns = local.clone();
        let wire = wire_opts(opts, false);
        Box::pin(async move {
            let uid = inner.uid().to_owned();
            let answers = inner
                .collect(RequestType::RemoteFetch, |request_id| {
                    Request::RemoteFetch {
                        uid: Some(uid),
                        request_id,
                        opts: wire,
                    }
                })
                .await?;
            for a in answers {
                if let Response::FetchSockets {
                    sockets: remote, ..
                } = a
                {
                    sockets.extend(remote.into_iter().filter_map(|s| from_wire_socket(&ns, s)));
                }
            }
            Ok(sockets)
        })
    }

    fn add_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &LocalOptions,
        rooms: Vec<Room>,
    ) -> AdapterFuture<()> {
        local.add_sockets_local(opts, &rooms);
        if opts.flags.local {
            return ready(());
        }
        let req = Request::RemoteJoin {
            uid: Some(self.inner.uid().to_owned()),
            opts: wire_opts(opts, false),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
        };
        Box::pin(self.inner.publish_request(&req))
    }

    fn del_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &LocalOptions,
        rooms: Vec<Room>,
    ) -> AdapterFuture<()> {
        local.del_sockets_local(opts, &rooms);
        if opts.flags.local {
            return ready(());
        }
        let req = Request::RemoteLeave {
            uid: Some(self.inner.uid().to_owned()),
            opts: wire_opts(opts, false),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
        };
        Box::pin(self.inner.publish_request(&req))
    }

    fn disconnect_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &LocalOptions,
        close: bool,
    ) -> AdapterFuture<()> {
        // Publish first: disconnecting may drop the last local reference to the namespace.
        let published = if opts.flags.local {
            None
        } else {
            Some(self.inner.publish_request(&Request::RemoteDisconnect {
                uid: Some(self.inner.uid().to_owned()),
                opts: wire_opts(opts, false),
                close,
            }))
        };
        local.disconnect_sockets_local(opts, close);
        match published {
            Some(p) => Box::pin(p),
            None => ready(()),
        }
    }

    fn server_side_emit(
        &self,
        _local: &Arc<Namespace>,
        data: Payload,
        with_ack: bool,
    ) -> AdapterFuture<Vec<Payload>> {
        let value = match payload_to_value(&data) {
            Ok(v) => v,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let uid = self.inner.uid().to_owned();
        if !with_ack {
            let published = self.inner.publish_request(&Request::ServerSideEmit {
                uid: Some(uid),
                request_id: None,
                data: value,
            });
            return Box::pin(async move {
                published.await?;
                Ok(Vec::new())
            });
        }
        let inner = self.inner.clone();
        Box::pin(async move {
            let answers = inner
                .collect(RequestType::ServerSideEmit, |request_id| {
                    Request::ServerSideEmit {
                        uid: Some(uid),
                        request_id: Some(request_id),
                        data: value,
                    }
                })
                .await?;
            Ok(answers
                .iter()
                .filter_map(|a| match a {
                    Response::ServerSideEmit { data, .. } => Some(answer_payload(data)),
                    _ => None,
                })
                .collect())
        })
    }

    fn server_count(&self) -> AdapterFuture<usize> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.server_count().await })
    }
}

#[cfg(test)]
mod data_tests {
    use super::*;
    use ferrio::{SocketIo, SocketRef};

    #[test]
    fn socket_data_crosses_the_wire_and_unset_data_is_omitted() {
        let io = SocketIo::new();
        io.ns("/", |_s: SocketRef| async move {});
        let ns = io.namespace("/").unwrap();
        let handshake: Handshake = serde_json::from_value(serde_json::json!({
            "headers": {}, "time": "Sat, 28 Nov 2026 21:06:40 GMT", "address": "127.0.0.1",
            "xdomain": false, "secure": false, "issued": 1, "url": "/socket.io/",
            "query": {}, "auth": {}
        }))
        .unwrap();
        let id = Sid::new();
        let local = LocalRemoteSocket::from_parts(ns.clone(), id, handshake.clone(), vec![])
            .with_data(serde_json::json!({ "user": "ann", "n": 2 }));
        let wire = to_wire_socket(&local);
        let back = from_wire_socket(&ns, wire).unwrap();
        assert_eq!(back.id, id);
        assert_eq!(back.data, serde_json::json!({ "user": "ann", "n": 2 }));

        let unset = LocalRemoteSocket::from_parts(ns.clone(), id, handshake, vec![]);
        let wire = to_wire_socket(&unset);
        assert_eq!(wire.data, Value::Undefined);
        assert_eq!(
            from_wire_socket(&ns, wire).unwrap().data,
            serde_json::Value::Null
        );
    }
}
