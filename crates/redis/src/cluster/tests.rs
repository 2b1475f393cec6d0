use super::*;
use crate::msgpack;

#[test]
fn sharded_observed_json_round_trips() {
    // wire-formats.md §3.6
    let cases: &[&[u8]] = &[
        br#"{"type":3,"data":{"packet":{"type":2,"data":["ev",1,"two",{"three":3}]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"c2073a02290b2922","nsp":"/"}"#,
        br#"{"type":11,"data":{"requestId":"493b491c3654f01f","clientCount":1},"uid":"185c841168285d37","nsp":"/"}"#,
        br#"{"type":1,"uid":"185c841168285d37","nsp":"/"}"#,
        br#"{"type":9,"data":{"requestId":"r","packet":["sse",2]},"uid":"u","nsp":"/"}"#,
        br#"{"type":10,"data":{"requestId":"r"},"uid":"u","nsp":"/"}"#,
    ];
    for bytes in cases {
        let m = ClusterMessage::decode(bytes).unwrap();
        assert_eq!(
            m.encode_sharded().unwrap(),
            *bytes,
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn streams_observed_fetch_request_msgpack() {
    // wire-formats.md §4.2 (PUBLISH socket.io#/# …)
    let m = ClusterMessage {
        uid: "bebbc14473a1ea81".into(),
        nsp: "/".into(),
        body: ClusterBody::FetchSockets {
            opts: BroadcastOptions::all(),
            request_id: "e41d6266233f6c53".into(),
        },
    };
    let bytes = m.encode_msgpack().unwrap();
    let mut expected = vec![0x84, 0xa4];
    expected.extend_from_slice(b"type");
    expected.extend_from_slice(&[0x07, 0xa4]);
    expected.extend_from_slice(b"data");
    expected.extend_from_slice(&[0x82, 0xa4]);
    expected.extend_from_slice(b"opts");
    assert!(bytes.starts_with(&expected));
    assert_eq!(ClusterMessage::decode(&bytes).unwrap(), m);
    // data fields for an XADD entry
    let data = m.data_json().unwrap().unwrap();
    assert_eq!(
        data,
        br#"{"opts":{"rooms":[],"except":[],"flags":{}},"requestId":"e41d6266233f6c53"}"#
    );
}

#[test]
fn binary_switches_to_msgpack_and_channels() {
    let m = ClusterMessage {
        uid: generate_uid(),
        nsp: "/".into(),
        body: ClusterBody::Broadcast {
            packet: Packet::event(
                Value::Array(vec![
                    "bin".into(),
                    Value::Bin(bytes::Bytes::from_static(&[1, 2])),
                ]),
                None,
            ),
            request_id: None,
            opts: BroadcastOptions {
                rooms: vec!["room1".into()],
                ..BroadcastOptions::all()
            },
        },
    };
    assert_eq!(m.uid.len(), 16);
    assert_eq!(m.sharded_encoding(), Encoding::Msgpack);
    let bytes = m.encode_sharded().unwrap();
    assert_ne!(bytes[0], b'{');
    assert_eq!(ClusterMessage::decode(&bytes).unwrap(), m);
    let ch = ShardedChannels::new("socket.io", "/", &m.uid);
    assert_eq!(
        ch.channel_for(&m, SubscriptionMode::Dynamic),
        "socket.io#/#room1#"
    );
    assert_eq!(ch.channel_for(&m, SubscriptionMode::Static), "socket.io#/#");
    assert_eq!(ch.own_responses(), format!("socket.io#/#{}#", m.uid));
    assert!(looks_like_a_socket_id("UMVmkaE1flPQATxHAAAB"));
    // SOCKETS_JOIN never carries binary: JSON even so.
    let j = ClusterMessage {
        uid: "u".into(),
        nsp: "/".into(),
        body: ClusterBody::SocketsJoin {
            opts: BroadcastOptions::all(),
            rooms: vec!["r".into()],
        },
    };
    assert_eq!(j.sharded_encoding(), Encoding::Json);
}

#[test]
fn malformed_messages_are_errors() {
    assert!(ClusterMessage::decode(br#"{"type":99,"uid":"u","nsp":"/"}"#).is_err());
    assert!(ClusterMessage::decode(br#"{"type":3,"uid":"u","nsp":"/"}"#).is_err());
    assert!(ClusterMessage::decode(br#"{"type":3,"nsp":"/"}"#).is_err());
    assert!(ClusterMessage::decode(&msgpack::encode(&Value::Nil).unwrap()).is_err());
}

proptest::proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let _ = ClusterMessage::decode(&bytes);
    }
}
