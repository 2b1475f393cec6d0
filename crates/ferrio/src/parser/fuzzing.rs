//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay test
//! (`tests/fuzz_corpus.rs`). Not a public API: hidden from the docs, and it may change at any
//! time.
//!
//! A fuzz input is a sequence of Engine.IO messages in a small framing that the fuzz targets
//! and the replay test share (see [`messages`]), so a committed corpus file replays exactly as
//! the fuzzer ran it. Every function panics only when an invariant does not hold.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::{
    encode, from_args, from_payload, from_value, Decoder, JsonParser, Packet, PacketKind, Parser,
    MAX_ACK_ID,
};

/// One Engine.IO message carrying Socket.IO data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (what [`Decoder::decode_text`] reads).
    Text(String),
    /// A binary message (an attachment).
    Binary(Bytes),
}

/// Splits a fuzz input into messages: each is a tag byte (bit 0 set: binary), a
/// little-endian `u16` length, and that many bytes (fewer at the end of the input). Text is
/// converted lossily to UTF-8, as the engine does with a polling body.
pub fn messages(data: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&tag, tail)) = rest.split_first() {
        let (len, tail) = match tail {
            [a, b, tail @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), tail),
            [a] => (usize::from(*a), &[][..]),
            [] => (0, tail),
        };
        let (body, tail) = tail.split_at(len.min(tail.len()));
        out.push(if tag & 1 == 1 {
            Message::Binary(Bytes::copy_from_slice(body))
        } else {
            Message::Text(String::from_utf8_lossy(body).into_owned())
        });
        rest = tail;
    }
    out
}

/// The inverse of [`messages`], to write seeds.
pub fn frame(messages: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        let (tag, body) = match m {
            Message::Text(t) => (0u8, t.as_bytes()),
            Message::Binary(b) => (1u8, &b[..]),
        };
        let len = body.len().min(usize::from(u16::MAX));
        out.push(tag);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&body[..len]);
    }
    out
}

/// Feeds `messages` to a fresh decoder and returns every complete packet; checks the
/// decoder's state invariants on the way.
fn decode_all(messages: &[Message], max_attachments: usize) -> Vec<Packet> {
    let mut decoder = JsonParser::new()
        .with_max_attachments(max_attachments)
        .decoder();
    let mut packets = Vec::new();
    for m in messages {
        let result = match m {
            Message::Text(t) => decoder.decode_text(t),
            Message::Binary(b) => decoder.decode_binary(b.clone()),
        };
        match result {
            Ok(Some(packet)) => {
                assert_eq!(decoder.pending_attachments(), 0, "complete but pending");
                packets.push(packet);
            }
            Ok(None) => {
                let pending = decoder.pending_attachments();
                assert!(
                    pending > 0 && pending <= max_attachments,
                    "{pending} pending attachments (limit {max_attachments})"
                );
            }
            Err(e) => {
                let _ = e.to_string();
                assert_eq!(
                    decoder.pending_attachments(),
                    0,
                    "error left a packet pending"
                );
            }
        }
    }
    packets
}

/// `sio_decoder`: a sequence of text and binary messages through one [`JsonDecoder`]
/// (the first byte of the input sets its attachment limit, 0–15). Every complete packet
/// respects the limits, and encodes to messages that decode to the same packet.
///
/// [`JsonDecoder`]: super::JsonDecoder
pub fn sio_decoder(data: &[u8]) {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let max = usize::from(limit % 16);
    for packet in decode_all(&messages(rest), max) {
        check_packet(&packet, max);
    }
}

fn check_packet(packet: &Packet, max: usize) {
    assert!(packet.attachments().len() <= max, "too many attachments");
    assert!(!packet.nsp.contains(','), "namespace with a comma");
    assert!(packet.nsp.starts_with('/'), "namespace without a slash");
    if let Some(id) = packet.ack_id() {
        assert!(id <= MAX_ACK_ID, "ack id out of range");
    }
    match &packet.kind {
        PacketKind::Event { data, .. } => {
            assert!(matches!(
                data.items().first(),
                Some(Value::String(_) | Value::Number(_))
            ));
        }
        PacketKind::Ack { data, .. } => assert!(data.value.is_array()),
        PacketKind::Connect(d) => assert!(!matches!(d, Some(v) if !v.is_object())),
        PacketKind::ConnectError(d) => assert!(d.is_string() || d.is_object()),
        PacketKind::Disconnect => {}
    }
    // Round trip: encode, then decode the text and the attachments again.
    let encoded = JsonParser::new().encode(packet);
    assert_eq!(encoded.attachments.len(), packet.attachments().len());
    let mut again: Vec<Message> = vec![Message::Text(encoded.text.clone())];
    again.extend(encoded.attachments.iter().cloned().map(Message::Binary));
    let decoded = decode_all(&again, max);
    assert_eq!(
        decoded.len(),
        1,
        "re-encoded packet does not decode: {encoded:?}"
    );
    assert!(
        same_packet(&decoded[0], packet),
        "packet does not round-trip:\n{packet:?}\n{:?}",
        decoded[0]
    );
    // The encoder is deterministic over a decoded packet.
    assert_eq!(encode(&decoded[0]).attachments, encoded.attachments);
}

