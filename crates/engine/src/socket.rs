//! [`Socket`]: one Engine.IO session, as the layer above sees it.
//!
//! A socket owns a bounded send queue. Whichever transport is current drains it: a polling
//! `GET` takes every queued frame into one payload, the WebSocket driver writes them as frames.
//! Frames that must stay together (a Socket.IO packet and its binary attachments) are queued
//! as one item with [`Socket::send_many`], so no other sender can slip between them.

use crate::error::{CloseReason, SendError};
use crate::packet::{Frame, PacketType, ProtocolVersion};
use crate::queue::SendQueue;
use crate::Sid;
use http::HeaderMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::Notify;

/// One entry of a socket's send queue.
#[derive(Debug)]
pub(crate) enum Item {
    One(Frame),
    /// Frames that stay together, shareable by many sockets (a broadcast's packet and its
    /// attachments: one allocation for all recipients).
    Many(std::sync::Arc<[Frame]>),
    /// WebSocket: flush what came before, then wait this long before writing what follows.
    Pause(std::time::Duration),
}

impl Item {
    pub(crate) fn frames(&self) -> &[Frame] {
        match self {
            Item::One(f) => std::slice::from_ref(f),
            Item::Many(v) => v,
            Item::Pause(_) => &[],
        }
    }
}

/// The longest pause [`Socket::pause_writes`] accepts.
pub const MAX_WRITE_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// The transport a session currently uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The name used in the `transport` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// What the handshake request carried: the layer above builds its handshake from it.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The request headers.
    pub headers: HeaderMap,
    /// The request URI (path and query).
    pub uri: http::Uri,
    /// The peer address, when the server knows it (see [`RemoteAddr`](crate::RemoteAddr)).
    pub remote_addr: Option<SocketAddr>,
    /// When the handshake arrived.
    pub time: SystemTime,
    /// Whether the request came over TLS (`x-forwarded-proto: https` counts).
    pub secure: bool,
}

impl RequestInfo {
    /// Takes what a session keeps of its handshake request.
    ///
    /// The header values and the URI are copied into one allocation of their own: hyper's
    /// point into its connection read buffer (8 KiB or more), and keeping them would keep that
    /// whole buffer alive for as long as the session lives.
    pub(crate) fn new(
        headers: &HeaderMap,
        uri: &http::Uri,
        remote_addr: Option<SocketAddr>,
        secure: bool,
    ) -> Self {
        let uri_text = uri.to_string();
        let len = uri_text.len() + headers.values().map(|v| v.len()).sum::<usize>();
        let mut buf = bytes::BytesMut::with_capacity(len);
        buf.extend_from_slice(uri_text.as_bytes());
        for v in headers.values() {
            buf.extend_from_slice(v.as_bytes());
        }
        let buf = buf.freeze();
        let uri = http::Uri::from_maybe_shared(buf.slice(..uri_text.len())).unwrap_or(uri.clone());
        let mut at = uri_text.len();
        let mut copy = HeaderMap::with_capacity(headers.keys_len());
        for (name, value) in headers {
            let end = at + value.len();
            let mut owned =
                http::HeaderValue::from_maybe_shared(buf.slice(at..end)).unwrap_or(value.clone());
            owned.set_sensitive(value.is_sensitive());
            copy.append(name.clone(), owned);
            at = end;
        }
        RequestInfo {
            headers: copy,
            uri,
            remote_addr,
            time: SystemTime::now(),
            secure,
        }
    }

    /// The query parameters, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        crate::engine::parse_query(self.uri.query().unwrap_or(""))
    }
}

/// On polling.
pub(crate) const POLLING: u8 = 0;
/// On polling; a WebSocket joined and has not sent `2probe` yet.
pub(crate) const UPGRADING: u8 = 1;
/// On WebSocket.
pub(crate) const WEBSOCKET: u8 = 2;
/// Closed.
pub(crate) const CLOSED: u8 = 3;
/// On polling; the probe was answered and the client will send `5`: every poll is released
/// with a noop so that the client can finish the upgrade.
pub(crate) const PROBED: u8 = 4;

