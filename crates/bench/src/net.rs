//! TCP connections from a chosen 127.0.0.x source address, and the Socket.IO
//! client over WebSocket.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::proto;

/// A result whose error is a message for the report.
pub type Res<T> = Result<T, String>;

/// Per-step timeout of handshakes and waits for one reply.
pub const STEP: Duration = Duration::from_secs(10);

/// Only the loopback range may be targeted.
pub fn check_loopback(addr: &SocketAddr) -> Res<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!("{addr}: only 127.0.0.0/8 (or ::1) may be targeted"))
    }
}

/// Source address number `i` of `sources`: 127.0.0.1 .. `127.0.0.<sources>`.
pub fn source(i: usize, sources: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i % sources.clamp(1, 250)) as u8)
}

/// Opens a TCP connection to `addr` from `src` (port chosen at connect time,
/// so several source addresses multiply the ephemeral port range).
pub async fn tcp(addr: SocketAddr, src: Ipv4Addr) -> Res<TcpStream> {
    let stream = if addr.is_ipv4() && src != Ipv4Addr::LOCALHOST {
        let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on a socket we own, with a c_int option value.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        sock.bind(SocketAddr::new(src.into(), 0))
            .map_err(|e| format!("bind {src}: {e}"))?;
        timeout(STEP, sock.connect(addr))
            .await
            .map_err(|_| "tcp connect timeout".to_owned())?
            .map_err(|e| format!("connect {addr}: {e}"))?
    } else {
        timeout(STEP, TcpStream::connect(addr))
            .await
            .map_err(|_| "tcp connect timeout".to_owned())?
            .map_err(|e| format!("connect {addr}: {e}"))?
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A Socket.IO client on namespace `/` over a WebSocket-only Engine.IO session.
pub struct Conn {
    ws: WebSocketStream<TcpStream>,
}

const PONG: Utf8Bytes = Utf8Bytes::from_static("3");

impl Conn {
    /// WebSocket handshake, Engine.IO OPEN, Socket.IO CONNECT to `/`.
    pub async fn connect(addr: SocketAddr, src: Ipv4Addr) -> Res<Conn> {
        let stream = tcp(addr, src).await?;
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let cfg = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(16 * 1024);
        let (ws, _) = timeout(
            STEP,
            tokio_tungstenite::client_async_with_config(url, stream, Some(cfg)),
        )
        .await
        .map_err(|_| "websocket handshake timeout".to_owned())?
        .map_err(|e| format!("websocket handshake: {e}"))?;
        let mut c = Conn { ws };
        let open = c.next_raw().await?;
        if !open.starts_with("0{") {
            return Err(format!("expected OPEN, got {open:?}"));
        }
        c.send(Utf8Bytes::from_static("40")).await?;
        loop {
            let p = c.next_sio().await?;
            let s = proto::sio(&p).unwrap_or("");
            if proto::is_connect(s) {
                return Ok(c);
            }
            if proto::is_connect_error(s) {
                return Err(format!("CONNECT_ERROR {s}"));
            }
        }
    }

    /// Next Engine.IO text packet, whatever it is (with a step timeout).
    async fn next_raw(&mut self) -> Res<Utf8Bytes> {
        loop {
            let m = timeout(STEP, self.ws.next())
                .await
                .map_err(|_| "read timeout".to_owned())?;
            match m {
                Some(Ok(Message::Text(t))) => return Ok(t),
                Some(Ok(Message::Close(_))) | None => return Err("connection closed".to_owned()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Next Engine.IO `message` packet (`4...`); answers pings on the way.
    /// No timeout: callers bound it themselves.
    pub async fn next_sio(&mut self) -> Res<Utf8Bytes> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => match t.as_bytes().first() {
                    Some(b'4') => return Ok(t),
                    Some(b'2') => self.send(PONG).await?,
                    Some(b'1') => return Err("engine.io close".to_owned()),
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None => return Err("connection closed".to_owned()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Sends one text frame and flushes.
    pub async fn send(&mut self, t: impl Into<Utf8Bytes>) -> Res<()> {
        self.ws
            .send(Message::Text(t.into()))
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Queues one text frame without flushing (batched writes).
    pub async fn feed(&mut self, t: impl Into<Utf8Bytes>) -> Res<()> {
        self.ws
            .feed(Message::Text(t.into()))
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Writes out what was sent.
    pub async fn flush(&mut self) -> Res<()> {
        self.ws.flush().await.map_err(|e| format!("write: {e}"))
    }

    /// Emits `event` with an ack id and `args` (raw JSON) and waits for that ack,
    /// ignoring other packets. Returns the ack payload packet.
    pub async fn call(&mut self, id: u64, event: &str, args: &str) -> Res<Utf8Bytes> {
        let mut s = String::with_capacity(32 + event.len() + args.len());
        proto::push_event(&mut s, Some(id), event, args);
        self.send(s).await?;
        timeout(STEP, async {
            loop {
                let p = self.next_sio().await?;
                if proto::sio(&p).and_then(proto::ack_id) == Some(id) {
                    return Ok(p);
                }
            }
        })
        .await
        .map_err(|_| format!("no ack for {event} within {STEP:?}"))?
    }
}