/// Packet equality, but floats only need to agree to the last bits (serde_json's default
/// float parser is not always correctly rounded, so text → f64 → text → f64 may move one ULP).
fn same_packet(a: &Packet, b: &Packet) -> bool {
    if a.nsp != b.nsp || a.packet_type() != b.packet_type() || a.ack_id() != b.ack_id() {
        return false;
    }
    match (&a.kind, &b.kind) {
        (PacketKind::Connect(x), PacketKind::Connect(y)) => match (x, y) {
            (Some(x), Some(y)) => same_value(x, y),
            (None, None) => true,
            _ => false,
        },
        (PacketKind::Disconnect, PacketKind::Disconnect) => true,
        (PacketKind::Event { data: x, .. }, PacketKind::Event { data: y, .. })
        | (PacketKind::Ack { data: x, .. }, PacketKind::Ack { data: y, .. }) => {
            x.attachments == y.attachments && same_value(&x.value, &y.value)
        }
        (PacketKind::ConnectError(x), PacketKind::ConnectError(y)) => same_value(x, y),
        _ => false,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => (x - y).abs() <= x.abs().max(y.abs()) * 1e-15,
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_value(vx, vy))
        }
        _ => a == b,
    }
}

/// A struct with the shapes handlers commonly deserialize into.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Sample<'a> {
    name: Option<String>,
    #[serde(borrow)]
    tag: Option<&'a str>,
    count: Option<u32>,
    ratio: Option<f64>,
    blob: Option<Bytes>,
    list: Option<Vec<Option<Bytes>>>,
    nested: Option<Box<Sample<'a>>>,
    map: Option<BTreeMap<u64, String>>,
    kind: Option<Kind>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Kind {
    Unit,
    Newtype(i64),
    Tuple(u8, String),
    Struct { x: Option<Bytes>, y: Vec<u8> },
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Tuple(String, Option<Bytes>, Vec<u8>);

/// Deserializes `args` and `attachments` into many types; none may panic.
fn exercise_args(args: &[Value], attachments: &[Bytes]) {
    let _ = from_args::<()>(args, attachments);
    let _ = from_args::<(String, u32)>(args, attachments);
    let _ =
        from_args::<(Option<String>, Option<i64>, Option<f64>, Option<bool>)>(args, attachments);
    let _ = from_args::<(Bytes, Bytes, Bytes)>(args, attachments);
    let _ = from_args::<Bytes>(args, attachments);
    let _ = from_args::<Vec<u8>>(args, attachments);
    let _ = from_args::<[u8; 4]>(args, attachments);
    let _ = from_args::<(char, i128, u128, f32)>(args, attachments);
    let _ = from_args::<&str>(args, attachments);
    let _ = from_args::<HashMap<String, Value>>(args, attachments);
    let _ = from_args::<BTreeMap<i8, Option<Bytes>>>(args, attachments);
    let _ = from_args::<Sample<'_>>(args, attachments);
    let _ = from_args::<(Sample<'_>, Kind)>(args, attachments);
    let _ = from_args::<Vec<Kind>>(args, attachments);
    let _ = from_args::<Tuple>(args, attachments);
    let _ = from_args::<Option<Vec<Option<Sample<'_>>>>>(args, attachments);
    let _ = from_args::<serde::de::IgnoredAny>(args, attachments);
    let value = from_args::<Value>(args, attachments);
    if attachments.is_empty() {
        // Without attachments, the first argument reads as itself.
        let first = args.first().cloned().unwrap_or(Value::Null);
        assert_eq!(
            value.ok(),
            Some(first),
            "from_args::<Value> changed the value"
        );
    }
    for arg in args {
        let _ = from_value::<Sample<'_>>(arg, attachments);
        let _ = from_value::<Kind>(arg, attachments);
        let _ = from_value::<Vec<Bytes>>(arg, attachments);
        let _ = from_payload::<Vec<Option<Bytes>>>(arg.clone(), attachments);
        let _ = from_payload::<HashMap<String, Vec<u8>>>(arg.clone(), attachments);
    }
}

/// `sio_from_args`: decodes messages as [`sio_decoder`] does (limit 10), then runs the serde
/// bridges over every complete packet's arguments, as handlers do with typed arguments.
pub fn sio_from_args(data: &[u8]) {
    for packet in decode_all(&messages(data), super::DEFAULT_MAX_ATTACHMENTS) {
        exercise_args(packet.args(), packet.attachments());
        if let PacketKind::Connect(Some(auth)) = &packet.kind {
            let _ = from_value::<Sample<'_>>(auth, &[]);
            let _ = from_value::<HashMap<String, String>>(auth, &[]);
        }
    }
}
