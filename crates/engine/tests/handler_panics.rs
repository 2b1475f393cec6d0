//! A panicking [`EngineHandler`] (issue 17): the session driver survives it, the session is
//! removed and `on_close` is called; a panicking `on_close` does not keep the session.

use ferrio_engine::{serve, CloseReason, Engine, EngineConfig, EngineHandler, Message, Socket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct Panicky {
    opened: Mutex<usize>,
    closed: Arc<Mutex<Vec<CloseReason>>>,
}

impl EngineHandler for Panicky {
    type Data = ();
    fn on_open(&self, _socket: &Socket) {
        let mut n = self.opened.lock().unwrap();
        *n += 1;
        if *n == 2 {
            drop(n);
            panic!("on_open");
        }
    }
    fn on_message(&self, _socket: &Socket, message: Message) {
        if matches!(&message, Message::Text(t) if &**t == "boom") {
            panic!("on_message");
        }
    }
    fn on_close(&self, _socket: &Socket, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
        panic!("on_close");
    }
}

/// One HTTP/1.1 request with `Connection: close`: the status and the body.
async fn http(port: u16, method: &str, query: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!(
        "{method} /engine.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

/// The sid of the open packet, the first of the payload.
fn sid_of(open: &str) -> String {
    let first = open.split('\x1e').next().unwrap();
    let v: serde_json::Value = serde_json::from_str(&first[1..]).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(5), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_panicking_handler_closes_its_session_and_leaves_nothing() {
    let handler = Panicky::default();
    let closed = handler.closed.clone();
    let engine = Engine::new(EngineConfig::default(), handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(listener, engine.clone().into_service()));

    // on_message panics: the session closes with `forced close`, then on_close panics.
    let (_, open) = http(port, "GET", "", "").await;
    let sid = sid_of(&open);
    let (status, _) = http(port, "POST", &format!("&sid={sid}"), "4boom").await;
    assert_eq!(status, 200);
    until("the session stayed", || engine.session_count() == 0).await;
    assert_eq!(*closed.lock().unwrap(), vec![CloseReason::ForcedClose]);

    // on_open panics (the second session): closed at once, the close packet after the open one.
    let (_, open) = http(port, "GET", "", "").await;
    sid_of(&open);
    assert!(open.ends_with("\x1e1"), "{open:?}");
    until("the session stayed", || engine.session_count() == 0).await;
    until("on_close not called", || closed.lock().unwrap().len() == 2).await;
    until("tasks left", || engine.task_count() == 0).await;
}
