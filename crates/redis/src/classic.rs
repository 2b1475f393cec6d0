//! The protocol of `@socket.io/redis-adapter` 8.3 (`createAdapter`, the classic Pub/Sub
//! adapter).
//!
//! # Channels (per namespace `N`, with `key` = `socket.io` by default)
//! | Channel | Use |
//! |---|---|
//! | `key#N#` | broadcasts to all rooms (PSUBSCRIBE `key#N#*`) |
//! | `key#N#room#` | broadcasts whose `rooms` has exactly one room; receivers drop it unless they have that room |
//! | `key-request#N#` | requests (SUBSCRIBE); every node, the sender included, receives them; `PUBSUB NUMSUB` of it is the server count |
//! | `key-response#N#` | responses (SUBSCRIBE) |
//! | `key-response#N#uid#` | responses for one node, when the responder has `publishOnSpecificResponseChannel` |
//!
//! # Messages
//! * Broadcast: msgpack `[uid, {type:2,data,nsp}, {rooms,except,flags}]` ([`BroadcastMessage`]).
//! * Requests ([`Request`]) are JSON, except BROADCAST (7, emit with acks), which is msgpack.
//! * Responses ([`Response`]) are JSON, except BROADCAST_ACK (9), which is msgpack. Responses to
//!   SOCKETS, ALL_ROOMS, REMOTE_FETCH and the legacy join/leave/disconnect carry **no** `type`:
//!   the requester knows it from its pending request, hence [`Response::decode`] takes it.
//!
//! # Duties of a node that subscribes to the request channel
//! It is counted by `PUBSUB NUMSUB`, so it must answer REMOTE_FETCH and ALL_ROOMS (skip your own
//! request ids), SERVER_SIDE_EMIT with a `requestId` (one [`Response::ServerSideEmit`], always on
//! the common response channel), and BROADCAST (one [`Response::BroadcastClientCount`], even
//! with 0, then one [`Response::BroadcastAck`] per client ack). Your own REMOTE_JOIN / LEAVE /
//! DISCONNECT come back to you: Node applies them on reception, not at send time.

use rand::Rng;

use crate::common::{
    decode_payload, encode_payload, expect_map, field, opt_str, req_str, req_u64, str_list,
    OptsOrder,
};
use crate::{BroadcastOptions, Encoding, Error, Packet, Publish, RemoteSocket, Value};

/// The default channel prefix (`key` option).
pub const DEFAULT_KEY: &str = "socket.io";

const UID_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A random id as `uid2(len)` makes them: `len` characters of `[A-Za-z0-9_-]`.
pub fn uid2(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| UID_CHARS[rng.gen_range(0..64)] as char)
        .collect()
}

/// A node uid or request id of the classic adapter: `uid2(6)`.
pub fn generate_uid() -> String {
    uid2(6)
}

/// The channel names of one namespace adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    uid: String,
    broadcast: String,
    request: String,
    response: String,
    specific_response: String,
}

/// What a channel is, seen from one namespace adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelKind {
    /// A broadcast on `key#N#` (`room` = `None`) or `key#N#room#`.
    Broadcast {
        /// The room of a single-room broadcast.
        room: Option<String>,
    },
    /// `key-request#N#`.
    Request,
    /// `key-response#N#` or any channel starting with it (`key-response#N#uid#`).
    Response,
    /// Not this namespace's.
    Other,
}

impl Channels {
    /// The channels for namespace `nsp` (e.g. `/`, `/admin`) with prefix `key` and node `uid`.
    pub fn new(key: &str, nsp: &str, uid: &str) -> Channels {
        let response = format!("{key}-response#{nsp}#");
        Channels {
            uid: uid.to_owned(),
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            specific_response: format!("{response}{uid}#"),
            response,
        }
    }

    /// This node's uid.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// `key#N#`: broadcasts to everyone.
    pub fn broadcast(&self) -> &str {
        &self.broadcast
    }

    /// `key#N#*`: the pattern to PSUBSCRIBE.
    pub fn broadcast_pattern(&self) -> String {
        format!("{}*", self.broadcast)
    }

