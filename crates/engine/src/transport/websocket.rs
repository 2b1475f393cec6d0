//! WebSocket: new sessions, upgrades from polling, and the per-session driver.
//!
//! Every session has one driver task ([`drive`]). It owns the session's heartbeat and, once the
//! session is on WebSocket, the socket itself: it reads frames, writes the send queue in batches
//! and runs the upgrade handshake of a WebSocket that joins a polling session.
//!
//! As in the reference, a WebSocket request that passed verification is always accepted (101)
//! first; one that cannot become a session (`transport=polling`, a session already upgrading
//! or upgraded) is then closed without a close code, and one with an unsupported protocol
//! version gets the reference's raw `400` written on the upgraded connection.

use super::http::{status, upgrade_error, upgrade_error_bytes};
use super::{on_packet, Next};
use crate::engine::{Body, Engine, EngineHandler};
use crate::error::{CloseReason, ErrorCode};
use crate::heartbeat::{Heartbeat, HeartbeatAction};
use crate::packet::{Frame, Packet, PacketType, ProtocolVersion};
use crate::socket::{Item, RequestInfo, Socket, POLLING, PROBED, UPGRADING, WEBSOCKET};
use crate::upgrade::{Upgrade, UpgradeStep};
use crate::Str;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

pub(crate) type WsStream = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;
type RawIo = TokioIo<hyper::upgrade::Upgraded>;

/// A WebSocket and how it sends binary messages.
pub(crate) struct WsConn {
    ws: WsStream,
    /// The client asked for `b64`: binary messages go as `b<base64>` text frames.
    b64: bool,
}

/// Frames written per flush, at most.
const WRITE_BATCH: usize = 64;

/// How long a close frame may take to go out (and, in [`close_with`], the client's answer).
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) fn is_upgrade_request(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

fn ws_config(max: usize) -> WebSocketConfig {
    // tungstenite's defaults allocate 128 KiB per connection up front; 4 KiB reads keep an
    // idle connection near 6 KB (measured, see docs/performance.md).
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(max.max(1 << 20) + 1)
        .max_frame_size(Some(max))
        .max_message_size(Some(max))
}

/// Answers the HTTP upgrade and runs `then` with the raw connection once hyper hands it over.
fn accept<B, F, Fut>(
    tasks: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
    req: Request<B>,
    then: F,
) -> Response<Body>
where
    B: Send + 'static,
    F: FnOnce(RawIo) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return upgrade_error(&ErrorCode::BadRequest, None);
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let guard = crate::engine::TaskGuard::new(tasks);
    tokio::spawn(async move {
        let _guard = guard;
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => then(TokioIo::new(upgraded)).await,
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut res = status(StatusCode::SWITCHING_PROTOCOLS);
    let h = res.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    res
}

async fn websocket(io: RawIo, max: usize) -> WsStream {
    WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config(max))).await
}

/// A WebSocket-only session: `version` is the protocol to open it with, or why not (`None`:
/// close the WebSocket without a code; an error: the reference's raw 400).
pub(crate) fn new_session<H: EngineHandler, B: Send + 'static>(
    engine: &Engine<H>,
    version: Result<ProtocolVersion, Option<ErrorCode>>,
    b64: bool,
    info: RequestInfo,
    req: Request<B>,
) -> Response<Body> {
    let engine = engine.clone();
    let max = engine.0.config.max_http_buffer_size;
    let tasks = engine.0.tasks.clone();
    accept(&tasks, req, move |mut io| async move {
        match version {
            Ok(version) => {
                let ws = websocket(io, max).await;
                let socket = engine.open_session(version, WEBSOCKET, None, info);
                // The driver runs in a task of its own: this one, which carried the upgrade
                // (hyper's future, the request, the handshake), ends and frees its memory.
                let span = session_span(&socket);
                engine.spawn_counted(tracing::Instrument::instrument(
                    drive(engine.clone(), socket, Some(WsConn { ws, b64 })),
                    span,
                ));
            }
            Err(None) => {
                let mut ws = websocket(io, max).await;
                let _ = ws.close(None).await;
            }
            Err(Some(code)) => {
                let _ = io.write_all(&upgrade_error_bytes(&code)).await;
                let _ = io.shutdown().await;
            }
        }
    })
}

