//! HTTP long-polling, XHR and JSONP.
//!
//! A `GET` takes the session's send queue (one at a time: a second concurrent `GET` is an
//! error that closes the session), waits for the first frame, drains what else is queued and
//! answers with one payload. A `POST` carries packets from the client (one at a time too).

use super::http::{compress, read_body, status, text_response, BodyError};
use super::{on_packet, Next};
use crate::engine::{Body, Engine, EngineHandler};
use crate::error::CloseReason;
use crate::packet::{Frame, PacketType, ProtocolVersion};
use crate::payload;
use crate::socket::{Socket, WEBSOCKET};
use crate::Str;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use std::sync::atomic::Ordering;

fn is_close_marker(frame: &Frame) -> bool {
    frame.as_text() == Some("1")
}

/// A long-poll `GET`.
pub(crate) async fn get<H: EngineHandler, B>(
    engine: &Engine<H>,
    socket: Socket<H::Data>,
    jsonp: Option<&str>,
    req: Request<B>,
) -> Response<Body> {
    let Ok(mut rx) = socket.0.rx.clone().try_lock_owned() else {
        tracing::debug!(sid = %socket.id(), "overlapping GET: closing the session");
        socket.mark_closed(CloseReason::TransportError);
        return status(StatusCode::BAD_REQUEST);
    };
    let mut frames: Vec<Frame> = Vec::new();
    let mut forced_close = false;
    let take = |item: crate::socket::Item, frames: &mut Vec<Frame>| -> bool {
        for f in item.frames() {
            frames.push(f.clone());
            if is_close_marker(f) {
                return true;
            }
        }
        false
    };
    // Wait for the first frame, for the session to close, or for an upgrade to finish.
    loop {
        let notified = socket.0.closed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if socket.is_closed() || socket.0.state.load(Ordering::Acquire) == WEBSOCKET {
            break;
        }
        tokio::select! {
            biased;
            item = rx.recv() => {
                if let Some(item) = item {
                    forced_close = take(item, &mut frames);
                }
                break;
            }
            _ = &mut notified => {}
        }
    }
    while !forced_close {
        match rx.try_recv() {
            Ok(item) => forced_close = take(item, &mut frames),
            Err(_) => break,
        }
    }
    drop(rx);
    if forced_close {
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
        frames.push(Frame::control(PacketType::Noop));
    }

    let mut body = String::with_capacity(frames.iter().map(payload::encoded_len_v4).sum());
    match socket.protocol() {
        ProtocolVersion::V4 | ProtocolVersion::V3 => payload::encode_v4(frames.iter(), &mut body),
    }
    let body = match jsonp {
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

/// A data `POST`.
pub(crate) async fn post<H: EngineHandler, B>(
    engine: &Engine<H>,
    socket: Socket<H::Data>,
    jsonp: bool,
    req: Request<B>,
) -> Response<Body>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let octet = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    if octet && socket.protocol() == ProtocolVersion::V4 {
        return status(StatusCode::BAD_REQUEST);
    }
    if socket.0.posting.swap(true, Ordering::AcqRel) {
        tracing::debug!(sid = %socket.id(), "overlapping POST: closing the session");
        socket.mark_closed(CloseReason::TransportError);
        return status(StatusCode::BAD_REQUEST);
    }
    let limit = engine.0.config.max_http_buffer_size;
    let body = read_body(&parts.headers, body, limit).await;
    socket.0.posting.store(false, Ordering::Release);
    let body = match body {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            tracing::debug!(sid = %socket.id(), limit, "POST body over maxHttpBufferSize");
            let mut res = status(StatusCode::PAYLOAD_TOO_LARGE);
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return res;
        }
        Err(BodyError::Io) => return status(StatusCode::BAD_REQUEST),
    };
    let text: Str = if jsonp {
        match payload::decode_jsonp_form(&body) {
            Some(t) => t.into(),
            None => return status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    } else {
        match Str::from_utf8(body) {
            Ok(s) => s,
            Err(b) => String::from_utf8_lossy(&b).into_owned().into(),
        }
    };
    let (packets, error) = payload::decode_v4(text);
    for packet in packets {
        match on_packet(engine, &socket, packet) {
            Next::Continue => {}
            Next::Heartbeat => {
                socket.0.heartbeat_pending.store(true, Ordering::Release);
                socket.0.wake.notify_one();
            }
            Next::Close(reason) => {
                socket.mark_closed(reason);
                break;
            }
        }
    }
    if error.is_some() {
        tracing::debug!(sid = %socket.id(), ?error, "invalid packet in POST");
        socket.mark_closed(CloseReason::ParseError);
    }
    let mut res = Response::new(http_body_util::Full::new(Bytes::from_static(b"ok")));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
