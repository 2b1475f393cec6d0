//! A minimal keep-alive HTTP/1.1 client over one TcpStream and a Socket.IO
//! client on Engine.IO HTTP long-polling only. Buffers are reused between
//! requests.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::net::{self, Res, STEP};
use crate::proto;

struct Http {
    addr: SocketAddr,
    src: Ipv4Addr,
    stream: Option<TcpStream>,
    req: Vec<u8>,
    /// Bytes read and not yet consumed.
    rbuf: Vec<u8>,
    /// Body of the last response.
    body: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Http {
    async fn stream(&mut self) -> Res<&mut TcpStream> {
        if self.stream.is_none() {
            self.stream = Some(net::tcp(self.addr, self.src).await?);
            self.rbuf.clear();
        }
        Ok(self.stream.as_mut().expect("just set"))
    }

    async fn fill(&mut self) -> Res<()> {
        let s = self.stream.as_mut().ok_or("not connected")?;
        let mut chunk = [0u8; 8192];
        let n = s.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed by server".to_owned());
        }
        self.rbuf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Sends a request and reads the whole response body into `self.body`.
    async fn request(&mut self, method: &str, path: &str, body: &[u8]) -> Res<u16> {
        self.req.clear();
        let host = self.addr;
        self.req.extend_from_slice(method.as_bytes());
        self.req.push(b' ');
        self.req.extend_from_slice(path.as_bytes());
        self.req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        self.req.extend_from_slice(host.to_string().as_bytes());
        self.req.extend_from_slice(b"\r\n");
        if method == "POST" {
            self.req
                .extend_from_slice(b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ");
            self.req
                .extend_from_slice(body.len().to_string().as_bytes());
            self.req.extend_from_slice(b"\r\n");
        }
        self.req.extend_from_slice(b"\r\n");
        self.req.extend_from_slice(body);
        let req = std::mem::take(&mut self.req);
        let r = self.stream().await?.write_all(&req).await;
        self.req = req;
        r.map_err(|e| format!("write: {e}"))?;
        let r = self.response().await;
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    async fn response(&mut self) -> Res<u16> {
        let head_end = loop {
            if let Some(p) = find(&self.rbuf, b"\r\n\r\n") {
                break p;
            }
            if self.rbuf.len() > 64 * 1024 {
                return Err("response head too large".to_owned());
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.rbuf[..head_end]).map_err(|_| "non-UTF-8 head")?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let mut len = None;
        let mut chunked = false;
        let mut close = false;
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.to_ascii_lowercase().contains("chunked");
            } else if k.eq_ignore_ascii_case("connection") {
                close = v.eq_ignore_ascii_case("close");
            }
        }
        self.rbuf.drain(..head_end + 4);
        self.body.clear();
        if chunked {
            loop {
                let line_end = loop {
                    if let Some(p) = find(&self.rbuf, b"\r\n") {
                        break p;
                    }
                    self.fill().await?;
                };
                let size_str =
                    std::str::from_utf8(&self.rbuf[..line_end]).map_err(|_| "bad chunk")?;
                let size =
                    usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| "bad chunk size")?;
                self.rbuf.drain(..line_end + 2);
                while self.rbuf.len() < size + 2 {
                    self.fill().await?;
                }
                self.body.extend_from_slice(&self.rbuf[..size]);
                self.rbuf.drain(..size + 2);
                if size == 0 {
                    break;
                }
            }
        } else if let Some(len) = len {
            while self.rbuf.len() < len {
                self.fill().await?;
            }
            self.body.extend_from_slice(&self.rbuf[..len]);
            self.rbuf.drain(..len);
        } else if close {
            while self.fill().await.is_ok() {}
            self.body.append(&mut self.rbuf);
        }
        if close {
            self.stream = None;
        }
        Ok(status)
    }
}

/// A Socket.IO client on `/` using only HTTP long-polling.
pub struct PollClient {
    http: Http,
    path: String,
    post_buf: String,
    next_id: u64,
}

impl PollClient {
    /// Opens a polling session from `src` and joins `/`.
    pub async fn connect(addr: SocketAddr, src: Ipv4Addr) -> Res<PollClient> {
        let mut http = Http {
            addr,
            src,
            stream: None,
            req: Vec::with_capacity(512),
            rbuf: Vec::with_capacity(8192),
            body: Vec::with_capacity(1024),
        };
        let st = timeout(
            STEP,
            http.request("GET", "/socket.io/?EIO=4&transport=polling", b""),
        )
        .await
        .map_err(|_| "handshake timeout")??;
        let open = String::from_utf8_lossy(&http.body).into_owned();
        if st != 200 {
            return Err(format!("handshake status {st}: {open}"));
        }
        let sid = proto::open_sid(&open).ok_or_else(|| format!("bad OPEN {open:?}"))?;
        let mut c = PollClient {
            http,
            path: format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
            post_buf: String::with_capacity(128),
            next_id: 0,
        };
        c.post_static("40").await?;
        timeout(STEP, async {
            loop {
                let mut connected = false;
                let mut err = None;
                c.get(|s| {
                    if proto::is_connect(s) {
                        connected = true;
                    } else if proto::is_connect_error(s) {
                        err = Some(s.to_owned());
                    }
                })
                .await?;
                if let Some(e) = err {
                    return Err(format!("CONNECT_ERROR {e}"));
                }
                if connected {
                    return Ok(());
                }
            }
        })
        .await
        .map_err(|_| "connect timeout")??;
        Ok(c)
    }

    async fn post_static(&mut self, body: &str) -> Res<()> {
        let path = std::mem::take(&mut self.path);
        let r = self.http.request("POST", &path, body.as_bytes()).await;
        self.path = path;
        match r? {
            200 => Ok(()),
            st => Err(format!("POST status {st}")),
        }
    }

    /// One long-polling GET; calls `f` with each Socket.IO packet; answers pings.
    async fn get(&mut self, mut f: impl FnMut(&str)) -> Res<()> {
        let path = std::mem::take(&mut self.path);
        let r = self.http.request("GET", &path, b"").await;
        self.path = path;
        let st = r?;
        if st != 200 {
            return Err(format!("GET status {st}"));
        }
        let body = std::str::from_utf8(&self.http.body).map_err(|_| "non-UTF-8 payload")?;
        let mut ping = false;
        for pkt in body.split('\x1e') {
            match pkt.as_bytes().first() {
                Some(b'4') => f(&pkt[1..]),
                Some(b'2') => ping = true,
                Some(b'1') => return Err("engine.io close".to_owned()),
                _ => {}
            }
        }
        if ping {
            self.post_static("3").await?;
        }
        Ok(())
    }

    /// Emits `message-with-ack` with `args` and polls until its ack arrives.
    pub async fn round_trip(&mut self, args: &str) -> Res<()> {
        self.next_id += 1;
        let id = self.next_id;
        let mut body = std::mem::take(&mut self.post_buf);
        body.clear();
        proto::push_event(&mut body, Some(id), "message-with-ack", args);
        let r = self.post_static(&body).await;
        self.post_buf = body;
        r?;
        timeout(STEP, async {
            loop {
                let mut done = false;
                self.get(|s| done |= proto::ack_id(s) == Some(id)).await?;
                if done {
                    return Ok(());
                }
            }
        })
        .await
        .map_err(|_| "no ack within timeout".to_owned())?
    }
}
