//! [`RedisShardedAdapter`]: a Ferrio [`Adapter`] that joins a cluster of
//! `@socket.io/redis-adapter` 8.3 nodes made with `createShardedAdapter` (Redis 7 sharded
//! Pub/Sub: SPUBLISH / SSUBSCRIBE) as an equal.
//!
//! ```no_run
//! use ferrio::SocketIo;
//! use ferrio_redis::{RedisDriver, RedisShardedAdapter, RedisShardedAdapterConfig, SubscriptionMode};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let driver = RedisDriver::new("redis://127.0.0.1:6379")?;
//! let config = RedisShardedAdapterConfig {
//!     subscription_mode: SubscriptionMode::Dynamic, // the default, as in Node
//!     ..Default::default()
//! };
//! let io = SocketIo::builder()
//!     .adapter(RedisShardedAdapter::factory(driver.clone(), config))
//!     .build();
//! io.ns("/", |_socket: ferrio::SocketRef| async move {});
//! driver.ready(Duration::from_secs(2)).await; // subscribed (or Redis is down: go on anyway)
//! io.listen("127.0.0.1:3000").await?;
//! # Ok(()) }
//! ```
//!
//! # What it does, as the Node adapter (a `ClusterAdapter`)
//! * Messages are those of [`crate::cluster`] (types 1–13), JSON unless they carry binary
//!   (then notepack msgpack), each with this adapter's 16-hex-digit `uid` and the namespace.
//! * Each namespace adapter SSUBSCRIBEs `prefix#N#` (every message; `PUBSUB SHARDNUMSUB` of it
//!   is the server count) and `prefix#N#<uid>#` (the answers to its requests). In the dynamic
//!   modes it also SSUBSCRIBEs `prefix#N#room#` while the room exists on this server (public
//!   rooms only in [`SubscriptionMode::Dynamic`], socket-id rooms too in
//!   [`SubscriptionMode::DynamicPrivate`]), and a broadcast without acks to exactly one such
//!   room is published there, so it only reaches the servers that have the room.
//! * A broadcast reaches the local sockets at once, then is published; `socketsJoin`,
//!   `socketsLeave` and `disconnectSockets` are applied locally and published. Messages of
//!   this adapter's own `uid` and of other namespaces are ignored.
//! * It answers every request: FETCH_SOCKETS, SERVER_SIDE_EMIT with an acknowledgement (the
//!   first answer of the [`Namespace::on_server_side_emit`] listeners, or none), BROADCAST
//!   with acks (a client count, even 0, then one BROADCAST_ACK per client ack), each on the
//!   requester's `prefix#N#<uid>#`.
//! * Its own `fetchSockets`, `serverSideEmit` with acks and broadcasts with acks count the
//!   servers with `PUBSUB SHARDNUMSUB prefix#N#` and wait for the others' answers for at most
//!   [`RedisShardedAdapterConfig::requests_timeout`] (the ack timeout for broadcasts, the
//!   `timeout` flag for `fetchSockets`).
//!
//! # Connections
//! Publishing (SPUBLISH, SHARDNUMSUB) goes through the driver's publisher, with the classic
//! adapter's fail-fast policy. Subscribing needs a RESP3 connection: see
//! `sharded_subscriber.rs` for why; it is started by the first sharded adapter of a driver and
//! shared by all of them. [`RedisDriver::ready`] also waits for its subscriptions.
//!
//! # Redis down
//! Local delivery never depends on Redis. While it is unreachable, publishing fails with
//! [`AdapterError::Transport`] (after the local part was done), requests that must count the
//! servers fail the same way, and the connections are remade in the background (the
//! subscriptions, dynamic room channels included, are restored).

use std::fmt;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use ferrio::adapter::{
    Adapter, AdapterError, AdapterFuture, BroadcastOptions as LocalOptions, Room, RoomEvent,
};
use ferrio::parser::Payload;
use ferrio::{Namespace, RemoteSocket as LocalRemoteSocket, Sid};
use tokio::sync::mpsc;

use crate::adapter::{
    local_opts, payload_to_value, ready, route_cluster_response, value_to_payload, wire_opts,
    PendingRequests,
};
use crate::cluster::{
    generate_uid, ClusterBody, ClusterMessage, MessageType, ShardedChannels, SubscriptionMode,
};
use crate::cluster_adapter::{self, ClusterNode};
use crate::driver::{DriverError, Incoming, RedisDriver};
use crate::sharded_subscriber::ShardedSubscriber;
use crate::{Packet, Value};

/// Options of the [`RedisShardedAdapter`] (those of `createShardedAdapter` in Node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisShardedAdapterConfig {
    /// The prefix of the channels (`channelPrefix`, default `socket.io`).
    pub channel_prefix: String,
    /// Which rooms get a channel of their own (`subscriptionMode`, default
    /// [`SubscriptionMode::Dynamic`]).
    pub subscription_mode: SubscriptionMode,
    /// How long to wait for the other servers' answers to a request (5 s in Node's
    /// `ClusterAdapter`, where it is fixed).
    pub requests_timeout: Duration,
}

