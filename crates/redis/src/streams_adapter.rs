//! [`RedisStreamsAdapter`]: a Ferrio [`Adapter`] that joins a cluster of
//! `@socket.io/redis-streams-adapter` 0.3.1 nodes as an equal, connection state recovery
//! across servers included.
//!
//! ```no_run
//! use ferrio::{RecoveryConfig, SocketIo};
//! use ferrio_redis::{RedisDriver, RedisStreams, RedisStreamsAdapterConfig};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let driver = RedisDriver::new("redis://127.0.0.1:6379")?;
//! let streams = RedisStreams::new(driver, RedisStreamsAdapterConfig::default());
//! let io = SocketIo::builder()
//!     .adapter(streams.factory())
//!     // Sessions go to Redis, offsets are stream entry ids: a client may come back anywhere.
//!     .connection_state_recovery(Some(RecoveryConfig::default()))
//!     .build();
//! io.ns("/", |_socket: ferrio::SocketRef| async move {});
//! streams.ready(Duration::from_secs(2)).await; // subscribed and reading the stream
//! io.listen("127.0.0.1:3000").await?;
//! # Ok(()) }
//! ```
//!
//! # What it does, as the Node adapter
//! * One stream per server (or `stream_count`, a namespace per stream by hash) read by its own
//!   connection: `XREAD BLOCK <block_time> COUNT <read_count> STREAMS <stream> <last id>`,
//!   started from the stream's newest entry (Node starts at `$`: the same, without the gap
//!   before the first read). Entries are dispatched to the adapter of their `nsp`.
//! * Durable operations (broadcasts without acks, `socketsJoin`, `socketsLeave`,
//!   `disconnectSockets`) are `XADD`ed (`MAXLEN ~ max_len`), in call order: one queue, sent in
//!   pipelined batches. With connection state recovery, a broadcast reaches the local sockets
//!   once Redis gave its entry id, which is appended to the packet as its offset, here and on
//!   every other node; without it, at once.
//! * Requests (broadcasts with acks, `fetchSockets`, `serverSideEmit`) are published as msgpack
//!   on `prefix#nsp#`, answers on `prefix#nsp#<requester uid>#`; the servers are counted with
//!   `PUBSUB NUMSUB prefix#nsp#`, and the others' answers awaited for at most
//!   [`RedisStreamsAdapterConfig::requests_timeout`] (the ack timeout for broadcasts).
//! * Sessions: `SET <session_key_prefix><pid> base64(msgpack({sid,pid,rooms,data})) PX
//!   <maxDisconnectionDuration>` when a socket leaves for a recoverable reason; on restore,
//!   `MULTI GET DEL`, a check that the offset is still in the stream, then `XRANGE` from the
//!   entry after it, keeping the broadcasts of the namespace the session's rooms would have
//!   received, each with its entry id appended.
//! * A packet emitted to one socket directly (`socket.emit`) carries the newest entry id this
//!   server has seen (Node `XADD`s it too); after a restore from that offset, every broadcast
//!   the socket would have received after it is replayed.
//!
//! Version 0.3 has no heartbeats (`heartbeatInterval`/`heartbeatTimeout` of its defaults are
//! unused by its `ClusterAdapter` base), so neither has this adapter; `useShardedPubSub` is not
//! supported.
//!
//! # Redis down
//! Local delivery never depends on Redis: a broadcast that cannot be appended reaches the
//! local sockets without offset and its future fails with [`AdapterError::Transport`];
//! requests that must count the servers fail the same way; sessions are not kept (clients get
//! a new session). Every connection is remade in the background with a backoff (100 ms to
//! 2 s), the stream is read again from the last entry seen, and the subscriptions restored.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use ferrio::adapter::{
    Adapter, AdapterError, AdapterFuture, BroadcastOptions as LocalOptions, Room, Session,
};
use ferrio::parser::Payload;
use ferrio::{Namespace, RemoteSocket as LocalRemoteSocket, Sid};
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::adapter::{
    err, local_opts, payload_to_value, ready, rooms_of, route_cluster_response, value_to_payload,
    wire_opts, PendingRequests,
};
use crate::cluster::{generate_uid, ClusterBody, ClusterMessage, MessageType};
use crate::cluster_adapter::{self, ClusterNode};
use crate::driver::{DriverError, Incoming, RedisDriver};
use crate::streams::{
    entry_fields, missed_packet, stream_for, SessionRecord, StreamId, StreamsChannels,
    RESTORE_SESSION_MAX_XRANGE_CALLS,
};
use crate::{Packet, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
const MAX_BATCH: usize = 256;
/// Entries per `XRANGE` call of a restore.
const RESTORE_PAGE: usize = 1000;

/// Options of the [`RedisStreamsAdapter`] (those of `createAdapter` in Node, same defaults).
///
/// ```
/// use ferrio_redis::RedisStreamsAdapterConfig;
/// use std::time::Duration;
///
/// // `createAdapter(redisClient, { streamName: "chat", maxLen: 50_000 })`
/// let config = RedisStreamsAdapterConfig {
///     stream_name: "chat".into(),
///     max_len: 50_000,
///     ..Default::default()
/// };
/// assert_eq!(config.session_key_prefix, "sio:session:");
/// assert_eq!(config.block_time, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisStreamsAdapterConfig {
    /// The stream, or the prefix of the streams (`streamName`, default `socket.io`).
    pub stream_name: String,
    /// How many streams (`streamCount`, default 1); each namespace goes to one of them.
    pub stream_count: usize,
    /// The prefix of the Pub/Sub channels (`channelPrefix`, default `socket.io`).
    pub channel_prefix: String,
    /// The stream is trimmed to about this many entries (`maxLen`, default 10,000): clients
    /// whose offset fell out of it are not restored.
    pub max_len: usize,
    /// Entries per `XREAD` (`readCount`, default 100).
    pub read_count: usize,
    /// How long an `XREAD` blocks (`blockTimeInMs`, default 5 s).
    pub block_time: Duration,
    /// The prefix of the session keys (`sessionKeyPrefix`, default `sio:session:`).
    pub session_key_prefix: String,
    /// Never look for binary: `data` is always JSON (`onlyPlaintext`, default false).
    pub only_plaintext: bool,
    /// How long to wait for the other servers' answers to `fetchSockets` and
    /// `serverSideEmit` (the ClusterAdapter's 5 s).
    pub requests_timeout: Duration,
}