pub(crate) struct Shared<D> {
    pub(crate) id: Sid,
    pub(crate) version: ProtocolVersion,
    pub(crate) queue: SendQueue<Item>,
    pub(crate) state: AtomicU8,
    /// The JSONP callback index when the session was opened with `j` (JSONP polling).
    pub(crate) jsonp: Option<Box<str>>,
    /// A polling POST is being read.
    pub(crate) posting: AtomicBool,
    /// A pong (v4) or ping (v3) arrived over polling; the driver must look.
    pub(crate) heartbeat_pending: AtomicBool,
    /// Wakes the session driver (heartbeat, close, upgrade offers).
    pub(crate) wake: crate::queue::Signal,
    /// Wakes everything waiting for the session to close.
    pub(crate) closed: Notify,
    pub(crate) close_reason: Mutex<Option<CloseReason>>,
    /// A WebSocket offered for an upgrade, picked up by the driver.
    pub(crate) upgrade_offer: Mutex<Option<Box<crate::transport::websocket::WsConn>>>,
    /// The server asked to close: flush, then close.
    pub(crate) closing: AtomicBool,
    /// Polling: the queue was flushed up to the close; the next poll gets the close packet
    /// alone (the reference closes the transport after the buffer drained, so clients handle
    /// the last packets before the close).
    pub(crate) close_next_poll: AtomicBool,
    /// Queue items sent and not yet written to the transport.
    pub(crate) unflushed: std::sync::atomic::AtomicUsize,
    /// Notified when `unflushed` drops to zero (the reference's `drain`).
    pub(crate) drained: Notify,
    /// Polling: the client sent a close packet while no poll was pending; the next poll
    /// gets a noop and the session closes.
    pub(crate) release_next_poll: AtomicBool,
    pub(crate) request: RequestInfo,
    pub(crate) data: D,
}

/// A handle to one Engine.IO session; cheap to clone.
///
/// `D` is the data the layer above keeps per session (see
/// [`EngineHandler::Data`](crate::EngineHandler::Data)).
pub struct Socket<D = ()>(pub(crate) Arc<Shared<D>>);

impl<D> Clone for Socket<D> {
    fn clone(&self) -> Self {
        Socket(self.0.clone())
    }
}

