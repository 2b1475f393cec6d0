//! HTTP long-polling, XHR and JSONP.
//!
//! A `GET` takes the session's send queue (one at a time: a second concurrent `GET` is an
//! error that closes the session), waits for the first frame, drains what else is queued and
//! answers with one payload. A `POST` carries packets from the client (one at a time too: a
//! second concurrent `POST` closes the session, and so does a body over the limit or one that
//! never completes). Whether a session is JSONP is decided at its handshake (`j`), as in the
//! reference.

use super::http::{
    abort_connection, compress, read_body, status, text_response, BodyError, ConnControl,
};
use super::{on_packet, Next};
use crate::engine::{Body, Engine, EngineHandler};
use crate::error::CloseReason;
use crate::packet::{Frame, Packet, PacketType, ProtocolVersion};
use crate::payload;
use crate::socket::{Socket, PROBED, WEBSOCKET};
use crate::Str;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use std::sync::atomic::Ordering;

/// How long a session closed by the client over polling waits for a poll the client sent
/// before its close packet.
const CLIENT_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

fn is_close_marker(frame: &Frame) -> bool {
    frame.is_close_marker()
}

/// A long-poll `GET`.
pub(crate) async fn get<H: EngineHandler, B>(
    engine: &Engine<H>,
    socket: Socket<H::Data>,
    req: Request<B>,
) -> Response<Body> {
    let Ok(consumer) = socket.0.queue.consumer().try_lock() else {
        tracing::debug!(sid = %socket.id(), "overlapping GET: closing the session");
        socket.mark_closed(CloseReason::TransportError);
        return status(StatusCode::BAD_REQUEST);
    };
    if socket.0.release_next_poll.load(Ordering::Acquire) {
        drop(consumer);
        socket.mark_closed(CloseReason::TransportClose);
        return payload_response(engine, &socket, &req, &[Frame::control(PacketType::Noop)]);
    }
    if socket.0.close_next_poll.load(Ordering::Acquire) {
        drop(consumer);
        socket.mark_closed(CloseReason::ForcedClose);
        return close_response(engine, &socket, &req);
    }
    let mut frames: Vec<Frame> = Vec::new();
    let mut forced_close = false;
    let mut taken = 0usize;
    let mut take = |item: crate::socket::Item, frames: &mut Vec<Frame>| -> bool {
        taken += 1;
        for f in item.frames() {
            frames.push(f.clone());
            if is_close_marker(f) {
                return true;
            }
        }
        false
    };
    // Wait for the first frame, for the session to close, or for an upgrade to be probed.
    let mut upgraded = false;
    loop {
        let notified = socket.0.closed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let state = socket.0.state.load(Ordering::Acquire);
        if socket.is_closed() || state == PROBED {
            break;
        }
        if state == WEBSOCKET {
            // The queue belongs to the WebSocket now.
            upgraded = true;
            break;
        }
        tokio::select! {
            biased;
            item = socket.0.queue.recv() => {
                forced_close = take(item, &mut frames);
                break;
            }
            _ = &mut notified => {}
        }
    }
    while !forced_close && !upgraded {
        match socket.0.queue.try_recv() {
            Some(item) => forced_close = take(item, &mut frames),
            None => break,
        }
    }
    drop(consumer);
    socket.mark_flushed(taken);
    if forced_close && frames.len() > 1 {
        // Flush what was queued first; the close packet goes in the next poll.
        frames.pop();
        socket.0.close_next_poll.store(true, Ordering::Release);
    } else if forced_close {
        socket.mark_closed(CloseReason::ForcedClose);
    } else if socket.is_closed() {
        // A client close packet releases the pending poll with a noop; any other close
        // tells the client with a close packet.
        let kind = match socket.close_reason() {
            Some(CloseReason::TransportClose) => PacketType::Noop,
            _ => PacketType::Close,
        };
        frames.push(Frame::control(kind));
    } else if frames.is_empty() {
        // Nothing to send: released for an upgrade.
        frames.push(Frame::control(PacketType::Noop));
    }

    payload_response(engine, &socket, &req, &frames)
}

/// The close packet alone.
fn close_response<H: EngineHandler, B>(
    engine: &Engine<H>,
    socket: &Socket<H::Data>,
    req: &Request<B>,
) -> Response<Body> {
    payload_response(engine, socket, req, &[Frame::control(PacketType::Close)])
}

/// A poll's answer: `frames` as one payload (JSONP-wrapped, compressed as negotiated).
fn payload_response<H: EngineHandler, B>(
    engine: &Engine<H>,
    socket: &Socket<H::Data>,
    req: &Request<B>,
    frames: &[Frame],
) -> Response<Body> {
    let mut body = String::with_capacity(frames.iter().map(payload::encoded_len_v4).sum());
    match socket.protocol() {
        ProtocolVersion::V4 | ProtocolVersion::V3 => payload::encode_v4(frames.iter(), &mut body),
    }
    let body = match socket.0.jsonp.as_deref() {
        Some(index) => payload::encode_jsonp(index, &body),
        None => body,
    };
    let (bytes, encoding) = compress(&engine.0.config, req.headers(), Bytes::from(body));
    let mut res = text_response(bytes, "text/plain; charset=UTF-8");
    if let Some(enc) = encoding {
        res.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    res
}

/// Holds the session's single POST slot; closes the session unless the POST completed (its
/// body was over the limit, malformed, or the connection went away and the request was
/// dropped mid-body).
struct PostSlot<'a, D> {
    socket: &'a Socket<D>,
    completed: bool,
}

