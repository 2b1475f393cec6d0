//! A minimal raw Socket.IO client over WebSocket, and a server on a free port.
#![allow(dead_code)]

use ferrio::SocketIo;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Serves `io` on a free port of 127.0.0.1.
pub async fn serve(io: &SocketIo) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service = io.clone().into_service();
    tokio::spawn(ferrio::engine::serve(listener, service));
    port
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub sid: String,
    /// The CONNECT reply's payload (`{"sid"}`, plus `"pid"` with recovery).
    pub reply: serde_json::Value,
}

impl Client {
    /// Opens a WebSocket session and joins `nsp` (with `auth` JSON, or none).
    pub async fn connect(port: u16, nsp: &str, auth: Option<&str>) -> Client {
        let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut c = Client {
            ws,
            sid: String::new(),
            reply: serde_json::Value::Null,
        };
        let open = c.recv().await;
        assert!(open.starts_with("0{"), "{open}");
        let prefix = if nsp == "/" {
            "40".to_owned()
        } else {
            format!("40{nsp},")
        };
        c.send(&format!("{prefix}{}", auth.unwrap_or(""))).await;
        let reply = c.recv().await;
        assert!(reply.starts_with(&prefix), "{reply}");
        let v: serde_json::Value = serde_json::from_str(&reply[prefix.len()..]).unwrap();
        c.sid = v["sid"].as_str().unwrap().to_owned();
        c.reply = v;
        c
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next text frame, answering pings on the way.
    pub async fn recv(&mut self) -> String {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("a frame within 5 s")
                .expect("the connection is open")
                .unwrap();
            match msg {
                Message::Text(t) if t.as_str() == "2" => self.send("3").await,
                Message::Text(t) => return t.to_string(),
                Message::Binary(b) => return format!("<binary {}>", b.len()),
                Message::Close(_) => return "<close>".into(),
                _ => {}
            }
        }
    }

    /// Whether nothing but pings arrives within `d`.
    pub async fn silent_for(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.recv()).await.is_err()
    }
}

/// Waits until `f` holds, for at most 2 s.
pub async fn eventually(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 2 s");
}

impl Client {
    pub async fn ws_send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.unwrap();
    }
}
