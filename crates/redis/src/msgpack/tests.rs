use super::*;
use proptest::prelude::*;
use serde_json::json;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn enc(v: &Value) -> Vec<u8> {
    encode(v).unwrap()
}

#[test]
fn integers_use_the_smallest_form() {
    let cases: &[(i64, &str)] = &[
        (0, "00"),
        (127, "7f"),
        (128, "cc80"),
        (255, "ccff"),
        (256, "cd0100"),
        (65535, "cdffff"),
        (65536, "ce00010000"),
        (4294967295, "ceffffffff"),
        (4294967296, "cf0000000100000000"),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (-128, "d080"),
        (-129, "d1ff7f"),
        (-32768, "d18000"),
        (-32769, "d2ffff7fff"),
        (-2147483648, "d280000000"),
        (-2147483649, "d3ffffffff7fffffff"),
    ];
    for (n, h) in cases {
        assert_eq!(enc(&Value::from(*n)), hex(h), "{n}");
        assert_eq!(enc(&Value::Int(*n)), hex(h), "{n}");
        assert_eq!(decode(&hex(h)).unwrap(), Value::from(*n));
    }
}

#[test]
fn floats_follow_javascript() {
    assert_eq!(enc(&Value::F64(1.5)), hex("cb 3ff8000000000000"));
    assert_eq!(enc(&Value::F64(2.0)), hex("02"));
    assert_eq!(enc(&Value::F64(-0.0)), hex("00"));
    assert_eq!(enc(&Value::F64(-3.0)), hex("fd"));
    assert_eq!(enc(&Value::F64(f64::NAN))[0], 0xcb);
    assert_eq!(enc(&Value::F64(f64::INFINITY)), hex("cb 7ff0000000000000"));
    // float32 is accepted and widened
    assert_eq!(decode(&hex("ca 3fc00000")).unwrap(), Value::F64(1.5));
}

#[test]
fn strings_bins_and_containers_size_classes() {
    for (len, head) in [
        (31, "bf"),
        (32, "d920"),
        (255, "d9ff"),
        (256, "da0100"),
        (65536, "db00010000"),
    ] {
        let v = Value::Str("a".repeat(len));
        let out = enc(&v);
        assert_eq!(out[..head.len() / 2], hex(head)[..], "{len}");
        assert_eq!(decode(&out).unwrap(), v);
    }
    for (len, head) in [(3, "c403"), (256, "c50100"), (65536, "c600010000")] {
        let v = Value::Bin(Bytes::from(vec![7u8; len]));
        let out = enc(&v);
        assert_eq!(out[..head.len() / 2], hex(head)[..]);
        assert_eq!(decode(&out).unwrap(), v);
    }
    let arr = |n: usize| Value::Array((0..n as u64).map(Value::UInt).collect());
    assert_eq!(enc(&arr(15))[0], 0x9f);
    assert_eq!(enc(&arr(16))[..3], hex("dc0010")[..]);
    assert_eq!(enc(&arr(65536))[..5], hex("dd00010000")[..]);
    let map = |n: usize| Value::map((0..n).map(|i| (format!("k{i}"), Value::Nil)));
    assert_eq!(enc(&map(15))[0], 0x8f);
    assert_eq!(enc(&map(16))[..3], hex("de0010")[..]);
    assert_eq!(decode(&enc(&map(16))).unwrap(), map(16));
}

#[test]
fn observed_broadcast_example_from_wire_formats() {
    // wire-formats.md §3.2: io.emit("ev", 1, "two", {three: 3})
    let bytes = hex(
        "93 a6 4e766a677532 83 a4 74797065 02 a4 64617461 94 a2 6576 01 a3 74776f 81 a5 7468726565 03 \
         a3 6e7370 a1 2f 83 a5 726f6f6d73 90 a6 657863657074 90 a5 666c616773 80",
    );
    let v = decode(&bytes).unwrap();
    let expected = Value::Array(vec![
        "Nvjgu2".into(),
        Value::map([
            ("type", Value::UInt(2)),
            (
                "data",
                Value::Array(vec![
                    "ev".into(),
                    Value::UInt(1),
                    "two".into(),
                    Value::map([("three", Value::UInt(3))]),
                ]),
            ),
            ("nsp", "/".into()),
        ]),
        Value::map([
            ("rooms", Value::Array(vec![])),
            ("except", Value::Array(vec![])),
            ("flags", Value::map(Vec::<(String, Value)>::new())),
        ]),
    ]);
    assert_eq!(v, expected);
    assert_eq!(enc(&v), bytes);
}

