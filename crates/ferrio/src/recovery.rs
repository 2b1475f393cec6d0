//! Connection state recovery: sessions kept after an unexpected disconnection, and the packets
//! they may have missed.
//!
//! Every stored EVENT (no ack, not volatile) gets an offset appended as its last argument; the
//! client sends back the last offset it saw with its session id (`pid`) when it reconnects.
//! A session is kept `max_disconnection_duration`; packets as long. The packet buffer is also
//! bounded in count ([`RecoveryConfig::max_buffered_packets`]): a client whose offset fell out
//! of it is not restored and gets a new session, as after an expiry.

use crate::adapter::{BroadcastOptions, Room};
use crate::parser::Payload;
use ferrio_engine::Sid;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Connection state recovery options (`connectionStateRecovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a session and its packets are kept after a disconnection (120 s).
    pub max_disconnection_duration: Duration,
    /// Whether a restored socket skips the namespace middlewares (true).
    pub skip_middlewares: bool,
    /// The most packets kept per namespace (10,000; the reference keeps them all).
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

struct Session {
    sid: Sid,
    rooms: Vec<Room>,
    data: serde_json::Value,
    at: Instant,
}

#[derive(Default)]
struct State {
    sessions: HashMap<Sid, Session>,
    packets: VecDeque<StoredPacket>,
    seq: u64,
}

/// A restored session.
pub(crate) struct Restored {
    pub(crate) sid: Sid,
    pub(crate) rooms: Vec<Room>,
    /// The socket's JSON data (`socket.data`).
    pub(crate) data: serde_json::Value,
    pub(crate) missed: Vec<Payload>,
}

pub(crate) struct RecoveryStore {
    pub(crate) config: RecoveryConfig,
    /// Distinguishes this process's offsets from another's (a restarted server).
    epoch: String,
    state: Mutex<State>,
}

impl RecoveryStore {
    pub(crate) fn new(config: RecoveryConfig) -> Self {
        RecoveryStore {
            config,
            epoch: Sid::new().as_str()[..6].to_owned(),
            state: Mutex::new(State::default()),
        }
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
            .retain(|_, sess| now.duration_since(sess.at) <= max);
    }

    fn offset_string(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    fn parse_offset(&self, offset: &str) -> Option<u64> {
        let (epoch, seq) = offset.rsplit_once('-')?;
        (epoch == self.epoch).then(|| seq.parse().ok()).flatten()
    }

    /// Appends an offset to `data` (an EVENT's `[event, ...args]`) and keeps it.
    pub(crate) fn store(&self, data: &mut Payload, opts: &BroadcastOptions) {
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

    /// Keeps a disconnected socket's session.
    pub(crate) fn persist(&self, pid: Sid, sid: Sid, rooms: Vec<Room>, data: serde_json::Value) {
        let Ok(mut s) = self.state.lock() else { return };
        s.sessions.insert(
            pid,
            Session {
                sid,
                rooms,
                data,
                at: Instant::now(),
            },
        );
    }

    /// Restores the session `pid`, with the packets sent after `offset` that it would have
    /// received. `None` when the session expired or the offset is unknown.
    pub(crate) fn restore(&self, pid: &str, offset: &str) -> Option<Restored> {
        let pid: Sid = pid.parse().ok()?;
        let offset = self.parse_offset(offset)?;
        let mut s = self.state.lock().ok()?;
        self.sweep(&mut s, Instant::now());
        let session = s.sessions.remove(&pid)?;
        // The offset must still be in the buffer (or be the newest packet).
        let first = s.packets.front().map(|p| p.offset);
        if first.is_some_and(|f| offset + 1 < f) || offset > s.seq {
            return None;
        }
        let missed = s
            .packets
            .iter()
            .filter(|p| p.offset > offset)
            .filter(|p| {
                let included =
                    p.rooms.is_empty() || session.rooms.iter().any(|r| p.rooms.contains(r));
                let excluded = session.rooms.iter().any(|r| p.except.contains(r));
                included && !excluded
            })
            .map(|p| p.data.clone())
            .collect();
        Some(Restored {
            sid: session.sid,
            rooms: session.rooms,
            data: session.data,
            missed,
        })
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
        let r = store.restore(pid.as_str(), &offset).unwrap();
        assert_eq!(r.sid, sid);
        assert_eq!(r.data, serde_json::json!({ "user": 7 }));
        let names: Vec<_> = r
            .missed
            .iter()
            .map(|p| p.items()[0].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["all", "to-a"]);
        // A session is restored once.
        assert!(store.restore(pid.as_str(), &offset).is_none());
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
        assert!(store
            .restore(pid.as_str(), &store.offset_string(0))
            .is_none());
        let store = RecoveryStore::new(RecoveryConfig::default());
        store.persist(pid, Sid::new(), vec![], serde_json::Value::Null);
        assert!(store.restore(pid.as_str(), "other-1").is_none());
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
        assert!(store.restore(pid.as_str(), &last_string(&first)).is_none());
    }
}
