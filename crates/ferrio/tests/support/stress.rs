//! Helpers of the reliability tests (`reliability_*.rs`): RSS, live counts, raw WebSocket
//! and HTTP long-polling requests.
#![allow(dead_code)]

use ferrio::engine::EngineConfig;
use ferrio::{AckSender, Data, SocketIo, SocketRef, Stats};
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The resident set size of this process, in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the server has nothing left (sessions, tasks, sockets, rooms, acks), for at
/// most `within`; returns the last counts.
pub async fn idle(io: &SocketIo, within: Duration) -> Stats {
    let start = Instant::now();
    loop {
        let s = io.stats();
        if s.is_idle() || start.elapsed() > within {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn ws_open(port: u16, query: &str) -> Ws {
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket{query}");
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Reads until the connection closes (close frame, EOF or error); false if it stays open
/// for `within`. Answers nothing.
pub async fn closed_within(ws: &mut Ws, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// One HTTP/1.1 request (`Connection: close`); returns the status code and the body.
pub async fn http(port: u16, method: &str, query: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Connection: close\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("an HTTP answer within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// A polling handshake; returns the session id.
pub async fn polling_open(port: u16) -> String {
    let (code, body) = http(port, "GET", "", "").await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

/// A server whose `/` joins each socket to a room and answers `echo` with an ack.
pub fn echo_server(config: impl FnOnce(EngineConfig) -> EngineConfig) -> SocketIo {
    let io = SocketIo::builder()
        .map_engine(|e| {
            config(
                e.with_ping_interval(Duration::from_millis(300))
                    .with_ping_timeout(Duration::from_millis(200)),
            )
        })
        .connect_timeout(Duration::from_millis(300))
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
    io
}
