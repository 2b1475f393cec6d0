//! A panicking user callback (issue 17): the panic is caught and logged, the connection of
//! the socket it ran for is closed with `handler panicked`, every disconnect step still runs,
//! and nothing is left behind (session, sockets, rooms, acks, tasks). Other clients are
//! served meanwhile. `docs/reliability.md` points here.

#[path = "support/stress.rs"]
mod stress;
mod support;

use ferrio::{AckSender, Data, DisconnectReason, SocketIo, SocketRef};
use futures_util::SinkExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stress::*;
use support::{serve, Client};
use tokio_tungstenite::tungstenite::Message;

/// Where the callback that panics is registered.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    ConnectionHandler,
    ConnectMiddleware,
    PacketMiddleware,
    OnAny,
    OnError,
    EventSync,
    EventAsync,
    OnAnyOutgoing,
    RoomListener,
    Disconnecting,
    Disconnect,
}

const ALL: [Kind; 11] = [
    Kind::ConnectionHandler,
    Kind::ConnectMiddleware,
    Kind::PacketMiddleware,
    Kind::OnAny,
    Kind::OnError,
    Kind::EventSync,
    Kind::EventAsync,
    Kind::OnAnyOutgoing,
    Kind::RoomListener,
    Kind::Disconnecting,
    Kind::Disconnect,
];

/// `/` echoes (the healthy client, as `echo_server`); `/boom` joins a room, keeps an ack pending and panics in
/// the callback of `kind` when the client sends `go` (or leaves, for the disconnect kinds).
fn server(kind: Kind, reasons: Arc<Mutex<Vec<DisconnectReason>>>) -> SocketIo {
    // Heartbeat and connect timeout far beyond the test: only the panic may close anything.
    let io = SocketIo::builder()
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(45))
        .build();
    io.ns("/", |socket: SocketRef| async move {
        socket.join("everyone");
        socket.on(
            "echo",
            |Data(v): Data<serde_json::Value>, ack: AckSender| async move {
                ack.send(&v).ok();
            },
        );
    });
    let setup = io.ns("/boom", move |socket: SocketRef| {
        let reasons = reasons.clone();
        async move {
            socket.join("room");
            // An ack the client never answers: it must not outlive the socket.
            let pending =
                socket.emit_with_ack::<serde_json::Value, _>("ask", &(), Duration::from_secs(3600));
            tokio::spawn(async move {
                let _ = pending.await;
            });
            let last = reasons.clone();
            // Registered first, so that it records the reason even when a later
            // disconnect listener panics.
            socket.on_disconnect(move |_s: SocketRef, r: DisconnectReason| {
                last.lock().unwrap().push(r);
                async {}
            });
            match kind {
                Kind::ConnectionHandler => panic!("connection handler"),
                Kind::ConnectMiddleware => {}
                Kind::PacketMiddleware => socket.use_middleware(|_, _, _| panic!("middleware")),
                Kind::OnAny => {
                    socket.on_any(|_, _, _| panic!("on_any"));
                }
                Kind::OnError => {
                    socket.use_middleware(|_, _, _| Err("refused".into()));
                    socket.on_error(|_, _| panic!("on_error"));
                }
                Kind::EventSync => socket.on("go", |_s: SocketRef| -> std::future::Ready<()> {
                    panic!("event, synchronous part")
                }),
                Kind::EventAsync => socket.on("go", |_s: SocketRef| async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    panic!("event, after an await")
                }),
                Kind::OnAnyOutgoing => {
                    socket.on_any_outgoing(|_, event, _| {
                        if event == "reply" {
                            panic!("on_any_outgoing")
                        }
                    });
                    socket.on("go", |s: SocketRef| async move {
                        let _ = s.emit("reply", &1);
                    });
                }
                Kind::RoomListener => socket.on("go", |s: SocketRef| async move {
                    s.join("trigger");
                }),
                Kind::Disconnecting => {
                    socket.on_disconnecting(|_s: SocketRef, _r| -> std::future::Ready<()> {
                        panic!("disconnecting")
                    })
                }
                Kind::Disconnect => {
                    socket.on_disconnect(|_s: SocketRef, _r| async move { panic!("disconnect") })
                }
            }
        }
    });
    if kind == Kind::ConnectMiddleware {
        setup.clone().with(|_s: SocketRef| async move {
            tokio::task::yield_now().await;
            panic!("connect middleware")
        });
    }
    if kind == Kind::RoomListener {
        setup.namespace().unwrap().on_room_event(|e| {
            if matches!(e, ferrio::adapter::RoomEvent::Join(r, _) if &**r == "trigger") {
                panic!("room listener")
            }
        });
    }
    io
}

/// One kind: `Err` says what went wrong.
async fn check(kind: Kind) -> Result<(), String> {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let io = server(kind, reasons.clone());
    let port = serve(&io).await;
    let mut healthy = Client::connect(port, "/", None).await;

    let mut c = ws_open(port, "").await;
    // Sends may fail: the connection may be gone already.
    let _ = c.send(Message::Text("40/boom,".into())).await;
    match kind {
        Kind::ConnectionHandler | Kind::ConnectMiddleware => {}
        Kind::Disconnecting | Kind::Disconnect => {
            let _ = c.send(Message::Text("41/boom,".into())).await;
        }
        _ => {
            let _ = c.send(Message::Text(r#"42/boom,["go"]"#.into())).await;
        }
    }
    if !closed_within(&mut c, Duration::from_secs(3)).await {
        return Err("the connection stayed open".into());
    }
    // The other client is served.
    healthy.send(r#"421["echo",{"ok":true}]"#).await;
    let echo = healthy.recv().await;
    if echo != r#"431[{"ok":true}]"# {
        return Err(format!("the healthy client got {echo}"));
    }
    drop(healthy);
    let s = idle(&io, Duration::from_secs(5)).await;
    if !s.is_idle() {
        return Err(format!("left behind: {s:?}"));
    }
    let reasons = reasons.lock().unwrap().clone();
    let expected = match kind {
        Kind::ConnectMiddleware => vec![],
        Kind::Disconnecting | Kind::Disconnect => {
            vec![DisconnectReason::ClientNamespaceDisconnect]
        }
        _ => vec![DisconnectReason::HandlerPanicked],
    };
    if reasons != expected {
        return Err(format!("disconnect reasons {reasons:?}, not {expected:?}"));
    }
    Ok(())
}

#[tokio::test]
async fn a_panicking_callback_closes_its_connection_and_leaves_nothing() {
    let mut failed = Vec::new();
    for kind in ALL {
        if let Err(e) = check(kind).await {
            failed.push(format!("{kind:?}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}
