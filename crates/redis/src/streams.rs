//! The wire format of `@socket.io/redis-streams-adapter` 0.3.1: stream entries, Pub/Sub
//! channels, stream offsets and the sessions kept for connection state recovery, as pure data
//! and functions (the runtime is [`crate::streams_adapter`]).
//!
//! The messages are socket.io-adapter's `ClusterAdapter` messages ([`ClusterMessage`]).
//! * **Durable** ones (BROADCAST without `requestId`, SOCKETS_JOIN, SOCKETS_LEAVE,
//!   DISCONNECT_SOCKETS) are appended to the stream with
//!   `XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp> type <decimal> data <data>`
//!   ([`entry_fields`]); `data` is `JSON.stringify(message.data)`, or, for the types that may
//!   carry binary when they do, base64 of msgpack of it. The entry id is the offset a client
//!   sees for connection state recovery.
//! * **Ephemeral** ones ([`is_ephemeral`]: BROADCAST with `requestId`, FETCH_SOCKETS,
//!   SERVER_SIDE_EMIT) are `PUBLISH`ed as msgpack of the whole message on `prefix#nsp#`, and
//!   every response on `prefix#nsp#<requester uid>#` ([`StreamsChannels`]).
//! * A session is `SET <sessionKeyPrefix><pid> base64(msgpack({sid, pid, rooms, data})) PX
//!   <maxDisconnectionDuration>` ([`SessionRecord`]).
//!
//! ```
//! use ferrio_redis::cluster::{ClusterBody, ClusterMessage};
//! use ferrio_redis::streams::{decode_entry, entry_fields};
//! use ferrio_redis::{BroadcastOptions, Packet, Value};
//!
//! let msg = ClusterMessage {
//!     uid: "bebbc14473a1ea81".into(),
//!     nsp: "/".into(),
//!     body: ClusterBody::SocketsJoin { opts: BroadcastOptions::all(), rooms: vec!["r7".into()] },
//! };
//! let fields = entry_fields(&msg, false).unwrap();
//! assert_eq!(fields[2], ("type", b"4".to_vec()));
//! assert_eq!(
//!     fields[3].1,
//!     br#"{"opts":{"rooms":[],"except":[],"flags":{}},"rooms":["r7"]}"#.to_vec()
//! );
//! let owned: Vec<(String, Vec<u8>)> =
//!     fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
//! assert_eq!(decode_entry(&owned).unwrap(), msg);
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;

use crate::cluster::{ClusterBody, ClusterMessage};
use crate::common::{decode_payload, encode_payload, field, req_str, str_list};
use crate::{Encoding, Error, Value};

/// `streamName` default.
pub const DEFAULT_STREAM_NAME: &str = "socket.io";
/// `channelPrefix` default.
pub const DEFAULT_CHANNEL_PREFIX: &str = "socket.io";
/// `sessionKeyPrefix` default.
pub const DEFAULT_SESSION_KEY_PREFIX: &str = "sio:session:";
/// How many `XRANGE` calls `restoreSession` makes at most.
pub const RESTORE_SESSION_MAX_XRANGE_CALLS: usize = 100;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Decodes base64 as Node's `Buffer.from(s, "base64")` mostly does: padding optional,
/// whitespace ignored.
fn b64_decode(s: &[u8]) -> Result<Vec<u8>, Error> {
    let clean: Vec<u8> = s
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(clean)
        .map_err(|_| Error::field("data", "base64"))
}

