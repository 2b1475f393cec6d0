//! socket.io-adapter's `ClusterAdapter` messages (types 1–13), as carried by the sharded Redis
//! adapter (`createShardedAdapter` of `@socket.io/redis-adapter` 8.3) and the Redis Streams
//! adapter.
//!
//! A message is `{type, data?, uid, nsp}` (keys in that order); `uid` is 16 hex characters
//! ([`generate_uid`]) or `"emitter"`. Receivers ignore their own `uid` and other namespaces.
//!
//! # Sharded adapter
//! * Channels ([`ShardedChannels`]): `prefix#N#` for everything (SSUBSCRIBE; `PUBSUB
//!   SHARDNUMSUB` of it is the server count), `prefix#N#uid#` for responses to that node,
//!   `prefix#N#room#` for a BROADCAST without `requestId` to exactly one room in the dynamic
//!   modes (except rooms of length 20, taken for socket ids).
//! * Serialization ([`ClusterMessage::encode_sharded`]): `JSON.stringify`, unless the type is
//!   BROADCAST, BROADCAST_ACK, FETCH_SOCKETS_RESPONSE, SERVER_SIDE_EMIT or
//!   SERVER_SIDE_EMIT_RESPONSE and `data` contains binary: then notepack msgpack.
//!
//! # Streams adapter (0.3)
//! Ephemeral messages and responses go over Pub/Sub as msgpack of the whole message
//! ([`ClusterMessage::encode_msgpack`]); durable ones are XADDed with the fields
//! `uid, nsp, type, data` where `data` is [`ClusterMessage::data_json`] or base64 of
//! [`ClusterMessage::data_msgpack`].

use rand::Rng;

use crate::common::{
    decode_payload, encode_payload, expect_map, field, opt_str, req_str, req_u64, str_list,
    OptsOrder,
};
use crate::{BroadcastOptions, Encoding, Error, Packet, RemoteSocket, Value};

/// A ClusterAdapter node uid: 8 random bytes in hex.
pub fn generate_uid() -> String {
    let bytes: [u8; 8] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// In the sharded adapter's `"dynamic"` mode, a room of 20 characters is taken for a socket id
/// and gets no channel of its own (`looksLikeASocketId`). Counted in UTF-16 units, as JS does.
pub fn looks_like_a_socket_id(room: &str) -> bool {
    room.encode_utf16().count() == 20
}

/// Subscription modes of the sharded adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriptionMode {
    /// Only `prefix#N#` and the response channel.
    Static,
    /// Plus one channel per public room (the default).
    #[default]
    Dynamic,
    /// Plus one channel per room, private (socket id) rooms included.
    DynamicPrivate,
}

/// Channel names of the sharded adapter for one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardedChannels {
    main: String,
    uid: String,
}

impl ShardedChannels {
    /// Channels with `prefix` (`channelPrefix`, default `socket.io`), namespace `nsp` and this
    /// node's `uid`.
    pub fn new(prefix: &str, nsp: &str, uid: &str) -> Self {
        ShardedChannels {
            main: format!("{prefix}#{nsp}#"),
            uid: uid.to_owned(),
        }
    }

    /// `prefix#N#`: every message; what `SHARDNUMSUB` counts.
    pub fn main(&self) -> &str {
        &self.main
    }

    /// `prefix#N#<own uid>#`: responses to this node.
    pub fn own_responses(&self) -> String {
        self.responses_to(&self.uid)
    }

    /// `prefix#N#<uid>#`: responses to `requester_uid`.
    pub fn responses_to(&self, requester_uid: &str) -> String {
        format!("{}{requester_uid}#", self.main)
    }

    /// `prefix#N#room#`.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.main)
    }

    /// Where `message` is published (`computeChannel`).
    pub fn channel_for(&self, message: &ClusterMessage, mode: SubscriptionMode) -> String {
        if let ClusterBody::Broadcast {
            request_id: None,
            opts,
            ..
        } = &message.body
        {
            if let [room] = opts.rooms.as_slice() {
                let dynamic = match mode {
                    SubscriptionMode::Static => false,
                    SubscriptionMode::Dynamic => !looks_like_a_socket_id(room),
                    SubscriptionMode::DynamicPrivate => true,
                };
                if dynamic {
                    return self.room(room);
                }
            }
        }
        self.main.clone()
    }
}

