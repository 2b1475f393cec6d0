//! TCP connections from a chosen 127.0.0.x source address, and the Socket.IO
//! client over WebSocket.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

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
///
/// Its own minimal WebSocket client (the generator must not be the bottleneck): one read
/// buffer per connection from which text frames are handed out without a copy, writes
/// gathered in one buffer and written by [`Conn::flush`], no per-message allocation in the
/// steady state. It speaks what the servers under test send: unfragmented text frames (a
/// fragmented message is an error), pings (answered), close.
pub struct Conn {
    io: TcpStream,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
}

/// A text message of the server (`Deref<Target = str>`), sharing the connection's read buffer.
pub struct Text(Bytes);

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        // SAFETY: only `Conn::parse` makes a `Text`, from bytes it checked are UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

/// A frame from the read buffer `rbuf`, if a whole one is there (taken out of it).
fn parse_frame(rbuf: &mut BytesMut) -> Res<Option<Frame>> {
    let b = &rbuf[..];
    if b.len() < 2 {
        return Ok(None);
    }
    let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0f);
    if b[1] & 0x80 != 0 {
        return Err("masked frame from the server".to_owned());
    }
    let (len, head) = match b[1] & 0x7f {
        126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
        127 if b.len() >= 10 => {
            let mut n = [0; 8];
            n.copy_from_slice(&b[2..10]);
            (u64::from_be_bytes(n) as usize, 10)
        }
        126 | 127 => return Ok(None),
        n => (n as usize, 2),
    };
    if len > MAX_FRAME {
        return Err(format!(
            "a {len}-byte frame from the server (at most {MAX_FRAME})"
        ));
    }
    if b.len() < head + len {
        if head + len > rbuf.capacity() {
            rbuf.reserve(head + len - rbuf.len());
        }
        return Ok(None);
    }
    let mut frame = rbuf.split_to(head + len);
    let payload = frame.split_off(head).freeze();
    let text = |p: Bytes| match std::str::from_utf8(&p) {
        Ok(_) => Ok(Frame::Text(p)),
        Err(_) => Err("invalid UTF-8 in a text frame".to_owned()),
    };
    Ok(Some(match (opcode, fin) {
        (0x1, true) => text(payload)?,
        (0x2, true) => Frame::Other,
        (0x0..=0x2, _) => return Err("fragmented messages are not supported".to_owned()),
        (0x8, _) => Frame::Close,
        (0x9, _) => Frame::Ping(payload),
        _ => Frame::Other,
    }))
}