impl Default for RedisStreamsAdapterConfig {
    fn default() -> Self {
        RedisStreamsAdapterConfig {
            stream_name: crate::streams::DEFAULT_STREAM_NAME.to_owned(),
            stream_count: 1,
            channel_prefix: crate::streams::DEFAULT_CHANNEL_PREFIX.to_owned(),
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_millis(5_000),
            session_key_prefix: crate::streams::DEFAULT_SESSION_KEY_PREFIX.to_owned(),
            only_plaintext: false,
            requests_timeout: Duration::from_millis(5_000),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands: one reconnecting multiplexed connection for XADD, XRANGE, SET, MULTI.

struct ConnState {
    conn: Option<MultiplexedConnection>,
    retry_at: Instant,
    backoff: Duration,
    down: bool,
    last_error: String,
}

struct Commands {
    client: redis::Client,
    state: tokio::sync::Mutex<ConnState>,
}

fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

impl Commands {
    fn new(client: redis::Client) -> Self {
        Commands {
            client,
            state: tokio::sync::Mutex::new(ConnState {
                conn: None,
                retry_at: Instant::now(),
                backoff: BACKOFF_MIN,
                down: false,
                last_error: String::new(),
            }),
        }
    }

    async fn conn(&self) -> Result<MultiplexedConnection, DriverError> {
        let mut s = self.state.lock().await;
        if let Some(c) = &s.conn {
            return Ok(c.clone());
        }
        if Instant::now() < s.retry_at {
            return Err(DriverError::Unavailable(s.last_error.clone()));
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await;
        match attempt {
            Ok(Ok(c)) => {
                if s.down {
                    tracing::info!(target: "ferrio_redis", "streams adapter reconnected to Redis");
                }
                s.down = false;
                s.backoff = BACKOFF_MIN;
                s.conn = Some(c.clone());
                Ok(c)
            }
            other => {
                s.last_error = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "connection timed out".to_owned(),
                };
                if !s.down {
                    tracing::warn!(target: "ferrio_redis", error = %s.last_error, "streams adapter cannot reach Redis; retrying");
                }
                s.down = true;
                s.retry_at = Instant::now() + s.backoff;
                s.backoff = (s.backoff * 2).min(BACKOFF_MAX);
                Err(DriverError::Unavailable(s.last_error.clone()))
            }
        }
    }

    async fn failed(&self, e: &str) {
        let mut s = self.state.lock().await;
        if s.conn.take().is_some() {
            tracing::warn!(target: "ferrio_redis", error = %e, "streams adapter lost Redis; reconnecting");
        }
        s.down = true;
        s.last_error = e.to_owned();
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        run: impl FnOnce(
            MultiplexedConnection,
        ) -> futures_util::future::BoxFuture<'static, redis::RedisResult<T>>,
    ) -> Result<T, DriverError> {
        let conn = self.conn().await?;
        match tokio::time::timeout(RESPONSE_TIMEOUT, run(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.failed(&e.to_string()).await;
                }
                Err(DriverError::Command(e.to_string()))
            }
            Err(_) => {
                self.failed("no reply in time").await;
                Err(DriverError::Command("no reply in time".into()))
            }
        }
    }

    async fn cmd<T: redis::FromRedisValue + Send + 'static>(
        &self,
        cmd: redis::Cmd,
    ) -> Result<T, DriverError> {
        self.query(move |mut c| Box::pin(async move { cmd.query_async(&mut c).await }))
            .await
    }

    async fn pipe<T: redis::FromRedisValue + Send + 'static>(
        &self,
        pipe: redis::Pipeline,
    ) -> Result<T, DriverError> {
        self.query(move |mut c| Box::pin(async move { pipe.query_async(&mut c).await }))
            .await
    }
}

