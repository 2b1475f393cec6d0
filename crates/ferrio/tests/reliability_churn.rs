//! Connection churn and leaks (issue 7). Its own test binary: it measures RSS.
//! Live counts come from [`SocketIo::stats`]; `docs/reliability.md` and `docs/security.md`
//! point here.

#[path = "support/stress.rs"]
mod stress;
mod support;

#[allow(unused_imports)]
use ferrio::{DisconnectReason, SocketIo, SocketRef};
#[allow(unused_imports)]
use futures_util::{SinkExt, StreamExt};
#[allow(unused_imports)]
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
#[allow(unused_imports)]
use stress::*;
#[allow(unused_imports)]
use support::{serve, Client};
#[allow(unused_imports)]
use tokio::io::{AsyncReadExt, AsyncWriteExt};
#[allow(unused_imports)]
use tokio::net::TcpStream;
#[allow(unused_imports)]
use tokio_tungstenite::tungstenite::Message;

// ---- churn ----------------------------------------------------------------------------------

/// One connection of each kind the churn mixes; `i` picks the kind.
async fn churn_one(port: u16, i: usize) {
    match i % 6 {
        // WebSocket: connect, join, emit with an ack, disconnect.
        0 | 1 => {
            let mut c = Client::connect(port, "/", None).await;
            c.send(&format!("42{i}[\"echo\",{i}]")).await;
            assert_eq!(c.recv().await, format!("43{i}[{i}]"));
            if i % 2 == 0 {
                c.send("41").await;
            }
        }
        // Polling: handshake, CONNECT, an ack, close.
        2 => {
            let sid = polling_open(port).await;
            let q = format!("&sid={sid}");
            assert_eq!(http(port, "POST", &q, "40").await.1, "ok");
            assert!(http(port, "GET", &q, "").await.1.starts_with("40{"));
            assert_eq!(http(port, "POST", &q, "421[\"echo\",1]").await.1, "ok");
            assert!(http(port, "GET", &q, "").await.1.contains("431[1]"));
            assert_eq!(http(port, "POST", &q, "1").await.1, "ok");
        }
        // A polling session never polled again (the heartbeat ends it).
        3 => {
            polling_open(port).await;
        }
        // An upgrade abandoned after the probe (back to polling, then the heartbeat).
        4 => {
            let sid = polling_open(port).await;
            let mut ws = ws_open(port, &format!("&sid={sid}")).await;
            ws.send(Message::Text("2probe".into())).await.unwrap();
            let m = ws.next().await.unwrap().unwrap();
            assert_eq!(m.to_text().unwrap(), "3probe");
        }
        // A WebSocket that never sends CONNECT (the connect timeout ends it), kept open.
        _ => {
            let mut ws = ws_open(port, "").await;
            assert!(closed_within(&mut ws, Duration::from_secs(3)).await);
        }
    }
}

/// `CHURN_SECS` (default 12) of churn, then every count back to 0 and RSS within 5 % of its
/// plateau. `CHURN_SECS=600 cargo test --release -p ferrio --test reliability churn -- --nocapture`
/// is the long run of docs/reliability.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn churn_leaves_no_session_socket_room_or_task_behind() {
    let secs: u64 = std::env::var("CHURN_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let io = echo_server(|e| e);
    let port = serve(&io).await;
    const PARALLEL: usize = 32;
    let start = Instant::now();
    let mut round = 0usize;
    let mut plateau = 0;
    let mut done = 0usize;
    let mut peak_sessions = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        let tasks: Vec<_> = (0..PARALLEL)
            .map(|k| tokio::spawn(churn_one(port, round * PARALLEL + k)))
            .collect();
        peak_sessions = peak_sessions.max(io.stats().sessions);
        for t in tasks {
            t.await.unwrap();
        }
        done += PARALLEL;
        round += 1;
        if std::env::var_os("CHURN_TRACE").is_some() && round % 10 == 0 {
            eprintln!(
                "round {round}: {:?} RSS {} KiB {:?}",
                start.elapsed(),
                rss_kib(),
                io.stats()
            );
        }
        // The plateau: the highest RSS once the first quarter of the run warmed the allocator
        // up. With every connection gone, RSS must come back to it.
        let t = start.elapsed();
        if t >= Duration::from_secs(secs) / 4 {
            plateau = plateau.max(rss_kib());
        }
    }
    let s = idle(&io, Duration::from_secs(5)).await;
    let rss = rss_kib();
    eprintln!(
        "churn: {done} connections in {:?}, peak {peak_sessions} sessions; RSS plateau {plateau} KiB, after {rss} KiB; {s:?}",
        start.elapsed()
    );
    assert!(s.is_idle(), "{s:?}");
    assert!(
        rss * 100 <= plateau * 105,
        "RSS {rss} KiB vs plateau {plateau} KiB"
    );
}