/// A WebSocket that asks to join a polling session: handed to the session's driver when
/// `join` allows it and the session is still on polling with no other upgrade under way;
/// otherwise closed without a code.
pub(crate) fn upgrade_session<H: EngineHandler, B: Send + 'static>(
    engine: &Engine<H>,
    socket: Socket<H::Data>,
    join: bool,
    b64: bool,
    req: Request<B>,
) -> Response<Body> {
    let max = engine.0.config.max_http_buffer_size;
    accept(&engine.0.tasks, req, move |io| async move {
        let mut ws = websocket(io, max).await;
        if join && socket.0.state.load(Ordering::Acquire) == POLLING {
            if let Ok(mut offer) = socket.0.upgrade_offer.lock() {
                if offer.is_none() {
                    *offer = Some(WsConn { ws, b64 });
                    drop(offer);
                    socket.0.wake.notify_one();
                    return;
                }
            }
        }
        tracing::debug!(sid = %socket.id(), "WebSocket cannot join the session: closing it");
        let _ = ws.close(None).await;
    })
}

/// Spawns the driver of a polling session.
pub(crate) fn spawn_polling_driver<H: EngineHandler>(engine: &Engine<H>, socket: Socket<H::Data>) {
    let span = session_span(&socket);
    engine.spawn_counted(tracing::Instrument::instrument(
        drive(engine.clone(), socket, None),
        span,
    ));
}

/// The close code for a WebSocket that broke the framing rules, as `ws` (the reference's
/// WebSocket server) sends it: 1009 for a frame or message over `maxPayload`, 1007 for text
/// that is not UTF-8, 1002 for other framing violations (reserved opcode, unmasked frame, …).
fn close_code(e: &WsError) -> Option<CloseCode> {
    match e {
        WsError::Capacity(_) => Some(CloseCode::Size),
        WsError::Utf8(_) => Some(CloseCode::Invalid),
        WsError::Protocol(_) => Some(CloseCode::Protocol),
        _ => None,
    }
}

