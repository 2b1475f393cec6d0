//! The sharded Pub/Sub subscriber: one connection doing SSUBSCRIBE / SUNSUBSCRIBE for the
//! sharded adapters of a server, reconnecting on its own and restoring every subscription.
//!
//! # Why RESP3
//! redis-rs 0.32's RESP2 Pub/Sub connection (`aio::PubSub`) only knows `subscribe`,
//! `psubscribe`, `message` and `pmessage` replies: an `ssubscribe` confirmation or an
//! `smessage` makes its reader stop (the stream ends), so it cannot carry sharded Pub/Sub.
//! Under RESP3, a plain multiplexed connection sends SSUBSCRIBE as an ordinary command (its
//! `ssubscribe` push is the reply) and hands every `smessage` push to a push sender. Sharded
//! Pub/Sub needs Redis 7, which speaks RESP3 (`HELLO 3`), so this connection always asks for
//! RESP3 whatever the URL says; nothing that could run the sharded adapter is excluded.
//!
//! Each channel gets its own SSUBSCRIBE (in one pipeline): a Redis Cluster refuses one
//! SSUBSCRIBE naming channels of different slots, and one reply per command keeps redis-rs's
//! reply matching exact.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};

use crate::driver::Incoming;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

enum Op {
    /// A registration whose messages go to `sink`.
    Add(mpsc::UnboundedSender<Incoming>),
    Subscribe(String),
    Unsubscribe(String),
    Remove,
}

struct Cmd {
    /// Order of issue; the watch reports the last one applied.
    seq: u64,
    id: u64,
    op: Op,
}

/// The sharded subscribing connection, shared by the sharded adapters of a server.
#[derive(Clone)]
pub(crate) struct ShardedSubscriber {
    /// Locked so that sequence numbers reach the task in order.
    tx: Arc<Mutex<(u64, mpsc::UnboundedSender<Cmd>)>>,
    ids: Arc<AtomicU64>,
    /// `None` while disconnected, else the last command applied on the live connection.
    ready: watch::Receiver<Option<u64>>,
}

impl fmt::Debug for ShardedSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedSubscriber")
            .field("applied", &*self.ready.borrow())
            .finish()
    }
}

