//! What `@socket.io/redis-emitter` 5.1 publishes, to emit into a cluster of classic-adapter
//! nodes from a process that is not a Socket.IO server (and to recognise such messages).
//!
//! | API | Channel | Payload |
//! |---|---|---|
//! | `emit` | `key#N#`, or `key#N#room#` with exactly one room | msgpack `["emitter", {type:2,data,nsp}, {rooms, flags, except}]` (note the opts key order) |
//! | `socketsJoin` / `socketsLeave` | `key-request#N#` | JSON `{type, opts:{rooms,except}, rooms}`, **no uid** |
//! | `disconnectSockets` | `key-request#N#` | JSON `{type:4, opts, close}`, no uid |
//! | `serverSideEmit` | `key-request#N#` | JSON `{uid:"emitter", type:6, data}` (no acks) |
//!
//! Receivers handle these exactly like the adapter's own messages ([`crate::classic`]).

use crate::classic::{BroadcastMessage, Channels, Request};
use crate::common::OptsOrder;
use crate::{BroadcastOptions, Error, Packet, Publish, Value};

/// The constant uid of the emitter.
pub const EMITTER_UID: &str = "emitter";

/// An emitter bound to one namespace.
#[derive(Debug, Clone)]
pub struct Emitter {
    nsp: String,
    channels: Channels,
}

impl Emitter {
    /// An emitter for namespace `nsp` with prefix `key` (`socket.io` by default). Like
    /// `emitter.of(nsp)`, a missing leading `/` is added.
    pub fn new(key: &str, nsp: &str) -> Emitter {
        let nsp = if nsp.starts_with('/') {
            nsp.to_owned()
        } else {
            format!("/{nsp}")
        };
        Emitter {
            channels: Channels::new(key, &nsp, EMITTER_UID),
            nsp,
        }
    }

    /// The namespace.
    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// `emit(ev, ...args)` to the sockets selected by `opts`: `data` is `[ev, ...args]`.
    /// `opts.flags` should be `Some` (the emitter always sends `flags`, `{}` when empty).
    pub fn emit(&self, data: Value, opts: &BroadcastOptions) -> Result<Publish, Error> {
        let msg = BroadcastMessage {
            uid: EMITTER_UID.to_owned(),
            packet: Packet::event(data, Some(self.nsp.clone())),
            opts: opts.clone(),
        };
        Ok(Publish {
            channel: self.channels.broadcast_channel(opts),
            payload: encode_broadcast(&msg)?,
        })
    }

    /// `socketsJoin(rooms)` for the sockets in `opts.rooms` minus `opts.except`.
    pub fn sockets_join(
        &self,
        opts: &BroadcastOptions,
        rooms: Vec<String>,
    ) -> Result<Publish, Error> {
        Request::RemoteJoin {
            uid: None,
            opts: selector(opts),
            rooms,
        }
        .publish(&self.channels)
    }

    /// `socketsLeave(rooms)`.
    pub fn sockets_leave(
        &self,
        opts: &BroadcastOptions,
        rooms: Vec<String>,
    ) -> Result<Publish, Error> {
        Request::RemoteLeave {
            uid: None,
            opts: selector(opts),
            rooms,
        }
        .publish(&self.channels)
    }

    /// `disconnectSockets(close)`.
    pub fn disconnect_sockets(
        &self,
        opts: &BroadcastOptions,
        close: bool,
    ) -> Result<Publish, Error> {
        Request::RemoteDisconnect {
            uid: None,
            opts: selector(opts),
            close,
        }
        .publish(&self.channels)
    }

    /// `serverSideEmit(ev, ...args)`: `data` is `[ev, ...args]`.
    pub fn server_side_emit(&self, data: Value) -> Result<Publish, Error> {
        Request::ServerSideEmit {
            uid: Some(EMITTER_UID.to_owned()),
            request_id: None,
            data,
        }
        .publish(&self.channels)
    }
}

fn selector(opts: &BroadcastOptions) -> BroadcastOptions {
    BroadcastOptions {
        rooms: opts.rooms.clone(),
        except: opts.except.clone(),
        flags: None,
    }
}

/// Encodes a broadcast as the emitter does: like [`BroadcastMessage::encode`] but with the opts
/// keys in the order `rooms, flags, except`.
pub fn encode_broadcast(msg: &BroadcastMessage) -> Result<Vec<u8>, Error> {
    msg.encode_with(OptsOrder::Emitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emitter_requests_match_observed_json() {
        let e = Emitter::new("socket.io", "/");
        let all = BroadcastOptions::all();
        let p = e.sockets_join(&all, vec!["r9".into()]).unwrap();
        assert_eq!(p.channel, "socket.io-request#/#");
        assert_eq!(
            p.payload,
            br#"{"type":2,"opts":{"rooms":[],"except":[]},"rooms":["r9"]}"#
        );
        let p = e.disconnect_sockets(&all, false).unwrap();
        assert_eq!(
            p.payload,
            br#"{"type":4,"opts":{"rooms":[],"except":[]},"close":false}"#
        );
        let p = e
            .server_side_emit(Value::str_array(["hello", "world"]))
            .unwrap();
        assert_eq!(
            p.payload,
            br#"{"uid":"emitter","type":6,"data":["hello","world"]}"#
        );
    }

    #[test]
    fn emitter_of_adds_slash_and_room_channel() {
        let e = Emitter::new("socket.io", "admin");
        assert_eq!(e.nsp(), "/admin");
        let mut opts = BroadcastOptions::all();
        opts.rooms.push("room1".into());
        let p = e.emit(Value::str_array(["ev"]), &opts).unwrap();
        assert_eq!(p.channel, "socket.io#/admin#room1#");
        // ["emitter", {type:2, data:["ev"], nsp:"/admin"}, {rooms:["room1"], flags:{}, except:[]}]
        let decoded = BroadcastMessage::decode(&p.payload).unwrap();
        assert_eq!(decoded.uid, EMITTER_UID);
        assert_eq!(decoded.packet.nsp.as_deref(), Some("/admin"));
        assert_eq!(decoded.opts, opts);
    }
}
