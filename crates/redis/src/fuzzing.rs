//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay test
//! (`tests/fuzz_corpus.rs`). Not a public API: hidden from the docs, and it may change at any
//! time.
//!
//! Each function feeds arbitrary bytes (a Redis message payload, as another node or a hostile
//! Redis client could publish it) to one decoder, and panics only when an invariant does not
//! hold.

use crate::classic::{BroadcastMessage, Request, RequestType, Response};
use crate::cluster::ClusterMessage;
use crate::common::{decode_payload, encode_payload, key_to_string, Encoding};
use crate::msgpack::{self, Value};
use bytes::Bytes;

/// `v` with the map entries whose value is `undefined` removed, as encoding does.
fn without_undefined_entries(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(without_undefined_entries).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .filter(|(_, v)| !matches!(v, Value::Undefined))
                .map(|(k, v)| (without_undefined_entries(k), without_undefined_entries(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Checks that a decoded value re-encodes to bytes that decode to the same value, and runs
/// the JSON conversions over it.
fn check_value(v: &Value) {
    let bytes = msgpack::encode(v).expect("a decoded value re-encodes");
    let again = msgpack::decode(&bytes).expect("a re-encoded value decodes");
    assert_eq!(
        again,
        without_undefined_entries(v),
        "msgpack does not round-trip"
    );
    assert_eq!(
        msgpack::encode(&again).expect("re-encodes"),
        bytes,
        "msgpack encoding is not stable"
    );
    let _ = v.to_json();
    let _ = key_to_string(v);
    let _ = v.has_binary();
    let _ = v.as_date_millis();
    let (json, attachments) = v.to_json_with_attachments();
    // Placeholders we made all point to an attachment, so rebuilding can only fail on a
    // user object that looks like a placeholder.
    if let Ok(back) = Value::from_json_with_attachments(&json, &attachments) {
        let _ = back.to_json();
    }
    let text = serde_json::to_vec(&json).expect("JSON serializes");
    let _ = decode_payload(&text);
}

/// `redis_msgpack`: the notepack-compatible msgpack decoder, copying and zero-copy.
pub fn redis_msgpack(data: &[u8]) {
    let copied = msgpack::decode(data);
    let shared = msgpack::decode_bytes(&Bytes::copy_from_slice(data));
    assert_eq!(copied, shared, "decode and decode_bytes disagree");
    if let Ok(v) = copied {
        check_value(&v);
    }
}

/// Re-encodes a decoded payload with both encodings and checks that it decodes again where
/// the receiver can tell the encoding (JSON is recognized by its leading `{`, so only objects
/// travel as JSON; a msgpack payload whose first byte is `{` is the integer 123).
fn check_reencoded(v: &Value) {
    for encoding in [Encoding::Json, Encoding::Msgpack] {
        let bytes = encode_payload(v, encoding).expect("re-encodes");
        if Encoding::of(&bytes) == encoding {
            decode_payload(&bytes).expect("re-encoded payload decodes");
        }
    }
}

/// `redis_classic`: the classic adapter's messages. The first byte chooses the decoder (a
/// request, a response to each request type, a broadcast, or a peek at the request id).
///
/// Every typed decoder of the classic protocol is `decode_payload` followed by a
/// `from_value`, so the payload is decoded once and the value handed to each `from_value`
/// (the generic payload round trip, `check_reencoded`, is `redis_cluster`'s job): a third of
/// the work per input of the first version of this harness.
pub fn redis_classic(data: &[u8]) {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let Ok((v, _)) = decode_payload(payload) else {
        assert!(Request::decode(payload).is_err());
        return;
    };
    match mode % 13 {
        0 => {
            if let Ok(request) = Request::from_value(&v) {
                let _ = (request.request_type(), request.uid(), request.request_id());
                let value = request.to_value();
                let again = Request::from_value(&value).expect("a decoded request re-reads");
                assert_eq!(again, request, "request does not round-trip");
                let bytes = request.encode().expect("a decoded request re-encodes");
                let decoded = Request::decode(&bytes).expect("a re-encoded request decodes");
                assert_eq!(decoded.request_type(), request.request_type());
            }
        }
        1 => {
            if let Ok(message) = BroadcastMessage::decode(payload) {
                let bytes = message.encode().expect("a decoded broadcast re-encodes");
                let again = BroadcastMessage::decode(&bytes).expect("re-encoded broadcast decodes");
                assert_eq!(
                    again,
                    BroadcastMessage {
                        packet: crate::common::Packet {
                            data: without_undefined_entries(&message.packet.data),
                            ..message.packet.clone()
                        },
                        ..message.clone()
                    },
                    "broadcast does not round-trip"
                );
            }
        }
        2 => {
            let _ = Response::peek_request_id(payload);
        }
        m => {
            let Some(pending) = RequestType::from_u64(u64::from(m - 3)) else {
                return;
            };
            if let Ok(response) = Response::from_value(&v, pending) {
                let _ = response.request_id();
                // The pending request decides what a response is (its own `type` only tells
                // a broadcast's client counts from its acks), so the response re-reads as an
                // answer to the same request.
                let again = Response::from_value(&response.to_value(), pending)
                    .expect("a decoded response re-reads");
                assert_eq!(again, response, "response does not round-trip");
                let bytes = response.encode().expect("a decoded response re-encodes");
                let decoded =
                    Response::decode(&bytes, pending).expect("a re-encoded response decodes");
                assert_eq!(decoded.request_id(), response.request_id());
            }
        }
    }
}

/// `redis_cluster`: ClusterAdapter messages (sharded Pub/Sub and streams), either encoding.
pub fn redis_cluster(data: &[u8]) {
    if let Ok((v, _)) = decode_payload(data) {
        check_reencoded(&v);
    }
    let Ok(message) = ClusterMessage::decode(data) else {
        return;
    };
    let _ = (message.body.message_type(), message.body.is_response());
    let again =
        ClusterMessage::from_value(&message.to_value()).expect("a decoded message re-reads");
    assert_eq!(again, message, "cluster message does not round-trip");
    for bytes in [
        message.encode_sharded().expect("re-encodes (sharded)"),
        message.encode_msgpack().expect("re-encodes (msgpack)"),
    ] {
        let decoded = ClusterMessage::decode(&bytes).expect("re-encoded message decodes");
        assert_eq!(decoded.body.message_type(), message.body.message_type());
        assert_eq!(
            (decoded.uid, decoded.nsp),
            (message.uid.clone(), message.nsp.clone())
        );
    }
    let _ = message.data_json().expect("data re-encodes as JSON");
    let _ = message.data_msgpack().expect("data re-encodes as msgpack");
}
