use super::*;
use crate::BroadcastFlags;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `a4"type"` shorthand of wire-formats.md: a fixstr header plus the text.
fn s(text: &str) -> String {
    let mut out = format!("{:02x}", 0xa0 | text.len());
    for b in text.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[test]
fn channels() {
    let c = Channels::new(DEFAULT_KEY, "/admin", "Nvjgu2");
    assert_eq!(c.broadcast(), "socket.io#/admin#");
    assert_eq!(c.broadcast_pattern(), "socket.io#/admin#*");
    assert_eq!(c.room("room1"), "socket.io#/admin#room1#");
    assert_eq!(c.request(), "socket.io-request#/admin#");
    assert_eq!(c.response(), "socket.io-response#/admin#");
    assert_eq!(c.specific_response(), "socket.io-response#/admin#Nvjgu2#");
    assert_eq!(
        c.response_channel_for("abc", true),
        "socket.io-response#/admin#abc#"
    );
    assert_eq!(
        c.response_channel_for("abc", false),
        "socket.io-response#/admin#"
    );
    assert_eq!(
        c.classify("socket.io#/admin#"),
        ChannelKind::Broadcast { room: None }
    );
    assert_eq!(
        c.classify("socket.io#/admin#room1#"),
        ChannelKind::Broadcast {
            room: Some("room1".into())
        }
    );
    assert_eq!(
        c.classify("socket.io-response#/admin#xyz#"),
        ChannelKind::Response
    );
    assert_eq!(
        c.classify("socket.io-request#/admin#"),
        ChannelKind::Request
    );
    assert_eq!(c.classify("socket.io#/#"), ChannelKind::Other);
    let mut opts = BroadcastOptions::all();
    assert_eq!(c.broadcast_channel(&opts), "socket.io#/admin#");
    opts.rooms = vec!["a".into()];
    assert_eq!(c.broadcast_channel(&opts), "socket.io#/admin#a#");
    opts.rooms.push("b".into());
    assert_eq!(c.broadcast_channel(&opts), "socket.io#/admin#");
}

#[test]
fn uids_look_like_uid2() {
    for _ in 0..100 {
        let u = generate_uid();
        assert_eq!(u.len(), 6);
        assert!(u
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}

#[test]
fn broadcast_message_observed_flags() {
    // wire-formats.md §3.2: to(["r1","r2"]).except("r3").volatile.compress(false)
    let mut flags = BroadcastFlags::new();
    flags
        .set("volatile", Value::Bool(true))
        .set("compress", Value::Bool(false));
    let msg = BroadcastMessage {
        uid: "Nvjgu2".into(),
        packet: Packet::event(Value::str_array(["ev", "y"]), Some("/".into())),
        opts: BroadcastOptions {
            rooms: vec!["r1".into(), "r2".into()],
            except: vec!["r3".into()],
            flags: Some(flags),
        },
    };
    let bytes = msg.encode().unwrap();
    let flags_hex = hex(&format!("82 {} c3 {} c2", s("volatile"), s("compress")));
    assert!(bytes.ends_with(&flags_hex));
    let back = BroadcastMessage::decode(&bytes).unwrap();
    assert_eq!(back, msg);
    assert!(back.opts.flags().volatile());
    assert_eq!(back.opts.flags().compress(), Some(false));
    assert_eq!(
        msg.publish(&Channels::new("socket.io", "/", "x"))
            .unwrap()
            .channel,
        "socket.io#/#"
    );
}

#[test]
fn broadcast_without_nsp_defaults_to_root() {
    let v = Value::Array(vec![
        "u".into(),
        Value::map([("type", Value::UInt(2)), ("data", Value::str_array(["ev"]))]),
        Value::map([
            ("rooms", Value::Array(vec![])),
            ("except", Value::Array(vec![])),
        ]),
    ]);
    let msg = BroadcastMessage::decode(&crate::msgpack::encode(&v).unwrap()).unwrap();
    assert_eq!(msg.packet.nsp.as_deref(), Some("/"));
    assert_eq!(msg.opts.flags, None);
}

#[test]
fn broadcast_with_ack_request_observed_bytes() {
    // wire-formats.md §3.3
    let bytes = hex(&format!(
        "85 {} {} {} {} {} 07 {} 83 {} 02 {} 92 {} {} {} {} {} 83 {} 90 {} 90 {} 81 {} cd 01f4",
        s("uid"),
        s("Nvjgu2"),
        s("requestId"),
        s("C3PzZp"),
        s("type"),
        s("packet"),
        s("type"),
        s("data"),
        s("ack-ev"),
        s("ping"),
        s("nsp"),
        s("/"),
        s("opts"),
        s("rooms"),
        s("except"),
        s("flags"),
        s("timeout"),
    ));
    let req = Request::decode(&bytes).unwrap();
    let Request::Broadcast {
        uid,
        request_id,
        packet,
        opts,
    } = &req
    else {
        panic!("{req:?}")
    };
    assert_eq!(uid.as_deref(), Some("Nvjgu2"));
    assert_eq!(request_id, "C3PzZp");
    assert_eq!(packet.data, Value::str_array(["ack-ev", "ping"]));
    assert_eq!(opts.flags().timeout(), Some(500));
    assert_eq!(req.encoding(), Encoding::Msgpack);
    assert_eq!(req.encode().unwrap(), bytes);

    // BROADCAST_ACK: 83 a4"type" 09 a9"requestId" a6"C3PzZp" a6"packet" ab"client-pong"
    let ack = hex(&format!(
        "83 {} 09 {} {} {} {}",
        s("type"),
        s("requestId"),
        s("C3PzZp"),
        s("packet"),
        s("client-pong")
    ));
    let resp = Response::decode(&ack, RequestType::Broadcast).unwrap();
    assert_eq!(
        resp,
        Response::BroadcastAck {
            request_id: "C3PzZp".into(),
            packet: "client-pong".into()
        }
    );
    assert_eq!(resp.encode().unwrap(), ack);
}

#[test]
fn json_requests_observed() {
    let cases: &[&[u8]] = &[
        br#"{"uid":"Nvjgu2","requestId":"f9TzvV","type":5,"opts":{"rooms":[],"except":[]}}"#,
        br#"{"uid":"Nvjgu2","requestId":"f9TzvV","type":1}"#,
        br#"{"uid":"Nvjgu2","type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["r5"]}"#,
        br#"{"uid":"Nvjgu2","type":3,"opts":{"rooms":["room1"],"except":[]},"rooms":["r5"]}"#,
        br#"{"uid":"Nvjgu2","type":4,"opts":{"rooms":[],"except":[]},"close":true}"#,
        br#"{"uid":"Nvjgu2","type":6,"data":["sse",1]}"#,
        br#"{"uid":"Nvjgu2","requestId":"ZAz3e6","type":6,"data":["sse",2]}"#,
        br#"{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["r9"]}"#,
        br#"{"uid":"emitter","type":6,"data":["hello","world"]}"#,
        br#"{"uid":"legacy","requestId":"L","type":2,"sid":"abc","room":"x"}"#,
        br#"{"uid":"legacy","requestId":"L","type":4,"sid":"abc","close":false}"#,
    ];
    for bytes in cases {
        let req = Request::decode(bytes).unwrap();
        assert_eq!(
            req.encode().unwrap(),
            *bytes,
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn json_responses_observed() {
    let cases: &[(&[u8], RequestType)] = &[
        (br#"{"type":6,"requestId":"ZAz3e6","data":{"ok":true}}"#, RequestType::ServerSideEmit),
        (br#"{"type":6,"requestId":"ZAz3e6"}"#, RequestType::ServerSideEmit),
        (br#"{"type":8,"requestId":"C3PzZp","clientCount":1}"#, RequestType::Broadcast),
        (br#"{"requestId":"x","rooms":["a","b"]}"#, RequestType::AllRooms),
        (br#"{"requestId":"x","sockets":["a"]}"#, RequestType::Sockets),
        (br#"{"requestId":"x"}"#, RequestType::RemoteJoin),
        (
            br#"{"requestId":"x","sockets":[{"id":"s","handshake":{"auth":{}},"rooms":["s"],"data":{}}]}"#,
            RequestType::RemoteFetch,
        ),
    ];
    for (bytes, ty) in cases {
        let resp = Response::decode(bytes, *ty).unwrap();
        assert_eq!(
            resp.encode().unwrap(),
            *bytes,
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn malformed_requests_are_errors() {
    assert!(Request::decode(b"{").is_err());
    assert!(Request::decode(br#"{"type":42}"#).is_err());
    assert!(Request::decode(br#"{"type":"1","requestId":"x"}"#).is_err());
    assert!(Request::decode(br#"{"type":5,"requestId":"x"}"#).is_err());
    assert!(Request::decode(br#"{"type":6,"data":"x"}"#).is_err());
    assert!(Request::decode(&[0x93, 0x01]).is_err());
    assert!(Response::decode(br#"{"requestId":1}"#, RequestType::AllRooms).is_err());
    assert!(BroadcastMessage::decode(&[0x92, 0xa1, b'u', 0xc0]).is_err());
}

proptest::proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let _ = Request::decode(&bytes);
        let _ = BroadcastMessage::decode(&bytes);
        let _ = Response::decode(&bytes, RequestType::RemoteFetch);
        let _ = Response::peek_request_id(&bytes);
    }
}