    /// `key#N#room#`.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.broadcast)
    }

    /// The channel a broadcast with `opts` goes to: the room channel when there is exactly one
    /// room, else `key#N#`.
    pub fn broadcast_channel(&self, opts: &BroadcastOptions) -> String {
        match opts.rooms.as_slice() {
            [room] => self.room(room),
            _ => self.broadcast.clone(),
        }
    }

    /// `key-request#N#`: requests; also what `PUBSUB NUMSUB` counts.
    pub fn request(&self) -> &str {
        &self.request
    }

    /// `key-response#N#`: the common response channel.
    pub fn response(&self) -> &str {
        &self.response
    }

    /// `key-response#N#<own uid>#`.
    pub fn specific_response(&self) -> &str {
        &self.specific_response
    }

    /// The channels to SUBSCRIBE (request, response, own specific response), in Node's order.
    pub fn subscriptions(&self) -> [&str; 3] {
        [&self.request, &self.response, &self.specific_response]
    }

    /// Where to publish a response to `requester_uid`: its specific channel if
    /// `publish_on_specific_response_channel`, else the common one. (Responses to
    /// SERVER_SIDE_EMIT always use the common channel in Node.)
    pub fn response_channel_for(&self, requester_uid: &str, specific: bool) -> String {
        if specific {
            format!("{}{requester_uid}#", self.response)
        } else {
            self.response.clone()
        }
    }

    /// Classifies an incoming channel as Node does (`startsWith` tests; the room is what lies
    /// between the prefix and the last character).
    pub fn classify(&self, channel: &str) -> ChannelKind {
        if let Some(rest) = channel.strip_prefix(self.broadcast.as_str()) {
            let room = match rest.char_indices().last() {
                Some((i, _)) => &rest[..i],
                None => "",
            };
            return ChannelKind::Broadcast {
                room: (!room.is_empty()).then(|| room.to_owned()),
            };
        }
        if channel.starts_with(self.response.as_str()) {
            ChannelKind::Response
        } else if channel.starts_with(self.request.as_str()) {
            ChannelKind::Request
        } else {
            ChannelKind::Other
        }
    }
}

/// A broadcast: msgpack `[uid, packet, opts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastMessage {
    /// The sender's uid (`"emitter"` for the emitter).
    pub uid: String,
    /// The packet (`nsp` set by the sender).
    pub packet: Packet,
    /// Targets and flags.
    pub opts: BroadcastOptions,
}

impl BroadcastMessage {
    /// Encodes as the adapter does (opts keys `rooms, except, flags`).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        self.encode_with(OptsOrder::Adapter)
    }

    pub(crate) fn encode_with(&self, order: OptsOrder) -> Result<Vec<u8>, Error> {
        let v = Value::Array(vec![
            Value::from(self.uid.as_str()),
            self.packet.to_value(),
            self.opts.to_value(order),
        ]);
        Ok(crate::msgpack::encode(&v)?)
    }

    /// The channel and payload to publish.
    pub fn publish(&self, channels: &Channels) -> Result<Publish, Error> {
        Ok(Publish {
            channel: channels.broadcast_channel(&self.opts),
            payload: self.encode()?,
        })
    }

    /// Decodes a broadcast payload (msgpack; JSON is accepted too). A packet without `nsp` gets
    /// `nsp = "/"`, as Node does.
    pub fn decode(payload: &[u8]) -> Result<BroadcastMessage, Error> {
        let (v, _) = decode_payload(payload)?;
        let Some([uid, packet, opts]) = v.as_array().and_then(|a| a.get(..3)) else {
            return Err(Error::field("message", "an array [uid, packet, opts]"));
        };
        let mut packet = Packet::from_value(packet)?;
        packet.nsp.get_or_insert_with(|| "/".to_owned());
        Ok(BroadcastMessage {
            uid: uid.as_str().map(str::to_owned).unwrap_or_default(),
            packet,
            opts: BroadcastOptions::from_value(opts)?,
        })
    }
}