impl<D> fmt::Debug for Socket<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.0.id)
            .field("transport", &self.transport())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<D> Socket<D> {
    pub(crate) fn new(
        id: Sid,
        version: ProtocolVersion,
        capacity: usize,
        state: u8,
        jsonp: Option<Box<str>>,
        request: RequestInfo,
        data: D,
    ) -> Self {
        Socket(Arc::new(Shared {
            id,
            version,
            queue: SendQueue::new(capacity),
            state: AtomicU8::new(state),
            jsonp,
            posting: AtomicBool::new(false),
            heartbeat_pending: AtomicBool::new(false),
            wake: crate::queue::Signal::default(),
            closed: Notify::new(),
            close_reason: Mutex::new(None),
            upgrade_offer: Mutex::new(None),
            closing: AtomicBool::new(false),
            close_next_poll: AtomicBool::new(false),
            unflushed: std::sync::atomic::AtomicUsize::new(0),
            drained: Notify::new(),
            release_next_poll: AtomicBool::new(false),
            request,
            data,
        }))
    }

    /// The session id.
    pub fn id(&self) -> Sid {
        self.0.id
    }

    /// The protocol version the client speaks.
    pub fn protocol(&self) -> ProtocolVersion {
        self.0.version
    }

    /// The current transport.
    pub fn transport(&self) -> TransportKind {
        match self.0.state.load(Ordering::Acquire) {
            WEBSOCKET => TransportKind::WebSocket,
            _ => TransportKind::Polling,
        }
    }

    /// The handshake request.
    pub fn request(&self) -> &RequestInfo {
        &self.0.request
    }

    /// The layer above's data for this session.
    pub fn data(&self) -> &D {
        &self.0.data
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.0.state.load(Ordering::Acquire) == CLOSED
    }

    /// Queues a frame. Fails at once if the queue is full or the session closed.
    pub fn send(&self, frame: Frame) -> Result<(), SendError<Frame>> {
        self.send_item(Item::One(frame)).map_err(|e| match e {
            SendError::Full(Item::One(f)) => SendError::Full(f),
            SendError::Closed(Item::One(f)) => SendError::Closed(f),
            _ => unreachable!("one frame in, one frame out"),
        })
    }

    /// Queues frames that must reach the client back to back (a packet and its attachments).
    pub fn send_many(&self, frames: Vec<Frame>) -> Result<(), SendError<Vec<Frame>>> {
        self.send_shared(frames.into()).map_err(|e| match e {
            SendError::Full(f) => SendError::Full(f.to_vec()),
            SendError::Closed(f) => SendError::Closed(f.to_vec()),
        })
    }

    /// Like [`send_many`](Self::send_many), with frames shared by several sockets: queuing
    /// them costs a reference count, so a broadcast allocates nothing per recipient.
    pub fn send_shared(
        &self,
        frames: std::sync::Arc<[Frame]>,
    ) -> Result<(), SendError<std::sync::Arc<[Frame]>>> {
        self.send_item(Item::Many(frames)).map_err(|e| match e {
            SendError::Full(Item::Many(f)) => SendError::Full(f),
            SendError::Closed(Item::Many(f)) => SendError::Closed(f),
            _ => unreachable!("frames in, frames out"),
        })
    }

    /// Over WebSocket, lets what is queued so far reach the client on its own: the writer
    /// flushes it and waits `pause` (at most [`MAX_WRITE_PAUSE`]) before writing what is
    /// queued after. Clients that read frame by frame and react in between (the official
    /// protocol test suite does after the Socket.IO CONNECT reply) then see the frames
    /// apart, as with the reference, whose writes each wait for the previous one. Polling
    /// ignores it.
    pub fn pause_writes(&self, pause: std::time::Duration) {
        if self.transport() == TransportKind::WebSocket {
            let _ = self.send_item(Item::Pause(pause.min(MAX_WRITE_PAUSE)));
        }
    }

    /// Queues a text message.
    pub fn send_text(&self, text: &str) -> Result<(), SendError<Frame>> {
        self.send(Frame::message(text))
    }

    /// Queues a binary message.
    pub fn send_binary(&self, bytes: impl Into<bytes::Bytes>) -> Result<(), SendError<Frame>> {
        self.send(Frame::binary(bytes))
    }

    /// How many more items the send queue takes right now.
    pub fn capacity(&self) -> usize {
        self.0.queue.capacity()
    }

    fn send_item(&self, item: Item) -> Result<(), SendError<Item>> {
        if self.is_closed() || self.0.closing.load(Ordering::Acquire) {
            return Err(SendError::Closed(item));
        }
        self.0.unflushed.fetch_add(1, Ordering::AcqRel);
        self.0
            .queue
            .try_send(item)
            .map_err(|crate::queue::Full(i)| {
                self.mark_flushed(1);
                SendError::Full(i)
            })
    }

    /// `n` queue items were written to the transport (`usize::MAX`: all of them).
    pub(crate) fn mark_flushed(&self, n: usize) {
        let prev = self
            .0
            .unflushed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            })
            .unwrap_or(0);
        if prev <= n {
            self.0.drained.notify_waiters();
        }
    }

    /// Resolves once everything sent so far has been written to the transport, or the session
    /// closed (the reference's `drain` event).
    ///
    /// Over polling, "written" means handed to a poll's response.
    pub async fn drained(&self) {
        loop {
            let notified = self.0.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() || self.0.unflushed.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Closes the session from the server side (reason `forced close`).
    ///
    /// Frames already queued are flushed first; then a polling client gets the close packet
    /// (`1`) and a WebSocket client the close frame.
    pub fn close(&self) {
        if self.0.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        // The close marker goes behind what is queued; if the queue is full the session
        // closes at once (the client was not reading anyway).
        if self
            .0
            .queue
            .try_send(Item::One(Frame::control(PacketType::Close)))
            .is_err()
        {
            self.mark_closed(CloseReason::ForcedClose);
        }
        self.0.wake.notify();
    }

    /// Marks the session closed; true for the caller that closed it.
    pub(crate) fn mark_closed(&self, reason: CloseReason) -> bool {
        let prev = self.0.state.swap(CLOSED, Ordering::AcqRel);
        if prev == CLOSED {
            return false;
        }
        if let Ok(mut r) = self.0.close_reason.lock() {
            *r = Some(reason);
        }
        self.0.closed.notify_waiters();
        self.0.drained.notify_waiters();
        self.0.wake.notify();
        true
    }

    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        self.0.close_reason.lock().ok().and_then(|r| *r)
    }

    /// Resolves once the session is closed.
    pub async fn closed(&self) {
        loop {
            let notified = self.0.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::HeaderValue;

    #[test]
    fn request_info_keeps_nothing_of_the_request_buffer() {
        // As hyper does: header values and the URI are slices of the connection's read buffer.
        let read_buf = Bytes::from_static(b"/engine.io/?EIO=4&transport=websocketexample.comabc");
        let range = read_buf.as_ptr() as usize..read_buf.as_ptr() as usize + read_buf.len();
        let mut headers = HeaderMap::new();
        headers.insert(
            "host",
            HeaderValue::from_maybe_shared(read_buf.slice(37..48)).unwrap(),
        );
        let mut secret = HeaderValue::from_maybe_shared(read_buf.slice(48..)).unwrap();
        secret.set_sensitive(true);
        headers.append("cookie", secret);
        headers.append("cookie", HeaderValue::from_static("second"));
        let uri = http::Uri::from_maybe_shared(read_buf.slice(..37)).unwrap();

        let info = RequestInfo::new(&headers, &uri, None, false);

        assert_eq!(info.headers, headers);
        assert_eq!(info.uri, uri);
        let cookies: Vec<_> = info.headers.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["abc", "second"]);
        assert!(cookies[0].is_sensitive());
        let inside = |p: &[u8]| range.contains(&(p.as_ptr() as usize));
        assert!(info.headers.values().all(|v| !inside(v.as_bytes())));
        assert!(!inside(info.uri.path().as_bytes()));
        assert_eq!(
            info.query_pairs()[1],
            ("transport".into(), "websocket".into())
        );
    }
}