impl Default for RedisShardedAdapterConfig {
    fn default() -> Self {
        RedisShardedAdapterConfig {
            channel_prefix: "socket.io".to_owned(),
            subscription_mode: SubscriptionMode::Dynamic,
            requests_timeout: Duration::from_secs(5),
        }
    }
}

struct Inner {
    nsp: String,
    uid: String,
    channels: ShardedChannels,
    config: RedisShardedAdapterConfig,
    driver: RedisDriver,
    subscriber: ShardedSubscriber,
    ns: OnceLock<Weak<Namespace>>,
    registration: OnceLock<u64>,
    pending: Arc<PendingRequests<MessageType, ClusterBody>>,
}

/// The sharded adapter of one namespace; see the [module](self) documentation.
pub struct RedisShardedAdapter {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisShardedAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisShardedAdapter")
            .field("nsp", &self.inner.nsp)
            .field("uid", &self.inner.uid)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl RedisShardedAdapter {
    /// The adapter of namespace `nsp` over `driver`'s connections (its sharded subscriber is
    /// started if this is the driver's first sharded adapter).
    pub fn new(driver: RedisDriver, config: RedisShardedAdapterConfig, nsp: &str) -> Self {
        let uid = generate_uid();
        let subscriber = driver
            .sharded
            .get_or_init(|| ShardedSubscriber::spawn(&driver.client, &driver.handle))
            .clone();
        RedisShardedAdapter {
            inner: Arc::new(Inner {
                nsp: nsp.to_owned(),
                channels: ShardedChannels::new(&config.channel_prefix, nsp, &uid),
                uid,
                config,
                driver,
                subscriber,
                ns: OnceLock::new(),
                registration: OnceLock::new(),
                pending: Arc::default(),
            }),
        }
    }

    /// A factory for [`SocketIoBuilder::adapter`](ferrio::SocketIoBuilder::adapter): one
    /// adapter per namespace, all sharing `driver`'s connections.
    pub fn factory(
        driver: RedisDriver,
        config: RedisShardedAdapterConfig,
    ) -> impl Fn(&str) -> Arc<dyn Adapter> + Send + Sync + 'static {
        move |nsp: &str| {
            Arc::new(RedisShardedAdapter::new(
                driver.clone(),
                config.clone(),
                nsp,
            ))
        }
    }

    /// This adapter's uid (16 hex digits), as other nodes see it.
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }
}

impl Drop for RedisShardedAdapter {
    fn drop(&mut self) {
        if let Some(id) = self.inner.registration.get() {
            self.inner.subscriber.remove(*id);
        }
    }
}

impl ClusterNode for Inner {
    fn nsp(&self) -> &str {
        &self.nsp
    }

    fn namespace(&self) -> Option<Arc<Namespace>> {
        self.ns.get().and_then(Weak::upgrade)
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        &self.driver.handle
    }

    fn requests_timeout(&self) -> Duration {
        self.config.requests_timeout
    }

    fn pending(&self) -> &Arc<PendingRequests<MessageType, ClusterBody>> {
        &self.pending
    }

    fn publish_request(&self, body: ClusterBody) -> AdapterFuture<()> {
        Box::pin(self.publish(body))
    }

    /// SPUBLISHes a response on `prefix#N#<requester>#`.
    fn respond(&self, requester: &str, body: ClusterBody) {
        match self.message(body).encode_sharded() {
            Ok(payload) => self.driver.publisher.publish_detached_with(
                "SPUBLISH",
                self.channels.responses_to(requester),
                payload,
            ),
            Err(e) => {
                tracing::warn!(target: "ferrio_redis", nsp = %self.nsp, error = %e, "cannot encode response")
            }
        }
    }

    fn server_count(&self) -> AdapterFuture<usize> {
        let count = self
            .driver
            .publisher
            .numsub_with("SHARDNUMSUB", self.channels.main().to_owned());
        Box::pin(async move { Ok(count.await?) })
    }
}

impl Inner {
    fn message(&self, body: ClusterBody) -> ClusterMessage {
        ClusterMessage {
            uid: self.uid.clone(),
            nsp: self.nsp.clone(),
            body,
        }
    }