/// Java's `String.hashCode` over UTF-16 code units with 32-bit wrap (`hashCode` in
/// `lib/util.ts`).
pub fn hash_code(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The stream of namespace `nsp`: `stream_name` with one stream, else
/// `stream_name-<hashCode(nsp) % stream_count>` with JavaScript's `%` (the sign of the hash
/// is kept: `/abcdefgh` with 4 streams goes to `socket.io--1`).
///
/// ```
/// use ferrio_redis::streams::stream_for;
/// assert_eq!(stream_for("/", "socket.io", 1), "socket.io");
/// assert_eq!(stream_for("/abcdefgh", "socket.io", 4), "socket.io--1");
/// ```
pub fn stream_for(nsp: &str, stream_name: &str, stream_count: usize) -> String {
    if stream_count <= 1 {
        return stream_name.to_owned();
    }
    let i = hash_code(nsp) as i64 % stream_count as i64;
    format!("{stream_name}-{i}")
}

/// Whether a message goes over Pub/Sub rather than the stream (`isEphemeral`): a BROADCAST
/// expecting acks, FETCH_SOCKETS and SERVER_SIDE_EMIT. Responses always go over Pub/Sub.
pub fn is_ephemeral(msg: &ClusterMessage) -> bool {
    matches!(
        msg.body,
        ClusterBody::Broadcast {
            request_id: Some(_),
            ..
        } | ClusterBody::FetchSockets { .. }
            | ClusterBody::ServerSideEmit { .. }
    ) || msg.body.is_response()
}

/// The fields of the stream entry of a durable message, in Node's order:
/// `uid`, `nsp`, `type` (decimal) and, when the message has data, `data`.
///
/// `data` is `JSON.stringify(data)`, or base64 of msgpack of it when the type may carry binary
/// (3, 8, 9, 10, 12), it does, and `only_plaintext` (`onlyPlaintext`) is off.
pub fn entry_fields(
    msg: &ClusterMessage,
    only_plaintext: bool,
) -> Result<Vec<(&'static str, Vec<u8>)>, Error> {
    let mut fields = vec![
        ("uid", msg.uid.as_bytes().to_vec()),
        ("nsp", msg.nsp.as_bytes().to_vec()),
        (
            "type",
            (msg.body.message_type() as u64).to_string().into_bytes(),
        ),
    ];
    if let Some(data) = msg.body.data() {
        let binary = !only_plaintext && may_contain_binary(&msg.body) && data.has_binary();
        let bytes = if binary {
            b64()
                .encode(encode_payload(&data, Encoding::Msgpack)?)
                .into_bytes()
        } else {
            encode_payload(&data, Encoding::Json)?
        };
        fields.push(("data", bytes));
    }
    Ok(fields)
}

fn may_contain_binary(body: &ClusterBody) -> bool {
    matches!(
        body,
        ClusterBody::Broadcast { .. }
            | ClusterBody::FetchSocketsResponse { .. }
            | ClusterBody::ServerSideEmit { .. }
            | ClusterBody::ServerSideEmitResponse { .. }
            | ClusterBody::BroadcastAck { .. }
    )
}

fn entry_field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_slice())
}

/// `parseInt(s, 10)` for the non-negative types: the leading decimal digits.
fn parse_type(s: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(s).ok()?.trim_start();
    let digits: &str = &s[..s.bytes().take_while(u8::is_ascii_digit).count()];
    digits.parse().ok()
}

/// Decodes the fields of a stream entry (`RedisStreamsAdapter.decode`): `data` starting with
/// `{` is JSON, anything else base64 msgpack.
pub fn decode_entry(fields: &[(String, Vec<u8>)]) -> Result<ClusterMessage, Error> {
    let text = |name: &'static str| -> Result<String, Error> {
        let v = entry_field(fields, name).ok_or(Error::field(name, "a string"))?;
        Ok(String::from_utf8_lossy(v).into_owned())
    };
    let ty = entry_field(fields, "type")
        .and_then(parse_type)
        .ok_or(Error::field("type", "a decimal number"))?;
    let data = match entry_field(fields, "data") {
        Some(d) if !d.is_empty() => Some(if d.first() == Some(&b'{') {
            decode_payload(d)?.0
        } else {
            crate::msgpack::decode(&b64_decode(d)?)?
        }),
        _ => None,
    };
    Ok(ClusterMessage {
        uid: text("uid")?,
        nsp: text("nsp")?,
        body: ClusterBody::from_data(ty, data.as_ref())?,
    })
}

/// The Pub/Sub channels of one namespace adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsChannels {
    public: String,
    uid: String,
}