fn stream_id_of(v: &redis::Value) -> Option<StreamId> {
    match v {
        redis::Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        redis::Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn bytes_of(v: &redis::Value) -> Option<Vec<u8>> {
    match v {
        redis::Value::BulkString(b) => Some(b.clone()),
        redis::Value::SimpleString(s) => Some(s.clone().into_bytes()),
        redis::Value::VerbatimString { text, .. } => Some(text.clone().into_bytes()),
        _ => None,
    }
}

type Entry = (StreamId, Vec<(String, Vec<u8>)>);

/// `[[id, [k, v, …]], …]` (XRANGE, and each stream of XREAD).
fn parse_entries(v: &redis::Value) -> Vec<Entry> {
    let redis::Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let redis::Value::Array(pair) = item else {
                return None;
            };
            let id = stream_id_of(pair.first()?)?;
            let fields = match pair.get(1)? {
                redis::Value::Array(kv) => kv
                    .chunks(2)
                    .filter_map(|c| {
                        let k = bytes_of(c.first()?)?;
                        let v = bytes_of(c.get(1)?)?;
                        Some((String::from_utf8_lossy(&k).into_owned(), v))
                    })
                    .collect(),
                redis::Value::Map(kv) => kv
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((
                            String::from_utf8_lossy(&bytes_of(k)?).into_owned(),
                            bytes_of(v)?,
                        ))
                    })
                    .collect(),
                _ => return None,
            };
            Some((id, fields))
        })
        .collect()
}

