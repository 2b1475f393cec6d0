//! Tests of the default parser and of the serde bridges.

use bytes::Bytes;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::*;

fn parser() -> JsonParser {
    JsonParser::new()
}

fn enc(p: &Packet) -> String {
    parser().encode(p).text
}

/// Decodes one complete text packet.
fn dec(s: &str) -> Packet {
    match parser().decoder().decode_text(s) {
        Ok(Some(p)) => p,
        other => panic!("{s:?}: {other:?}"),
    }
}

fn dec_err(s: &str) -> ParseError {
    match parser().decoder().decode_text(s) {
        Err(e) => e,
        other => panic!("{s:?} should fail: {other:?}"),
    }
}

/// Decodes a text packet followed by binary messages.
fn dec_bin(s: &str, bins: &[&[u8]]) -> Packet {
    let mut d = parser().decoder();
    assert_eq!(d.decode_text(s).unwrap(), None, "{s:?}");
    let (last, init) = bins.split_last().unwrap();
    for b in init {
        assert_eq!(d.decode_binary(Bytes::copy_from_slice(b)).unwrap(), None);
    }
    let p = d
        .decode_binary(Bytes::copy_from_slice(last))
        .unwrap()
        .unwrap();
    assert_eq!(d.pending_attachments(), 0);
    p
}

fn arr(v: Value) -> Payload {
    match v {
        Value::Array(items) => Payload::new(items),
        other => panic!("not an array: {other}"),
    }
}

fn bin_payload(v: Value, atts: &[&[u8]]) -> Payload {
    let mut p = arr(v);
    p.attachments = atts.iter().map(|b| Bytes::copy_from_slice(b)).collect();
    p
}

/// Asserts `packet` encodes to `text` (+ `atts`) and `text` (+ `atts`)
/// decodes back to `packet`.
fn both_ways(packet: Packet, text: &str, atts: &[&[u8]]) {
    let e = parser().encode(&packet);
    assert_eq!(e.text, text);
    let want: Vec<Bytes> = atts.iter().map(|b| Bytes::copy_from_slice(b)).collect();
    assert_eq!(e.attachments, want);
    let back = if atts.is_empty() {
        dec(text)
    } else {
        dec_bin(text, atts)
    };
    assert_eq!(back, packet, "{text}");
}

// ----------------------------------------------------------------------------
// Spec examples (socket.io-protocol v5, "Packet encoding" and the sample session)
// ----------------------------------------------------------------------------

#[test]
fn spec_connect_examples() {
    both_ways(Packet::connect("/", None), "0", &[]);
    both_ways(
        Packet::connect("/admin", Some(json!({"sid": "oSO0OpakMV_3jnilAAAA"}))),
        r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        &[],
    );
    both_ways(
        Packet::connect_error("/", json!({"message": "Not authorized"})),
        r#"4{"message":"Not authorized"}"#,
        &[],
    );
}

#[test]
fn spec_event_examples() {
    both_ways(
        Packet::event("/", arr(json!(["foo"])), None),
        r#"2["foo"]"#,
        &[],
    );
    both_ways(
        Packet::event("/admin", arr(json!(["bar"])), None),
        r#"2/admin,["bar"]"#,
        &[],
    );
    both_ways(
        Packet::event(
            "/",
            bin_payload(json!(["baz", placeholder(0)]), &[&[1, 2, 3, 4]]),
            None,
        ),
        r#"51-["baz",{"_placeholder":true,"num":0}]"#,
        &[&[1, 2, 3, 4]],
    );
    both_ways(
        Packet::event(
            "/admin",
            bin_payload(
                json!(["baz", placeholder(0), placeholder(1)]),
                &[&[1, 2], &[3, 4]],
            ),
            None,
        ),
        r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        &[&[1, 2], &[3, 4]],
    );
}

#[test]
fn spec_ack_examples() {
    both_ways(
        Packet::event("/", arr(json!(["foo"])), Some(12)),
        r#"212["foo"]"#,
        &[],
    );
    both_ways(Packet::ack("/", arr(json!([])), 12), "312[]", &[]);
    both_ways(
        Packet::ack("/admin", arr(json!(["bar"])), 13),
        r#"3/admin,13["bar"]"#,
        &[],
    );
    both_ways(
        Packet::ack(
            "/",
            bin_payload(json!(["bar", placeholder(0)]), &[&[1, 2, 3, 4]]),
            15,
        ),
        r#"61-15["bar",{"_placeholder":true,"num":0}]"#,
        &[&[1, 2, 3, 4]],
    );
}

#[test]
fn spec_disconnect_examples() {
    both_ways(Packet::disconnect("/"), "1", &[]);
    both_ways(Packet::disconnect("/admin"), "1/admin,", &[]);
}