impl StreamsChannels {
    /// Channels with `prefix` (`channelPrefix`), namespace `nsp` and this node's `uid`.
    pub fn new(prefix: &str, nsp: &str, uid: &str) -> Self {
        StreamsChannels {
            public: format!("{prefix}#{nsp}#"),
            uid: uid.to_owned(),
        }
    }

    /// `prefix#nsp#`: the requests; what `PUBSUB NUMSUB` counts as the servers.
    pub fn public(&self) -> &str {
        &self.public
    }

    /// `prefix#nsp#<uid>#`: the responses to `uid`.
    pub fn responses_to(&self, uid: &str) -> String {
        format!("{}{uid}#", self.public)
    }

    /// This node's response channel.
    pub fn private(&self) -> String {
        self.responses_to(&self.uid)
    }

    /// This node's uid.
    pub fn uid(&self) -> &str {
        &self.uid
    }
}

/// A stream entry id `<ms>-<seq>`: the offset of a packet for connection state recovery.
///
/// ```
/// use ferrio_redis::streams::StreamId;
/// let id: StreamId = "1700000000000-7".parse().unwrap();
/// assert_eq!(id.next().to_string(), "1700000000000-8");
/// assert!("1-x".parse::<StreamId>().is_err());
/// assert!(id < "1700000000001-0".parse().unwrap());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// The smallest id after this one (`nextOffset`: exclusive ranges need Redis 6.2).
    pub fn next(self) -> StreamId {
        match self.seq.checked_add(1) {
            Some(seq) => StreamId { ms: self.ms, seq },
            None => StreamId {
                ms: self.ms.saturating_add(1),
                seq: 0,
            },
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An offset that is not `^[0-9]+-[0-9]+$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid offset")]
pub struct InvalidOffset;

impl FromStr for StreamId {
    type Err = InvalidOffset;
    fn from_str(s: &str) -> Result<Self, InvalidOffset> {
        let (ms, seq) = s.split_once('-').ok_or(InvalidOffset)?;
        let num = |p: &str| -> Result<u64, InvalidOffset> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidOffset);
            }
            p.parse().map_err(|_| InvalidOffset)
        };
        Ok(StreamId {
            ms: num(ms)?,
            seq: num(seq)?,
        })
    }
}

/// A session as the streams adapter stores it: `{sid, pid, rooms, data}`, msgpack, base64.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The socket id.
    pub sid: String,
    /// The private session id.
    pub pid: String,
    /// The socket's rooms.
    pub rooms: Vec<String>,
    /// `socket.data` (binary as `Bin`).
    pub data: Value,
}

impl SessionRecord {
    /// The value of the session key: base64 of msgpack of `{sid, pid, rooms, data}`.
    pub fn encode(&self) -> Result<String, Error> {
        let v = Value::map([
            ("sid", Value::from(self.sid.as_str())),
            ("pid", Value::from(self.pid.as_str())),
            ("rooms", Value::str_array(&self.rooms)),
            ("data", self.data.clone()),
        ]);
        Ok(b64().encode(encode_payload(&v, Encoding::Msgpack)?))
    }

    /// Reads the value of a session key.
    pub fn decode(raw: &[u8]) -> Result<SessionRecord, Error> {
        let v = crate::msgpack::decode(&b64_decode(raw)?)?;
        Ok(SessionRecord {
            sid: req_str(&v, "sid")?,
            pid: req_str(&v, "pid")?,
            rooms: str_list(&v, "rooms")?,
            data: field(&v, "data").cloned().unwrap_or(Value::Undefined),
        })
    }
}

/// For `restoreSession`: the `[event, ...args]` of entry `fields` if it is a BROADCAST of
/// namespace `nsp` that a socket in `session_rooms` would have received (the entry id is then
/// appended by the caller). Entries of other namespaces or types, and undecodable ones, are
/// `None`.
pub fn missed_packet(
    fields: &[(String, Vec<u8>)],
    nsp: &str,
    session_rooms: &[String],
) -> Option<Value> {
    if entry_field(fields, "nsp")? != nsp.as_bytes() || entry_field(fields, "type")? != b"3" {
        return None;
    }
    let msg = decode_entry(fields).ok()?;
    let ClusterBody::Broadcast { packet, opts, .. } = msg.body else {
        return None;
    };
    let included = opts.rooms.is_empty() || session_rooms.iter().any(|r| opts.rooms.contains(r));
    let excluded = session_rooms.iter().any(|r| opts.except.contains(r));
    (included && !excluded && matches!(packet.data, Value::Array(_))).then_some(packet.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BroadcastOptions, Packet};
    use bytes::Bytes;

    fn owned(fields: Vec<(&'static str, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    fn raw(uid: &str, nsp: &str, ty: &str, data: &str) -> Vec<(String, Vec<u8>)> {
        vec![
            ("uid".into(), uid.as_bytes().to_vec()),
            ("nsp".into(), nsp.as_bytes().to_vec()),
            ("type".into(), ty.as_bytes().to_vec()),
            ("data".into(), data.as_bytes().to_vec()),
        ]
    }

    #[test]
    fn observed_text_entry_round_trips_byte_for_byte() {
        let data =
            r#"{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":[],"except":[],"flags":{}}}"#;
        let fields = raw("bebbc14473a1ea81", "/", "3", data);
        let msg = decode_entry(&fields).unwrap();
        assert_eq!(owned(entry_fields(&msg, false).unwrap()), fields);
    }

    #[test]
    fn observed_binary_entry_round_trips_byte_for_byte() {
        let data =
            "gqZwYWNrZXSCpHR5cGUCpGRhdGGSo2JpbsQCAQKkb3B0c4Olcm9vbXORpXJvb20xpmV4Y2VwdJClZmxhZ3OA";
        let fields = raw("bebbc14473a1ea81", "/", "3", data);
        let msg = decode_entry(&fields).unwrap();
        let ClusterBody::Broadcast { packet, opts, .. } = &msg.body else {
            panic!("not a broadcast");
        };
        assert_eq!(
            packet.data,
            Value::Array(vec![
                Value::from("bin"),
                Value::Bin(Bytes::from_static(&[1, 2]))
            ])
        );
        assert_eq!(opts.rooms, ["room1"]);
        assert_eq!(owned(entry_fields(&msg, false).unwrap()), fields);
        // onlyPlaintext: JSON even with binary (a Buffer as Node's JSON.stringify renders it).
        let text = entry_fields(&msg, true).unwrap();
        assert_eq!(text[3].1.first(), Some(&b'{'));
    }

    #[test]
    fn messages_without_data_have_no_data_field_and_types_parse_like_parse_int() {
        let msg = ClusterMessage {
            uid: "u".into(),
            nsp: "/".into(),
            body: ClusterBody::Heartbeat,
        };
        let fields = owned(entry_fields(&msg, false).unwrap());
        assert_eq!(fields.len(), 3);
        assert_eq!(decode_entry(&fields).unwrap(), msg);
        let mut odd = fields.clone();
        odd[2].1 = b"2abc".to_vec();
        assert_eq!(decode_entry(&odd).unwrap(), msg);
        odd[2].1 = b"x".to_vec();
        assert!(decode_entry(&odd).is_err());
    }

    #[test]
    fn garbage_entries_are_errors_not_panics() {
        for data in ["{", "!!!", "AAAA", "{\"packet\":1}"] {
            assert!(decode_entry(&raw("u", "/", "3", data)).is_err(), "{data}");
        }
        assert!(decode_entry(&[]).is_err());
    }

    #[test]
    fn ephemeral_messages_are_requests_with_answers_and_responses() {
        let msg = |body| ClusterMessage {
            uid: "u".into(),
            nsp: "/".into(),
            body,
        };
        let bc = |request_id| ClusterBody::Broadcast {
            packet: Packet::event(Value::Array(vec![]), None),
            request_id,
            opts: BroadcastOptions::all(),
        };
        assert!(!is_ephemeral(&msg(bc(None))));
        assert!(is_ephemeral(&msg(bc(Some("r".into())))));
        assert!(is_ephemeral(&msg(ClusterBody::FetchSockets {
            opts: BroadcastOptions::all(),
            request_id: "r".into()
        })));
        assert!(!is_ephemeral(&msg(ClusterBody::DisconnectSockets {
            opts: BroadcastOptions::all(),
            close: true
        })));
    }

    #[test]
    fn observed_session_decodes_and_round_trips() {
        let rec = SessionRecord {
            sid: "4YU8aaaaaaaaaaaaaaaa".into(),
            pid: "P4Swaaaaaaaaaaaaaaaa".into(),
            rooms: vec!["4YU8aaaaaaaaaaaaaaaa".into(), "room1".into(), "r7".into()],
            data: Value::map([("user", Value::from("bob"))]),
        };
        let enc = rec.encode().unwrap();
        assert!(enc.starts_with("hKNzaWS0"), "{enc}");
        assert_eq!(SessionRecord::decode(enc.as_bytes()).unwrap(), rec);
        assert!(SessionRecord::decode(b"!!").is_err());
    }

    #[test]
    fn missed_packets_follow_namespace_type_and_rooms() {
        let entry = |nsp: &str, rooms: &[&str], except: &[&str]| {
            let msg = ClusterMessage {
                uid: "u".into(),
                nsp: nsp.into(),
                body: ClusterBody::Broadcast {
                    packet: Packet::event(Value::Array(vec![Value::from("ev")]), None),
                    request_id: None,
                    opts: BroadcastOptions {
                        rooms: rooms.iter().map(|r| r.to_string()).collect(),
                        except: except.iter().map(|r| r.to_string()).collect(),
                        flags: None,
                    },
                },
            };
            owned(entry_fields(&msg, false).unwrap())
        };
        let mine = vec!["sid".to_owned(), "a".to_owned()];
        assert!(missed_packet(&entry("/", &[], &[]), "/", &mine).is_some());
        assert!(missed_packet(&entry("/", &["a"], &[]), "/", &mine).is_some());
        assert!(missed_packet(&entry("/", &["b"], &[]), "/", &mine).is_none());
        assert!(missed_packet(&entry("/", &[], &["a"]), "/", &mine).is_none());
        assert!(missed_packet(&entry("/x", &[], &[]), "/", &mine).is_none());
        assert!(missed_packet(&raw("u", "/", "4", "{}"), "/", &mine).is_none());
    }

    #[test]
    fn stream_routing_matches_java_hash_code() {
        assert_eq!(hash_code(""), 0);
        assert_eq!(hash_code("/"), 47);
        assert_eq!(hash_code("hello"), 99162322);
        assert_eq!(stream_for("/", "s", 4), "s-3");
    }

    proptest::proptest! {
        #[test]
        fn entries_and_sessions_never_panic(
            ty in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            b64 in "[A-Za-z0-9+/=]{0,200}",
        ) {
            let fields = vec![
                ("uid".to_owned(), b"u".to_vec()),
                ("nsp".to_owned(), b"/".to_vec()),
                ("type".to_owned(), ty),
                ("data".to_owned(), data.clone()),
            ];
            let _ = decode_entry(&fields);
            let _ = missed_packet(&fields, "/", &["r".to_owned()]);
            let mut b = fields.clone();
            b[3].1 = b64.clone().into_bytes();
            let _ = decode_entry(&b);
            let _ = SessionRecord::decode(b64.as_bytes());
            let _ = SessionRecord::decode(&data);
            let _ = std::str::from_utf8(&data).map(|s| s.parse::<StreamId>());
        }
    }

    #[test]
    fn offsets_are_digits_dash_digits() {
        for bad in ["", "1", "1-", "-1", "a-1", "1-2-3", "1 -2", "+1-2"] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad}");
        }
        assert_eq!(
            "0-18446744073709551615".parse::<StreamId>().unwrap().next(),
            StreamId { ms: 1, seq: 0 }
        );
    }
}