/// Message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// 1
    InitialHeartbeat = 1,
    /// 2
    Heartbeat = 2,
    /// 3
    Broadcast = 3,
    /// 4
    SocketsJoin = 4,
    /// 5
    SocketsLeave = 5,
    /// 6
    DisconnectSockets = 6,
    /// 7
    FetchSockets = 7,
    /// 8
    FetchSocketsResponse = 8,
    /// 9
    ServerSideEmit = 9,
    /// 10
    ServerSideEmitResponse = 10,
    /// 11
    BroadcastClientCount = 11,
    /// 12
    BroadcastAck = 12,
    /// 13
    AdapterClose = 13,
}

/// The `data` of a message, by type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClusterBody {
    /// 1: no data; answer with HEARTBEAT (WithHeartbeat adapters only).
    InitialHeartbeat,
    /// 2: no data.
    Heartbeat,
    /// 3: `{packet, [requestId,] opts}`; `request_id` present = acks expected (answer
    /// BROADCAST_CLIENT_COUNT then BROADCAST_ACKs).
    Broadcast {
        /// The packet (no `nsp` from adapters; the streams emitter sets it).
        packet: Packet,
        /// Present when acks are expected.
        request_id: Option<String>,
        /// Targets and flags.
        opts: BroadcastOptions,
    },
    /// 4: `{opts, rooms}`.
    SocketsJoin {
        /// Selected sockets.
        opts: BroadcastOptions,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// 5: `{opts, rooms}`.
    SocketsLeave {
        /// Selected sockets.
        opts: BroadcastOptions,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// 6: `{opts, close}`.
    DisconnectSockets {
        /// Selected sockets.
        opts: BroadcastOptions,
        /// Close the connections.
        close: bool,
    },
    /// 7: `{opts, requestId}`.
    FetchSockets {
        /// Selected sockets.
        opts: BroadcastOptions,
        /// Request id.
        request_id: String,
    },
    /// 8: `{requestId, sockets}`.
    FetchSocketsResponse {
        /// Request id.
        request_id: String,
        /// Local matching sockets.
        sockets: Vec<RemoteSocket>,
    },
    /// 9: `{[requestId,] packet:[ev, ...args]}`.
    ServerSideEmit {
        /// Present when one response per node is expected.
        request_id: Option<String>,
        /// `[event, ...args]`.
        packet: Value,
    },
    /// 10: `{requestId, packet}` (first ack argument; `Undefined` omits it).
    ServerSideEmitResponse {
        /// Request id.
        request_id: String,
        /// First ack argument.
        packet: Value,
    },
    /// 11: `{requestId, clientCount}`.
    BroadcastClientCount {
        /// Request id.
        request_id: String,
        /// Local client count.
        client_count: u64,
    },
    /// 12: `{requestId, packet}` (one client ack).
    BroadcastAck {
        /// Request id.
        request_id: String,
        /// First ack argument.
        packet: Value,
    },
    /// 13: no data.
    AdapterClose,
}

/// A ClusterAdapter message or response.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterMessage {
    /// Sender uid.
    pub uid: String,
    /// Namespace.
    pub nsp: String,
    /// Type and data.
    pub body: ClusterBody,
}

impl ClusterBody {
    /// The wire type.
    pub fn message_type(&self) -> MessageType {
        match self {
            ClusterBody::InitialHeartbeat => MessageType::InitialHeartbeat,
            ClusterBody::Heartbeat => MessageType::Heartbeat,
            ClusterBody::Broadcast { .. } => MessageType::Broadcast,
            ClusterBody::SocketsJoin { .. } => MessageType::SocketsJoin,
            ClusterBody::SocketsLeave { .. } => MessageType::SocketsLeave,
            ClusterBody::DisconnectSockets { .. } => MessageType::DisconnectSockets,
            ClusterBody::FetchSockets { .. } => MessageType::FetchSockets,
            ClusterBody::FetchSocketsResponse { .. } => MessageType::FetchSocketsResponse,
            ClusterBody::ServerSideEmit { .. } => MessageType::ServerSideEmit,
            ClusterBody::ServerSideEmitResponse { .. } => MessageType::ServerSideEmitResponse,
            ClusterBody::BroadcastClientCount { .. } => MessageType::BroadcastClientCount,
            ClusterBody::BroadcastAck { .. } => MessageType::BroadcastAck,
            ClusterBody::AdapterClose => MessageType::AdapterClose,
        }
    }

