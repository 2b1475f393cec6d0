//! A WebSocket connection: the sans-IO codec of [`crate::ws`] over an upgraded HTTP
//! connection.
//!
//! An idle connection holds no buffer: reads go to a scratch buffer of the thread and only the
//! bytes of an incomplete frame stay with the connection; the write buffer is released once a
//! batch is out when it grew past [`KEEP_WRITE_BUFFER`].

use crate::packet::Frame;
use crate::ws::{deflate, frame::Header, Decoder, Message, OpCode, PmdParams, WsError};
use bytes::BytesMut;
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Poll};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

pub(crate) type RawIo = TokioIo<hyper::upgrade::Upgraded>;

/// Write buffers up to this capacity are kept between batches.
const KEEP_WRITE_BUFFER: usize = 4 * 1024;

/// Bytes read per read call.
const SCRATCH_LEN: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_LEN].into_boxed_slice());
}

/// One WebSocket connection of a session.
pub(crate) struct WsConn {
    io: RawIo,
    /// Bytes read but not yet decoded: empty (and unallocated) between messages.
    rbuf: BytesMut,
    decoder: Decoder,
    /// Frames encoded and not yet written.
    wbuf: Vec<u8>,
    /// The client asked for `b64`: binary messages go as `b<base64>` text frames.
    pub(crate) b64: bool,
    deflate: Option<PmdParams>,
}

impl WsConn {
    pub(crate) fn new(io: RawIo, max: usize, b64: bool, deflate: Option<PmdParams>) -> Self {
        WsConn {
            io,
            rbuf: BytesMut::new(),
            decoder: Decoder::new(max, deflate.as_ref()),
            wbuf: Vec::new(),
            b64,
            deflate,
        }
    }

    /// The next message; `None` when the connection ended (EOF or a read error).
    ///
    /// Cancel-safe: what was read stays in the connection's buffer.
    pub(crate) async fn next(&mut self) -> Option<Result<Message, WsError>> {
        loop {
            if !self.rbuf.is_empty() {
                match self.decoder.decode(&mut self.rbuf) {
                    Ok(Some(m)) => {
                        if self.rbuf.is_empty() {
                            // Let go of the allocation the message came from.
                            self.rbuf = BytesMut::new();
                        }
                        return Some(Ok(m));
                    }
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            match self.read().await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads what is available into the connection's buffer, through the thread's scratch
    /// buffer: an idle connection waits for bytes without holding a buffer of its own.
    async fn read(&mut self) -> io::Result<usize> {
        let (io, rbuf) = (&mut self.io, &mut self.rbuf);
        poll_fn(|cx| {
            SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                let mut buf = ReadBuf::new(&mut s[..]);
                ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
                rbuf.extend_from_slice(buf.filled());
                Poll::Ready(Ok(buf.filled().len()))
            })
        })
        .await
    }

    /// Encodes an Engine.IO frame as a WebSocket message.
    pub(crate) fn feed(&mut self, frame: &Frame) {
        match frame {
            Frame::Text(s) => self.feed_data(OpCode::Text, s.as_bytes()),
            Frame::Binary(_) if self.b64 => {
                let mut out = String::with_capacity(crate::payload::encoded_len_v4(frame));
                crate::payload::encode_v4([frame], &mut out);
                self.feed_data(OpCode::Text, out.as_bytes())
            }
            Frame::Binary(b) => self.feed_data(OpCode::Binary, b),
        }
    }

    fn feed_data(&mut self, opcode: OpCode, payload: &[u8]) {
        match self.deflate {
            Some(p) if payload.len() >= p.threshold => DEFLATED.with(|d| {
                let mut d = d.borrow_mut();
                d.clear();
                deflate::deflate(payload, &mut d);
                Header::encode(true, true, opcode, d.len(), &mut self.wbuf);
                self.wbuf.extend_from_slice(&d);
                if d.capacity() > SCRATCH_LEN {
                    *d = Vec::new();
                }
            }),
            _ => {
                Header::encode(true, false, opcode, payload.len(), &mut self.wbuf);
                self.wbuf.extend_from_slice(payload);
            }
        }
    }

    /// Encodes a control frame (close, ping, pong).
    pub(crate) fn feed_control(&mut self, opcode: OpCode, payload: &[u8]) {
        debug_assert!(payload.len() <= 125);
        Header::encode(true, false, opcode, payload.len(), &mut self.wbuf);
        self.wbuf.extend_from_slice(payload);
    }

    /// Encodes a close frame with `code`, or none.
    pub(crate) fn feed_close(&mut self, code: Option<u16>) {
        let payload = code.map(u16::to_be_bytes);
        self.feed_control(OpCode::Close, payload.as_ref().map_or(&[], |p| &p[..]));
    }

    /// Whether encoded frames wait to be written.
    pub(crate) fn has_output(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// Writes what was encoded.
    ///
    /// Not cancel-safe: a cancelled flush may have written part of a frame, after which the
    /// connection can only be dropped.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.io.write_all(&self.wbuf).await?;
            self.io.flush().await?;
        }
        self.wbuf.clear();
        if self.wbuf.capacity() > KEEP_WRITE_BUFFER {
            self.wbuf = Vec::new();
        }
        Ok(())
    }

    /// Sends a close frame (and what was encoded before it).
    pub(crate) async fn close(&mut self, code: Option<u16>) -> io::Result<()> {
        self.feed_close(code);
        self.flush().await
    }

    /// Reads and discards what the client still sends, until it closes or `within` passes,
    /// so that a close frame just sent is read before the connection goes away.
    pub(crate) async fn drain(&mut self, within: std::time::Duration) {
        let _ = tokio::time::timeout(within, async {
            while let Ok(n) = self.read().await {
                self.rbuf.clear();
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

thread_local! {
    /// Where a message is compressed before its header (which needs the length) is written.
    static DEFLATED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}