impl ShardedSubscriber {
    pub(crate) fn spawn(client: &redis::Client, handle: &Handle) -> ShardedSubscriber {
        let mut info = client.get_connection_info().clone();
        info.redis.protocol = ProtocolVersion::RESP3;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready) = watch::channel(None);
        // `Client::open` of a ConnectionInfo only copies it: it cannot fail.
        match redis::Client::open(info) {
            Ok(client) => {
                handle.spawn(run(client, rx, ready_tx));
            }
            Err(e) => {
                tracing::error!(target: "ferrio_redis", error = %e, "sharded subscriber not started")
            }
        }
        ShardedSubscriber {
            tx: Arc::new(Mutex::new((0, tx))),
            ids: Arc::new(AtomicU64::new(1)),
            ready,
        }
    }

    fn send(&self, id: u64, op: Op) {
        let mut guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 += 1;
        let seq = guard.0;
        let _ = guard.1.send(Cmd { seq, id, op });
    }

    /// A new registration: the messages of the channels it subscribes go to `sink`.
    pub(crate) fn add(&self, sink: mpsc::UnboundedSender<Incoming>) -> u64 {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        self.send(id, Op::Add(sink));
        id
    }

    /// SSUBSCRIBEs `channel` for registration `id` (if no other registration has it).
    pub(crate) fn subscribe(&self, id: u64, channel: String) {
        self.send(id, Op::Subscribe(channel));
    }

    /// Drops `channel` from registration `id` (SUNSUBSCRIBE when no other needs it).
    pub(crate) fn unsubscribe(&self, id: u64, channel: String) {
        self.send(id, Op::Unsubscribe(channel));
    }

    /// Drops registration `id` and its channels.
    pub(crate) fn remove(&self, id: u64) {
        self.send(id, Op::Remove);
    }

    /// Waits until every command so far is applied on a live connection.
    pub(crate) async fn ready(&self, timeout: Duration) -> bool {
        let target = self.tx.lock().unwrap_or_else(|e| e.into_inner()).0;
        let mut ready = self.ready.clone();
        tokio::time::timeout(timeout, ready.wait_for(|r| r.is_some_and(|r| r >= target)))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

struct Registration {
    channels: HashSet<String>,
    sink: mpsc::UnboundedSender<Incoming>,
}

/// The registrations and, per channel, how many of them hold it.
#[derive(Default)]
struct State {
    regs: HashMap<u64, Registration>,
    refs: HashMap<String, usize>,
}

/// What a command changes on the connection.
enum Change {
    None,
    Subscribe(String),
    Unsubscribe(Vec<String>),
}

impl State {
    fn apply(&mut self, id: u64, op: Op) -> Change {
        match op {
            Op::Add(sink) => {
                self.regs.insert(
                    id,
                    Registration {
                        channels: HashSet::new(),
                        sink,
                    },
                );
                Change::None
            }
            Op::Subscribe(channel) => {
                let Some(reg) = self.regs.get_mut(&id) else {
                    return Change::None;
                };
                if !reg.channels.insert(channel.clone()) {
                    return Change::None;
                }
                let n = self.refs.entry(channel.clone()).or_default();
                *n += 1;
                if *n == 1 {
                    Change::Subscribe(channel)
                } else {
                    Change::None
                }
            }
            Op::Unsubscribe(channel) => {
                let Some(reg) = self.regs.get_mut(&id) else {
                    return Change::None;
                };
                if !reg.channels.remove(&channel) {
                    return Change::None;
                }
                self.release(vec![channel])
            }
            Op::Remove => match self.regs.remove(&id) {
                Some(reg) => self.release(reg.channels.into_iter().collect()),
                None => Change::None,
            },
        }
    }

    /// Decrements the counts of `channels`; those no longer needed are to unsubscribe.
    fn release(&mut self, channels: Vec<String>) -> Change {
        let mut gone = Vec::new();
        for c in channels {
            if let Some(n) = self.refs.get_mut(&c) {
                *n -= 1;
                if *n == 0 {
                    self.refs.remove(&c);
                    gone.push(c);
                }
            }
        }
        if gone.is_empty() {
            Change::None
        } else {
            Change::Unsubscribe(gone)
        }
    }

    fn dispatch(&self, channel: &str, payload: &[u8]) {
        for reg in self.regs.values() {
            if reg.channels.contains(channel) {
                let _ = reg.sink.send(Incoming {
                    channel: channel.to_owned(),
                    payload: payload.to_vec(),
                });
            }
        }
    }
}

/// One command per channel, as one pipeline.
async fn sharded_command(
    conn: &mut MultiplexedConnection,
    command: &str,
    channels: &[String],
) -> Result<(), String> {
    if channels.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for c in channels {
        pipe.cmd(command).arg(c);
    }
    match tokio::time::timeout(RESPONSE_TIMEOUT, pipe.exec_async(conn)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no reply to {command} in time")),
    }
}

/// The `[channel, payload]` of an `smessage` push.
fn smessage(info: &PushInfo) -> Option<(&str, &[u8])> {
    match info.data.as_slice() {
        [redis::Value::BulkString(channel), redis::Value::BulkString(payload), ..] => {
            Some((std::str::from_utf8(channel).ok()?, payload))
        }
        _ => None,
    }
}

async fn run(
    client: redis::Client,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    ready: watch::Sender<Option<u64>>,
) {
    let mut state = State::default();
    let mut applied = 0;
    let mut backoff = BACKOFF_MIN;
    let mut down = false;
    loop {
        ready.send_replace(None);
        let (push_tx, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_push_sender(push_tx);
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await;
        let connected = match attempt {
            Ok(Ok(mut conn)) => {
                let channels: Vec<String> = state.refs.keys().cloned().collect();
                match sharded_command(&mut conn, "SSUBSCRIBE", &channels).await {
                    Ok(()) => Ok(conn),
                    Err(e) => Err(e),
                }
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connection timed out".to_owned()),
        };
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(e) => {
                if !down {
                    tracing::warn!(target: "ferrio_redis", error = %e, "sharded subscriber cannot reach Redis; retrying");
                }
                down = true;
                // Keep taking commands while waiting to retry.
                let sleep = tokio::time::sleep(backoff);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        cmd = rx.recv() => match cmd {
                            None => return,
                            Some(cmd) => {
                                state.apply(cmd.id, cmd.op);
                                applied = cmd.seq;
                            }
                        },
                    }
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if down {
            tracing::info!(target: "ferrio_redis", "sharded subscriber reconnected to Redis and subscribed again");
        }
        backoff = BACKOFF_MIN;
        ready.send_replace(Some(applied));
        loop {
            tokio::select! {
                push = pushes.recv() => match push {
                    Some(info) => match info.kind {
                        PushKind::SMessage | PushKind::Message => {
                            if let Some((channel, payload)) = smessage(&info) {
                                state.dispatch(channel, payload);
                            }
                        }
                        PushKind::Disconnection => {
                            tracing::warn!(target: "ferrio_redis", "sharded subscriber lost its Redis connection; reconnecting");
                            down = true;
                            break;
                        }
                        _ => {}
                    },
                    None => {
                        down = true;
                        break;
                    }
                },
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    let result = match state.apply(cmd.id, cmd.op) {
                        Change::None => Ok(()),
                        Change::Subscribe(c) => sharded_command(&mut conn, "SSUBSCRIBE", &[c]).await,
                        Change::Unsubscribe(cs) => sharded_command(&mut conn, "SUNSUBSCRIBE", &cs).await,
                    };
                    applied = cmd.seq;
                    if let Err(e) = result {
                        tracing::warn!(target: "ferrio_redis", error = %e, "SSUBSCRIBE/SUNSUBSCRIBE failed; reconnecting");
                        down = true;
                        break;
                    }
                    ready.send_replace(Some(applied));
                }
            }
        }
    }
}