    /// Is this a response (types 8, 10, 11, 12), routed to the requester's uid?
    pub fn is_response(&self) -> bool {
        matches!(
            self,
            ClusterBody::FetchSocketsResponse { .. }
                | ClusterBody::ServerSideEmitResponse { .. }
                | ClusterBody::BroadcastClientCount { .. }
                | ClusterBody::BroadcastAck { .. }
        )
    }

    /// The `data` object, keys in Node's order; `None` for types without data.
    pub fn data(&self) -> Option<Value> {
        let rid = |r: &str| ("requestId", Value::from(r));
        let opts = |o: &BroadcastOptions| ("opts", o.to_value(OptsOrder::Adapter));
        Some(match self {
            ClusterBody::InitialHeartbeat | ClusterBody::Heartbeat | ClusterBody::AdapterClose => {
                return None
            }
            ClusterBody::Broadcast {
                packet,
                request_id,
                opts: o,
            } => {
                let mut m = vec![("packet", packet.to_value())];
                m.extend(request_id.as_deref().map(rid));
                m.push(opts(o));
                Value::map(m)
            }
            ClusterBody::SocketsJoin { opts: o, rooms }
            | ClusterBody::SocketsLeave { opts: o, rooms } => {
                Value::map([opts(o), ("rooms", Value::str_array(rooms))])
            }
            ClusterBody::DisconnectSockets { opts: o, close } => {
                Value::map([opts(o), ("close", Value::Bool(*close))])
            }
            ClusterBody::FetchSockets {
                opts: o,
                request_id,
            } => Value::map([opts(o), rid(request_id)]),
            ClusterBody::FetchSocketsResponse {
                request_id,
                sockets,
            } => Value::map([
                rid(request_id),
                (
                    "sockets",
                    Value::Array(sockets.iter().map(RemoteSocket::to_value).collect()),
                ),
            ]),
            ClusterBody::ServerSideEmit { request_id, packet } => {
                let mut m: Vec<_> = request_id.as_deref().map(rid).into_iter().collect();
                m.push(("packet", packet.clone()));
                Value::map(m)
            }
            ClusterBody::ServerSideEmitResponse { request_id, packet }
            | ClusterBody::BroadcastAck { request_id, packet } => {
                Value::map([rid(request_id), ("packet", packet.clone())])
            }
            ClusterBody::BroadcastClientCount {
                request_id,
                client_count,
            } => Value::map([rid(request_id), ("clientCount", Value::UInt(*client_count))]),
        })
    }

    /// Interprets `data` for message type `ty`.
    pub fn from_data(ty: u64, data: Option<&Value>) -> Result<ClusterBody, Error> {
        let need = || -> Result<&Value, Error> {
            let d = data.ok_or(Error::field("data", "an object"))?;
            expect_map(d, "data")?;
            Ok(d)
        };
        let opts = |d: &Value| match field(d, "opts") {
            Some(o) => BroadcastOptions::from_value(o),
            None => Err(Error::field("opts", "an object")),
        };
        let any = |d: &Value, name| field(d, name).cloned().unwrap_or(Value::Undefined);
        Ok(match ty {
            1 => ClusterBody::InitialHeartbeat,
            2 => ClusterBody::Heartbeat,
            13 => ClusterBody::AdapterClose,
            3 => {
                let d = need()?;
                ClusterBody::Broadcast {
                    packet: Packet::from_value(
                        field(d, "packet").ok_or(Error::field("packet", "an object"))?,
                    )?,
                    request_id: opt_str(d, "requestId")?,
                    opts: opts(d)?,
                }
            }
            4 | 5 => {
                let d = need()?;
                let (opts, rooms) = (opts(d)?, str_list(d, "rooms")?);
                if ty == 4 {
                    ClusterBody::SocketsJoin { opts, rooms }
                } else {
                    ClusterBody::SocketsLeave { opts, rooms }
                }
            }
            6 => {
                let d = need()?;
                ClusterBody::DisconnectSockets {
                    opts: opts(d)?,
                    close: field(d, "close").and_then(Value::as_bool).unwrap_or(false),
                }
            }
            7 => {
                let d = need()?;
                ClusterBody::FetchSockets {
                    opts: opts(d)?,
                    request_id: req_str(d, "requestId")?,
                }
            }
            8 => {
                let d = need()?;
                ClusterBody::FetchSocketsResponse {
                    request_id: req_str(d, "requestId")?,
                    sockets: RemoteSocket::list_from(d, "sockets")?,
                }
            }
            9 => {
                let d = need()?;
                ClusterBody::ServerSideEmit {
                    request_id: opt_str(d, "requestId")?,
                    packet: match field(d, "packet") {
                        Some(p @ Value::Array(_)) => p.clone(),
                        _ => return Err(Error::field("packet", "an array")),
                    },
                }
            }
            10 => {
                let d = need()?;
                ClusterBody::ServerSideEmitResponse {
                    request_id: req_str(d, "requestId")?,
                    packet: any(d, "packet"),
                }
            }
            11 => {
                let d = need()?;
                ClusterBody::BroadcastClientCount {
                    request_id: req_str(d, "requestId")?,
                    client_count: req_u64(d, "clientCount")?,
                }
            }
            12 => {
                let d = need()?;
                ClusterBody::BroadcastAck {
                    request_id: req_str(d, "requestId")?,
                    packet: any(d, "packet"),
                }
            }
            other => return Err(Error::UnknownType(other)),
        })
    }

