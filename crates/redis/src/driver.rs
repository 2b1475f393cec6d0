//! The Redis connections: one publisher (PUBLISH, PUBSUB NUMSUB, and their sharded forms
//! SPUBLISH, PUBSUB SHARDNUMSUB) and one subscriber (SUBSCRIBE, PSUBSCRIBE), each with its own
//! task, both reconnecting on their own; plus, once a sharded adapter is made, the sharded
//! subscriber of [`crate::sharded_subscriber`].
//!
//! * The **publisher** owns a multiplexed connection. Commands are queued (so they keep the order
//!   of the calls that made them, even when nobody awaits them) and sent in pipelined batches.
//!   While Redis is unreachable, commands fail at once with [`DriverError::Unavailable`] and a
//!   new connection is attempted with an exponential backoff (100 ms to 2 s).
//! * The **subscriber** owns a RESP2 Pub/Sub connection. It keeps the set of channels and
//!   patterns the namespace adapters registered, subscribes to all of them on every
//!   (re)connection, and hands each message to the registrations that match.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
const MAX_BATCH: usize = 512;

/// A Redis operation of the adapter or the emitter failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The Redis URL is not valid.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    /// No Tokio runtime to run the connection tasks on.
    #[error("a Tokio runtime is required to start the Redis connections")]
    NoRuntime,
    /// Redis is not reachable now (a new connection is being attempted).
    #[error("Redis unavailable: {0}")]
    Unavailable(String),
    /// A command failed or got no answer in time.
    #[error("Redis command failed: {0}")]
    Command(String),
    /// A message could not be encoded.
    #[error("cannot encode message: {0}")]
    Encode(String),
}

impl From<DriverError> for ferrio::adapter::AdapterError {
    fn from(e: DriverError) -> Self {
        ferrio::adapter::AdapterError::Transport(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Publisher

enum PubCmd {
    Publish {
        /// `PUBLISH` or `SPUBLISH`.
        command: &'static str,
        channel: String,
        payload: Vec<u8>,
        done: Option<oneshot::Sender<Result<(), DriverError>>>,
    },
    NumSub {
        /// `NUMSUB` or `SHARDNUMSUB`.
        subcommand: &'static str,
        channel: String,
        done: oneshot::Sender<Result<usize, DriverError>>,
    },
}

impl PubCmd {
    fn fail(self, e: DriverError) {
        match self {
            PubCmd::Publish { done, .. } => {
                if let Some(done) = done {
                    let _ = done.send(Err(e));
                }
            }
            PubCmd::NumSub { done, .. } => {
                let _ = done.send(Err(e));
            }
        }
    }
}

/// The publishing connection: PUBLISH and PUBSUB NUMSUB, in call order.
#[derive(Clone)]
pub(crate) struct Publisher {
    tx: mpsc::UnboundedSender<PubCmd>,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    pub(crate) fn spawn(client: redis::Client, handle: &Handle) -> Publisher {
        let (tx, rx) = mpsc::unbounded_channel();
        handle.spawn(run_publisher(client, rx));
        Publisher { tx }
    }

    /// Queues a PUBLISH now; the future tells whether Redis took it.
    pub(crate) fn publish(
        &self,
        channel: String,
        payload: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<(), DriverError>> + Send + 'static {
        self.publish_with("PUBLISH", channel, payload)
    }

    /// Queues a `command` (PUBLISH or SPUBLISH) now; the future tells whether Redis took it.
    pub(crate) fn publish_with(
        &self,
        command: &'static str,
        channel: String,
        payload: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<(), DriverError>> + Send + 'static {
        let (done, rx) = oneshot::channel();
        let sent = self.tx.send(PubCmd::Publish {
            command,
            channel,
            payload,
            done: Some(done),
        });
        async move {
            if sent.is_err() {
                return Err(DriverError::Unavailable("publisher stopped".into()));
            }
            rx.await
                .unwrap_or_else(|_| Err(DriverError::Unavailable("publisher stopped".into())))
        }
    }

    /// Queues a PUBLISH whose outcome nobody waits for (failures are logged).
    pub(crate) fn publish_detached(&self, channel: String, payload: Vec<u8>) {
        self.publish_detached_with("PUBLISH", channel, payload);
    }

    /// Queues a `command` (PUBLISH or SPUBLISH) whose outcome nobody waits for.
    pub(crate) fn publish_detached_with(
        &self,
        command: &'static str,
        channel: String,
        payload: Vec<u8>,
    ) {
        let _ = self.tx.send(PubCmd::Publish {
            command,
            channel,
            payload,
            done: None,
        });
    }

    /// `PUBSUB NUMSUB channel`: how many connections subscribe to `channel`.
    pub(crate) fn numsub(
        &self,
        channel: String,
    ) -> impl std::future::Future<Output = Result<usize, DriverError>> + Send + 'static {
        self.numsub_with("NUMSUB", channel)
    }

    /// `PUBSUB <subcommand> channel` (NUMSUB or SHARDNUMSUB).
    pub(crate) fn numsub_with(
        &self,
        subcommand: &'static str,
        channel: String,
    ) -> impl std::future::Future<Output = Result<usize, DriverError>> + Send + 'static {
        let (done, rx) = oneshot::channel();
        let sent = self.tx.send(PubCmd::NumSub {
            subcommand,
            channel,
            done,
        });
        async move {
            if sent.is_err() {
                return Err(DriverError::Unavailable("publisher stopped".into()));
            }
            rx.await
                .unwrap_or_else(|_| Err(DriverError::Unavailable("publisher stopped".into())))
        }
    }
}

fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT)
}