/// Sends the close frame, then reads and discards what the client still sends (for at most a
/// second) so that the close frame is read before the connection goes away.
async fn close_with(mut ws: WsStream, code: CloseCode) {
    let frame = CloseFrame {
        code,
        reason: "".into(),
    };
    if !matches!(
        tokio::time::timeout(CLOSE_WAIT, ws.close(Some(frame))).await,
        Ok(Ok(()))
    ) {
        return;
    }
    let io = ws.get_mut();
    // On the heap: the buffer lives only while a connection closes, not in every driver.
    let mut buf = vec![0u8; 1024];
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// The `session` span the driver of a session runs in.
fn session_span<D>(socket: &Socket<D>) -> tracing::Span {
    tracing::debug_span!("session", sid = %socket.id())
}

async fn next_msg(
    ws: &mut Option<WsStream>,
) -> Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

async fn next_item(
    rx: &mut Option<tokio::sync::OwnedMutexGuard<tokio::sync::mpsc::Receiver<Item>>>,
) -> Option<Item> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn to_ws(frame: &Frame, b64: bool) -> WsMessage {
    match frame {
        Frame::Text(s) => WsMessage::Text(utf8(s.clone())),
        Frame::Binary(_) if b64 => {
            let mut out = String::with_capacity(crate::payload::encoded_len_v4(frame));
            crate::payload::encode_v4([frame], &mut out);
            WsMessage::Text(out.into())
        }
        Frame::Binary(b) => WsMessage::Binary(b.clone()),
    }
}

#[allow(unsafe_code)]
fn utf8(s: Str) -> tokio_tungstenite::tungstenite::Utf8Bytes {
    // SAFETY: `Str` only ever holds valid UTF-8 (checked or built from `str` on creation).
    unsafe { tokio_tungstenite::tungstenite::Utf8Bytes::from_bytes_unchecked(s.into_bytes()) }
}

fn decode_ws(
    msg: WsMessage,
    version: ProtocolVersion,
) -> Result<Option<Packet>, crate::packet::DecodeError> {
    match msg {
        WsMessage::Text(t) => Packet::decode_text(
            Str::from_utf8(t.into()).map_err(|_| crate::packet::DecodeError::InvalidUtf8)?,
        )
        .map(Some),
        WsMessage::Binary(b) => Packet::decode_binary(b, version).map(Some),
        _ => Ok(None),
    }
}

struct Upgrading {
    conn: WsConn,
    state: Upgrade,
    deadline: Instant,
}

/// Gives a session whose upgrade failed back to polling.
fn back_to_polling(state: &std::sync::atomic::AtomicU8) {
    for from in [UPGRADING, PROBED] {
        let _ = state.compare_exchange(from, POLLING, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// The session's driver: heartbeat, WebSocket I/O, upgrades, and the end of the session.
pub(crate) async fn drive<H: EngineHandler>(
    engine: Engine<H>,
    socket: Socket<H::Data>,
    conn: Option<WsConn>,
) {
    let config = &engine.0.config;
    let shared = socket.0.clone();
    let mut hb = Heartbeat::new(
        socket.protocol(),
        config.ping_interval,
        config.ping_timeout,
        Instant::now().into_std(),
    );
    let (mut ws, mut b64) = match conn {
        Some(c) => (Some(c.ws), c.b64),
        None => (None, false),
    };
    let mut rx = match ws {
        Some(_) => Some(shared.rx.clone().lock_owned().await),
        None => None,
    };
    let mut upgrading: Option<Upgrading> = None;
    let mut close_deadline: Option<Instant> = None;
    let mut close_frame_sent = false;
    // A write was abandoned half way: the connection is dropped without a close frame.
    let mut stalled = false;
    // Set when the client broke the WebSocket framing rules: the close frame carries it.
    let mut error_code: Option<CloseCode> = None;

    // One timer for the heartbeat, reset only when its deadline moves: creating a timer per
    // loop turn would register and cancel a timer-wheel entry for every frame written.
    let hb_timer = sleep_until(Instant::from_std(hb.poll_timeout()));
    tokio::pin!(hb_timer);

    while !socket.is_closed() {
        let hb_at = Instant::from_std(hb.poll_timeout());
        if hb_timer.deadline() != hb_at {
            hb_timer.as_mut().reset(hb_at);
        }
        let upgrade_at = upgrading.as_ref().map(|u| u.deadline);
        let mut up_ws = upgrading.as_mut().map(|u| &mut u.conn.ws);
        tokio::select! {
            _ = &mut hb_timer => heartbeat_timeout(&mut hb, &socket),
            _ = shared.wake.notified() => {
                if shared.heartbeat_pending.swap(false, Ordering::AcqRel) {
                    heartbeat_in(&mut hb, &socket);
                }
                let offer = shared.upgrade_offer.lock().ok().and_then(|mut o| o.take());
                if let Some(offer) = offer {
                    if ws.is_none() && upgrading.is_none()
                        && shared.state.compare_exchange(POLLING, UPGRADING, Ordering::AcqRel, Ordering::Acquire).is_ok()
                    {
                        tracing::debug!(sid = %socket.id(), "upgrade started");
                        upgrading = Some(Upgrading {
                            conn: offer,
                            state: Upgrade::AwaitingProbe,
                            deadline: Instant::now() + config.upgrade_timeout,
                        });
                    } else {
                        // A second WebSocket for this session: closed without a code.
                        let mut extra = offer.ws;
                        engine.spawn_counted(async move {
                            let _ = tokio::time::timeout(CLOSE_WAIT, extra.close(None)).await;
                        });
                    }
                }
                if ws.is_none() && shared.closing.load(Ordering::Acquire) && close_deadline.is_none() {
                    close_deadline = Some(Instant::now() + config.polling_close_timeout);
                }
            }
            msg = next_msg(&mut ws) => {
                let next = match msg {
                    None | Some(Ok(WsMessage::Close(_))) => Next::Close(CloseReason::TransportClose),
                    Some(Err(e)) => {
                        tracing::debug!(sid = %socket.id(), error = %e, "WebSocket read error");
                        error_code = close_code(&e);
                        Next::Close(CloseReason::TransportError)
                    }
                    Some(Ok(m)) => match decode_ws(m, socket.protocol()) {
                        Ok(Some(p)) => on_packet(&engine, &socket, p),
                        Ok(None) => Next::Continue,
                        Err(_) => Next::Close(CloseReason::ParseError),
                    },
                };
                match next {
                    Next::Continue => {}
                    Next::Heartbeat => heartbeat_in(&mut hb, &socket),
                    Next::Close(reason) => { socket.mark_closed(reason); }
                }
            }
            item = next_item(&mut rx) => {
                let Some(item) = item else { break };
                if let (Some(w), Some(r)) = (ws.as_mut(), rx.as_mut()) {
                    // A client that stops reading stalls the write once the kernel buffers
                    // are full; the heartbeat keeps running meanwhile, and a close (the queue
                    // overflowed, the ping timed out, the server shuts down) abandons the
                    // write and the connection.
                    let write = write_batch(w, r, item, b64);
                    tokio::pin!(write);
                    let written = loop {
                        tokio::select! {
                            written = &mut write => break Some(written),
                            _ = socket.closed() => break None,
                            _ = &mut hb_timer => {
                                heartbeat_timeout(&mut hb, &socket);
                                hb_timer.as_mut().reset(Instant::from_std(hb.poll_timeout()));
                            }
                        }
                    };
                    let Some(written) = written else {
                        tracing::debug!(sid = %socket.id(), "closed while a write was stalled");
                        stalled = true;
                        continue;
                    };
                    socket.mark_flushed(written.as_ref().map_or(usize::MAX, |(_, n)| *n));
                    match written.map(|(closed, _)| closed) {
                        Ok(false) => {}
                        Ok(true) => {
                            close_frame_sent = true;
                            socket.mark_closed(CloseReason::ForcedClose);
                        }
                        Err(e) => {
                            tracing::debug!(sid = %socket.id(), error = %e, "WebSocket write error");
                            socket.mark_closed(CloseReason::TransportError);
                        }
                    }
                }
            }
            msg = next_msg_ref(&mut up_ws) => {
                let Some(mut up) = upgrading.take() else { continue };
                let mut abort_code = None;
                let step = match msg {
                    Some(Ok(m)) => match decode_ws(m, socket.protocol()) {
                        Ok(Some(p)) => up.state.handle(&p).ok(),
                        Ok(None) => Some(UpgradeStep::AnswerProbe(up.state)),
                        Err(_) => None,
                    },
                    Some(Err(e)) => {
                        abort_code = close_code(&e);
                        None
                    }
                    None => None,
                };
                match step {
                    Some(UpgradeStep::AnswerProbe(next)) => {
                        if next == Upgrade::AwaitingUpgrade && up.state == Upgrade::AwaitingProbe {
                            if up.conn.ws.send(WsMessage::Text("3probe".into())).await.is_err() {
                                back_to_polling(&shared.state);
                                continue;
                            }
                            // From now on every poll is released with a noop (the pending one
                            // at once) so that the client can finish the upgrade.
                            if shared.state.compare_exchange(UPGRADING, PROBED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                                shared.closed.notify_waiters();
                            }
                        }
                        up.state = next;
                        upgrading = Some(up);
                    }
                    Some(UpgradeStep::Complete) => {
                        let moved = [UPGRADING, PROBED].into_iter().any(|from| {
                            shared.state.compare_exchange(from, WEBSOCKET, Ordering::AcqRel, Ordering::Acquire).is_ok()
                        });
                        if !moved {
                            // The session closed meanwhile.
                            let _ = up.conn.ws.close(None).await;
                            continue;
                        }
                        shared.closed.notify_waiters();
                        rx = Some(shared.rx.clone().lock_owned().await);
                        b64 = up.conn.b64;
                        ws = Some(up.conn.ws);
                        tracing::debug!(sid = %socket.id(), "upgraded to WebSocket");
                    }
                    None => {
                        tracing::debug!(sid = %socket.id(), "upgrade aborted");
                        back_to_polling(&shared.state);
                        match abort_code {
                            Some(code) => { engine.spawn_counted(close_with(up.conn.ws, code)); }
                            None => { let _ = up.conn.ws.close(None).await; }
                        }
                    }
                }
            }
            _ = sleep_opt(upgrade_at) => {
                if let Some(mut up) = upgrading.take() {
                    tracing::debug!(sid = %socket.id(), "upgrade timed out");
                    back_to_polling(&shared.state);
                    let _ = up.conn.ws.close(None).await;
                }
            }
            _ = sleep_opt(close_deadline) => {
                socket.mark_closed(CloseReason::ForcedClose);
            }
        }
    }

    if let Some(mut up) = upgrading.take() {
        let _ = tokio::time::timeout(CLOSE_WAIT, up.conn.ws.close(None)).await;
    }
    drop(rx);
    let ws = ws.take();
    engine.finish(&socket);
    if let Some(mut w) = ws {
        match error_code {
            _ if stalled => {}
            // Boxed: a rare path that would otherwise widen every driver's state.
            Some(code) => Box::pin(close_with(w, code)).await,
            None if !close_frame_sent => {
                // Bounded: a client that does not read would block the close frame forever.
                let _ = tokio::time::timeout(CLOSE_WAIT, w.close(None)).await;
            }
            None => {}
        }
    }
}

/// The heartbeat's timer fired: send a ping, or close the session when the pong is late.
fn heartbeat_timeout<D>(hb: &mut Heartbeat, socket: &Socket<D>) {
    match hb.handle_timeout(Instant::now().into_std()) {
        // A full queue means the client does not read: it cannot answer either.
        Some(HeartbeatAction::SendPing)
            if socket
                .0
                .tx
                .try_send(Item::One(Frame::control(PacketType::Ping)))
                .is_err() =>
        {
            socket.mark_closed(CloseReason::PingTimeout);
        }
        Some(HeartbeatAction::SendPing) => {}
        Some(HeartbeatAction::TimedOut) => {
            socket.mark_closed(CloseReason::PingTimeout);
        }
        None => {}
    }
}

async fn next_msg_ref(
    ws: &mut Option<&mut WsStream>,
) -> Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

fn heartbeat_in<D>(hb: &mut Heartbeat, socket: &Socket<D>) {
    let now = Instant::now().into_std();
    let ok = match socket.protocol() {
        ProtocolVersion::V3 => {
            hb.handle_ping(now).is_ok()
                && socket
                    .0
                    .tx
                    .try_send(Item::One(Frame::control(PacketType::Pong)))
                    .is_ok()
        }
        _ => hb.handle_pong(now).is_ok(),
    };
    if !ok {
        socket.mark_closed(CloseReason::TransportError);
    }
}

/// Writes `first` and what else is queued (up to a batch), then flushes.
/// Returns whether the close marker was met (and the close frame sent), and how many queue
/// items were written.
async fn write_batch(
    ws: &mut WsStream,
    rx: &mut tokio::sync::mpsc::Receiver<Item>,
    first: Item,
    b64: bool,
) -> Result<(bool, usize), tokio_tungstenite::tungstenite::Error> {
    let mut item = Some(first);
    let mut n = 0;
    while let Some(it) = item.take() {
        if let Item::Pause(d) = it {
            ws.flush().await?;
            tokio::time::sleep(d).await;
        }
        for f in it.frames() {
            if f.as_text() == Some("1") {
                ws.flush().await?;
                let _ = ws.close(None).await;
                return Ok((true, n + 1));
            }
            ws.feed(to_ws(f, b64)).await?;
        }
        n += 1;
        if n < WRITE_BATCH {
            item = rx.try_recv().ok();
        }
    }
    ws.flush().await?;
    Ok((false, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};

    #[test]
    fn framing_errors_close_with_the_codes_of_ws() {
        let too_big = WsError::Capacity(CapacityError::MessageTooLong {
            size: 2,
            max_size: 1,
        });
        assert_eq!(close_code(&too_big), Some(CloseCode::Size));
        assert_eq!(
            close_code(&WsError::Utf8("bad".into())),
            Some(CloseCode::Invalid)
        );
        for p in [
            ProtocolError::UnmaskedFrameFromClient,
            ProtocolError::InvalidOpcode(3),
        ] {
            assert_eq!(close_code(&WsError::Protocol(p)), Some(CloseCode::Protocol));
        }
        assert_eq!(close_code(&WsError::ConnectionClosed), None);
    }

    #[test]
    fn binary_goes_as_base64_text_when_the_client_asked_for_b64() {
        let bin = Frame::binary(vec![1u8, 2, 3]);
        assert_eq!(to_ws(&bin, true), WsMessage::Text("bAQID".into()));
        assert_eq!(
            to_ws(&bin, false),
            WsMessage::Binary(vec![1u8, 2, 3].into())
        );
        let text = Frame::message("hi");
        assert_eq!(to_ws(&text, true), WsMessage::Text("4hi".into()));
    }
}