/// The entries of an XREAD reply (one stream asked).
fn parse_xread(v: &redis::Value) -> Vec<Entry> {
    match v {
        redis::Value::Array(streams) => streams
            .iter()
            .flat_map(|s| match s {
                redis::Value::Array(pair) => pair.get(1).map(parse_entries).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
        redis::Value::Map(streams) => streams.iter().flat_map(|(_, e)| parse_entries(e)).collect(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// The writer: XADDs in call order, pipelined.

type AfterAppend = Box<dyn FnOnce(Option<StreamId>) + Send>;

struct Append {
    stream: String,
    fields: Vec<(&'static str, Vec<u8>)>,
    /// Run in order, in the writer task, with the entry id (`None` if the XADD failed).
    then: Option<AfterAppend>,
    done: oneshot::Sender<Result<StreamId, DriverError>>,
}

async fn run_writer(
    commands: Arc<Commands>,
    positions: Arc<Positions>,
    max_len: usize,
    mut rx: mpsc::UnboundedReceiver<Append>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(a) => batch.push(a),
                Err(_) => break,
            }
        }
        let mut pipe = redis::pipe();
        for a in &batch {
            let cmd = pipe
                .cmd("XADD")
                .arg(&a.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(max_len)
                .arg("*");
            for (k, v) in &a.fields {
                cmd.arg(*k).arg(v.as_slice());
            }
        }
        let results: Vec<Result<StreamId, DriverError>> =
            match commands.pipe::<Vec<redis::Value>>(pipe).await {
                Ok(values) if values.len() == batch.len() => values
                    .iter()
                    .map(|v| {
                        stream_id_of(v).ok_or_else(|| {
                            DriverError::Command(format!("unexpected XADD reply {v:?}"))
                        })
                    })
                    .collect(),
                Ok(_) => batch
                    .iter()
                    .map(|_| Err(DriverError::Command("unexpected reply count".into())))
                    .collect(),
                Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
            };
        for (a, r) in batch.into_iter().zip(results) {
            if let Ok(id) = &r {
                positions.note(&a.stream, *id);
            }
            if let Some(then) = a.then {
                then(r.as_ref().ok().copied());
            }
            let _ = a.done.send(r);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared state of one server: the readers, the writer, the namespace adapters.

/// The newest entry id seen on each stream (read, or appended by this server).
#[derive(Default)]
struct Positions(Mutex<HashMap<String, StreamId>>);

impl Positions {
    fn note(&self, stream: &str, id: StreamId) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(stream) {
            Some(p) => *p = (*p).max(id),
            None => {
                m.insert(stream.to_owned(), id);
            }
        }
    }

    fn get(&self, stream: &str) -> Option<StreamId> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(stream)
            .copied()
    }
}

struct Shared {
    config: RedisStreamsAdapterConfig,
    driver: RedisDriver,
    commands: Arc<Commands>,
    writer: mpsc::UnboundedSender<Append>,
    positions: Arc<Positions>,
    adapters: Mutex<HashMap<String, Weak<Inner>>>,
    /// How many stream readers know where they start.
    positioned: watch::Receiver<usize>,
}

impl Shared {
    fn adapter(&self, nsp: &str) -> Option<Arc<Inner>> {
        self.adapters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(nsp)
            .and_then(Weak::upgrade)
    }

    fn dispatch(&self, stream: &str, id: StreamId, fields: &[(String, Vec<u8>)]) {
        self.positions.note(stream, id);
        let Some(nsp) = fields.iter().rev().find(|(k, _)| k == "nsp") else {
            return;
        };
        let nsp = String::from_utf8_lossy(&nsp.1);
        let Some(inner) = self.adapter(&nsp) else {
            return;
        };
        match crate::streams::decode_entry(fields) {
            Ok(msg) => inner.on_message(msg, Some(id)),
            Err(e) => {
                tracing::debug!(target: "ferrio_redis", nsp = %nsp, %id, error = %e, "ignoring undecodable stream entry")
            }
        }
    }
}

async fn run_reader(
    shared: Weak<Shared>,
    client: redis::Client,
    stream: String,
    read_count: usize,
    block: Duration,
    positioned: Arc<watch::Sender<usize>>,
) {
    let mut last: Option<StreamId> = None;
    let mut conn: Option<MultiplexedConnection> = None;
    let mut backoff = BACKOFF_MIN;
    let mut down = false;
    let block_ms = block.as_millis().max(1) as u64;
    loop {
        if shared.strong_count() == 0 {
            return;
        }
        let c = match &mut conn {
            Some(c) => c,
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(block + RESPONSE_TIMEOUT);
                match tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    client.get_multiplexed_async_connection_with_config(&config),
                )
                .await
                {
                    Ok(Ok(c)) => {
                        if down {
                            tracing::info!(target: "ferrio_redis", %stream, "stream reader reconnected to Redis");
                        }
                        down = false;
                        backoff = BACKOFF_MIN;
                        conn.insert(c)
                    }
                    other => {
                        if !down {
                            let error = match other {
                                Ok(Err(e)) => e.to_string(),
                                _ => "connection timed out".to_owned(),
                            };
                            tracing::warn!(target: "ferrio_redis", %stream, %error, "stream reader cannot reach Redis; retrying");
                        }
                        down = true;
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                }
            }
        };
        let result: redis::RedisResult<redis::Value> = match last {
            // Where to start: the newest entry (`$`, without missing what comes before the
            // first XREAD).
            None => {
                redis::cmd("XREVRANGE")
                    .arg(&stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(c)
                    .await
            }
            Some(from) => {
                redis::cmd("XREAD")
                    .arg("BLOCK")
                    .arg(block_ms)
                    .arg("COUNT")
                    .arg(read_count)
                    .arg("STREAMS")
                    .arg(&stream)
                    .arg(from.to_string())
                    .query_async(c)
                    .await
            }
        };
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                if !down {
                    tracing::warn!(target: "ferrio_redis", %stream, error = %e, "stream reader failed; reconnecting");
                }
                down = true;
                conn = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let Some(from) = last else {
            let start = parse_entries(&value)
                .first()
                .map(|(id, _)| *id)
                .unwrap_or(StreamId { ms: 0, seq: 0 });
            last = Some(start);
            if let Some(shared) = shared.upgrade() {
                if start > (StreamId { ms: 0, seq: 0 }) {
                    shared.positions.note(&stream, start);
                }
            }
            positioned.send_modify(|n| *n += 1);
            tracing::debug!(target: "ferrio_redis", %stream, %start, "reading the stream");
            continue;
        };
        let entries = parse_xread(&value);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let mut newest = from;
        for (id, fields) in &entries {
            newest = newest.max(*id);
            shared.dispatch(&stream, *id, fields);
        }
        last = Some(newest);
    }
}

/// The streams adapter of one server: starts the stream readers and the writer, makes the
/// namespace adapters ([`factory`](Self::factory)). Cheap to clone.
///
/// ```no_run
/// use ferrio::SocketIo;
/// use ferrio_redis::{RedisDriver, RedisStreams, RedisStreamsAdapterConfig};
/// use std::time::Duration;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let streams = RedisStreams::new(
///     RedisDriver::new("redis://127.0.0.1:6379")?,
///     RedisStreamsAdapterConfig::default(),
/// );
/// let io = SocketIo::builder().adapter(streams.factory()).build();
/// io.ns("/", |_socket: ferrio::SocketRef| async move {});
/// if !streams.ready(Duration::from_secs(2)).await {
///     eprintln!("Redis unreachable: serving local clients, retrying in the background");
/// }
/// io.listen("127.0.0.1:3000").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStreams {
    shared: Arc<Shared>,
}

impl fmt::Debug for RedisStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStreams")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl RedisStreams {
    /// Starts reading the stream(s) and the writer on `driver`'s runtime. The Pub/Sub
    /// connections are `driver`'s; the stream commands and each blocking `XREAD` get their
    /// own connections to the same Redis.
    pub fn new(driver: RedisDriver, config: RedisStreamsAdapterConfig) -> RedisStreams {
        let client = driver.client.clone();
        let commands = Arc::new(Commands::new(client.clone()));
        let positions = Arc::new(Positions::default());
        let (writer, rx) = mpsc::unbounded_channel();
        driver.handle.spawn(run_writer(
            commands.clone(),
            positions.clone(),
            config.max_len,
            rx,
        ));
        let (positioned_tx, positioned) = watch::channel(0);
        let shared = Arc::new(Shared {
            config,
            driver,
            commands,
            writer,
            positions,
            adapters: Mutex::new(HashMap::new()),
            positioned,
        });
        let positioned_tx = Arc::new(positioned_tx);
        for stream in shared.streams() {
            shared.driver.handle.spawn(run_reader(
                Arc::downgrade(&shared),
                client.clone(),
                stream,
                shared.config.read_count,
                shared.config.block_time,
                positioned_tx.clone(),
            ));
        }
        RedisStreams { shared }
    }

    /// A factory for [`SocketIoBuilder::adapter`](ferrio::SocketIoBuilder::adapter): one
    /// adapter per namespace, all sharing this server's connections and stream readers.
    pub fn factory(&self) -> impl Fn(&str) -> Arc<dyn Adapter> + Send + Sync + 'static {
        let shared = self.shared.clone();
        move |nsp: &str| Arc::new(RedisStreamsAdapter::with_shared(shared.clone(), nsp))
    }

    /// Waits until the subscriptions of every namespace created so far are active and every
    /// stream reader knows where it starts, for at most `timeout`; false if Redis could not be
    /// reached in time.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if !self.shared.driver.ready(timeout).await {
            return false;
        }
        let want = self.shared.streams().len();
        let mut positioned = self.shared.positioned.clone();
        tokio::time::timeout_at(deadline, positioned.wait_for(|n| *n >= want))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Shared {
    fn streams(&self) -> Vec<String> {
        let c = &self.config;
        if c.stream_count <= 1 {
            vec![c.stream_name.clone()]
        } else {
            (0..c.stream_count)
                .map(|i| format!("{}-{i}", c.stream_name))
                .collect()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The namespace adapter.

struct Inner {
    nsp: String,
    stream: String,
    channels: StreamsChannels,
    shared: Arc<Shared>,
    ns: OnceLock<Weak<Namespace>>,
    subscription: OnceLock<u64>,
    pending: Arc<PendingRequests<MessageType, ClusterBody>>,
}

/// The adapter of one namespace, made by [`RedisStreams::factory`]; see the [module](self)
/// documentation.
///
/// ```no_run
/// use ferrio_redis::{RedisDriver, RedisStreamsAdapter};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // Without waiting for Redis before serving:
/// let driver = RedisDriver::new("redis://127.0.0.1:6379")?;
/// let io = ferrio::SocketIo::builder()
///     .adapter(RedisStreamsAdapter::factory(driver, Default::default()))
///     .build();
/// # Ok(()) }
/// ```
pub struct RedisStreamsAdapter {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisStreamsAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStreamsAdapter")
            .field("nsp", &self.inner.nsp)
            .field("uid", &self.inner.channels.uid())
            .field("stream", &self.inner.stream)
            .finish()
    }
}

impl RedisStreamsAdapter {
    /// A factory over a new [`RedisStreams`] (for a server that does not wait for
    /// [`RedisStreams::ready`]).
    pub fn factory(
        driver: RedisDriver,
        config: RedisStreamsAdapterConfig,
    ) -> impl Fn(&str) -> Arc<dyn Adapter> + Send + Sync + 'static {
        RedisStreams::new(driver, config).factory()
    }

    fn with_shared(shared: Arc<Shared>, nsp: &str) -> Self {
        let uid = generate_uid();
        let c = &shared.config;
        RedisStreamsAdapter {
            inner: Arc::new(Inner {
                nsp: nsp.to_owned(),
                stream: stream_for(nsp, &c.stream_name, c.stream_count),
                channels: StreamsChannels::new(&c.channel_prefix, nsp, &uid),
                shared,
                ns: OnceLock::new(),
                subscription: OnceLock::new(),
                pending: Arc::default(),
            }),
        }
    }

    /// This adapter's uid (16 hex characters), as other nodes see it.
    pub fn uid(&self) -> &str {
        self.inner.channels.uid()
    }
}

impl Drop for RedisStreamsAdapter {
    fn drop(&mut self) {
        self.inner.unregister();
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
        &self.shared.driver.handle
    }

    fn requests_timeout(&self) -> Duration {
        self.shared.config.requests_timeout
    }

    fn pending(&self) -> &Arc<PendingRequests<MessageType, ClusterBody>> {
        &self.pending
    }

    fn publish_request(&self, body: ClusterBody) -> AdapterFuture<()> {
        Box::pin(self.publish(body))
    }

    /// Publishes a response on `prefix#nsp#<requester>#`.
    fn respond(&self, requester: &str, body: ClusterBody) {
        match self.message(body).encode_msgpack() {
            Ok(payload) => self
                .driver()
                .publisher
                .publish_detached(self.channels.responses_to(requester), payload),
            Err(e) => {
                tracing::warn!(target: "ferrio_redis", nsp = %self.nsp, error = %e, "cannot encode response")
            }
        }
    }

    fn server_count(&self) -> AdapterFuture<usize> {
        let count = self
            .driver()
            .publisher
            .numsub(self.channels.public().to_owned());
        Box::pin(async move { Ok(count.await?) })
    }
}

impl Inner {
    fn uid(&self) -> &str {
        self.channels.uid()
    }

    fn driver(&self) -> &RedisDriver {
        &self.shared.driver
    }

    fn unregister(&self) {
        if let Some(id) = self.subscription.get() {
            self.driver().subscriber.remove(*id);
        }
        let mut adapters = self
            .shared
            .adapters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if adapters
            .get(&self.nsp)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), self))
        {
            adapters.remove(&self.nsp);
        }
    }

    fn message(&self, body: ClusterBody) -> ClusterMessage {
        ClusterMessage {
            uid: self.uid().to_owned(),
            nsp: self.nsp.clone(),
            body,
        }
    }

    /// Queues the XADD of a durable message now; `then` runs once Redis answered.
    fn append(
        &self,
        body: ClusterBody,
        then: Option<AfterAppend>,
    ) -> impl std::future::Future<Output = Result<StreamId, AdapterError>> + Send + 'static {
        let (done, rx) = oneshot::channel();
        let fields = entry_fields(&self.message(body), self.shared.config.only_plaintext);
        let sent = match fields {
            Ok(fields) => self
                .shared
                .writer
                .send(Append {
                    stream: self.stream.clone(),
                    fields,
                    then,
                    done,
                })
                .map_err(|e| {
                    if let Some(then) = e.0.then {
                        then(None);
                    }
                    AdapterError::Transport("stream writer stopped".into())
                }),
            Err(e) => {
                if let Some(then) = then {
                    then(None);
                }
                Err(AdapterError::Transport(format!(
                    "cannot encode message: {e}"
                )))
            }
        };
        async move {
            sent?;
            match rx.await {
                Ok(r) => Ok(r?),
                Err(_) => Err(AdapterError::Transport("stream writer stopped".into())),
            }
        }
    }

    /// Publishes a request (msgpack of the whole message) on `prefix#nsp#`.
    fn publish(
        &self,
        body: ClusterBody,
    ) -> impl std::future::Future<Output = Result<(), AdapterError>> + Send + 'static {
        let publish = self
            .message(body)
            .encode_msgpack()
            .map_err(|e| DriverError::Encode(e.to_string()))
            .map(|p| {
                self.driver()
                    .publisher
                    .publish(self.channels.public().to_owned(), p)
            });
        async move { Ok(publish?.await?) }
    }

    // ---- incoming ---------------------------------------------------------------------

    /// A message from the stream (with its entry id) or from Pub/Sub.
    fn on_message(self: &Arc<Self>, msg: ClusterMessage, offset: Option<StreamId>) {
        if msg.uid == self.uid() || msg.nsp != self.nsp {
            return;
        }
        if msg.body.is_response() {
            route_cluster_response(&self.pending, msg.body);
            return;
        }
        let Some(ns) = self.namespace() else {
            return;
        };
        match msg.body {
            ClusterBody::Broadcast {
                packet,
                request_id: None,
                opts,
            } if matches!(packet.data, Value::Array(_)) && packet.id.is_none() => {
                let offset = offset.map(|o| o.to_string());
                ns.broadcast_local_at(
                    value_to_payload(&packet.data),
                    &local_opts(&opts, true),
                    offset.as_deref(),
                );
            }
            body => cluster_adapter::on_message(self, &ns, msg.uid, body),
        }
    }

    // ---- recovery -----------------------------------------------------------------------

    fn session_key(&self, pid: &str) -> String {
        format!("{}{pid}", self.shared.config.session_key_prefix)
    }

    async fn restore(&self, pid: Sid, offset: String) -> Result<Option<Session>, AdapterError> {
        let Ok(mut offset) = offset.parse::<StreamId>() else {
            tracing::debug!(target: "ferrio_redis", nsp = %self.nsp, %offset, "not restoring: invalid offset");
            return Ok(None);
        };
        let key = self.session_key(pid.as_str());
        let mut getdel = redis::pipe();
        getdel.atomic().get(&key).del(&key);
        let commands = &self.shared.commands;
        let (raw, exists) = tokio::join!(
            commands.pipe::<(Option<Vec<u8>>, i64)>(getdel),
            commands.cmd::<redis::Value>(
                redis::cmd("XRANGE")
                    .arg(&self.stream)
                    .arg(offset.to_string())
                    .arg(offset.to_string())
                    .clone()
            ),
        );
        let (raw, _) = raw?;
        let exists = !parse_entries(&exists?).is_empty();
        let Some(raw) = raw.filter(|_| exists) else {
            tracing::debug!(target: "ferrio_redis", nsp = %self.nsp, %pid, %offset, "not restoring: session or offset not found");
            return Ok(None);
        };
        let record = match SessionRecord::decode(&raw) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(target: "ferrio_redis", nsp = %self.nsp, %pid, error = %e, "not restoring: undecodable session");
                return Ok(None);
            }
        };
        let Ok(sid) = record.sid.parse::<Sid>() else {
            return Ok(None);
        };
        let mut missed = Vec::new();
        for _ in 0..RESTORE_SESSION_MAX_XRANGE_CALLS {
            let page = commands
                .cmd::<redis::Value>(
                    redis::cmd("XRANGE")
                        .arg(&self.stream)
                        .arg(offset.next().to_string())
                        .arg("+")
                        .arg("COUNT")
                        .arg(RESTORE_PAGE)
                        .clone(),
                )
                .await?;
            let entries = parse_entries(&page);
            if entries.is_empty() {
                break;
            }
            for (id, fields) in &entries {
                if let Some(data) = missed_packet(fields, &self.nsp, &record.rooms) {
                    let mut p = value_to_payload(&data);
                    if let serde_json::Value::Array(items) = &mut p.value {
                        items.push(serde_json::Value::String(id.to_string()));
                    }
                    missed.push(p);
                }
                offset = *id;
            }
        }
        let data = match record.data.to_json() {
            serde_json::Value::Object(m) if m.is_empty() => serde_json::Value::Null,
            d => d,
        };
        Ok(Some(Session {
            sid,
            pid,
            rooms: rooms_of(&record.rooms),
            data,
            missed_packets: missed,
        }))
    }
}

