//! Connection state recovery: sessions kept after an unexpected disconnection, and the packets
//! they may have missed.
//!
//! Every stored EVENT (no ack, not volatile) gets an offset appended as its last argument; the
//! client sends back the last offset it saw with its session id (`pid`) when it reconnects.
//!
//! By default this module's in-memory store keeps both, per namespace: a session is kept
//! `max_disconnection_duration`, packets as long, and the packet buffer is also bounded in count
//! ([`RecoveryConfig::max_buffered_packets`]): a client whose offset fell out of it is not
//! restored and gets a new session, as after an expiry. An adapter can take both over (the
//! [`Adapter`](crate::adapter::Adapter) hooks `assigns_offsets`, `current_offset`, `persist_session` and
//! `restore_session`): the Redis Streams adapter keeps sessions in Redis and uses stream entry
//! ids as offsets, so a client can come back on another server.

use crate::adapter::{should_include_packet, BroadcastOptions, Room, Session};
use crate::namespace::Namespace;
use crate::parser::Payload;
use ferrio_engine::Sid;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Connection state recovery options (`connectionStateRecovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a session and its packets are kept after a disconnection (120 s).
    pub max_disconnection_duration: Duration,
    /// Whether a restored socket skips the namespace middlewares (true).
    pub skip_middlewares: bool,
    /// The most packets kept per namespace by the in-memory store (10,000; the reference keeps
    /// them all).
    pub max_buffered_packets: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_buffered_packets: 10_000,
        }
    }
}

struct StoredPacket {
    offset: u64,
    at: Instant,
    data: Payload,
    rooms: Vec<Room>,
    except: Vec<Room>,
}

struct Kept {
    session: Session,
    at: Instant,
}

#[derive(Default)]
struct State {
    sessions: ferrio_engine::SidMap<Kept>,
    packets: VecDeque<StoredPacket>,
    seq: u64,
}

pub(crate) struct RecoveryStore {
    pub(crate) config: RecoveryConfig,
    /// Distinguishes this process's offsets from another's (a restarted server).
    epoch: String,
    state: Mutex<State>,
    /// The namespace, once a client connected to it: its adapter may keep the sessions and
    /// assign the offsets.
    ns: OnceLock<Weak<Namespace>>,
}

impl RecoveryStore {
    pub(crate) fn new(config: RecoveryConfig) -> Self {
        RecoveryStore {
            config,
            epoch: Sid::new().as_str()[..6].to_owned(),
            state: Mutex::new(State::default()),
            ns: OnceLock::new(),
        }
    }

    /// Ties the store to its namespace (before its first socket), so that sessions and
    /// offsets go through the namespace's adapter.
    pub(crate) fn bind(&self, ns: &Arc<Namespace>) {
        let _ = self.ns.get_or_init(|| Arc::downgrade(ns));
    }

    fn namespace(&self) -> Option<Arc<Namespace>> {
        self.ns.get().and_then(Weak::upgrade)
    }

    fn sweep(&self, s: &mut State, now: Instant) {
        let max = self.config.max_disconnection_duration;
        while s
            .packets
            .front()
            .is_some_and(|p| now.duration_since(p.at) > max)
        {
            s.packets.pop_front();
        }
        s.sessions
            .retain(|_, kept| now.duration_since(kept.at) <= max);
    }

    fn offset_string(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    fn parse_offset(&self, offset: &str) -> Option<u64> {
        let (epoch, seq) = offset.rsplit_once('-')?;
        (epoch == self.epoch).then(|| seq.parse().ok()).flatten()
    }

    /// Appends an offset to `data` (an EVENT's `[event, ...args]`): the one the adapter
    /// assigned, or a new one of the in-memory store, which then keeps the packet.
    pub(crate) fn store(&self, data: &mut Payload, opts: &BroadcastOptions) {
        let assigned = crate::adapter::take_assigned_offset().or_else(|| {
            let ns = self.namespace()?;
            ns.adapter
                .assigns_offsets()
                .then(|| ns.adapter.current_offset())
        });
        if let Some(offset) = assigned {
            if let (Some(offset), serde_json::Value::Array(items)) = (offset, &mut data.value) {
                items.push(serde_json::Value::String(offset));
            }
            return;
        }
        let Ok(mut s) = self.state.lock() else { return };
        let now = Instant::now();
        self.sweep(&mut s, now);
        s.seq += 1;
        let seq = s.seq;
        if let serde_json::Value::Array(items) = &mut data.value {
            items.push(serde_json::Value::String(self.offset_string(seq)));
        }
        if s.packets.len() >= self.config.max_buffered_packets {
            s.packets.pop_front();
        }
        s.packets.push_back(StoredPacket {
            offset: seq,
            at: now,
            data: data.clone(),
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
        });
    }

    /// Keeps a disconnected socket's session, through the namespace's adapter
    /// ([`Adapter::persist_session`](crate::adapter::Adapter::persist_session)).
    pub(crate) fn persist(&self, pid: Sid, sid: Sid, rooms: Vec<Room>, data: serde_json::Value) {
        let session = Session {
            sid,
            pid,
            rooms,
            data,
            missed_packets: Vec::new(),
        };
        match self.namespace() {
            Some(ns) => ns.adapter.persist_session(&ns, session),
            None => self.persist_local(session),
        }
    }

    /// Keeps a session in memory (the default [`Adapter::persist_session`](crate::adapter::Adapter::persist_session)).
    pub(crate) fn persist_local(&self, session: Session) {
        let Ok(mut s) = self.state.lock() else { return };
        s.sessions.insert(
            session.pid,
            Kept {
                session,
                at: Instant::now(),
            },
        );
    }

    /// Restores the session `pid` from memory, with the packets sent after `offset` that it
    /// would have received. `None` when the session expired or the offset is unknown.
    pub(crate) fn restore(&self, pid: Sid, offset: &str) -> Option<Session> {
        let offset = self.parse_offset(offset)?;
        let mut s = self.state.lock().ok()?;
        self.sweep(&mut s, Instant::now());
        let mut session = s.sessions.remove(&pid)?.session;
        // The offset must still be in the buffer (or be the newest packet).
        let first = s.packets.front().map(|p| p.offset);
        if first.is_some_and(|f| offset + 1 < f) || offset > s.seq {
            return None;
        }
        session.missed_packets = s
            .packets
            .iter()
            .filter(|p| p.offset > offset)
            .filter(|p| should_include_packet(&session.rooms, &p.rooms, &p.except))
            .map(|p| p.data.clone())
            .collect();
        Some(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(ev: &str) -> Payload {
        Payload::new(vec![ev.into()])
    }

    fn last_string(p: &Payload) -> String {
        p.items().last().unwrap().as_str().unwrap().to_owned()
    }

    #[test]
    fn missed_packets_follow_the_offset_and_the_rooms() {
        let store = RecoveryStore::new(RecoveryConfig::default());
        let pid = Sid::new();
        let sid = Sid::new();
        let mut seen = payload("seen");
        store.store(&mut seen, &BroadcastOptions::default());
        let offset = last_string(&seen);
        store.persist(
            pid,
            sid,
            vec![Room::from(sid.as_str()), Room::from("a")],
            serde_json::json!({ "user": 7 }),
        );
        for (ev, rooms, except) in [
            ("all", vec![], vec![]),
            ("to-a", vec![Room::from("a")], vec![]),
            ("to-b", vec![Room::from("b")], vec![]),
            ("except-a", vec![], vec![Room::from("a")]),
        ] {
            let mut p = payload(ev);
            store.store(
                &mut p,
                &BroadcastOptions {
                    rooms,
                    except,
                    ..Default::default()
                },
            );
        }
        let r = store.restore(pid, &offset).unwrap();
        assert_eq!(r.sid, sid);
        assert_eq!(r.data, serde_json::json!({ "user": 7 }));
        let names: Vec<_> = r
            .missed_packets
            .iter()
            .map(|p| p.items()[0].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["all", "to-a"]);
        // A session is restored once.
        assert!(store.restore(pid, &offset).is_none());
    }

    #[test]
    fn unknown_offsets_and_expired_sessions_are_not_restored() {
        let store = RecoveryStore::new(RecoveryConfig {
            max_disconnection_duration: Duration::from_millis(0),
            ..Default::default()
        });
        let pid = Sid::new();
        store.persist(pid, Sid::new(), vec![], serde_json::Value::Null);
        std::thread::sleep(Duration::from_millis(2));
        assert!(store.restore(pid, &store.offset_string(0)).is_none());
        let store = RecoveryStore::new(RecoveryConfig::default());
        store.persist(pid, Sid::new(), vec![], serde_json::Value::Null);
        assert!(store.restore(pid, "other-1").is_none());
    }

    #[test]
    fn the_buffer_is_bounded() {
        let store = RecoveryStore::new(RecoveryConfig {
            max_buffered_packets: 2,
            ..Default::default()
        });
        let pid = Sid::new();
        let mut first = payload("x");
        store.store(&mut first, &BroadcastOptions::default());
        for _ in 0..3 {
            store.store(&mut payload("y"), &BroadcastOptions::default());
        }
        store.persist(pid, Sid::new(), vec![], serde_json::Value::Null);
        assert!(store.restore(pid, &last_string(&first)).is_none());
    }
}