/// Request types (`RequestType` in the adapter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestType {
    /// 0: legacy `sockets(rooms)`.
    Sockets = 0,
    /// 1: `allRooms()`.
    AllRooms = 1,
    /// 2: `socketsJoin` (or legacy `remoteJoin`).
    RemoteJoin = 2,
    /// 3: `socketsLeave` (or legacy `remoteLeave`).
    RemoteLeave = 3,
    /// 4: `disconnectSockets` (or legacy `remoteDisconnect`).
    RemoteDisconnect = 4,
    /// 5: `fetchSockets()`.
    RemoteFetch = 5,
    /// 6: `serverSideEmit`.
    ServerSideEmit = 6,
    /// 7: broadcast with acks.
    Broadcast = 7,
    /// 8: response carrying a node's client count.
    BroadcastClientCount = 8,
    /// 9: response carrying one client ack.
    BroadcastAck = 9,
}

impl RequestType {
    /// The type for a wire number.
    pub fn from_u64(n: u64) -> Option<RequestType> {
        use RequestType::*;
        Some(match n {
            0 => Sockets,
            1 => AllRooms,
            2 => RemoteJoin,
            3 => RemoteLeave,
            4 => RemoteDisconnect,
            5 => RemoteFetch,
            6 => ServerSideEmit,
            7 => Broadcast,
            8 => BroadcastClientCount,
            9 => BroadcastAck,
            _ => return None,
        })
    }
}

