//! Replays traffic captured from real Node servers (`tests/capture/capture.mjs`): every message
//! must decode to what Node itself decoded, parse into the typed messages, and re-encode to the
//! captured bytes exactly.

use std::collections::HashMap;
use std::path::Path;

use ferrio_redis::classic::{BroadcastMessage, Request, RequestType, Response};
use ferrio_redis::cluster::ClusterMessage;
use ferrio_redis::{decode_payload, emitter, Encoding, Value};
use serde_json::{json, Value as Json};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The capture script's tagged rendering of a Node value.
fn tagged(v: &Value) -> Json {
    match v {
        Value::Nil => Json::Null,
        Value::Undefined => json!({"$undefined": true}),
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::F64(f) if f.is_nan() => json!({"$float": "NaN"}),
        Value::F64(f) if f.is_infinite() => {
            json!({"$float": if *f > 0.0 { "Infinity" } else { "-Infinity" }})
        }
        Value::F64(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
            json!(*f as i64)
        }
        Value::F64(f) => json!(f),
        Value::Str(s) => json!(s),
        Value::Bin(b) => json!({"$bin": hex(b)}),
        Value::Array(a) => Json::Array(a.iter().map(tagged).collect()),
        Value::Map(entries) => {
            let mut o = serde_json::Map::new();
            for (k, v) in entries {
                let key = match k {
                    Value::Str(s) => s.clone(),
                    other => other.to_json().to_string(),
                };
                o.insert(key, tagged(v));
            }
            Json::Object(o)
        }
        Value::Ext(t, d) => match v.as_date_millis() {
            Some(ms) => json!({"$date": ms as i64}),
            None => json!([t, {"$bin": hex(d)}]),
        },
    }
}

/// Fixtures where Node's bytes are not the canonical encoding of what they decode to, so a
/// re-encoding can only be equal in value: notepack writes an integral double of 2^64 or more
/// (here `1e300`) as a wrapped uint64 (`cf 00000000 00000000`, i.e. 0), which we re-encode as
/// `00`.
const NON_CANONICAL: &[&str] = &["broadcast_types.json"];

struct Outcome {
    messages: usize,
    byte_exact: usize,
}

fn check_file(path: &Path) -> Outcome {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let fixture: Json = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut pending: HashMap<String, RequestType> = HashMap::new();
    let mut out = Outcome {
        messages: 0,
        byte_exact: 0,
    };
    for (i, m) in fixture["messages"].as_array().unwrap().iter().enumerate() {
        let ctx = format!("{name} message {i} on {}", m["channel"]);
        let channel = m["channel"].as_str().unwrap();
        let payload = unhex(m["hex"].as_str().unwrap());

        // 1. Generic decoding agrees with Node's decoder.
        let (value, encoding) = decode_payload(&payload).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(
            encoding == Encoding::Json,
            m["encoding"] == "json",
            "{ctx}: encoding"
        );
        assert_eq!(
            tagged(&value),
            m["node"],
            "{ctx}: decoded value differs from Node's"
        );

        // 2. Typed decoding, and 3. byte-exact re-encoding.
        let reencoded = if m["kind"] == "sharded" {
            let msg = ClusterMessage::decode(&payload).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            msg.encode_sharded().unwrap()
        } else if channel.starts_with("socket.io-request#") {
            let req = Request::decode(&payload).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            if let Some(id) = req.request_id() {
                pending.insert(id.to_owned(), req.request_type());
            }
            req.encode().unwrap()
        } else if channel.starts_with("socket.io-response#") {
            let id = Response::peek_request_id(&payload).unwrap().unwrap();
            let ty = *pending
                .get(&id)
                .unwrap_or_else(|| panic!("{ctx}: response to an unknown request"));
            let resp = Response::decode(&payload, ty).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(resp.request_id(), Some(id.as_str()));
            resp.encode().unwrap()
        } else {
            let b = BroadcastMessage::decode(&payload).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            if b.uid == emitter::EMITTER_UID {
                emitter::encode_broadcast(&b).unwrap()
            } else {
                b.encode().unwrap()
            }
        };
        out.messages += 1;
        if reencoded != payload && NON_CANONICAL.contains(&name.as_str()) {
            // Node wrote a non-canonical form; ours must still mean exactly the same.
            let (ours, _) = decode_payload(&reencoded).unwrap();
            assert_eq!(ours, value, "{ctx}: re-encoding changes the value");
            continue;
        }
        assert_eq!(
            hex(&reencoded),
            hex(&payload),
            "{ctx}: re-encoding differs\n ours: {}\n node: {}",
            String::from_utf8_lossy(&reencoded),
            String::from_utf8_lossy(&payload)
        );
        out.byte_exact += 1;
    }
    out
}

#[test]
fn captured_node_traffic_round_trips_byte_for_byte() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "fixtures missing in {}", dir.display());
    let (mut total, mut exact) = (0, 0);
    for f in &files {
        let o = check_file(f);
        assert!(o.messages > 0, "{} captured nothing", f.display());
        let name = f.file_name().unwrap().to_string_lossy();
        if !NON_CANONICAL.contains(&name.as_ref()) {
            assert_eq!(o.byte_exact, o.messages);
        }
        total += o.messages;
        exact += o.byte_exact;
    }
    assert!(total >= 60, "only {total} messages");
    eprintln!("{total} captured messages, {exact} re-encoded byte for byte");
}