impl Adapter for RedisStreamsAdapter {
    fn init(&self, local: &Arc<Namespace>) {
        let _ = self.inner.ns.set(Arc::downgrade(local));
        self.inner
            .shared
            .adapters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.inner.nsp.clone(), Arc::downgrade(&self.inner));
        let (tx, mut rx) = mpsc::unbounded_channel::<Incoming>();
        let channels = vec![
            self.inner.channels.public().to_owned(),
            self.inner.channels.private(),
        ];
        let id = self.inner.driver().subscriber.add(channels, Vec::new(), tx);
        let _ = self.inner.subscription.set(id);
        let inner = Arc::downgrade(&self.inner);
        self.inner.driver().handle.spawn(async move {
            while let Some(msg) = rx.recv().await {
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                match ClusterMessage::decode(&msg.payload) {
                    Ok(m) => inner.on_message(m, None),
                    Err(e) => {
                        tracing::debug!(target: "ferrio_redis", nsp = %inner.nsp, error = %e, "ignoring undecodable message")
                    }
                }
            }
        });
    }

    fn close(&self) -> AdapterFuture<()> {
        self.inner.unregister();
        ready(())
    }

    fn broadcast(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        opts: &LocalOptions,
    ) -> AdapterFuture<()> {
        if opts.flags.local {
            local.broadcast_local_at(data, opts, None);
            return ready(());
        }
        let value = match payload_to_value(&data) {
            Ok(v) => v,
            Err(e) => {
                local.broadcast_local_at(data, opts, None);
                return err(e);
            }
        };
        let body = ClusterBody::Broadcast {
            packet: Packet::event(value, None),
            request_id: None,
            opts: wire_opts(opts, true),
        };
        let with_offset = local.recovery_config().is_some() && !opts.flags.volatile;
        let appended = if with_offset {
            // Reaches the local sockets once the entry id (the offset) is known.
            let ns = Arc::downgrade(local);
            let opts = opts.clone();
            let then: AfterAppend = Box::new(move |id| {
                if let Some(ns) = ns.upgrade() {
                    let offset = id.map(|id| id.to_string());
                    ns.broadcast_local_at(data, &opts, offset.as_deref());
                }
            });
            self.inner.append(body, Some(then))
        } else {
            let appended = self.inner.append(body, None);
            local.broadcast_local_at(data, opts, None);
            appended
        };
        Box::pin(async move {
            appended.await?;
            Ok(())
        })
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
        let appended = self.inner.append(
            ClusterBody::SocketsJoin {
                opts: wire_opts(opts, true),
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
            },
            None,
        );
        Box::pin(async move {
            appended.await?;
            Ok(())
        })
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
        let appended = self.inner.append(
            ClusterBody::SocketsLeave {
                opts: wire_opts(opts, true),
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
            },
            None,
        );
        Box::pin(async move {
            appended.await?;
            Ok(())
        })
    }

    fn disconnect_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &LocalOptions,
        close: bool,
    ) -> AdapterFuture<()> {
        // Queued first: disconnecting may drop the last local reference to the namespace.
        let appended = (!opts.flags.local).then(|| {
            self.inner.append(
                ClusterBody::DisconnectSockets {
                    opts: wire_opts(opts, true),
                    close,
                },
                None,
            )
        });
        local.disconnect_sockets_local(opts, close);
        match appended {
            Some(a) => Box::pin(async move {
                a.await?;
                Ok(())
            }),
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

    fn assigns_offsets(&self) -> bool {
        true
    }

    fn current_offset(&self) -> Option<String> {
        self.inner
            .shared
            .positions
            .get(&self.inner.stream)
            .map(|id| id.to_string())
    }

    fn persist_session(&self, local: &Arc<Namespace>, session: Session) {
        let Some(recovery) = local.recovery_config() else {
            return;
        };
        let data = match &session.data {
            serde_json::Value::Null => Value::map(Vec::<(String, Value)>::new()),
            d => Value::from(d),
        };
        let record = SessionRecord {
            sid: session.sid.to_string(),
            pid: session.pid.to_string(),
            rooms: session.rooms.iter().map(|r| r.to_string()).collect(),
            data,
        };
        let encoded = match record.encode() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(target: "ferrio_redis", nsp = %self.inner.nsp, error = %e, "cannot encode session");
                return;
            }
        };
        let key = self.inner.session_key(&record.pid);
        let ttl = recovery.max_disconnection_duration.as_millis().max(1) as u64;
        let inner = self.inner.clone();
        self.inner.driver().handle.spawn(async move {
            let set = redis::cmd("SET")
                .arg(&key)
                .arg(encoded)
                .arg("PX")
                .arg(ttl)
                .clone();
            if let Err(e) = inner.shared.commands.cmd::<redis::Value>(set).await {
                tracing::warn!(target: "ferrio_redis", nsp = %inner.nsp, error = %e, "session not kept");
            }
        });
    }

    fn restore_session(
        &self,
        _local: &Arc<Namespace>,
        pid: Sid,
        offset: String,
    ) -> AdapterFuture<Option<Session>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.restore(pid, offset).await })
    }
}