/// A message on the request channel.
///
/// `uid` is `None` where the sender omits it (the emitter's join/leave/disconnect).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// 0 (legacy, no longer sent by v8 but still answered): `{uid, requestId, type, rooms}`.
    Sockets {
        /// Sender uid.
        uid: Option<String>,
        /// Request id.
        request_id: String,
        /// Rooms whose socket ids are wanted (empty = all).
        rooms: Vec<String>,
    },
    /// 1: `{uid, requestId, type}`.
    AllRooms {
        /// Sender uid.
        uid: Option<String>,
        /// Request id.
        request_id: String,
    },
    /// 2: `{uid, type, opts:{rooms,except}, rooms}`. No response.
    RemoteJoin {
        /// Sender uid (absent from the emitter).
        uid: Option<String>,
        /// Selected sockets.
        opts: BroadcastOptions,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// 3: as 2, leaving `rooms`.
    RemoteLeave {
        /// Sender uid (absent from the emitter).
        uid: Option<String>,
        /// Selected sockets.
        opts: BroadcastOptions,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// 4: `{uid, type, opts, close}`. No response.
    RemoteDisconnect {
        /// Sender uid (absent from the emitter).
        uid: Option<String>,
        /// Selected sockets.
        opts: BroadcastOptions,
        /// Close the underlying connection too.
        close: bool,
    },
    /// 2/3 without `opts` (legacy `remoteJoin`/`remoteLeave`): `{uid, requestId, type, sid,
    /// room}`; the node that has `sid` answers [`Response::Ack`].
    LegacyRoom {
        /// Sender uid.
        uid: Option<String>,
        /// Request id.
        request_id: Option<String>,
        /// `true` for join (2), `false` for leave (3).
        join: bool,
        /// The socket.
        sid: String,
        /// The room.
        room: String,
    },
    /// 4 without `opts` (legacy `remoteDisconnect`): `{uid, requestId, type, sid, close}`.
    LegacyDisconnect {
        /// Sender uid.
        uid: Option<String>,
        /// Request id.
        request_id: Option<String>,
        /// The socket.
        sid: String,
        /// Close the connection.
        close: bool,
    },
    /// 5: `{uid, requestId, type, opts:{rooms,except}}`; answer [`Response::FetchSockets`].
    RemoteFetch {
        /// Sender uid.
        uid: Option<String>,
        /// Request id.
        request_id: String,
        /// Selected sockets.
        opts: BroadcastOptions,
    },
    /// 6: `{uid, [requestId,] type, data}`. Ignore it if `uid` is yours. With a `request_id`,
    /// answer one [`Response::ServerSideEmit`].
    ServerSideEmit {
        /// Sender uid (`"emitter"` from the emitter).
        uid: Option<String>,
        /// Present when an acknowledgement is expected.
        request_id: Option<String>,
        /// `[event, ...args]`, JSON (a Node `Buffer` arrives as `{"type":"Buffer","data":[…]}`,
        /// a `Date` as its ISO string).
        data: Value,
    },
    /// 7 (msgpack): `{uid, requestId, type, packet, opts:{rooms,except,flags}}`; answer
    /// [`Response::BroadcastClientCount`] then [`Response::BroadcastAck`]s.
    Broadcast {
        /// Sender uid.
        uid: Option<String>,
        /// Request id.
        request_id: String,
        /// The packet.
        packet: Packet,
        /// Targets; `flags.timeout` is the sender's ack timeout. Receivers drop the flags.
        opts: BroadcastOptions,
    },
}

fn uid_entry(uid: &Option<String>, m: &mut Vec<(&'static str, Value)>) {
    if let Some(uid) = uid {
        m.push(("uid", Value::from(uid.as_str())));
    }
}

fn selector(opts: &BroadcastOptions) -> Value {
    // Requests send only {rooms, except}; keep flags if the caller set them.
    opts.to_value(OptsOrder::Adapter)
}

impl Request {
    /// The wire type.
    pub fn request_type(&self) -> RequestType {
        match self {
            Request::Sockets { .. } => RequestType::Sockets,
            Request::AllRooms { .. } => RequestType::AllRooms,
            Request::RemoteJoin { .. } => RequestType::RemoteJoin,
            Request::RemoteLeave { .. } => RequestType::RemoteLeave,
            Request::RemoteDisconnect { .. } | Request::LegacyDisconnect { .. } => {
                RequestType::RemoteDisconnect
            }
            Request::LegacyRoom { join: true, .. } => RequestType::RemoteJoin,
            Request::LegacyRoom { join: false, .. } => RequestType::RemoteLeave,
            Request::RemoteFetch { .. } => RequestType::RemoteFetch,
            Request::ServerSideEmit { .. } => RequestType::ServerSideEmit,
            Request::Broadcast { .. } => RequestType::Broadcast,
        }
    }

    /// The sender uid, if any.
    pub fn uid(&self) -> Option<&str> {
        match self {
            Request::Sockets { uid, .. }
            | Request::AllRooms { uid, .. }
            | Request::RemoteJoin { uid, .. }
            | Request::RemoteLeave { uid, .. }
            | Request::RemoteDisconnect { uid, .. }
            | Request::LegacyRoom { uid, .. }
            | Request::LegacyDisconnect { uid, .. }
            | Request::RemoteFetch { uid, .. }
            | Request::ServerSideEmit { uid, .. }
            | Request::Broadcast { uid, .. } => uid.as_deref(),
        }
    }

    /// The request id, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Request::Sockets { request_id, .. }
            | Request::AllRooms { request_id, .. }
            | Request::RemoteFetch { request_id, .. }
            | Request::Broadcast { request_id, .. } => Some(request_id),
            Request::LegacyRoom { request_id, .. }
            | Request::LegacyDisconnect { request_id, .. }
            | Request::ServerSideEmit { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The encoding Node uses for this request (msgpack only for [`Request::Broadcast`]).
    pub fn encoding(&self) -> Encoding {
        match self {
            Request::Broadcast { .. } => Encoding::Msgpack,
            _ => Encoding::Json,
        }
    }

    /// The request as a value, keys in Node's order.
    pub fn to_value(&self) -> Value {
        let ty = Value::UInt(self.request_type() as u64);
        let mut m: Vec<(&'static str, Value)> = Vec::new();
        match self {
            Request::Sockets {
                uid,
                request_id,
                rooms,
            } => {
                uid_entry(uid, &mut m);
                m.push(("requestId", Value::from(request_id.as_str())));
                m.push(("type", ty));
                m.push(("rooms", Value::str_array(rooms)));
            }
            Request::AllRooms { uid, request_id } => {
                uid_entry(uid, &mut m);
                m.push(("requestId", Value::from(request_id.as_str())));
                m.push(("type", ty));
            }
            Request::RemoteJoin { uid, opts, rooms }
            | Request::RemoteLeave { uid, opts, rooms } => {
                uid_entry(uid, &mut m);
                m.push(("type", ty));
                m.push(("opts", selector(opts)));
                m.push(("rooms", Value::str_array(rooms)));
            }
            Request::RemoteDisconnect { uid, opts, close } => {
                uid_entry(uid, &mut m);
                m.push(("type", ty));
                m.push(("opts", selector(opts)));
                m.push(("close", Value::Bool(*close)));
            }
            Request::LegacyRoom {
                uid,
                request_id,
                sid,
                room,
                ..
            } => {
                uid_entry(uid, &mut m);
                if let Some(r) = request_id {
                    m.push(("requestId", Value::from(r.as_str())));
                }
                m.push(("type", ty));
                m.push(("sid", Value::from(sid.as_str())));
                m.push(("room", Value::from(room.as_str())));
            }
            Request::LegacyDisconnect {
                uid,
                request_id,
                sid,
                close,
            } => {
                uid_entry(uid, &mut m);
                if let Some(r) = request_id {
                    m.push(("requestId", Value::from(r.as_str())));
                }
                m.push(("type", ty));
                m.push(("sid", Value::from(sid.as_str())));
                m.push(("close", Value::Bool(*close)));
            }
            Request::RemoteFetch {
                uid,
                request_id,
                opts,
            } => {
                uid_entry(uid, &mut m);
                m.push(("requestId", Value::from(request_id.as_str())));
                m.push(("type", ty));
                m.push(("opts", selector(opts)));
            }
            Request::ServerSideEmit {
                uid,
                request_id,
                data,
            } => {
                uid_entry(uid, &mut m);
                if let Some(r) = request_id {
                    m.push(("requestId", Value::from(r.as_str())));
                }
                m.push(("type", ty));
                m.push(("data", data.clone()));
            }
            Request::Broadcast {
                uid,
                request_id,
                packet,
                opts,
            } => {
                uid_entry(uid, &mut m);
                m.push(("requestId", Value::from(request_id.as_str())));
                m.push(("type", ty));
                m.push(("packet", packet.to_value()));
                m.push(("opts", opts.to_value(OptsOrder::Adapter)));
            }
        }
        Value::map(m)
    }

    /// Encodes the request exactly as Node does.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        encode_payload(&self.to_value(), self.encoding())
    }

    /// The request channel and payload.
    pub fn publish(&self, channels: &Channels) -> Result<Publish, Error> {
        Ok(Publish {
            channel: channels.request().to_owned(),
            payload: self.encode()?,
        })
    }

    /// Decodes a request (JSON if it starts with `{`, else msgpack).
    pub fn decode(payload: &[u8]) -> Result<Request, Error> {
        let (v, _) = decode_payload(payload)?;
        Request::from_value(&v)
    }

    /// Interprets a decoded request.
    pub fn from_value(v: &Value) -> Result<Request, Error> {
        expect_map(v, "request")?;
        let ty = req_u64(v, "type")?;
        let uid = opt_str(v, "uid")?;
        let has_opts = field(v, "opts").is_some_and(|o| !matches!(o, Value::Nil));
        let close = || field(v, "close").and_then(Value::as_bool).unwrap_or(false);
        let opts = || match field(v, "opts") {
            Some(o) => BroadcastOptions::from_value(o),
            None => Err(Error::field("opts", "an object")),
        };
        Ok(match RequestType::from_u64(ty) {
            Some(RequestType::Sockets) => Request::Sockets {
                uid,
                request_id: req_str(v, "requestId")?,
                rooms: str_list(v, "rooms")?,
            },
            Some(RequestType::AllRooms) => Request::AllRooms {
                uid,
                request_id: req_str(v, "requestId")?,
            },
            Some(t @ (RequestType::RemoteJoin | RequestType::RemoteLeave)) if has_opts => {
                let (opts, rooms) = (opts()?, str_list(v, "rooms")?);
                if t == RequestType::RemoteJoin {
                    Request::RemoteJoin { uid, opts, rooms }
                } else {
                    Request::RemoteLeave { uid, opts, rooms }
                }
            }
            Some(t @ (RequestType::RemoteJoin | RequestType::RemoteLeave)) => Request::LegacyRoom {
                uid,
                request_id: opt_str(v, "requestId")?,
                join: t == RequestType::RemoteJoin,
                sid: req_str(v, "sid")?,
                room: req_str(v, "room")?,
            },
            Some(RequestType::RemoteDisconnect) if has_opts => Request::RemoteDisconnect {
                uid,
                opts: opts()?,
                close: close(),
            },
            Some(RequestType::RemoteDisconnect) => Request::LegacyDisconnect {
                uid,
                request_id: opt_str(v, "requestId")?,
                sid: req_str(v, "sid")?,
                close: close(),
            },
            Some(RequestType::RemoteFetch) => Request::RemoteFetch {
                uid,
                request_id: req_str(v, "requestId")?,
                opts: opts()?,
            },
            Some(RequestType::ServerSideEmit) => Request::ServerSideEmit {
                uid,
                request_id: opt_str(v, "requestId")?,
                data: match field(v, "data") {
                    Some(d @ Value::Array(_)) => d.clone(),
                    _ => return Err(Error::field("data", "an array")),
                },
            },
            Some(RequestType::Broadcast) => {
                let mut packet = Packet::from_value(
                    field(v, "packet").ok_or(Error::field("packet", "an object"))?,
                )?;
                packet.nsp.get_or_insert_with(|| "/".to_owned());
                Request::Broadcast {
                    uid,
                    request_id: req_str(v, "requestId")?,
                    packet,
                    opts: opts()?,
                }
            }
            _ => return Err(Error::UnknownType(ty)),
        })
    }
}

/// A message on a response channel.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Response {
    /// To [`Request::Sockets`]: `{requestId, sockets:[ids]}` (no `type`).
    Sockets {
        /// Request id.
        request_id: String,
        /// Socket ids.
        sockets: Vec<String>,
    },
    /// To [`Request::AllRooms`]: `{requestId, rooms}` (no `type`).
    AllRooms {
        /// Request id.
        request_id: String,
        /// Every local room, socket-id rooms included.
        rooms: Vec<String>,
    },
    /// To the legacy join/leave/disconnect: `{requestId}`.
    Ack {
        /// Request id.
        request_id: Option<String>,
    },
    /// To [`Request::RemoteFetch`]: `{requestId, sockets:[{id,handshake,rooms,data}]}` (no
    /// `type`).
    FetchSockets {
        /// Request id.
        request_id: String,
        /// Local matching sockets.
        sockets: Vec<RemoteSocket>,
    },
    /// To [`Request::ServerSideEmit`] with an id: `{type:6, requestId, data}`. `data` is the
    /// first ack argument; `Undefined` (ack called with nothing) omits the key.
    ServerSideEmit {
        /// Request id.
        request_id: String,
        /// First ack argument.
        data: Value,
    },
    /// To [`Request::Broadcast`]: `{type:8, requestId, clientCount}` (JSON), once per node.
    BroadcastClientCount {
        /// Request id.
        request_id: String,
        /// How many local clients were sent the packet (0 included).
        client_count: u64,
    },
    /// To [`Request::Broadcast`]: msgpack `{type:9, requestId, packet}`, one per client ack.
    /// `packet` is the first ack argument (`Undefined` omits the key).
    BroadcastAck {
        /// Request id.
        request_id: String,
        /// First ack argument.
        packet: Value,
    },
}

impl Response {
    /// The encoding Node uses (msgpack only for [`Response::BroadcastAck`]).
    pub fn encoding(&self) -> Encoding {
        match self {
            Response::BroadcastAck { .. } => Encoding::Msgpack,
            _ => Encoding::Json,
        }
    }

    /// The request id.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Response::Ack { request_id } => request_id.as_deref(),
            Response::Sockets { request_id, .. }
            | Response::AllRooms { request_id, .. }
            | Response::FetchSockets { request_id, .. }
            | Response::ServerSideEmit { request_id, .. }
            | Response::BroadcastClientCount { request_id, .. }
            | Response::BroadcastAck { request_id, .. } => Some(request_id),
        }
    }

    /// The response as a value, keys in Node's order.
    pub fn to_value(&self) -> Value {
        let rid = |r: &str| ("requestId", Value::from(r));
        match self {
            Response::Sockets {
                request_id,
                sockets,
            } => Value::map([rid(request_id), ("sockets", Value::str_array(sockets))]),
            Response::AllRooms { request_id, rooms } => {
                Value::map([rid(request_id), ("rooms", Value::str_array(rooms))])
            }
            Response::Ack { request_id } => Value::map(
                request_id
                    .as_deref()
                    .map(rid)
                    .into_iter()
                    .collect::<Vec<_>>(),
            ),
            Response::FetchSockets {
                request_id,
                sockets,
            } => Value::map([
                rid(request_id),
                (
                    "sockets",
                    Value::Array(sockets.iter().map(RemoteSocket::to_value).collect()),
                ),
            ]),
            Response::ServerSideEmit { request_id, data } => Value::map([
                ("type", Value::UInt(RequestType::ServerSideEmit as u64)),
                rid(request_id),
                ("data", data.clone()),
            ]),
            Response::BroadcastClientCount {
                request_id,
                client_count,
            } => Value::map([
                (
                    "type",
                    Value::UInt(RequestType::BroadcastClientCount as u64),
                ),
                rid(request_id),
                ("clientCount", Value::UInt(*client_count)),
            ]),
            Response::BroadcastAck { request_id, packet } => Value::map([
                ("type", Value::UInt(RequestType::BroadcastAck as u64)),
                rid(request_id),
                ("packet", packet.clone()),
            ]),
        }
    }

    /// Encodes the response exactly as Node does.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        encode_payload(&self.to_value(), self.encoding())
    }

    /// Reads the `requestId` of a response payload, to find the pending request before
    /// decoding it fully with [`Response::decode`].
    pub fn peek_request_id(payload: &[u8]) -> Result<Option<String>, Error> {
        let (v, _) = decode_payload(payload)?;
        opt_str(&v, "requestId")
    }

    /// Decodes a response to a request of type `pending` (needed because responses to
    /// SOCKETS, ALL_ROOMS and REMOTE_FETCH carry no `type`).
    ///
    /// As in Node's `onresponse`, the pending request decides what the response is: its own
    /// `type` is ignored, except for the answers to a broadcast with acks (`pending` is
    /// [`RequestType::Broadcast`], or one of its two answer types), which are told apart by
    /// their `type`: 8 is a [`Response::BroadcastClientCount`], 9 a
    /// [`Response::BroadcastAck`], anything else an error (Node ignores it).
    ///
    /// ```
    /// use ferrio_redis::classic::{RequestType, Response};
    ///
    /// // A `type` cannot turn the answer to a pending `allRooms()` into something else.
    /// let resp = Response::decode(br#"{"type":2,"requestId":"r","rooms":["a"]}"#, RequestType::AllRooms)?;
    /// assert_eq!(resp, Response::AllRooms { request_id: "r".into(), rooms: vec!["a".into()] });
    /// // A broadcast with acks gets client counts and acks, told apart by `type`.
    /// let resp = Response::decode(br#"{"type":8,"requestId":"r","clientCount":2}"#, RequestType::Broadcast)?;
    /// assert_eq!(resp, Response::BroadcastClientCount { request_id: "r".into(), client_count: 2 });
    /// assert!(Response::decode(br#"{"type":6,"requestId":"r"}"#, RequestType::Broadcast).is_err());
    /// # Ok::<(), ferrio_redis::Error>(())
    /// ```
    pub fn decode(payload: &[u8], pending: RequestType) -> Result<Response, Error> {
        let (v, _) = decode_payload(payload)?;
        Response::from_value(&v, pending)
    }

    /// Interprets a decoded response; see [`Response::decode`].
    pub fn from_value(v: &Value, pending: RequestType) -> Result<Response, Error> {
        expect_map(v, "response")?;
        let ty = match pending {
            RequestType::Broadcast
            | RequestType::BroadcastClientCount
            | RequestType::BroadcastAck => match field(v, "type").map(Value::as_u64) {
                Some(Some(8)) => RequestType::BroadcastClientCount,
                Some(Some(9)) => RequestType::BroadcastAck,
                Some(Some(t)) => return Err(Error::UnknownType(t)),
                Some(None) | None => return Err(Error::field("type", "8 or 9")),
            },
            // Node switches on the pending request's type and never reads the response's.
            other => other,
        };
        let packet_or_undefined = |name| field(v, name).cloned().unwrap_or(Value::Undefined);
        Ok(match ty {
            RequestType::Sockets => Response::Sockets {
                request_id: req_str(v, "requestId")?,
                sockets: str_list(v, "sockets")?,
            },
            RequestType::AllRooms => Response::AllRooms {
                request_id: req_str(v, "requestId")?,
                rooms: str_list(v, "rooms")?,
            },
            RequestType::RemoteJoin | RequestType::RemoteLeave | RequestType::RemoteDisconnect => {
                Response::Ack {
                    request_id: opt_str(v, "requestId")?,
                }
            }
            RequestType::RemoteFetch => Response::FetchSockets {
                request_id: req_str(v, "requestId")?,
                sockets: RemoteSocket::list_from(v, "sockets")?,
            },
            RequestType::ServerSideEmit => Response::ServerSideEmit {
                request_id: req_str(v, "requestId")?,
                data: packet_or_undefined("data"),
            },
            RequestType::BroadcastClientCount => Response::BroadcastClientCount {
                request_id: req_str(v, "requestId")?,
                client_count: req_u64(v, "clientCount")?,
            },
            RequestType::BroadcastAck => Response::BroadcastAck {
                request_id: req_str(v, "requestId")?,
                packet: packet_or_undefined("packet"),
            },
            // Not reached: a broadcast's answers are typed above.
            RequestType::Broadcast => return Err(Error::UnknownType(7)),
        })
    }
}