    /// SPUBLISHes a message on the channel Node would pick for it.
    fn publish(
        &self,
        body: ClusterBody,
    ) -> impl std::future::Future<Output = Result<(), AdapterError>> + Send + 'static {
        let msg = self.message(body);
        let channel = self
            .channels
            .channel_for(&msg, self.config.subscription_mode);
        let publish = msg
            .encode_sharded()
            .map_err(|e| DriverError::Encode(e.to_string()))
            .map(|payload| {
                self.driver
                    .publisher
                    .publish_with("SPUBLISH", channel, payload)
            });
        async move { Ok(publish?.await?) }
    }

    /// Does `room` get a channel of its own (`shouldUseASeparateNamespace`)? Private rooms
    /// are those named after a socket of this server, as Node's `sids.has(room)`.
    fn has_own_channel(&self, ns: &Namespace, room: &str) -> bool {
        match self.config.subscription_mode {
            SubscriptionMode::Static => false,
            SubscriptionMode::DynamicPrivate => true,
            SubscriptionMode::Dynamic => {
                !room.parse::<Sid>().is_ok_and(|id| ns.socket(id).is_some())
            }
        }
    }

    fn on_room_event(&self, ns: &Namespace, event: &RoomEvent) {
        let Some(&id) = self.registration.get() else {
            return;
        };
        match event {
            RoomEvent::Create(room) if self.has_own_channel(ns, room) => {
                self.subscriber.subscribe(id, self.channels.room(room))
            }
            RoomEvent::Delete(room) if self.has_own_channel(ns, room) => {
                self.subscriber.unsubscribe(id, self.channels.room(room))
            }
            _ => {}
        }
    }

    // ---- incoming ---------------------------------------------------------------------

    fn on_raw_message(self: &Arc<Self>, msg: Incoming) {
        let message = match ClusterMessage::decode(&msg.payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(target: "ferrio_redis", nsp = %self.nsp, error = %e, "ignoring undecodable message");
                return;
            }
        };
        if msg.channel == self.channels.own_responses() {
            route_cluster_response(&self.pending, message.body);
        } else {
            self.on_message(message);
        }
    }

    fn on_message(self: &Arc<Self>, message: ClusterMessage) {
        if message.uid == self.uid || message.nsp != self.nsp {
            return;
        }
        let Some(ns) = self.namespace() else {
            return;
        };
        let from = message.uid;
        match message.body {
            ClusterBody::Broadcast {
                packet,
                request_id: None,
                opts,
            } => {
                if matches!(packet.data, Value::Array(_)) {
                    ns.broadcast_local(value_to_payload(&packet.data), &local_opts(&opts, true));
                }
            }
            body => cluster_adapter::on_message(self, &ns, from, body),
        }
    }
}

impl Adapter for RedisShardedAdapter {
    fn init(&self, local: &Arc<Namespace>) {
        let inner = &self.inner;
        let _ = inner.ns.set(Arc::downgrade(local));
        let (tx, mut rx) = mpsc::unbounded_channel::<Incoming>();
        let id = inner.subscriber.add(tx);
        let _ = inner.registration.set(id);
        inner
            .subscriber
            .subscribe(id, inner.channels.main().to_owned());
        inner
            .subscriber
            .subscribe(id, inner.channels.own_responses());
        if inner.config.subscription_mode != SubscriptionMode::Static {
            for room in local.rooms() {
                inner.on_room_event(local, &RoomEvent::Create(room));
            }
            let (me, ns) = (Arc::downgrade(inner), Arc::downgrade(local));
            local.on_room_event(move |event| {
                if let (Some(me), Some(ns)) = (me.upgrade(), ns.upgrade()) {
                    me.on_room_event(&ns, event);
                }
            });
        }
        // Messages are handled one at a time, in the order Redis delivered them.
        let weak = Arc::downgrade(inner);
        inner.driver.handle.spawn(async move {
            while let Some(msg) = rx.recv().await {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                inner.on_raw_message(msg);
            }
        });
    }

    fn close(&self) -> AdapterFuture<()> {
        if let Some(id) = self.inner.registration.get() {
            self.inner.subscriber.remove(*id);
        }
        ready(())
    }

    fn broadcast(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        opts: &LocalOptions,
    ) -> AdapterFuture<()> {
        let value = (!opts.flags.local).then(|| payload_to_value(&data));
        local.broadcast_local(data, opts);
        let Some(value) = value else {
            return ready(());
        };
        let publish = value.map(|data| {
            self.inner.publish(ClusterBody::Broadcast {
                packet: Packet::event(data, None),
                request_id: None,
                opts: wire_opts(opts, true),
            })
        });
        Box::pin(async move { publish?.await })
    }

    fn broadcast_with_ack(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        opts: &LocalOptions,
        id: u64,
        acks: mpsc::UnboundedSender<Payload>,
    ) -> AdapterFuture<usize> {
        cluster_adapter::broadcast_with_ack(&self.inner, local, data, opts, id, acks)
    }

    fn fetch_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &LocalOptions,
    ) -> AdapterFuture<Vec<LocalRemoteSocket>> {
        cluster_adapter::fetch_sockets(&self.inner, local, opts)
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
        Box::pin(self.inner.publish(ClusterBody::SocketsJoin {
            opts: wire_opts(opts, true),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
        }))
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
        Box::pin(self.inner.publish(ClusterBody::SocketsLeave {
            opts: wire_opts(opts, true),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
        }))
    }

    fn disconnect_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &LocalOptions,
        close: bool,
    ) -> AdapterFuture<()> {
        // Publish first: disconnecting may drop the last local reference to the namespace.
        let published = (!opts.flags.local).then(|| {
            self.inner.publish(ClusterBody::DisconnectSockets {
                opts: wire_opts(opts, true),
                close,
            })
        });
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
        cluster_adapter::server_side_emit(&self.inner, data, with_ack)
    }

    fn server_count(&self) -> AdapterFuture<usize> {
        ClusterNode::server_count(&*self.inner)
    }
}