#[test]
fn observed_binary_float_null_bool_data() {
    // §3.2: data = 95 a3"bin" c4 03 010203 cb 3ff8000000000000 c0 c3
    let bytes = hex("95 a3 62696e c4 03 010203 cb 3ff8000000000000 c0 c3");
    let v = decode(&bytes).unwrap();
    assert_eq!(
        v,
        Value::Array(vec![
            "bin".into(),
            Value::Bin(Bytes::from_static(&[1, 2, 3])),
            Value::F64(1.5),
            Value::Nil,
            Value::Bool(true)
        ])
    );
    assert_eq!(enc(&v), bytes);
}

#[test]
fn extensions_undefined_dates_and_legacy_forms() {
    assert_eq!(decode(&hex("d4 00 00")).unwrap(), Value::Undefined);
    assert_eq!(enc(&Value::Undefined), hex("d4 00 00"));
    // Undefined map values are skipped, as notepack skips undefined properties.
    let m = Value::map([("a", Value::Undefined), ("b", Value::UInt(1))]);
    assert_eq!(enc(&m), hex("81 a1 62 01"));
    // notepack 2 Date(0) in msgpack-parser traffic: d7 00 <int64 ms>
    let d = decode(&hex("d7 00 0000000000000000")).unwrap();
    assert_eq!(d.as_date_millis(), Some(0.0));
    assert_eq!(d.to_json(), json!("1970-01-01T00:00:00.000Z"));
    // notepack 3 Dates
    assert_eq!(enc(&Value::date(0)), hex("d6 ff 00000000"));
    assert_eq!(
        enc(&Value::date(1_700_000_000_123)),
        hex("d7 ff 1d535300 6553f100")
    );
    assert_eq!(
        Value::date(1_700_000_000_123).as_date_millis(),
        Some(1_700_000_000_123.0)
    );
    assert_eq!(
        Value::date(1_700_000_000_123).to_json(),
        json!("2023-11-14T22:13:20.123Z")
    );
    let before_epoch = Value::date(-1);
    assert_eq!(enc(&before_epoch)[..3], hex("c7 0c ff")[..]);
    assert_eq!(before_epoch.as_date_millis(), Some(-1.0));
    assert_eq!(before_epoch.to_json(), json!("1969-12-31T23:59:59.999Z"));
    // notepack 2 ArrayBuffer (ext8 type 0) decodes as binary
    assert_eq!(
        decode(&hex("c7 02 00 0102")).unwrap(),
        Value::Bin(Bytes::from_static(&[1, 2]))
    );
    // other extensions are kept
    let e = decode(&hex("d5 05 0102")).unwrap();
    assert_eq!(e, Value::Ext(5, Bytes::from_static(&[1, 2])));
    assert_eq!(enc(&e), hex("d5 05 0102"));
}

#[test]
fn errors_instead_of_panics() {
    assert_eq!(decode(&[]), Err(DecodeError::UnexpectedEnd { offset: 0 }));
    assert_eq!(
        decode(&hex("c1")),
        Err(DecodeError::InvalidByte {
            byte: 0xc1,
            offset: 0
        })
    );
    assert_eq!(
        decode(&hex("01 02")),
        Err(DecodeError::TrailingBytes { count: 1 })
    );
    assert!(matches!(
        decode(&hex("db ffffffff")),
        Err(DecodeError::UnexpectedEnd { .. })
    ));
    // a huge announced array must not allocate
    assert!(matches!(
        decode(&hex("dd ffffffff 01")),
        Err(DecodeError::UnexpectedEnd { .. })
    ));
    let deep = vec![0x91u8; MAX_DEPTH + 1];
    assert!(matches!(decode(&deep), Err(DecodeError::TooDeep { .. })));
    let mut ok = vec![0x91u8; MAX_DEPTH];
    ok.push(0xc0);
    assert!(decode(&ok).is_ok());
    // invalid UTF-8 is replaced, like Buffer.toString("utf8")
    assert_eq!(
        decode(&hex("a2 c328")).unwrap(),
        Value::Str("\u{fffd}(".into())
    );
}

#[test]
fn zero_copy_decoding() {
    let buf = Bytes::from(hex("c4 03 010203"));
    let v = decode_bytes(&buf).unwrap();
    let Value::Bin(b) = v else { panic!() };
    assert_eq!(b.as_ptr(), buf[2..].as_ptr());
}