#[cfg(test)]
mod tests;

/// The pending request, not the response's `type`, decides what a response is (Node's
/// `onresponse`).
#[cfg(test)]
mod response_type_tests {
    use super::{RequestType, Response};

    #[test]
    fn a_response_type_never_overrides_the_pending_request() {
        // Before the fix a `{"type":2,…}` answer to a pending broadcast was a join `Ack`, and
        // a `type` of 6 turned a `fetchSockets()` answer into a `serverSideEmit` one.
        let fetch = br#"{"type":6,"requestId":"r","sockets":[{"id":"s","handshake":{},"rooms":["s"],"data":null}]}"#;
        assert!(matches!(
            Response::decode(fetch, RequestType::RemoteFetch),
            Ok(Response::FetchSockets { ref request_id, ref sockets }) if request_id == "r" && sockets.len() == 1
        ));
        for (payload, pending, expected) in [
            (
                &br#"{"type":9,"requestId":"r","rooms":["a"]}"#[..],
                RequestType::AllRooms,
                Response::AllRooms {
                    request_id: "r".into(),
                    rooms: vec!["a".into()],
                },
            ),
            (
                br#"{"type":0,"requestId":"r","data":1}"#,
                RequestType::ServerSideEmit,
                Response::ServerSideEmit {
                    request_id: "r".into(),
                    data: 1u64.into(),
                },
            ),
            (
                br#"{"type":"anything","requestId":"r"}"#,
                RequestType::RemoteLeave,
                Response::Ack {
                    request_id: Some("r".into()),
                },
            ),
            (
                br#"{"type":42,"requestId":"r","sockets":["x"]}"#,
                RequestType::Sockets,
                Response::Sockets {
                    request_id: "r".into(),
                    sockets: vec!["x".into()],
                },
            ),
        ] {
            assert_eq!(Response::decode(payload, pending).unwrap(), expected);
        }
    }

    #[test]
    fn a_broadcast_with_acks_only_takes_client_counts_and_acks() {
        for pending in [
            RequestType::Broadcast,
            RequestType::BroadcastClientCount,
            RequestType::BroadcastAck,
        ] {
            assert_eq!(
                Response::decode(br#"{"type":8,"requestId":"r","clientCount":3}"#, pending)
                    .unwrap(),
                Response::BroadcastClientCount {
                    request_id: "r".into(),
                    client_count: 3
                }
            );
            assert_eq!(
                Response::decode(br#"{"type":9.0,"requestId":"r","packet":"pong"}"#, pending)
                    .unwrap(),
                Response::BroadcastAck {
                    request_id: "r".into(),
                    packet: "pong".into()
                }
            );
            // Node's `switch (response.type)` has no other case: the message is ignored.
            for other in [
                &br#"{"type":2,"requestId":"r"}"#[..],
                br#"{"type":6,"requestId":"r","data":1}"#,
                br#"{"requestId":"r","clientCount":3}"#,
                br#"{"type":"8","requestId":"r","clientCount":3}"#,
            ] {
                assert!(
                    Response::decode(other, pending).is_err(),
                    "{}",
                    String::from_utf8_lossy(other)
                );
            }
        }
    }
}