async fn run_publisher(client: redis::Client, mut rx: mpsc::UnboundedReceiver<PubCmd>) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut retry_at = Instant::now();
    let mut backoff = BACKOFF_MIN;
    let mut last_error = String::new();
    let mut down = false;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        if conn.is_none() && Instant::now() >= retry_at {
            let attempt = tokio::time::timeout(
                CONNECT_TIMEOUT,
                client.get_multiplexed_async_connection_with_config(&connection_config()),
            )
            .await;
            match attempt {
                Ok(Ok(c)) => {
                    if down {
                        tracing::info!(target: "ferrio_redis", "publisher reconnected to Redis");
                    }
                    conn = Some(c);
                    backoff = BACKOFF_MIN;
                    down = false;
                }
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = "connection timed out".into(),
            }
            if conn.is_none() {
                if !down {
                    tracing::warn!(target: "ferrio_redis", error = %last_error, "publisher cannot reach Redis; retrying");
                }
                down = true;
                retry_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
        let Some(c) = conn.as_mut() else {
            for cmd in batch {
                cmd.fail(DriverError::Unavailable(last_error.clone()));
            }
            continue;
        };
        let mut pipe = redis::pipe();
        for cmd in &batch {
            match cmd {
                PubCmd::Publish {
                    command,
                    channel,
                    payload,
                    ..
                } => {
                    pipe.cmd(command).arg(channel).arg(payload.as_slice());
                }
                PubCmd::NumSub {
                    subcommand,
                    channel,
                    ..
                } => {
                    pipe.cmd("PUBSUB").arg(*subcommand).arg(channel);
                }
            }
        }
        let result =
            tokio::time::timeout(RESPONSE_TIMEOUT, pipe.query_async::<Vec<redis::Value>>(c)).await;
        let values = match result {
            Ok(Ok(values)) if values.len() == batch.len() => values,
            other => {
                let e = match other {
                    Ok(Ok(_)) => "unexpected reply count".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "no reply in time".to_owned(),
                };
                tracing::warn!(target: "ferrio_redis", error = %e, "Redis publish failed; reconnecting");
                conn = None;
                down = true;
                last_error = e.clone();
                retry_at = Instant::now();
                for cmd in batch {
                    cmd.fail(DriverError::Command(e.clone()));
                }
                continue;
            }
        };
        for (cmd, value) in batch.into_iter().zip(values) {
            match cmd {
                PubCmd::Publish { done, .. } => {
                    if let Some(done) = done {
                        let _ = done.send(Ok(()));
                    }
                }
                PubCmd::NumSub { done, .. } => {
                    let _ = done.send(numsub_count(&value));
                }
            }
        }
    }
}

