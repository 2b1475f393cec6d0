//! Graceful shutdown (issue 7): what happens to handshakes that arrive while
//! `SocketIo::close` runs, and after it returned.
//!
//! The reference: `io.close()` closes every session, then `engine.close()` (its `ws` server
//! then answers any WebSocket handshake with `503`), then closes the HTTP server, so no new
//! connection gets in (a polling handshake sent after `engine.close()` alone is still accepted
//! and that session is left behind). Ferrio does not own the listener (it embeds in any
//! hyper/tower/axum server), so the engine itself has to refuse handshakes once closing, or
//! `close()` returns with sessions it never closed.
//!
//! `close_refuses_new_handshakes_and_leaves_no_session_behind`: from the start of `close()`,
//! handshakes get `503 Service Unavailable` (polling and WebSocket), and `close()` returns with
//! no session, socket or room left.

#[path = "support/stress.rs"]
mod stress;
mod support;

use ferrio::{SocketIo, SocketRef};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stress::{http, idle};
use support::{serve, Client};

/// What a WebSocket handshake got: `Ok(first text frame)` or `Err(HTTP status)`.
async fn ws_handshake(port: u16) -> Result<String, u16> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::{Error, Message};
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    match tokio_tungstenite::connect_async(url).await {
        Ok((mut ws, _)) => match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => Ok(t.to_string()),
            other => Ok(format!("{other:?}")),
        },
        Err(Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("WebSocket handshake failed without an HTTP answer: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_refuses_new_handshakes_and_leaves_no_session_behind() {
    let io = SocketIo::new();
    let joined = Arc::new(AtomicUsize::new(0));
    let j = joined.clone();
    io.ns("/", move |_socket: SocketRef| {
        j.fetch_add(1, Ordering::SeqCst);
        async {}
    });
    let port = serve(&io).await;

    // A client that never reads, with more queued than the kernel buffers take: close() waits
    // for it until its deadline, which leaves a window for new handshakes.
    let slow = Client::connect(port, "/", None).await;
    let pad = "x".repeat(16 * 1024);
    for i in 0..300 {
        io.emit("m", &(i, &pad)).await.unwrap();
    }
    let started = Instant::now();
    let closing = tokio::spawn({
        let io = io.clone();
        async move { io.close(Duration::from_secs(2)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !closing.is_finished(),
        "close() is still waiting for the slow client"
    );

    // During close(): a polling handshake (then a CONNECT on it) and a WebSocket handshake.
    let (during_code, during_body) = http(port, "GET", "", "").await;
    let mut during_connect = None;
    if during_code == 200 {
        let v: serde_json::Value = serde_json::from_str(&during_body[1..]).unwrap();
        let q = format!("&sid={}", v["sid"].as_str().unwrap());
        http(port, "POST", &q, "40").await;
        during_connect = Some(http(port, "GET", &q, "").await);
    }
    let during_ws = ws_handshake(port).await;
    let during_stats = io.stats();

    closing.await.unwrap();
    let took = started.elapsed();
    let after_stats = idle(&io, Duration::from_millis(500)).await;
    // After close() returned.
    let (after_code, after_body) = http(port, "GET", "", "").await;
    let after_ws = ws_handshake(port).await;
    drop(slow);

    eprintln!("close() took {took:?}");
    eprintln!(
        "during close(): polling handshake {during_code} {during_body:.60}; CONNECT on it: \
         {during_connect:?}; WebSocket handshake {during_ws:?}; {} sessions, {} sockets \
         (joined in all: {})",
        during_stats.sessions,
        during_stats.sockets(),
        joined.load(Ordering::SeqCst)
    );
    eprintln!("when close() returned: {after_stats:?}");
    eprintln!("after close(): polling handshake {after_code} {after_body:.60}; WebSocket handshake {after_ws:?}");

    assert!(
        took < Duration::from_millis(2300),
        "close() kept its deadline: {took:?}"
    );
    // The reference's answer to a WebSocket handshake once the engine is closed (ws: 503),
    // and the same for polling (the reference closes the listener instead).
    assert_eq!(during_code, 503, "polling handshake during close()");
    assert_eq!(during_ws, Err(503), "WebSocket handshake during close()");
    assert!(
        after_stats.is_idle(),
        "close() returned with sessions left: {after_stats:?}"
    );
    assert_eq!(after_code, 503, "polling handshake after close()");
    assert_eq!(after_ws, Err(503), "WebSocket handshake after close()");
    assert_eq!(
        joined.load(Ordering::SeqCst),
        1,
        "only the slow client joined"
    );
}

/// `SocketIo::listen` owns its listener: like the reference's `io.close()`, which closes its
/// HTTP server, `close()` closes it at once (new connections are refused, the port can be
/// bound again) and `listen` returns, while the connected client is closed as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_closes_its_listener_when_close_starts() {
    let io = SocketIo::new();
    io.ns("/", |_socket: SocketRef| async {});
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = tokio::spawn({
        let io = io.clone();
        async move { io.listen(("127.0.0.1", port)).await }
    });
    // Wait until it accepts, then connect a client.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "listen() never accepted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut client = Client::connect(port, "/", None).await;
    assert_eq!(io.stats().sockets(), 1);

    io.close(Duration::from_secs(2)).await;
    let returned = tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("listen() returned once close() began")
        .unwrap();
    assert!(returned.is_ok(), "listen() returned {returned:?}");
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "a connection after close() was accepted");
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the port is free again");
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        while client.recv().await != "<close>" {}
    })
    .await;
    assert!(closed.is_ok(), "the connected client got a close frame");
    assert!(io.stats().is_idle(), "{:?}", io.stats());
}
