//! Hostile input (limits answered before allocation) and graceful shutdown (issue 7).
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

// ---- limits before allocation ---------------------------------------------------------------

#[tokio::test]
async fn hostile_packets_close_only_their_connection() {
    let io = echo_server(|e| e);
    let port = serve(&io).await;
    let mut healthy = Client::connect(port, "/", None).await;

    let deep = format!(
        "42[\"echo\",{}1{}]",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let too_many_attachments = format!(
        "411-[\"echo\",{}]",
        (0..11)
            .map(|i| format!("{{\"_placeholder\":true,\"num\":{i}}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let huge_nsp = format!("40/{},", "n".repeat(900_000));
    let long_nsp = format!("40/{},", "n".repeat(ferrio::MAX_NAMESPACE_LEN));
    let cases: Vec<(&str, String)> = vec![
        ("JSON nested 100,000 deep", deep),
        ("11 attachments (limit 10)", too_many_attachments),
        ("ack id 2^53", "429007199254740992[\"echo\",1]".to_owned()),
        (
            "ack id of 40 digits",
            format!("42{}[\"echo\",1]", "9".repeat(40)),
        ),
        ("a 900 kB namespace name", huge_nsp),
        ("a namespace name one byte over the cap", long_nsp),
        (
            "a message over maxHttpBufferSize",
            format!("42[\"echo\",\"{}\"]", "x".repeat(1_000_001)),
        ),
    ];
    for (what, packet) in cases {
        let mut c = ws_open(port, "").await;
        let open = c.next().await.unwrap().unwrap();
        assert!(open.to_text().unwrap().starts_with("0{"));
        if !packet.starts_with("40") {
            c.send(Message::Text("40".into())).await.unwrap();
            let reply = c.next().await.unwrap().unwrap();
            assert!(
                reply.to_text().unwrap().starts_with("40{"),
                "{what}: {reply}"
            );
        }
        let _ = c.send(Message::Text(packet.into())).await;
        // Closed, and nothing echoed back on the way (no CONNECT_ERROR naming the namespace).
        let echoed = tokio::time::timeout(Duration::from_secs(2), async {
            let mut longest = 0;
            loop {
                match c.next().await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return longest,
                    Some(Ok(m)) => longest = longest.max(m.len()),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what}: the connection stayed open"));
        assert!(echoed < 1024, "{what}: a {echoed}-byte message came back");
        // The healthy client is still served.
        healthy.send(r#"421["echo",{"ok":true}]"#).await;
        assert_eq!(healthy.recv().await, r#"431[{"ok":true}]"#, "after {what}");
    }
    // A namespace name at the cap is answered as the reference answers an unknown one.
    let mut c = ws_open(port, "").await;
    c.next().await.unwrap().unwrap();
    let nsp = format!("/{}", "n".repeat(ferrio::MAX_NAMESPACE_LEN - 1));
    c.send(Message::Text(format!("40{nsp},").into()))
        .await
        .unwrap();
    let reply = c.next().await.unwrap().unwrap();
    assert_eq!(
        reply.to_text().unwrap(),
        format!("44{nsp},{{\"message\":\"Invalid namespace\"}}")
    );
    drop(c);
    drop(healthy);
    let s = idle(&io, Duration::from_secs(5)).await;
    assert!(s.is_idle(), "{s:?}");
}

#[tokio::test]
async fn an_oversized_polling_body_is_refused_with_413_before_it_is_read() {
    let io = echo_server(|e| e.with_max_http_buffer_size(1000));
    let port = serve(&io).await;
    let sid = polling_open(port).await;
    // Announce 10 MB and send none of it: the answer cannot wait for the body.
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Content-Length: 10000000\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .expect("answered before the body arrived")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"));
    // A compressed body is not inflated: it is read as the bytes it is (and here refused as
    // a payload that does not parse: `ok`, and the session closes, as in the reference).
    let sid = polling_open(port).await;
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let gz: &[u8] = &[
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x33, 0x01, 0, 0x21, 0xdf, 0xdb, 0xf4, 1, 0, 0, 0,
    ];
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Content-Encoding: gzip\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(gz).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("ok"), "{out}");
    support::eventually(|| io.engine().session_count() == 0).await;
    let (code, _) = http(port, "GET", &format!("&sid={sid}"), "").await;
    assert_eq!(code, 400, "the session is gone");
    let s = idle(&io, Duration::from_secs(5)).await;
    assert!(s.is_idle(), "{s:?}");
}

// ---- graceful shutdown ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_flushes_what_was_queued_then_closes_within_the_deadline() {
    let io = SocketIo::new();
    let reasons: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let r2 = reasons.clone();
    io.ns("/", move |socket: SocketRef| {
        let reasons = r2.clone();
        async move {
            socket.on_disconnect(move |_s: SocketRef, reason: DisconnectReason| {
                reasons.lock().unwrap().push(reason.as_str());
                async {}
            });
        }
    });
    let port = serve(&io).await;
    let mut ws_clients = Vec::new();
    for _ in 0..8 {
        ws_clients.push(Client::connect(port, "/", None).await);
    }
    // A polling client, joined.
    let sid = polling_open(port).await;
    let q = format!("&sid={sid}");
    http(port, "POST", &q, "40").await;
    assert!(http(port, "GET", &q, "").await.1.starts_with("40{"));
    // A client that stops reading, with more queued than the kernel buffers take.
    let slow = Client::connect(port, "/", None).await;

    // Under load: 300 messages of 16 KiB queued for everyone, then close at once.
    let pad = "x".repeat(16 * 1024);
    for i in 0..300 {
        io.emit("m", &(i, &pad)).await.unwrap();
    }
    // The clients read while the server closes (the slow one does not).
    let readers: Vec<_> = ws_clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut n = 0;
                loop {
                    let m = c.recv().await;
                    if m == "<close>" {
                        return n;
                    }
                    assert!(m.starts_with("42[\"m\","), "{}", &m[..m.len().min(40)]);
                    n += 1;
                }
            })
        })
        .collect();
    let poller = tokio::spawn(async move {
        let mut body = String::new();
        for _ in 0..100 {
            let (code, b) = http(port, "GET", &q, "").await;
            if code != 200 {
                break;
            }
            body.push_str(&b);
            if b.ends_with("\u{1e}1") || b == "1" {
                break;
            }
        }
        body
    });
    let started = Instant::now();
    io.close(Duration::from_secs(2)).await;
    let took = started.elapsed();
    eprintln!("shutdown: close() returned after {took:?}");
    // The slow client never drains: close waits for the deadline, then drops it.
    assert!(took < Duration::from_millis(2300), "close took {took:?}");

    // Every WebSocket client got all 300 messages, then the close frame, and no DISCONNECT.
    for r in readers {
        assert_eq!(r.await.unwrap(), 300);
    }
    // The polling client gets what was queued, then the close packet (`1`).
    let body = poller.await.unwrap();
    assert_eq!(body.matches("42[\"m\",").count(), 300);
    assert!(
        body.ends_with('1'),
        "{}",
        &body[body.len().saturating_sub(40)..]
    );
    assert!(!body.contains("\u{1e}41"), "no DISCONNECT packet");
    drop(slow);
    support::eventually(|| reasons.lock().unwrap().len() == 10).await;
    assert!(reasons
        .lock()
        .unwrap()
        .iter()
        .all(|r| *r == "server shutting down"));
    let s = idle(&io, Duration::from_secs(5)).await;
    assert!(s.is_idle(), "{s:?}");
}

// ---- what the defaults and the hooks protect ------------------------------------------------

#[tokio::test]
async fn no_cors_by_default_cookie_attributes_and_allow_request_refuses_before_a_session() {
    // Defaults: no CORS headers at all, no cookie.
    let io = SocketIo::new();
    io.ns("/", |_s: SocketRef| async {});
    let port = serve(&io).await;
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let head = String::from_utf8_lossy(&out).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"));
    assert!(!head.contains("access-control-"), "{head}");
    assert!(!head.contains("set-cookie"), "{head}");

    // The cookie option: HttpOnly, SameSite=Lax, Path=/ by default.
    let io = SocketIo::builder()
        .map_engine(|e| e.with_cookie(Some(ferrio::engine::Cookie::default())))
        .build();
    io.ns("/", |_s: SocketRef| async {});
    let port = serve(&io).await;
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let cookie = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    let sid = &text[text.find("\"sid\":\"").unwrap() + 7..][..20];
    assert_eq!(
        cookie,
        format!("set-cookie: io={sid}; Path=/; HttpOnly; SameSite=Lax")
    );

    // allow_request: refused with 403 (code 4) before any session or task exists; a namespace
    // middleware: CONNECT_ERROR, and no socket is kept.
    let io = SocketIo::builder()
        .map_engine(|e| {
            e.with_allow_request(|parts| {
                let ok = parts.headers.contains_key("x-token");
                async move {
                    if ok {
                        Ok(())
                    } else {
                        Err("no token".to_owned())
                    }
                }
            })
        })
        .build();
    io.ns("/", |_s: SocketRef| async {})
        .with(|_s: SocketRef| async { Err::<(), _>(ferrio::ConnectError::new("not allowed")) });
    let port = serve(&io).await;
    let (code, body) = http(port, "GET", "", "").await;
    assert_eq!(
        (code, body.as_str()),
        (403, r#"{"code":4,"message":"no token"}"#)
    );
    assert_eq!((io.stats().sessions, io.stats().engine_tasks), (0, 0));
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    req.headers_mut().insert("x-token", "t".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.next().await.unwrap().unwrap();
    ws.send(Message::Text("40".into())).await.unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert_eq!(reply.to_text().unwrap(), r#"44{"message":"not allowed"}"#);
    assert_eq!(io.stats().sockets(), 0);
}