#[test]
fn json_conversions_like_node() {
    let v = Value::Array(vec![
        Value::Bin(Bytes::from_static(&[1, 2])),
        Value::Undefined,
        Value::F64(f64::NAN),
        Value::F64(3.0),
        Value::map([("u", Value::Undefined), ("k", Value::Int(-1))]),
        Value::Ext(3, Bytes::from_static(&[9])),
    ]);
    assert_eq!(
        v.to_json(),
        json!([{"type":"Buffer","data":[1,2]}, null, null, 3, {"k":-1}, [3, {"type":"Buffer","data":[9]}]])
    );
    let j = json!({"b": 1, "a": [1.5, -2, "x", null, true, 18446744073709551615u64]});
    let v = Value::from(&j);
    // key order is kept
    assert_eq!(enc(&v)[..3], hex("82 a1 62")[..]);
    assert_eq!(v.to_json(), j);
}

#[test]
fn placeholders_round_trip() {
    let v = Value::Array(vec![
        "ev".into(),
        Value::Bin(Bytes::from_static(b"a")),
        Value::map([("x", Value::Bin(Bytes::from_static(b"b")))]),
    ]);
    let (j, atts) = v.to_json_with_attachments();
    assert_eq!(
        j,
        json!(["ev", {"_placeholder": true, "num": 0}, {"x": {"_placeholder": true, "num": 1}}])
    );
    assert_eq!(
        atts,
        vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
    );
    assert_eq!(Value::from_json_with_attachments(&j, &atts).unwrap(), v);
    assert!(Value::from_json_with_attachments(&j, &atts[..1]).is_err());
    let bad = json!([{"_placeholder": true, "num": "0"}]);
    assert!(Value::from_json_with_attachments(&bad, &atts).is_err());
    // `_placeholder` must be exactly true
    let not = json!([{"_placeholder": 1, "num": 0}]);
    assert!(matches!(
        Value::from_json_with_attachments(&not, &atts).unwrap(),
        Value::Array(_)
    ));
}

#[test]
fn iso_dates_far_from_epoch() {
    assert_eq!(iso_date(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
    assert_eq!(
        iso_date(253_402_300_800_000.0),
        "+010000-01-01T00:00:00.000Z"
    );
    assert_eq!(
        iso_date(-62_198_755_200_000.0),
        "-000001-01-01T00:00:00.000Z"
    );
}

/// Values in the canonical form the decoder produces (so equality is structural).
fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        Just(Value::Undefined),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::UInt),
        (i64::MIN..0).prop_map(Value::Int),
        any::<f64>()
            .prop_filter("fractional or non-finite", |f| !f.is_finite()
                || f.fract() != 0.0)
            .prop_map(Value::F64),
        ".{0,40}".prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| Value::Bin(b.into())),
        (1i8..=127, proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(t, d)| Value::Ext(t, d.into())),
    ];
    leaf.prop_recursive(5, 64, 20, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
            proptest::collection::vec((".{0,8}".prop_map(Value::Str), inner), 0..20).prop_map(
                |entries| Value::Map(
                    entries
                        .into_iter()
                        .filter(|(_, v)| !matches!(v, Value::Undefined))
                        .collect()
                )
            ),
        ]
    })
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let _ = decode_bytes(&Bytes::from(bytes));
    }

    #[test]
    fn decode_never_panics_on_mutated_valid_input(v in arb_value(), idx in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = enc(&v);
        if !bytes.is_empty() {
            let i = idx % bytes.len();
            bytes[i] = byte;
            let _ = decode(&bytes);
            bytes.truncate(i);
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn round_trip(v in arb_value()) {
        let bytes = enc(&v);
        let back = decode(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(enc(&back), bytes);
    }

    #[test]
    fn placeholder_round_trip(v in arb_value()) {
        let (j, atts) = v.to_json_with_attachments();
        let back = Value::from_json_with_attachments(&j, &atts).unwrap();
        let (j2, atts2) = back.to_json_with_attachments();
        prop_assert_eq!(j, j2);
        prop_assert_eq!(atts, atts2);
    }
}

/// Found by the `redis_cluster` fuzz target: msgpack accepted nesting (256) that, re-encoded as
/// JSON, serde_json refused (recursion limit 128), so a relayed message could not be read back.
#[test]
fn deepest_accepted_value_reencodes_as_readable_json() {
    let mut deep = vec![0x91u8; MAX_DEPTH - 1];
    // The innermost value is a non-date extension, the deepest JSON form (`[t, {"data": [..]}]`).
    deep.extend_from_slice(&hex("d4 05 01"));
    let v = decode(&deep).expect("within MAX_DEPTH");
    let json = crate::encode_payload(
        &crate::msgpack::Value::Map(vec![("k".into(), v)]),
        crate::Encoding::Json,
    )
    .expect("encodes");
    crate::decode_payload(&json).expect("the JSON reads back");
}