/// The count of a `PUBSUB NUMSUB channel` reply `[channel, count]`.
fn numsub_count(v: &redis::Value) -> Result<usize, DriverError> {
    let bad = || DriverError::Command(format!("unexpected PUBSUB NUMSUB reply {v:?}"));
    match v {
        redis::Value::Array(items) => match items.get(1) {
            Some(redis::Value::Int(n)) => Ok((*n).max(0) as usize),
            _ => Err(bad()),
        },
        redis::Value::Map(items) => match items.first() {
            Some((_, redis::Value::Int(n))) => Ok((*n).max(0) as usize),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------------------------------
// Subscriber

/// A message received on a subscribed channel.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) channel: String,
    pub(crate) payload: Vec<u8>,
}

struct Registration {
    channels: Vec<String>,
    patterns: Vec<String>,
    sink: mpsc::UnboundedSender<Incoming>,
}

enum SubCmd {
    Add(u64, Registration),
    Remove(u64),
}

/// The subscribing connection, shared by the namespace adapters of a server.
#[derive(Clone)]
pub(crate) struct Subscriber {
    tx: mpsc::UnboundedSender<SubCmd>,
    ids: Arc<AtomicU64>,
    /// `None` while disconnected, else the highest registration id subscribed.
    ready: watch::Receiver<Option<u64>>,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("subscribed", &*self.ready.borrow())
            .finish()
    }
}

impl Subscriber {
    pub(crate) fn spawn(client: redis::Client, handle: &Handle) -> Subscriber {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready) = watch::channel(None);
        handle.spawn(run_subscriber(client, rx, ready_tx));
        Subscriber {
            tx,
            ids: Arc::new(AtomicU64::new(1)),
            ready,
        }
    }

    /// Subscribes to `channels` and `patterns`; their messages go to `sink`. Returns the id to
    /// [`remove`](Self::remove) them with.
    pub(crate) fn add(
        &self,
        channels: Vec<String>,
        patterns: Vec<String>,
        sink: mpsc::UnboundedSender<Incoming>,
    ) -> u64 {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(SubCmd::Add(
            id,
            Registration {
                channels,
                patterns,
                sink,
            },
        ));
        id
    }

    /// Drops a registration (and unsubscribes what no other registration needs).
    pub(crate) fn remove(&self, id: u64) {
        let _ = self.tx.send(SubCmd::Remove(id));
    }

    /// Waits until every registration so far is subscribed on a live connection.
    pub(crate) async fn ready(&self, timeout: Duration) -> bool {
        let target = self.ids.load(Ordering::Relaxed) - 1;
        let mut ready = self.ready.clone();
        tokio::time::timeout(timeout, ready.wait_for(|r| r.is_some_and(|r| r >= target)))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[derive(Default)]
struct SubState {
    regs: HashMap<u64, Registration>,
    max_id: u64,
}

impl SubState {
    fn count(&self, f: impl Fn(&Registration) -> &Vec<String>, name: &str) -> usize {
        self.regs
            .values()
            .filter(|r| f(r).iter().any(|c| c == name))
            .count()
    }

    fn all(&self, f: impl Fn(&Registration) -> &Vec<String>) -> Vec<String> {
        let mut v: Vec<String> = self.regs.values().flat_map(|r| f(r).clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    fn dispatch(&mut self, channel: &str, pattern: Option<&str>, payload: &[u8]) {
        for reg in self.regs.values() {
            let matches = match pattern {
                Some(p) => reg.patterns.iter().any(|x| x == p),
                None => reg.channels.iter().any(|x| x == channel),
            };
            if matches {
                let _ = reg.sink.send(Incoming {
                    channel: channel.to_owned(),
                    payload: payload.to_vec(),
                });
            }
        }
    }
}

async fn subscribe_all(
    sink: &mut redis::aio::PubSubSink,
    state: &SubState,
) -> redis::RedisResult<()> {
    let channels = state.all(|r| &r.channels);
    let patterns = state.all(|r| &r.patterns);
    if !channels.is_empty() {
        sink.subscribe(channels).await?;
    }
    if !patterns.is_empty() {
        sink.psubscribe(patterns).await?;
    }
    Ok(())
}

/// Applies a command while connected. Returns false when the connection failed.
async fn apply_connected(
    sink: &mut redis::aio::PubSubSink,
    state: &mut SubState,
    cmd: SubCmd,
    ready: &watch::Sender<Option<u64>>,
) -> bool {
    match cmd {
        SubCmd::Add(id, reg) => {
            state.max_id = state.max_id.max(id);
            let new_channels: Vec<String> = reg
                .channels
                .iter()
                .filter(|c| state.count(|r| &r.channels, c) == 0)
                .cloned()
                .collect();
            let new_patterns: Vec<String> = reg
                .patterns
                .iter()
                .filter(|p| state.count(|r| &r.patterns, p) == 0)
                .cloned()
                .collect();
            state.regs.insert(id, reg);
            let r = async {
                if !new_channels.is_empty() {
                    sink.subscribe(new_channels).await?;
                }
                if !new_patterns.is_empty() {
                    sink.psubscribe(new_patterns).await?;
                }
                redis::RedisResult::Ok(())
            }
            .await;
            match r {
                Ok(()) => {
                    ready.send_replace(Some(state.max_id));
                    true
                }
                Err(e) => {
                    tracing::warn!(target: "ferrio_redis", error = %e, "SUBSCRIBE failed");
                    false
                }
            }
        }
        SubCmd::Remove(id) => {
            let Some(reg) = state.regs.remove(&id) else {
                return true;
            };
            let old_channels: Vec<String> = reg
                .channels
                .iter()
                .filter(|c| state.count(|r| &r.channels, c) == 0)
                .cloned()
                .collect();
            let old_patterns: Vec<String> = reg
                .patterns
                .iter()
                .filter(|p| state.count(|r| &r.patterns, p) == 0)
                .cloned()
                .collect();
            let r = async {
                if !old_channels.is_empty() {
                    sink.unsubscribe(old_channels).await?;
                }
                if !old_patterns.is_empty() {
                    sink.punsubscribe(old_patterns).await?;
                }
                redis::RedisResult::Ok(())
            }
            .await;
            r.is_ok()
        }
    }
}

async fn run_subscriber(
    client: redis::Client,
    mut rx: mpsc::UnboundedReceiver<SubCmd>,
    ready: watch::Sender<Option<u64>>,
) {
    let mut state = SubState::default();
    let mut backoff = BACKOFF_MIN;
    let mut down = false;
    loop {
        ready.send_replace(None);
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await;
        let pubsub = match attempt {
            Ok(Ok(p)) => Some(p),
            Ok(Err(e)) => {
                if !down {
                    tracing::warn!(target: "ferrio_redis", error = %e, "subscriber cannot reach Redis; retrying");
                }
                None
            }
            Err(_) => {
                if !down {
                    tracing::warn!(target: "ferrio_redis", "subscriber: connection to Redis timed out; retrying");
                }
                None
            }
        };
        let Some(pubsub) = pubsub else {
            down = true;
            // Keep taking registrations while waiting to retry.
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    cmd = rx.recv() => match cmd {
                        None => return,
                        Some(SubCmd::Add(id, reg)) => {
                            state.max_id = state.max_id.max(id);
                            state.regs.insert(id, reg);
                        }
                        Some(SubCmd::Remove(id)) => { state.regs.remove(&id); }
                    },
                }
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        };
        let (mut sink, mut stream) = pubsub.split();
        if let Err(e) = subscribe_all(&mut sink, &state).await {
            tracing::warn!(target: "ferrio_redis", error = %e, "SUBSCRIBE failed; reconnecting");
            down = true;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        }
        if down {
            tracing::info!(target: "ferrio_redis", "subscriber reconnected to Redis and subscribed again");
        }
        backoff = BACKOFF_MIN;
        ready.send_replace(Some(state.max_id));
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => {
                        let pattern: Option<String> = msg.get_pattern().ok().flatten();
                        state.dispatch(msg.get_channel_name(), pattern.as_deref(), msg.get_payload_bytes());
                    }
                    None => {
                        tracing::warn!(target: "ferrio_redis", "subscriber lost its Redis connection; reconnecting");
                        down = true;
                        break;
                    }
                },
                cmd = rx.recv() => match cmd {
                    None => return,
                    Some(cmd) => {
                        if !apply_connected(&mut sink, &mut state, cmd, &ready).await {
                            down = true;
                            break;
                        }
                    }
                },
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// The Redis connections of one server: a publisher and a subscriber, shared by its namespace
/// adapters. Cheap to clone.
///
/// Creating it never waits for Redis: the connections are made in the background and remade
/// whenever they are lost, so a server starts (and serves its own clients) while Redis is down.
#[derive(Clone, Debug)]
pub struct RedisDriver {
    pub(crate) publisher: Publisher,
    pub(crate) subscriber: Subscriber,
    pub(crate) handle: Handle,
    /// Where the connections go (the sharded subscriber makes its own from it).
    pub(crate) client: redis::Client,
    /// The sharded Pub/Sub subscriber, started by the first sharded adapter.
    pub(crate) sharded: Arc<std::sync::OnceLock<crate::sharded_subscriber::ShardedSubscriber>>,
}

impl RedisDriver {
    /// Starts the connections to `url` (e.g. `redis://127.0.0.1:6379`) on the current Tokio
    /// runtime.
    pub fn new(url: &str) -> Result<RedisDriver, DriverError> {
        let client =
            redis::Client::open(url).map_err(|e| DriverError::InvalidUrl(e.to_string()))?;
        let handle = Handle::try_current().map_err(|_| DriverError::NoRuntime)?;
        Ok(RedisDriver {
            publisher: Publisher::spawn(client.clone(), &handle),
            subscriber: Subscriber::spawn(client.clone(), &handle),
            handle,
            client,
            sharded: Arc::default(),
        })
    }

    /// Waits until the subscriptions of every namespace created so far are active, for at most
    /// `timeout`; false if Redis could not be reached in time. Useful before announcing a
    /// server as ready: until then, other servers do not count it nor send it broadcasts.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if !self.subscriber.ready(timeout).await {
            return false;
        }
        match self.sharded.get() {
            Some(sharded) => {
                sharded
                    .ready(deadline.saturating_duration_since(Instant::now()))
                    .await
            }
            None => true,
        }
    }
}
