//! The server API over real WebSocket connections: listeners, middlewares, rooms, acks,
//! server-wide utilities.

mod support;

use ferrio::adapter::RoomEvent;
use ferrio::parser::Payload;
use ferrio::{AckSender, BroadcastAckError, Data, DisconnectReason, SocketIo, SocketRef};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{eventually, serve, Client};

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn on_any_and_on_any_outgoing_see_every_event_until_removed() {
    let io = SocketIo::new();
    let seen = log();
    let s2 = seen.clone();
    io.ns("/", move |socket: SocketRef| {
        let seen = s2.clone();
        async move {
            let s = seen.clone();
            let id = socket
                .on_any(move |_, ev, args| push(&s, format!("in:{ev}:{}", args.items().len())));
            let s = seen.clone();
            socket.prepend_any(move |_, ev, _| push(&s, format!("first:{ev}")));
            let s = seen.clone();
            socket.on_any_outgoing(move |_, ev, _| push(&s, format!("out:{ev}")));
            socket.on("stop", move |socket: SocketRef| async move {
                socket.off_any(Some(id));
            });
            socket.on("ping-me", |socket: SocketRef| async move {
                socket.emit("pong-you", &1).unwrap();
            });
        }
    });
    let port = serve(&io).await;
    let mut c = Client::connect(port, "/", None).await;
    c.send(r#"42["ping-me",1,2]"#).await;
    assert_eq!(c.recv().await, r#"42["pong-you",1]"#);
    c.send(r#"42["stop"]"#).await;
    c.send(r#"42["ping-me"]"#).await;
    assert_eq!(c.recv().await, r#"42["pong-you",1]"#);
    assert_eq!(
        entries(&seen),
        [
            "first:ping-me",
            "in:ping-me:2",
            "out:pong-you",
            "first:stop",
            "in:stop:0",
            "first:ping-me",
            "out:pong-you"
        ]
    );
}

#[tokio::test]
async fn a_socket_middleware_error_stops_the_event_and_reaches_the_error_handler() {
    let io = SocketIo::new();
    let seen = log();
    let s2 = seen.clone();
    io.ns("/", move |socket: SocketRef| {
        let seen = s2.clone();
        async move {
            socket.use_middleware(|_, ev, _| {
                if ev == "forbidden" {
                    Err("not allowed".into())
                } else {
                    Ok(())
                }
            });
            let s = seen.clone();
            socket.on_error(move |_, e| push(&s, format!("error:{e}")));
            let s = seen.clone();
            socket.on("forbidden", move || {
                push(&s, "handler ran");
                async {}
            });
            socket.on("echo", |ack: AckSender, Data(v): Data<i64>| async move {
                ack.send(&v).unwrap();
            });
        }
    });
    let port = serve(&io).await;
    let mut c = Client::connect(port, "/", None).await;
    c.send(r#"42["forbidden"]"#).await;
    c.send(r#"421["echo",7]"#).await;
    assert_eq!(c.recv().await, "431[7]");
    assert_eq!(entries(&seen), ["error:not allowed"]);
}

#[tokio::test]
async fn disconnecting_sees_the_rooms_and_room_events_follow_the_reference() {
    let io = SocketIo::new();
    let seen = log();
    let s2 = seen.clone();
    let ns = io
        .ns("/", move |socket: SocketRef| {
            let seen = s2.clone();
            async move {
                socket.join(["a", "b"]);
                let s = seen.clone();
                socket.on_disconnecting(move |socket: SocketRef, reason| {
                    push(
                        &s,
                        format!("disconnecting:{reason}:{}", socket.rooms().len()),
                    );
                    async {}
                });
                let s = seen.clone();
                socket.on_disconnect(move |socket: SocketRef, reason| {
                    push(&s, format!("disconnect:{reason}:{}", socket.rooms().len()));
                    async {}
                });
            }
        })
        .namespace()
        .unwrap()
        .clone();
    let events = log();
    let e2 = events.clone();
    ns.on_room_event(move |e| {
        let s = match e {
            RoomEvent::Create(r) => format!("create:{r}"),
            RoomEvent::Delete(r) => format!("delete:{r}"),
            RoomEvent::Join(r, _) => format!("join:{r}"),
            RoomEvent::Leave(r, _) => format!("leave:{r}"),
            _ => "other".into(),
        };
        if !s.contains(':') || s.ends_with(":a") || s.ends_with(":b") {
            push(&e2, s);
        }
    });
    let port = serve(&io).await;
    let mut c = Client::connect(port, "/", None).await;
    c.send("41").await;
    eventually(|| entries(&seen).len() == 2).await;
    assert_eq!(
        entries(&seen),
        [
            "disconnecting:client namespace disconnect:3",
            "disconnect:client namespace disconnect:0"
        ]
    );
    let mut ev = entries(&events);
    ev.sort();
    assert_eq!(
        ev,
        [
            "create:a", "create:b", "delete:a", "delete:b", "join:a", "join:b", "leave:a",
            "leave:b"
        ]
    );
    assert_eq!(ns.socket_count(), 0);
    assert!(ns.rooms().is_empty());
}

#[tokio::test]
async fn broadcast_acks_collect_every_answer_or_the_partial_list_on_timeout() {
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| async move {
        socket.join("r");
    });
    let port = serve(&io).await;
    let mut a = Client::connect(port, "/", None).await;
    let mut b = Client::connect(port, "/", None).await;

    let pending = io
        .to("r")
        .timeout(Duration::from_millis(300))
        .emit_with_ack::<String, _>("q", &());
    let task = tokio::spawn(pending);
    for c in [&mut a, &mut b] {
        let frame = c.recv().await;
        let id = frame
            .trim_start_matches("42")
            .trim_end_matches(r#"["q"]"#)
            .to_owned();
        c.send(&format!(r#"43{id}["{}"]"#, c.sid)).await;
    }
    let mut all = task.await.unwrap().unwrap();
    all.sort();
    let mut sids = vec![a.sid.clone(), b.sid.clone()];
    sids.sort();
    assert_eq!(all, sids);

    // Only one answers: the other answer times out, with the partial list.
    let task = tokio::spawn(
        io.to("r")
            .timeout(Duration::from_millis(300))
            .emit_with_ack::<String, _>("q", &()),
    );
    let frame = a.recv().await;
    let id = frame
        .trim_start_matches("42")
        .trim_end_matches(r#"["q"]"#)
        .to_owned();
    a.send(&format!(r#"43{id}["only-a"]"#)).await;
    let _ = b.recv().await;
    match task.await.unwrap() {
        Err(BroadcastAckError::Timeout { responses }) => assert_eq!(responses, ["only-a"]),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn fetch_sockets_and_remote_operations() {
    let io = SocketIo::new();
    io.ns("/", |_socket: SocketRef| async move {});
    let port = serve(&io).await;
    let mut a = Client::connect(port, "/", Some(r#"{"name":"a"}"#)).await;
    let _b = Client::connect(port, "/", None).await;

    for s in io.namespace("/").unwrap().sockets() {
        if s.handshake().auth.get("name").is_some() {
            s.set_data(&serde_json::json!({ "role": "admin" })).unwrap();
        }
    }
    let sockets = io.fetch_sockets().await.unwrap();
    assert_eq!(sockets.len(), 2);
    let ra = sockets.iter().find(|s| s.id.as_str() == a.sid).unwrap();
    assert_eq!(ra.handshake.auth["name"], "a");
    assert_eq!(ra.data, serde_json::json!({ "role": "admin" }));
    assert!(sockets.iter().any(|s| s.data.is_null()));
    ra.join("vip").await.unwrap();
    assert_eq!(io.to("vip").fetch_sockets().await.unwrap().len(), 1);
    ra.emit("hello", &"you").await.unwrap();
    assert_eq!(a.recv().await, r#"42["hello","you"]"#);

    io.sockets_join("all").await.unwrap();
    assert_eq!(io.to("all").fetch_sockets().await.unwrap().len(), 2);
    io.to("vip").sockets_leave("all").await.unwrap();
    assert_eq!(io.to("all").fetch_sockets().await.unwrap().len(), 1);

    io.to("vip").disconnect_sockets(false).await.unwrap();
    assert_eq!(a.recv().await, "41");
    assert_eq!(io.fetch_sockets().await.unwrap().len(), 1);
}

#[tokio::test]
async fn handlers_of_one_socket_answer_in_arrival_order() {
    let io = SocketIo::builder().build();
    io.ns("/", |socket: SocketRef| async move {
        socket.on("n", |Data(n): Data<u32>, ack: AckSender| async move {
            ack.send(&n).unwrap();
        });
    });
    let port = serve(&io).await;
    let mut c = Client::connect(port, "/", None).await;
    for i in 0..300 {
        c.send(&format!(r#"42{i}["n",{i}]"#)).await;
    }
    for i in 0..300 {
        assert_eq!(c.recv().await, format!("43{i}[{i}]"));
    }
}

#[tokio::test]
async fn empty_dynamic_children_are_removed_when_asked() {
    let io = SocketIo::builder()
        .cleanup_empty_child_namespaces(true)
        .build();
    io.dyn_ns(
        |n: &str| n.starts_with("/room-"),
        |_s: SocketRef| async move {},
    );
    let port = serve(&io).await;
    let mut c = Client::connect(port, "/room-1", None).await;
    assert!(io.namespace("/room-1").is_some());
    c.send("41/room-1,").await;
    eventually(|| io.namespace("/room-1").is_none()).await;
}

#[tokio::test]
async fn reserved_event_names_are_refused_and_raw_payloads_relay_binary() {
    let io = SocketIo::new();
    let reserved = log();
    let r2 = reserved.clone();
    io.ns("/", move |socket: SocketRef| {
        let reserved = r2.clone();
        async move {
            for ev in ["connect", "disconnect", "disconnecting", "connect_error"] {
                if socket.emit(ev, &()).is_err() {
                    push(&reserved, ev);
                }
            }
            socket.on("bin", |socket: SocketRef, args: Payload| async move {
                socket.emit_payload("bin-back", args).unwrap();
            });
        }
    });
    let port = serve(&io).await;
    let mut c = Client::connect(port, "/", None).await;
    assert_eq!(entries(&reserved).len(), 4);
    c.send(r#"451-["bin",{"_placeholder":true,"num":0}]"#).await;
    c.ws_send_binary(vec![1, 2, 3]).await;
    assert_eq!(
        c.recv().await,
        r#"451-["bin-back",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(c.recv().await, "<binary 3>");
}

#[tokio::test]
async fn a_closed_server_reports_server_shutting_down() {
    let io = SocketIo::new();
    let seen = log();
    let s2 = seen.clone();
    io.ns("/", move |socket: SocketRef| {
        let seen = s2.clone();
        async move {
            socket.on_disconnect(move |_s: SocketRef, reason: DisconnectReason| {
                push(&seen, reason.as_str());
                async {}
            });
        }
    });
    let port = serve(&io).await;
    let mut c = Client::connect(port, "/", None).await;
    io.close(Duration::from_secs(1)).await;
    assert_eq!(entries(&seen), ["server shutting down"]);
    assert_eq!(c.recv().await, "<close>");
}

#[tokio::test]
async fn unanswered_acknowledgements_do_not_pile_up() {
    let io = SocketIo::new();
    let sockets: Arc<Mutex<Vec<SocketRef>>> = Arc::new(Mutex::new(Vec::new()));
    let s2 = sockets.clone();
    io.ns("/", move |socket: SocketRef| {
        s2.lock().unwrap().push(socket);
        async {}
    });
    let port = serve(&io).await;
    let _c = Client::connect(port, "/", None).await;
    eventually(|| !sockets.lock().unwrap().is_empty()).await;
    let socket = sockets.lock().unwrap()[0].clone();
    for _ in 0..200 {
        let pending = socket.emit_with_ack::<(), _>("q", &(), Duration::from_millis(1));
        tokio::spawn(pending);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        socket.pending_acks() <= 32,
        "{} acknowledgements still pending",
        socket.pending_acks()
    );
}

#[tokio::test]
async fn the_connect_timeout_closes_only_connections_that_never_joined() {
    let io = SocketIo::builder()
        .connect_timeout(Duration::from_millis(200))
        .build();
    io.ns("/", |_s: SocketRef| async move {});
    io.ns("/other", |_s: SocketRef| async move {});
    let port = serve(&io).await;
    // Joined, then left: the connection stays open past the timeout (the reference clears
    // the timer on the first CONNECT).
    let mut joined = Client::connect(port, "/", None).await;
    joined.send("41").await;
    assert!(joined.silent_for(Duration::from_millis(500)).await);
    joined.send("40/other,").await;
    assert!(joined.recv().await.starts_with("40/other,{\"sid\""));
    // Never joined: closed.
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    use futures_util::StreamExt;
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with("0{"));
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match ws.next().await {
                Some(Ok(m)) if m.is_close() => break,
                None | Some(Err(_)) => break,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection was not closed");
}

#[tokio::test]
async fn recovery_restores_the_id_rooms_and_data_of_a_socket() {
    let io = SocketIo::builder()
        .connection_state_recovery(Some(ferrio::RecoveryConfig::default()))
        .build();
    io.ns("/", |socket: SocketRef| async move {
        if !socket.recovered() {
            socket
                .set_data(&serde_json::json!({ "user": "ann" }))
                .unwrap();
            socket.join("team");
        }
        socket
            .emit("hello", &(socket.data_value(), socket.rooms().len()))
            .unwrap();
    });
    let port = serve(&io).await;
    let mut first = Client::connect(port, "/", None).await;
    let pid = first.reply["pid"].as_str().unwrap().to_owned();
    let hello: serde_json::Value =
        serde_json::from_str(first.recv().await.trim_start_matches("42")).unwrap();
    assert_eq!(hello[1], serde_json::json!({ "user": "ann" }));
    let offset = hello[3].as_str().unwrap().to_owned();
    let sid = first.sid.clone();
    drop(first);
    eventually(|| io.namespace("/").unwrap().socket_count() == 0).await;

    let auth = serde_json::json!({ "pid": pid, "offset": offset }).to_string();
    let mut again = Client::connect(port, "/", Some(&auth)).await;
    assert_eq!(again.sid, sid);
    let hello: serde_json::Value =
        serde_json::from_str(again.recv().await.trim_start_matches("42")).unwrap();
    assert_eq!(hello[1], serde_json::json!({ "user": "ann" }));
    assert_eq!(hello[2], 2, "its own room and \"team\"");
}