#[test]
fn spec_sample_session() {
    assert_eq!(dec("0"), Packet::connect("/", None));
    assert_eq!(
        enc(&Packet::connect(
            "/",
            Some(json!({"sid": "wZX3oN0bSVIhsaknAAAI"}))
        )),
        r#"0{"sid":"wZX3oN0bSVIhsaknAAAI"}"#
    );
    let p = event_payload("hey", &"Jude").unwrap();
    assert_eq!(enc(&Packet::event("/", p, None)), r#"2["hey","Jude"]"#);
    assert_eq!(dec(r#"2["hello"]"#).event_name(), Some("hello"));
    assert_eq!(dec("0/admin,"), Packet::connect("/admin", None));
    assert_eq!(
        dec(r#"2/admin,1["tellme"]"#),
        Packet::event("/admin", arr(json!(["tellme"])), Some(1))
    );
    both_ways(
        Packet::ack("/admin", bin_payload(json!([placeholder(0)]), &[b"x"]), 1),
        r#"61-/admin,1[{"_placeholder":true,"num":0}]"#,
        &[b"x"],
    );
}

// ----------------------------------------------------------------------------
// wire-formats.md §2.2–2.5 observed examples
// ----------------------------------------------------------------------------

#[test]
fn observed_namespace_connection() {
    assert_eq!(
        dec(r#"0{"token":"abc"}"#),
        Packet::connect("/", Some(json!({"token": "abc"})))
    );
    assert_eq!(
        dec(r#"0/admin,{"token":"abc"}"#),
        Packet::connect("/admin", Some(json!({"token": "abc"})))
    );
    both_ways(
        Packet::connect("/", Some(json!({"sid": "v6hteFxKuwpyoZohAAAA"}))),
        r#"0{"sid":"v6hteFxKuwpyoZohAAAA"}"#,
        &[],
    );
    // key order is preserved (serde_json "preserve_order")
    both_ways(
        Packet::connect(
            "/",
            Some(json!({"sid": "N0zCbyRcRIXvP_j2AAAA", "pid": "JbmuR3jLAdCEEnx9AAAB"})),
        ),
        r#"0{"sid":"N0zCbyRcRIXvP_j2AAAA","pid":"JbmuR3jLAdCEEnx9AAAB"}"#,
        &[],
    );
    both_ways(
        Packet::connect_error("/nope", json!({"message": "Invalid namespace"})),
        r#"4/nope,{"message":"Invalid namespace"}"#,
        &[],
    );
    both_ways(
        Packet::connect_error(
            "/private",
            json!({"message": "not authorized", "data": {"content": "retry later"}}),
        ),
        r#"4/private,{"message":"not authorized","data":{"content":"retry later"}}"#,
        &[],
    );
    // v4-style string payload is a valid CONNECT_ERROR too
    both_ways(
        Packet::connect_error("/private2", json!("nope2")),
        r#"4/private2,"nope2""#,
        &[],
    );
}

#[test]
fn observed_events_and_acks() {
    both_ways(
        Packet::event("/", arr(json!(["text", "é€😀"])), None),
        r#"2["text","é€😀"]"#,
        &[],
    );
    both_ways(
        Packet::event("/admin", arr(json!(["hi", 1])), None),
        r#"2/admin,["hi",1]"#,
        &[],
    );
    both_ways(
        Packet::event("/", arr(json!(["hello", "x"])), Some(1)),
        r#"21["hello","x"]"#,
        &[],
    );
    both_ways(Packet::ack("/", arr(json!(["y"])), 1), r#"31["y"]"#, &[]);
    both_ways(
        Packet::event("/", arr(json!(["withack"])), Some(0)),
        r#"20["withack"]"#,
        &[],
    );
    both_ways(
        Packet::ack(
            "/",
            bin_payload(json!(["ack-value", placeholder(0)]), &[&[1, 2, 3]]),
            1,
        ),
        r#"61-1["ack-value",{"_placeholder":true,"num":0}]"#,
        &[&[1, 2, 3]],
    );
    both_ways(
        Packet::event(
            "/",
            bin_payload(
                json!(["bin", placeholder(0), {"nested": placeholder(1)}]),
                &[b"a", b"b"],
            ),
            None,
        ),
        r#"52-["bin",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]"#,
        &[b"a", b"b"],
    );
    // CSR offsets are just a last argument
    both_ways(
        Packet::event("/", arr(json!(["ev", 1, "Q8ZhLYm"])), None),
        r#"2["ev",1,"Q8ZhLYm"]"#,
        &[],
    );
}

#[test]
fn brief_examples() {
    assert_eq!(
        enc(&Packet::connect("/", Some(json!({"sid": "x"})))),
        r#"0{"sid":"x"}"#
    );
    assert_eq!(
        enc(&Packet::connect("/admin", Some(json!({"sid": "x"})))),
        r#"0/admin,{"sid":"x"}"#
    );
    assert_eq!(
        enc(&Packet::event("/", arr(json!(["a", 1])), None)),
        r#"2["a",1]"#
    );
    assert_eq!(
        enc(&Packet::event("/", arr(json!(["a"])), Some(1))),
        r#"21["a"]"#
    );
    let bin = bin_payload(json!(["bin", placeholder(0)]), &[b"z"]);
    assert_eq!(
        enc(&Packet::event("/", bin, Some(1))),
        r#"51-1["bin",{"_placeholder":true,"num":0}]"#
    );
    let bin = bin_payload(json!([placeholder(0), placeholder(1)]), &[b"1", b"2"]);
    assert_eq!(
        enc(&Packet::ack("/admin", bin, 7)),
        r#"62-/admin,7[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    // an empty namespace is treated as the main one, like the reference
    assert_eq!(enc(&Packet::disconnect("")), "1");
}

// ----------------------------------------------------------------------------
// Decoder details
// ----------------------------------------------------------------------------

#[test]
fn namespace_without_comma_runs_to_end() {
    assert_eq!(dec("0/admin"), Packet::connect("/admin", None));
    assert_eq!(dec("1/admin"), Packet::disconnect("/admin"));
    // a namespace is read only if the next character is '/'
    assert_eq!(
        dec(r#"2["/x,"]"#),
        Packet::event("/", arr(json!(["/x,"])), None)
    );
    // the namespace may contain anything but ','
    assert_eq!(
        dec(r#"2/é?x=1,["a"]"#),
        Packet::event("/é?x=1", arr(json!(["a"])), None)
    );
}

#[test]
fn numeric_event_name_and_leading_zero_ids() {
    let p = dec("2[42,\"x\"]");
    assert_eq!(p.event_name(), None);
    assert_eq!(p.event_name_value(), Some(&json!(42)));
    assert_eq!(p.args(), &[json!("x")]);
    assert_eq!(dec(r#"2007["a"]"#).ack_id(), Some(7));
    assert_eq!(dec(r#"29007199254740991["a"]"#).ack_id(), Some(MAX_ACK_ID));
}

#[test]
fn whitespace_around_json_is_accepted_like_json_parse() {
    assert_eq!(
        dec("2[\"a\"] \n"),
        Packet::event("/", arr(json!(["a"])), None)
    );
}

#[test]
fn ids_on_other_types_are_ignored_like_the_reference() {
    assert_eq!(
        dec(r#"01{"a":1}"#),
        Packet::connect("/", Some(json!({"a": 1})))
    );
    assert_eq!(dec("1/a,12"), Packet::disconnect("/a"));
}

#[test]
fn attachments_with_leading_zeros_and_limit() {
    let p = dec_bin(r#"501-["a",{"_placeholder":true,"num":0}]"#, &[b"x"]);
    assert_eq!(p.attachments(), &[Bytes::from_static(b"x")]);
    // exactly the limit
    let placeholders: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
        .collect();
    let text = format!(r#"510-["a",{}]"#, placeholders.join(","));
    let bins: Vec<&[u8]> = vec![b"0"; 10];
    assert_eq!(dec_bin(&text, &bins).attachments().len(), 10);
    // configurable
    let mut d = JsonParser::new().with_max_attachments(2).decoder();
    assert!(matches!(
        d.decode_text(r#"53-["a"]"#),
        Err(ParseError::TooManyAttachments { count: 3, max: 2 })
    ));
}

#[test]
fn placeholders_may_be_unused_or_repeated_or_float() {
    // unused attachments and repeated placeholders are accepted (reference too)
    let p = dec_bin(
        r#"52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]"#,
        &[b"x", b"y"],
    );
    assert_eq!(p.attachments().len(), 2);
    // 0.0 is the same JS number as 0
    dec_bin(r#"51-["a",{"_placeholder":true,"num":0.0}]"#, &[b"x"]);
    // `_placeholder` other than `true` is an ordinary object
    dec_bin(r#"51-["a",{"_placeholder":1,"num":9}]"#, &[b"x"]);
}

#[test]
fn placeholder_in_non_binary_packet_is_plain_data() {
    let p = dec(r#"2["a",{"_placeholder":true,"num":0}]"#);
    assert!(p.attachments().is_empty());
    let v: Value = from_args(p.args(), p.attachments()).unwrap();
    assert_eq!(v, placeholder(0));
}

#[test]
fn decoder_sequence_of_packets() {
    let mut d = parser().decoder();
    assert!(d.decode_text(r#"2["a"]"#).unwrap().is_some());
    assert_eq!(
        d.decode_text(r#"52-["b",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#)
            .unwrap(),
        None
    );
    assert_eq!(d.pending_attachments(), 2);
    assert_eq!(d.decode_binary(Bytes::from_static(b"0")).unwrap(), None);
    assert_eq!(d.pending_attachments(), 1);
    let p = d.decode_binary(Bytes::from_static(b"1")).unwrap().unwrap();
    assert_eq!(p.event_name(), Some("b"));
    let (x, y): (Bytes, Bytes) = from_args(p.args(), p.attachments()).unwrap();
    assert_eq!((&x[..], &y[..]), (&b"1"[..], &b"0"[..]));
    assert!(d.decode_text("1").unwrap().is_some());
}

// ----------------------------------------------------------------------------
// Every error
// ----------------------------------------------------------------------------

#[test]
fn error_empty_and_unknown_type() {
    assert!(matches!(dec_err(""), ParseError::Empty));
    assert!(matches!(dec_err("7"), ParseError::UnknownPacketType('7')));
    assert!(matches!(dec_err("a"), ParseError::UnknownPacketType('a')));
    assert!(matches!(dec_err("é"), ParseError::UnknownPacketType('é')));
    // an Engine.IO prefix left in: CONNECT_ERROR with id 2 and an array
    assert!(matches!(
        dec_err("42[\"a\"]"),
        ParseError::InvalidConnectErrorPayload
    ));
}

#[test]
fn error_attachment_count() {
    for s in [
        r#"5["a"]"#,
        r#"5-["a"]"#,
        r#"50-["a"]"#,
        r#"5x-["a"]"#,
        r#"51x-["a"]"#,
        r#"5 1-["a"]"#,
        "5",
        "51",
        r#"6/a,1-[]"#,
    ] {
        assert!(
            matches!(dec_err(s), ParseError::InvalidAttachmentCount),
            "{s}"
        );
    }
    assert!(matches!(
        dec_err(r#"511-["a"]"#),
        ParseError::TooManyAttachments { count: 11, max: 10 }
    ));
    assert!(matches!(
        dec_err(r#"599999999999999999999999999-["a"]"#),
        ParseError::TooManyAttachments { .. }
    ));
}

#[test]
fn error_ack_id_overflow() {
    assert!(matches!(
        dec_err(r#"29007199254740992["a"]"#),
        ParseError::AckIdOverflow
    ));
    assert!(matches!(
        dec_err(r#"3184467440737095516160[]"#),
        ParseError::AckIdOverflow
    ));
}

#[test]
fn error_invalid_json_and_trailing_garbage() {
    for s in [
        r#"2["a"]x"#,
        r#"2["a"]]"#,
        r#"2["a""#,
        "0{",
        r#"0{"a":1}{}"#,
        "1 ",
        r#"2/a,["a"]x"#,
        "2[\"a\"]\u{0}",
        "4undefined",
    ] {
        assert!(matches!(dec_err(s), ParseError::InvalidJson(_)), "{s}");
    }
}

#[test]
fn error_payload_rules() {
    for s in ["0[]", r#"0"x""#, "0null", "01", "0/a,1"] {
        let r = parser().decoder().decode_text(s);
        // "01" / "0/a,1" are CONNECT with an ignored id: valid
        if s == "01" || s == "0/a,1" {
            assert!(r.is_ok(), "{s}");
        } else {
            assert!(
                matches!(r, Err(ParseError::InvalidConnectPayload)),
                "{s}: {r:?}"
            );
        }
    }
    for s in ["1{}", "1[]", "1/a,null", "1\"\""] {
        assert!(
            matches!(dec_err(s), ParseError::UnexpectedDisconnectPayload),
            "{s}"
        );
    }
    for s in [
        "2[]",
        "2{}",
        "2\"a\"",
        "2[null]",
        "2[true]",
        "2[[\"a\"]]",
        "2[{}]",
        "21[]",
    ] {
        assert!(matches!(dec_err(s), ParseError::InvalidEventPayload), "{s}");
    }
    for name in RESERVED_EVENTS {
        let s = format!(r#"2["{name}"]"#);
        assert!(
            matches!(dec_err(&s), ParseError::ReservedEventName(n) if n == name),
            "{s}"
        );
        let s = format!(r#"51-["{name}",{{"_placeholder":true,"num":0}}]"#);
        assert!(
            matches!(dec_err(&s), ParseError::ReservedEventName(_)),
            "{s}"
        );
    }
    // a reserved name is fine as a later argument, or in another case
    dec(r#"2["a","connect"]"#);
    dec(r#"2["Connect"]"#);
    for s in ["31{}", "31\"a\"", "3/a,1true", "31null"] {
        assert!(matches!(dec_err(s), ParseError::InvalidAckPayload), "{s}");
    }
    assert!(matches!(dec_err("3[]"), ParseError::MissingAckId));
    assert!(matches!(dec_err("3/a,[]"), ParseError::MissingAckId));
    for s in ["4[]", "4/a,-1.5", "4null", "4true"] {
        assert!(
            matches!(dec_err(s), ParseError::InvalidConnectErrorPayload),
            "{s}"
        );
    }
    for (s, t) in [
        ("2", 2),
        ("21", 2),
        ("2/a,", 2),
        ("3", 3),
        ("31", 3),
        ("4", 4),
        ("4/a,", 4),
        ("51-", 5),
        ("61-1", 6),
    ] {
        assert!(
            matches!(dec_err(s), ParseError::MissingPayload { packet_type } if packet_type == t),
            "{s}"
        );
    }
}

#[test]
fn error_placeholders() {
    for s in [
        r#"51-["a",{"_placeholder":true,"num":1}]"#,
        r#"51-["a",{"_placeholder":true,"num":-1}]"#,
        r#"51-["a",{"_placeholder":true,"num":0.5}]"#,
        r#"51-["a",{"_placeholder":true,"num":"0"}]"#,
        r#"51-["a",{"_placeholder":true}]"#,
        r#"51-["a",{"deep":[{"_placeholder":true,"num":3}]}]"#,
        r#"61-1[{"_placeholder":true,"num":1e300}]"#,
    ] {
        assert!(matches!(dec_err(s), ParseError::InvalidPlaceholder), "{s}");
    }
}

#[test]
fn error_text_while_pending_and_binary_while_idle() {
    let mut d = parser().decoder();
    assert!(matches!(
        d.decode_binary(Bytes::from_static(b"x")),
        Err(ParseError::UnexpectedBinary)
    ));
    assert_eq!(d.decode_text(r#"52-["a"]"#).unwrap(), None);
    assert_eq!(d.decode_binary(Bytes::from_static(b"x")).unwrap(), None);
    assert!(matches!(
        d.decode_text(r#"2["b"]"#),
        Err(ParseError::UnexpectedText { pending: 1 })
    ));
    // the decoder was reset
    assert_eq!(d.pending_attachments(), 0);
    assert!(matches!(
        d.decode_binary(Bytes::from_static(b"x")),
        Err(ParseError::UnexpectedBinary)
    ));
    assert!(d.decode_text(r#"2["b"]"#).unwrap().is_some());
    // reset() drops a pending packet
    assert_eq!(d.decode_text(r#"51-["a"]"#).unwrap(), None);
    d.reset();
    assert!(d.decode_text(r#"2["b"]"#).unwrap().is_some());
}

#[test]
fn error_display_is_informative() {
    assert_eq!(
        dec_err(r#"511-["a"]"#).to_string(),
        "too many attachments (11 > 10)"
    );
    let e = dec_err("2x");
    assert!(std::error::Error::source(&e).is_some());
}

// ----------------------------------------------------------------------------
// Encoder details
// ----------------------------------------------------------------------------

#[test]
fn encode_json_like_json_stringify() {
    // compact, key order kept, non-ASCII not escaped, control chars escaped
    let data = json!(["ev", {"z": 1, "a": [1.5, null, true], "s": "a\"b\\c\n\u{1}é"}]);
    assert_eq!(
        enc(&Packet::event("/", arr(data), None)),
        r#"2["ev",{"z":1,"a":[1.5,null,true],"s":"a\"b\\c\n\u0001é"}]"#
    );
    // large ack ids
    assert_eq!(
        enc(&Packet::ack("/", Payload::default(), u64::MAX)),
        "318446744073709551615[]"
    );
}

#[test]
fn encode_capacity_hint_is_close() {
    let data = json!(["ev", {"k": "v".repeat(100), "n": [1, 2, 3]}]);
    let e = enc(&Packet::event("/admin", arr(data), Some(1234)));
    assert!(e.capacity() >= e.len());
    assert!(
        e.capacity() < e.len() * 2,
        "{} vs {}",
        e.capacity(),
        e.len()
    );
}

// ----------------------------------------------------------------------------
// Serde bridges
// ----------------------------------------------------------------------------

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct File {
    name: String,
    data: Bytes,
    meta: Meta,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Meta {
    thumb: Option<Bytes>,
    #[serde(with = "serde_bytes")]
    raw: Vec<u8>,
    tags: Vec<String>,
}

fn file() -> File {
    File {
        name: "a.bin".into(),
        data: Bytes::from_static(&[1, 2, 3]),
        meta: Meta {
            thumb: Some(Bytes::from_static(&[9])),
            raw: vec![7, 7],
            tags: vec!["x".into()],
        },
    }
}

#[test]
fn serde_nested_struct_with_bytes_round_trip() {
    let payload = event_payload("upload", &file()).unwrap();
    assert_eq!(
        payload.value,
        json!(["upload", {
            "name": "a.bin",
            "data": placeholder(0),
            "meta": {"thumb": placeholder(1), "raw": placeholder(2), "tags": ["x"]}
        }])
    );
    assert_eq!(
        payload.attachments,
        vec![
            Bytes::from_static(&[1, 2, 3]),
            Bytes::from_static(&[9]),
            Bytes::from_static(&[7, 7])
        ]
    );
    let e = parser().encode(&Packet::event("/", payload, Some(3)));
    assert_eq!(
        e.text,
        r#"53-3["upload",{"name":"a.bin","data":{"_placeholder":true,"num":0},"meta":{"thumb":{"_placeholder":true,"num":1},"raw":{"_placeholder":true,"num":2},"tags":["x"]}}]"#
    );
    let atts: Vec<&[u8]> = e.attachments.iter().map(|b| &b[..]).collect();
    let p = dec_bin(&e.text, &atts);
    let back: File = from_args(p.args(), p.attachments()).unwrap();
    assert_eq!(back, file());
    // owned variant
    let PacketKind::Event { data, .. } = p.kind else {
        panic!()
    };
    let Value::Array(mut items) = data.value else {
        panic!()
    };
    let back: File = from_payload(items.remove(1), &data.attachments).unwrap();
    assert_eq!(back, file());
}

#[test]
fn serde_tuples_spread_into_arguments() {
    let p = event_payload("ev", &("a", 1, true)).unwrap();
    assert_eq!(p.value, json!(["ev", "a", 1, true]));
    let p = event_payload("ev", &(vec![1, 2],)).unwrap();
    assert_eq!(p.value, json!(["ev", [1, 2]]));
    let p = event_payload("ev", &[1, 2]).unwrap();
    assert_eq!(p.value, json!(["ev", 1, 2]), "fixed-size arrays are tuples");
    #[derive(Serialize)]
    struct Pair(u8, &'static str);
    let p = event_payload("ev", &Pair(1, "b")).unwrap();
    assert_eq!(p.value, json!(["ev", 1, "b"]));
    let p = to_payload(&("x", Bytes::from_static(b"z"))).unwrap();
    assert_eq!(p.value, json!(["x", placeholder(0)]));
    assert_eq!(p.attachments, vec![Bytes::from_static(b"z")]);
}

#[test]
fn serde_single_values_are_one_argument() {
    assert_eq!(event_payload("ev", &"s").unwrap().value, json!(["ev", "s"]));
    assert_eq!(
        event_payload("ev", &vec![1, 2]).unwrap().value,
        json!(["ev", [1, 2]])
    );
    assert_eq!(
        event_payload("ev", &json!({"a": 1})).unwrap().value,
        json!(["ev", {"a": 1}])
    );
    assert_eq!(
        event_payload("ev", &None::<u8>).unwrap().value,
        json!(["ev", null])
    );
    assert_eq!(
        event_payload("ev", &Some((1, 2))).unwrap().value,
        json!(["ev", [1, 2]])
    );
    let b = event_payload("ev", &Bytes::from_static(b"q")).unwrap();
    assert_eq!(b.value, json!(["ev", placeholder(0)]));
    assert_eq!(b.attachments.len(), 1);
    // unit = no arguments
    assert_eq!(event_payload("ev", &()).unwrap().value, json!(["ev"]));
    assert_eq!(to_payload(&()).unwrap().value, json!([]));
    // plain Vec<u8> is an array of numbers, not binary
    let p = to_payload(&(vec![1u8, 2],)).unwrap();
    assert_eq!(p.value, json!([[1, 2]]));
    assert!(p.attachments.is_empty());
}

#[test]
fn serde_enums_maps_and_keys() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum E {
        Unit,
        New(Bytes),
        Tup(u8, Bytes),
        Struct { b: Bytes },
    }
    let values = vec![
        E::Unit,
        E::New(Bytes::from_static(b"1")),
        E::Tup(3, Bytes::from_static(b"2")),
        E::Struct {
            b: Bytes::from_static(b"3"),
        },
    ];
    let p = to_payload(&(&values,)).unwrap();
    assert_eq!(
        p.value,
        json!([["Unit", {"New": placeholder(0)}, {"Tup": [3, placeholder(1)]}, {"Struct": {"b": placeholder(2)}}]])
    );
    let (back,): (Vec<E>,) = from_args(p.items(), &p.attachments).unwrap();
    assert_eq!(back, values);

    let mut m = std::collections::BTreeMap::new();
    m.insert(1u32, Bytes::from_static(b"a"));
    m.insert(2u32, Bytes::from_static(b"b"));
    let p = to_payload(&m).unwrap();
    assert_eq!(p.value, json!([{"1": placeholder(0), "2": placeholder(1)}]));
    let back: std::collections::BTreeMap<u32, Bytes> =
        from_args(p.items(), &p.attachments).unwrap();
    assert_eq!(back, m);
}

#[test]
fn serde_from_args_rules() {
    let args = [json!("a"), json!(2), json!([1, 2])];
    let s: String = from_args(&args, &[]).unwrap();
    assert_eq!(s, "a");
    let (a, b): (String, u8) = from_args(&args, &[]).unwrap();
    assert_eq!((a.as_str(), b), ("a", 2)); // extra args ignored
    let (_, _, c, d): (String, u8, Vec<u8>, Option<u8>) = from_args(&args, &[]).unwrap();
    assert_eq!((c, d), (vec![1, 2], None)); // missing args read as null
    assert!(from_args::<(String, u8, Vec<u8>, u8)>(&args, &[]).is_err());
    from_args::<()>(&args, &[]).unwrap();
    from_args::<()>(&[], &[]).unwrap();
    let none: Option<String> = from_args(&[], &[]).unwrap();
    assert_eq!(none, None);
    assert!(from_args::<String>(&[], &[]).is_err());
    let borrowed: &str = from_args(&args, &[]).unwrap();
    assert_eq!(borrowed, "a");
    let all: Value = from_args(&args, &[]).unwrap();
    assert_eq!(all, json!("a"));
    // Vec<T> is one argument, not variadic
    assert!(from_args::<Vec<Value>>(&args, &[]).is_err());
    let v: Vec<u8> = from_args(&args[2..], &[]).unwrap();
    assert_eq!(v, vec![1, 2]);
}

#[test]
fn serde_binary_targets() {
    let atts = [Bytes::from_static(&[5, 6])];
    let args = [placeholder(0)];
    let b: Bytes = from_args(&args, &atts).unwrap();
    assert_eq!(&b[..], &[5, 6]);
    let b: serde_bytes::ByteBuf = from_args(&args, &atts).unwrap();
    assert_eq!(b.as_slice(), &[5, 6]);
    let b: &[u8] = from_args(&args, &atts).unwrap();
    assert_eq!(b, &[5, 6]);
    let b: Vec<u8> = from_args(&args, &atts).unwrap();
    assert_eq!(b, vec![5, 6]);
    let b: [u8; 2] = from_value(&args[0], &atts).unwrap();
    assert_eq!(b, [5, 6]);
    assert!(from_value::<[u8; 3]>(&args[0], &atts).is_err());
    #[derive(Deserialize)]
    struct W {
        #[serde(with = "serde_bytes")]
        v: Vec<u8>,
    }
    let w: W = from_value(&json!({"v": placeholder(0)}), &atts).unwrap();
    assert_eq!(w.v, vec![5, 6]);
    // a placeholder is not a string
    assert!(from_args::<String>(&args, &atts).is_err());
    // out of range: an ordinary object
    let m: std::collections::HashMap<String, Value> = from_value(&placeholder(3), &atts).unwrap();
    assert_eq!(m.len(), 2);
    // untagged enums see bytes too
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(untagged)]
    enum U {
        N(u32),
        B(Bytes),
    }
    let u: Vec<U> = from_value(&json!([1, placeholder(0)]), &atts).unwrap();
    assert_eq!(u, vec![U::N(1), U::B(Bytes::from_static(&[5, 6]))]);
}

#[test]
fn serde_behaves_like_serde_json_without_binary() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct S {
        a: u8,
        #[serde(default)]
        b: Option<String>,
        c: (i32, f64),
        #[serde(flatten)]
        rest: std::collections::BTreeMap<String, Value>,
    }
    let v = json!({"a": 1, "c": [-1, 2.5], "x": [1], "y": {"z": null}});
    let direct: S = serde_json::from_value(v.clone()).unwrap();
    // force the placeholder-aware path with a dummy attachment
    let atts = [Bytes::new()];
    let ours: S = from_value(&v, &atts).unwrap();
    assert_eq!(direct, ours);
    // struct from array, like serde_json
    #[derive(Debug, PartialEq, Deserialize)]
    struct P {
        x: u8,
        y: u8,
    }
    let p: P = from_value(&json!([1, 2]), &atts).unwrap();
    assert_eq!(p, P { x: 1, y: 2 });
    assert!(from_value::<(u8,)>(&json!([1, 2]), &atts).is_err());
    assert!(from_value::<u8>(&json!(300), &atts).is_err());
    let k: std::collections::HashMap<bool, u8> = from_value(&json!({"true": 1}), &atts).unwrap();
    assert_eq!(k[&true], 1);
}

#[test]
fn serde_map_key_errors_and_non_finite_floats() {
    let mut m = std::collections::HashMap::new();
    m.insert((1, 2), 3);
    assert!(to_payload(&m).is_err());
    assert_eq!(
        to_payload(&(f64::NAN, f64::INFINITY)).unwrap().value,
        json!([null, null])
    );
}

#[test]
fn to_value_continues_numbering() {
    let mut atts = vec![Bytes::from_static(b"0")];
    let v = to_value(&(Bytes::from_static(b"1"),), &mut atts).unwrap();
    assert_eq!(v, json!([placeholder(1)]));
    assert_eq!(atts.len(), 2);
}

#[test]
fn traits_are_object_safe_enough_and_send() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<JsonParser>();
    assert_send_sync::<JsonDecoder>();
    assert_send_sync::<Packet>();
    assert_send_sync::<Encoded>();
    assert_send_sync::<ParseError>();
    let _: Box<dyn Decoder> = Box::new(parser().decoder());
}

// ----------------------------------------------------------------------------
// Properties
// ----------------------------------------------------------------------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![0.5, -1.25, 1e-7, 3.0e20]).prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{0,5}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_nsp() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[^,]{0,8}"]
}

fn arb_event_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{0,10}"
            .prop_filter("reserved", |s| !is_reserved_event(s))
            .prop_map(Value::String),
        any::<u32>().prop_map(Value::from),
    ]
}

fn arb_args() -> impl Strategy<Value = (Vec<Value>, Vec<Bytes>)> {
    (
        prop::collection::vec(arb_json(), 0..4),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 0..4),
    )
        .prop_map(|(mut args, bins)| {
            args.extend((0..bins.len()).map(placeholder));
            (args, bins.into_iter().map(Bytes::from).collect())
        })
}

fn arb_object() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[a-z]{0,5}", arb_json()), 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    let id = 0..=MAX_ACK_ID;
    prop_oneof![
        (arb_nsp(), prop::option::of(arb_object())).prop_map(|(n, d)| Packet::connect(n, d)),
        arb_nsp().prop_map(Packet::disconnect),
        (
            arb_nsp(),
            arb_event_name(),
            arb_args(),
            prop::option::of(id.clone())
        )
            .prop_map(|(n, name, (mut args, bins), id)| {
                args.insert(0, name);
                Packet::event(n, Payload::with_attachments(args, bins), id)
            }),
        (arb_nsp(), arb_args(), id).prop_map(|(n, (args, bins), id)| {
            Packet::ack(n, Payload::with_attachments(args, bins), id)
        }),
        (
            arb_nsp(),
            prop_oneof![".{0,10}".prop_map(Value::String), arb_object()]
        )
            .prop_map(|(n, d)| Packet::connect_error(n, d)),
    ]
}

fn decode_all(text: &str, atts: &[Bytes]) -> Result<Option<Packet>, ParseError> {
    let mut d = parser().decoder();
    let mut out = d.decode_text(text)?;
    for a in atts {
        assert!(out.is_none());
        out = d.decode_binary(a.clone())?;
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_encode_decode_round_trip(packet in arb_packet()) {
        let e = parser().encode(&packet);
        let back = decode_all(&e.text, &e.attachments).unwrap().unwrap();
        prop_assert_eq!(back, packet);
    }

    #[test]
    fn prop_decoder_never_panics_on_strings(s in ".{0,40}") {
        let _ = parser().decoder().decode_text(&s);
    }

    #[test]
    fn prop_decoder_never_panics_on_grammar_like_input(
        ty in "[0-9]",
        att in "([0-9]{0,3}-)?",
        nsp in "(/[a-z,é]{0,4},?)?",
        id in "[0-9]{0,22}",
        body in prop_oneof![Just(String::new()), arb_json().prop_map(|v| v.to_string()), ".{0,10}"],
    ) {
        let s = format!("{ty}{att}{nsp}{id}{body}");
        let mut d = parser().decoder();
        if let Ok(None) = d.decode_text(&s) {
            for _ in 0..12 {
                let _ = d.decode_binary(Bytes::from_static(b"x"));
            }
        }
    }

    #[test]
    fn prop_decoder_never_panics_on_message_sequences(
        msgs in prop::collection::vec(
            prop_oneof![
                ".{0,20}".prop_map(Ok),
                r#"[56][0-3]-(/a,)?[0-9]?\["e",\{"_placeholder":true,"num":[0-3]\}\]"#.prop_map(Ok),
                prop::collection::vec(any::<u8>(), 0..8).prop_map(Err),
            ],
            0..12,
        )
    ) {
        let mut d = parser().decoder();
        for m in msgs {
            let _ = match m {
                Ok(text) => d.decode_text(&text),
                Err(bin) => d.decode_binary(Bytes::from(bin)),
            };
        }
    }

    #[test]
    fn prop_decoded_packets_re_encode_identically(
        packet in arb_packet()
    ) {
        // decode(encode(p)) re-encodes to the same bytes
        let e = parser().encode(&packet);
        let back = decode_all(&e.text, &e.attachments).unwrap().unwrap();
        prop_assert_eq!(parser().encode(&back), e);
    }

    #[test]
    fn prop_serde_bytes_round_trip(
        name in "[a-z]{1,8}",
        blobs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..32), 0..5),
        n in any::<i32>(),
    ) {
        let blobs: Vec<Bytes> = blobs.into_iter().map(Bytes::from).collect();
        let payload = event_payload(&name, &(n, &blobs)).unwrap();
        prop_assert_eq!(payload.attachments.len(), blobs.len());
        let e = parser().encode(&Packet::event("/x", payload, None));
        let p = decode_all(&e.text, &e.attachments).unwrap().unwrap();
        prop_assert_eq!(p.event_name(), Some(name.as_str()));
        let (m, back): (i32, Vec<Bytes>) = from_args(p.args(), p.attachments()).unwrap();
        prop_assert_eq!(m, n);
        prop_assert_eq!(back, blobs);
    }
}