    /// Types whose `data` may be msgpack when it holds binary (the sharded adapter's
    /// `mayContainBinary`).
    fn may_contain_binary(&self) -> bool {
        matches!(
            self,
            ClusterBody::Broadcast { .. }
                | ClusterBody::BroadcastAck { .. }
                | ClusterBody::FetchSocketsResponse { .. }
                | ClusterBody::ServerSideEmit { .. }
                | ClusterBody::ServerSideEmitResponse { .. }
        )
    }
}

impl ClusterMessage {
    /// The whole message as a value: `{type, data?, uid, nsp}`.
    pub fn to_value(&self) -> Value {
        let mut m = vec![("type", Value::UInt(self.body.message_type() as u64))];
        if let Some(d) = self.body.data() {
            m.push(("data", d));
        }
        m.push(("uid", Value::from(self.uid.as_str())));
        m.push(("nsp", Value::from(self.nsp.as_str())));
        Value::map(m)
    }

    /// Interprets a decoded message.
    pub fn from_value(v: &Value) -> Result<ClusterMessage, Error> {
        expect_map(v, "message")?;
        Ok(ClusterMessage {
            uid: req_str(v, "uid")?,
            nsp: req_str(v, "nsp")?,
            body: ClusterBody::from_data(req_u64(v, "type")?, field(v, "data"))?,
        })
    }

    /// The encoding the sharded adapter picks for this message.
    pub fn sharded_encoding(&self) -> Encoding {
        let binary =
            self.body.may_contain_binary() && self.body.data().is_some_and(|d| d.has_binary());
        if binary {
            Encoding::Msgpack
        } else {
            Encoding::Json
        }
    }

    /// Serializes as the sharded adapter does (JSON, or notepack msgpack when binary).
    pub fn encode_sharded(&self) -> Result<Vec<u8>, Error> {
        encode_payload(&self.to_value(), self.sharded_encoding())
    }

    /// Msgpack of the whole message (the streams adapter's Pub/Sub messages).
    pub fn encode_msgpack(&self) -> Result<Vec<u8>, Error> {
        encode_payload(&self.to_value(), Encoding::Msgpack)
    }

    /// Decodes a payload of either encoding (first byte `{` = JSON).
    pub fn decode(payload: &[u8]) -> Result<ClusterMessage, Error> {
        let (v, _) = decode_payload(payload)?;
        ClusterMessage::from_value(&v)
    }

    /// `JSON.stringify(message.data)`: the streams adapter's `data` field for text entries.
    pub fn data_json(&self) -> Result<Option<Vec<u8>>, Error> {
        self.body
            .data()
            .map(|d| encode_payload(&d, Encoding::Json))
            .transpose()
    }

    /// Msgpack of `message.data` (base64 it for the streams adapter's binary entries).
    pub fn data_msgpack(&self) -> Result<Option<Vec<u8>>, Error> {
        self.body
            .data()
            .map(|d| encode_payload(&d, Encoding::Msgpack))
            .transpose()
    }
}

#[cfg(test)]
mod tests;