/// Appends a masked client frame to `w`.
fn push_frame(w: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    w.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => w.push(0x80 | n as u8),
        n if n <= u16::MAX as usize => {
            w.push(0x80 | 126);
            w.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            w.push(0x80 | 127);
            w.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    w.extend_from_slice(&MASK);
    w.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
}

/// The client's masking key: any key is valid for the server, which unmasks every frame.
const MASK: [u8; 4] = [0x5a, 0x13, 0xc4, 0x7e];

/// The largest frame the generator takes (the scenarios' messages are tens of bytes): a
/// length field past it is an error, not an allocation.
const MAX_FRAME: usize = 1 << 20;

/// Bytes of read buffer kept free before each read.
const READ_CHUNK: usize = 8 * 1024;

/// One frame the server sent.
enum Frame {
    /// A complete text message.
    Text(Bytes),
    /// A ping to answer with this payload.
    Ping(Bytes),
    /// Nothing for the caller (pong, unknown opcodes).
    Other,
    Close,
}

impl Conn {
    /// WebSocket handshake, Engine.IO OPEN, Socket.IO CONNECT to `/`.
    pub async fn connect(addr: SocketAddr, src: Ipv4Addr) -> Res<Conn> {
        let io = tcp(addr, src).await?;
        let mut c = Conn {
            io,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: Vec::new(),
        };
        timeout(STEP, c.handshake(addr))
            .await
            .map_err(|_| "websocket handshake timeout".to_owned())??;
        let open = c.next_raw().await?;
        if !open.starts_with("0{") {
            return Err(format!("expected OPEN, got {:?}", &*open));
        }
        c.send("40").await?;
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

    async fn handshake(&mut self, addr: SocketAddr) -> Res<()> {
        let req = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        self.io
            .write_all(req.as_bytes())
            .await
            .map_err(|e| format!("websocket handshake: {e}"))?;
        loop {
            if let Some(end) = self.rbuf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = self.rbuf.split_to(end + 4);
                let status = head[..].split(|&b| b == b' ').nth(1).unwrap_or(b"");
                if status != b"101" {
                    let line = head[..].split(|&b| b == b'\r').next().unwrap_or(b"");
                    return Err(format!(
                        "websocket handshake: {}",
                        String::from_utf8_lossy(line)
                    ));
                }
                return Ok(());
            }
            if self.rbuf.len() > 16 * 1024 {
                return Err("websocket handshake: response head too large".to_owned());
            }
            self.fill().await?;
        }
    }

    /// Reads what is available into the read buffer.
    async fn fill(&mut self) -> Res<()> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 2 {
            self.rbuf.reserve(READ_CHUNK);
        }
        match self.io.read_buf(&mut self.rbuf).await {
            Ok(0) => Err("connection closed".to_owned()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// The next frame, reading as needed. Cancel-safe: what was read stays buffered.
    async fn next_frame(&mut self) -> Res<Frame> {
        loop {
            if let Some(f) = self.parse()? {
                return Ok(f);
            }
            self.fill().await?;
        }
    }

    fn parse(&mut self) -> Res<Option<Frame>> {
        parse_frame(&mut self.rbuf)
    }

    /// Next Engine.IO text packet, whatever it is (with a step timeout).
    async fn next_raw(&mut self) -> Res<Text> {
        loop {
            let f = timeout(STEP, self.next_frame())
                .await
                .map_err(|_| "read timeout".to_owned())??;
            match f {
                Frame::Text(t) => return Ok(Text(t)),
                Frame::Close => return Err("connection closed".to_owned()),
                Frame::Ping(p) => self.pong(&p).await?,
                Frame::Other => {}
            }
        }
    }

    /// Next Engine.IO `message` packet (`4...`); answers pings on the way.
    /// No timeout: callers bound it themselves. Cancel-safe.
    pub async fn next_sio(&mut self) -> Res<Text> {
        loop {
            match self.next_frame().await? {
                Frame::Text(t) => match t.first() {
                    Some(b'4') => return Ok(Text(t)),
                    Some(b'2') => self.send("3").await?,
                    Some(b'1') => return Err("engine.io close".to_owned()),
                    _ => {}
                },
                Frame::Close => return Err("connection closed".to_owned()),
                Frame::Ping(p) => self.pong(&p).await?,
                Frame::Other => {}
            }
        }
    }

    async fn pong(&mut self, payload: &[u8]) -> Res<()> {
        push_frame(&mut self.wbuf, 0xA, payload);
        self.flush().await
    }

    /// Sends one text frame and flushes.
    pub async fn send(&mut self, t: &str) -> Res<()> {
        self.feed(t);
        self.flush().await
    }

    /// Queues one text frame without writing it (batched writes).
    pub fn feed(&mut self, t: &str) {
        push_frame(&mut self.wbuf, 0x1, t.as_bytes());
    }

    /// Writes out what was queued. Cancel-safe: what is not written yet stays queued.
    pub async fn flush(&mut self) -> Res<()> {
        while !self.wbuf.is_empty() {
            let n = self
                .io
                .write(&self.wbuf)
                .await
                .map_err(|e| format!("write: {e}"))?;
            if n == 0 {
                return Err("write: connection closed".to_owned());
            }
            self.wbuf.drain(..n);
        }
        Ok(())
    }

    /// Emits `event` with an ack id and `args` (raw JSON) and waits for that ack,
    /// ignoring other packets. Returns the ack payload packet.
    pub async fn call(&mut self, id: u64, event: &str, args: &str) -> Res<Text> {
        let mut s = String::with_capacity(32 + event.len() + args.len());
        proto::push_event(&mut s, Some(id), event, args);
        self.send(&s).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames_come_out_whole_and_in_order() {
        let long = "x".repeat(300);
        let mut wire = server_frame(0x1, b"42[\"tick\"]");
        wire.extend(server_frame(0x9, b"p"));
        wire.extend(server_frame(0x1, long.as_bytes()));
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        // Byte by byte: a partial frame waits for the rest.
        for b in wire {
            buf.extend_from_slice(&[b]);
            while let Some(f) = parse_frame(&mut buf).unwrap() {
                got.push(match f {
                    Frame::Text(t) => format!("text {}", std::str::from_utf8(&t).unwrap()),
                    Frame::Ping(p) => format!("ping {}", std::str::from_utf8(&p).unwrap()),
                    Frame::Other => "other".to_owned(),
                    Frame::Close => "close".to_owned(),
                });
            }
        }
        assert_eq!(
            got,
            ["text 42[\"tick\"]", "ping p", &format!("text {long}")]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn refuses_a_frame_longer_than_the_limit() {
        let mut huge = BytesMut::from(&[0x81, 127, 0xff, 0, 0, 0, 0, 0, 0, 0][..]);
        assert!(parse_frame(&mut huge).is_err());
        assert!(huge.capacity() < 1 << 20, "nothing reserved for it");
    }

    #[test]
    fn refuses_what_it_does_not_speak() {
        let mut masked = BytesMut::from(&[0x81, 0x81, 0, 0, 0, 0, b'a'][..]);
        assert!(parse_frame(&mut masked).is_err());
        let mut fragment = BytesMut::from(&server_frame(0x1, b"a")[..]);
        fragment[0] &= 0x7f; // FIN cleared
        assert!(parse_frame(&mut fragment).is_err());
        let mut bad = BytesMut::from(&server_frame(0x1, &[0xff])[..]);
        assert!(parse_frame(&mut bad).is_err());
    }

    #[test]
    fn client_frames_are_masked() {
        for len in [0, 5, 125, 126, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut w = Vec::new();
            push_frame(&mut w, 0x1, &payload);
            assert_eq!(w[0], 0x81);
            assert_ne!(w[1] & 0x80, 0, "mask bit");
            let (n, at) = match w[1] & 0x7f {
                126 => (u16::from_be_bytes([w[2], w[3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(w[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            assert_eq!(n, len);
            let key = &w[at..at + 4];
            let unmasked: Vec<u8> = w[at + 4..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            assert_eq!(unmasked, payload);
        }
    }
}