impl<D> Drop for PostSlot<'_, D> {
    fn drop(&mut self) {
        if !self.completed {
            self.socket.mark_closed(CloseReason::TransportError);
        }
        self.socket.0.posting.store(false, Ordering::Release);
    }
}

/// A data `POST`.
pub(crate) async fn post<H: EngineHandler, B>(
    engine: &Engine<H>,
    socket: Socket<H::Data>,
    conn: Option<&ConnControl>,
    req: Request<B>,
) -> Response<Body>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if socket.0.posting.swap(true, Ordering::AcqRel) {
        // The reference closes the session, which drops the first POST's connection too.
        tracing::debug!(sid = %socket.id(), "overlapping POST: closing the session");
        socket.mark_closed(CloseReason::TransportError);
        return status(StatusCode::BAD_REQUEST);
    }
    let mut slot = PostSlot {
        socket: &socket,
        completed: false,
    };
    let (parts, body) = req.into_parts();
    let octet = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/octet-stream");
    if octet && socket.protocol() == ProtocolVersion::V4 {
        tracing::debug!(sid = %socket.id(), "binary POST under v4: closing the session");
        return status(StatusCode::BAD_REQUEST);
    }
    let limit = engine.0.config.max_http_buffer_size;
    let body = tokio::select! {
        body = read_body(&parts.headers, body, limit) => body,
        _ = socket.closed() => {
            tracing::debug!(sid = %socket.id(), "session closed during a POST: dropping it");
            slot.completed = true;
            return abort_connection(conn);
        }
    };
    let body = match body {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            tracing::debug!(sid = %socket.id(), limit, "POST body over maxHttpBufferSize");
            let mut res = status(StatusCode::PAYLOAD_TOO_LARGE);
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return res;
        }
        Err(BodyError::Io) => {
            tracing::debug!(sid = %socket.id(), "POST body incomplete: closing the session");
            return status(StatusCode::BAD_REQUEST);
        }
    };
    slot.completed = true;
    let text: Option<Str> = if socket.0.jsonp.is_some() {
        // No single `d` field: answered `ok` and ignored, as the reference does.
        payload::decode_jsonp_form(&body).map(Str::from)
    } else {
        Some(match Str::from_utf8(body) {
            Ok(s) => s,
            Err(b) => String::from_utf8_lossy(&b).into_owned().into(),
        })
    };
    if let Some(text) = text {
        deliver(engine, &socket, text).await;
    }
    drop(slot);
    let mut res = Response::new(http_body_util::Full::new(Bytes::from_static(b"ok")));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Hands the packets of a POST body to the session, up to a close packet or the first
/// invalid packet (which closes the session with `parse error`).
async fn deliver<H: EngineHandler>(engine: &Engine<H>, socket: &Socket<H::Data>, text: Str) {
    let (packets, error) = payload::decode_v4(text);
    for packet in packets {
        if socket.is_closed() {
            return;
        }
        // Over polling a close packet closes the session (over WebSocket it is ignored).
        let next = match packet {
            Packet::Close => Next::Close(CloseReason::TransportClose),
            p => on_packet(engine, socket, p),
        };
        match next {
            Next::Continue => {}
            Next::Heartbeat => {
                socket.0.heartbeat_pending.store(true, Ordering::Release);
                socket.0.wake.notify();
            }
            Next::Close(CloseReason::TransportClose)
                if socket.0.queue.consumer().try_lock().is_ok() =>
            {
                // The client closes and no poll is pending here, but one it sent before this
                // POST may still be on its way (requests are served in parallel): the POST is
                // answered after a short grace, during which such a poll is released with a
                // noop. A poll sent after the POST's answer finds the session gone.
                socket.0.release_next_poll.store(true, Ordering::Release);
                socket.0.closing.store(true, Ordering::Release);
                let _ = tokio::time::timeout(CLIENT_CLOSE_GRACE, socket.closed()).await;
                socket.mark_closed(CloseReason::TransportClose);
                return;
            }
            Next::Close(reason) => {
                socket.mark_closed(reason);
                return;
            }
        }
    }
    if error.is_some() {
        tracing::debug!(sid = %socket.id(), ?error, "invalid packet in POST");
        socket.mark_closed(CloseReason::ParseError);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{RequestInfo, POLLING};

    fn socket() -> Socket<()> {
        let info = RequestInfo {
            headers: Default::default(),
            uri: http::Uri::from_static("/"),
            remote_addr: None,
            time: std::time::SystemTime::now(),
            secure: false,
        };
        Socket::new(
            crate::Sid::new(),
            ProtocolVersion::V4,
            4,
            POLLING,
            None,
            info,
            (),
        )
    }

    #[test]
    fn an_unfinished_post_closes_the_session_and_frees_the_slot() {
        let s = socket();
        s.0.posting.store(true, Ordering::Release);
        drop(PostSlot {
            socket: &s,
            completed: false,
        });
        assert!(s.is_closed());
        assert_eq!(s.close_reason(), Some(CloseReason::TransportError));
        assert!(!s.0.posting.load(Ordering::Acquire));
    }

    #[test]
    fn a_finished_post_keeps_the_session() {
        let s = socket();
        s.0.posting.store(true, Ordering::Release);
        drop(PostSlot {
            socket: &s,
            completed: true,
        });
        assert!(!s.is_closed());
        assert!(!s.0.posting.load(Ordering::Acquire));
    }
}
