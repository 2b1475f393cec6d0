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
use super::ws_conn::RawIo;
pub(crate) use super::ws_conn::WsConn;
use super::{on_packet, Next};
use crate::engine::{Body, Engine, EngineHandler};
use crate::error::{CloseReason, ErrorCode};
use crate::heartbeat::{Heartbeat, HeartbeatAction};
use crate::packet::{Frame, Packet, PacketType, ProtocolVersion};
use crate::queue::SendQueue;
use crate::socket::{Item, RequestInfo, Socket, POLLING, PROBED, UPGRADING, WEBSOCKET};
use crate::upgrade::{Upgrade, UpgradeStep};
use crate::ws::{Message as WsMessage, OpCode, PmdParams, WsError};
use base64::Engine as _;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep_until, Instant, Sleep};

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

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Answers the HTTP upgrade (negotiating permessage-deflate when the server offers it) and
/// runs `then` with the raw connection once hyper hands it over.
fn accept<H, B, F, Fut>(engine: &Engine<H>, req: Request<B>, then: F) -> Response<Body>
where
    H: EngineHandler,
    B: Send + 'static,
    F: FnOnce(RawIo, Option<PmdParams>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return upgrade_error(&ErrorCode::BadRequest, None);
    };
    let accept = accept_key(key.as_bytes());
    let pmd = engine.0.config.per_message_deflate.and_then(|pmd| {
        let offers = req
            .headers()
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok());
        pmd.negotiate(offers)
    });
    let params = pmd.as_ref().map(|(p, _)| *p);
    let guard = crate::engine::TaskGuard::new(&engine.0.tasks);
    tokio::spawn(async move {
        let _guard = guard;
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => then(TokioIo::new(upgraded), params).await,
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
    if let Some(v) = pmd.and_then(|(_, answer)| HeaderValue::from_str(&answer).ok()) {
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, v);
    }
    res
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
    let engine2 = engine.clone();
    let max = engine.0.config.max_http_buffer_size;
    accept(engine, req, move |mut io, pmd| async move {
        let engine = engine2;
        match version {
            // The server started closing while the upgrade went through.
            Ok(_) if engine.is_closing() => {
                let mut conn = WsConn::new(io, max, b64, pmd);
                let _ = conn.close(None).await;
            }
            Ok(version) => {
                let conn = WsConn::new(io, max, b64, pmd);
                let socket = engine.open_session(version, WEBSOCKET, None, info);
                let opened = Instant::now();
                // The driver runs in a task of its own: this one, which carried the upgrade
                // (hyper's future, the request, the handshake), ends and frees its memory.
                let span = session_span(&socket);
                engine.spawn_counted(tracing::Instrument::instrument(
                    drive(engine.clone(), socket, Some(conn), opened),
                    span,
                ));
            }
            Err(None) => {
                let mut conn = WsConn::new(io, max, b64, pmd);
                let _ = conn.close(None).await;
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
    accept(engine, req, move |io, pmd| async move {
        let mut conn = WsConn::new(io, max, b64, pmd);
        if join && socket.0.state.load(Ordering::Acquire) == POLLING {
            if let Ok(mut offer) = socket.0.upgrade_offer.lock() {
                if offer.is_none() {
                    *offer = Some(Box::new(conn));
                    drop(offer);
                    socket.0.wake.notify();
                    return;
                }
            }
        }
        tracing::debug!(sid = %socket.id(), "WebSocket cannot join the session: closing it");
        let _ = conn.close(None).await;
    })
}

/// Spawns the driver of a polling session.
pub(crate) fn spawn_polling_driver<H: EngineHandler>(engine: &Engine<H>, socket: Socket<H::Data>) {
    // The heartbeat counts from now, before the handshake response goes out: the driver task
    // may first run after the client has received it.
    let opened = Instant::now();
    let span = session_span(&socket);
    engine.spawn_counted(tracing::Instrument::instrument(
        drive(engine.clone(), socket, None, opened),
        span,
    ));
}

/// Sends a close frame with `code` (the client broke the framing rules: 1002, 1007 or 1009,
/// as `ws` answers), then reads and discards what the client still sends (for at most a
/// second) so that the close frame is read before the connection goes away.
async fn close_with(mut conn: WsConn, code: u16) {
    if matches!(
        tokio::time::timeout(CLOSE_WAIT, conn.close(Some(code))).await,
        Ok(Ok(()))
    ) {
        conn.drain(CLOSE_WAIT).await;
    }
}

/// Sends a close frame, bounded: a client that does not read would block it forever.
async fn close_bounded(mut conn: WsConn, code: Option<u16>) {
    let _ = tokio::time::timeout(CLOSE_WAIT, conn.close(code)).await;
}

/// The `session` span the driver of a session runs in.
fn session_span<D>(socket: &Socket<D>) -> tracing::Span {
    tracing::debug_span!("session", sid = %socket.id())
}

async fn next_msg(ws: Option<&mut WsConn>) -> Option<Result<WsMessage, WsError>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

async fn next_item(queue: Option<&SendQueue<Item>>) -> Item {
    match queue {
        Some(q) => q.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(t: Option<Instant>) {
    match t {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// What an incoming WebSocket message means for the session.
fn decode_ws(msg: WsMessage, version: ProtocolVersion) -> Result<Option<Packet>, ()> {
    match msg {
        WsMessage::Text(t) => Packet::decode_text(t).map(Some).map_err(drop),
        WsMessage::Binary(b) => Packet::decode_binary(b, version).map(Some).map_err(drop),
        _ => Ok(None),
    }
}

struct Upgrading {
    /// Boxed: most drivers never upgrade.
    conn: Box<WsConn>,
    state: Upgrade,
    deadline: Instant,
}

/// Gives a session whose upgrade failed back to polling.
fn back_to_polling(state: &std::sync::atomic::AtomicU8) {
    for from in [UPGRADING, PROBED] {
        let _ = state.compare_exchange(from, POLLING, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Runs a write while the heartbeat keeps running; `None` when the session closed first.
///
/// A client that stops reading stalls the write once the kernel buffers are full; a close
/// meanwhile (the queue overflowed, the ping timed out, the server shuts down) abandons the
/// write and, with it, the connection.
async fn guarded<D, T>(
    write: impl Future<Output = T>,
    socket: &Socket<D>,
    hb: &mut Heartbeat,
    mut hb_timer: Pin<&mut Sleep>,
) -> Option<T> {
    tokio::pin!(write);
    loop {
        tokio::select! {
            written = &mut write => return Some(written),
            _ = socket.closed() => return None,
            _ = &mut hb_timer => {
                heartbeat_timeout(hb, socket);
                hb_timer.as_mut().reset(Instant::from_std(hb.poll_timeout()));
            }
        }
    }
}

/// The session's driver: heartbeat, WebSocket I/O, upgrades, and the end of the session.
///
/// An `async` block rather than an `async fn`: an `async fn` keeps its arguments twice in its
/// state (as arguments, and as the locals they are moved into), and this future lives as long
/// as the session: the WebSocket alone is 192 bytes. The state is 1,672 bytes this way, 1,880
/// as an `async fn` (`-Zprint-type-sizes`); its task, 1,920 bytes instead of 2,048.
#[allow(clippy::manual_async_fn)] // on purpose: see above
pub(crate) fn drive<H: EngineHandler>(
    engine: Engine<H>,
    socket: Socket<H::Data>,
    mut ws: Option<WsConn>,
    opened: Instant,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        let config = &engine.0.config;
        let shared = socket.0.clone();
        let mut hb = Heartbeat::new(
            socket.protocol(),
            config.ping_interval,
            config.ping_timeout,
            opened.into_std(),
        );
        // The send queue is ours once the session is on WebSocket.
        let mut consumer = match ws {
            Some(_) => Some(shared.queue.consumer().lock().await),
            None => None,
        };
        let mut upgrading: Option<Upgrading> = None;
        let mut close_deadline: Option<Instant> = None;
        // How the WebSocket ends: the close frame was sent already (the `1` close marker), the
        // client sent one (answered with the same code), the client broke the framing rules (the
        // code of `ws`), or a write was abandoned half way (dropped without a close frame).
        let mut close_frame_sent = false;
        let mut peer_close: Option<Option<u16>> = None;
        let mut error_code: Option<u16> = None;
        let mut stalled = false;

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
            tokio::select! {
                _ = &mut hb_timer => heartbeat_timeout(&mut hb, &socket),
                _ = shared.wake.wait() => {
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
                            engine.spawn_counted(close_bounded(*offer, None));
                        }
                    }
                    if ws.is_none() && shared.closing.load(Ordering::Acquire) && close_deadline.is_none() {
                        close_deadline = Some(Instant::now() + config.polling_close_timeout);
                    }
                }
                msg = next_msg(ws.as_mut()) => {
                    let next = match msg {
                        None => Next::Close(CloseReason::TransportClose),
                        Some(Ok(WsMessage::Close(frame))) => {
                            peer_close = Some(frame.map(|f| f.code));
                            Next::Close(CloseReason::TransportClose)
                        }
                        Some(Ok(WsMessage::Ping(p))) => {
                            if let Some(w) = ws.as_mut() {
                                w.feed_control(OpCode::Pong, &p);
                            }
                            Next::Continue
                        }
                        Some(Err(e)) => {
                            tracing::debug!(sid = %socket.id(), error = %e, "WebSocket read error");
                            error_code = Some(e.close_code());
                            Next::Close(CloseReason::TransportError)
                        }
                        Some(Ok(m)) => match decode_ws(m, socket.protocol()) {
                            Ok(Some(p)) => on_packet(&engine, &socket, p),
                            Ok(None) => Next::Continue,
                            Err(()) => Next::Close(CloseReason::ParseError),
                        },
                    };
                    match next {
                        Next::Continue => {}
                        Next::Heartbeat => heartbeat_in(&mut hb, &socket),
                        Next::Close(reason) => { socket.mark_closed(reason); }
                    }
                    // A pong to send.
                    if let Some(w) = ws.as_mut().filter(|w| w.has_output() && peer_close.is_none()) {
                        match guarded(w.flush(), &socket, &mut hb, hb_timer.as_mut()).await {
                            None => stalled = true,
                            Some(Err(_)) => { socket.mark_closed(CloseReason::TransportError); }
                            Some(Ok(())) => {}
                        }
                    }
                }
                item = next_item(consumer.is_some().then_some(&shared.queue)) => {
                    if let Some(w) = ws.as_mut() {
                        let written = guarded(write_batch(w, &shared.queue, item), &socket, &mut hb, hb_timer.as_mut()).await;
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
                msg = next_msg(upgrading.as_mut().map(|u| &mut *u.conn)) => {
                    let Some(up) = upgrading.take() else { continue };
                    match upgrade_step(&engine, &socket, up, msg).await {
                        Upgraded::Pending(up) => upgrading = Some(up),
                        Upgraded::Aborted => {}
                        Upgraded::Complete(conn) => {
                            let moved = [UPGRADING, PROBED].into_iter().any(|from| {
                                shared.state.compare_exchange(from, WEBSOCKET, Ordering::AcqRel, Ordering::Acquire).is_ok()
                            });
                            if !moved {
                                // The session closed meanwhile.
                                close_bounded(*conn, None).await;
                                continue;
                            }
                            shared.closed.notify_waiters();
                            consumer = Some(shared.queue.consumer().lock().await);
                            ws = Some(*conn);
                            tracing::debug!(sid = %socket.id(), "upgraded to WebSocket");
                        }
                    }
                }
                _ = sleep_opt(upgrade_at) => {
                    if let Some(up) = upgrading.take() {
                        tracing::debug!(sid = %socket.id(), "upgrade timed out");
                        back_to_polling(&shared.state);
                        close_bounded(*up.conn, None).await;
                    }
                }
                _ = sleep_opt(close_deadline) => {
                    socket.mark_closed(CloseReason::ForcedClose);
                }
            }
        }

        if let Some(up) = upgrading.take() {
            close_bounded(*up.conn, None).await;
        }
        drop(consumer);
        let ws = ws.take();
        engine.finish(&socket);
        if let Some(w) = ws {
            match (error_code, peer_close) {
                _ if stalled || close_frame_sent => {}
                // Boxed: rare paths that would otherwise widen every driver's state.
                (Some(code), _) => Box::pin(close_with(w, code)).await,
                (None, Some(code)) => Box::pin(close_bounded(w, code)).await,
                (None, None) => Box::pin(close_bounded(w, None)).await,
            }
        }
    }
}

/// Where an upgrade stands after a message on its WebSocket.
enum Upgraded {
    Pending(Upgrading),
    /// The client sent `5`: the WebSocket takes over.
    Complete(Box<WsConn>),
    /// The session is back on polling and the WebSocket closed.
    Aborted,
}

/// One message on a WebSocket that is upgrading a polling session.
async fn upgrade_step<H: EngineHandler>(
    engine: &Engine<H>,
    socket: &Socket<H::Data>,
    mut up: Upgrading,
    msg: Option<Result<WsMessage, WsError>>,
) -> Upgraded {
    let shared = &socket.0;
    let mut abort_code = None;
    let step = match msg {
        Some(Ok(WsMessage::Ping(p))) => {
            up.conn.feed_control(OpCode::Pong, &p);
            Some(UpgradeStep::AnswerProbe(up.state))
        }
        Some(Ok(m)) => match decode_ws(m, socket.protocol()) {
            Ok(Some(p)) => up.state.handle(&p).ok(),
            Ok(None) => Some(UpgradeStep::AnswerProbe(up.state)),
            Err(()) => None,
        },
        Some(Err(e)) => {
            abort_code = Some(e.close_code());
            None
        }
        None => None,
    };
    match step {
        Some(UpgradeStep::AnswerProbe(next)) => {
            if next == Upgrade::AwaitingUpgrade && up.state == Upgrade::AwaitingProbe {
                up.conn.feed(&Frame::Text("3probe".into()));
                // From now on every poll is released with a noop (the pending one at once)
                // so that the client can finish the upgrade.
                if shared
                    .state
                    .compare_exchange(UPGRADING, PROBED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    shared.closed.notify_waiters();
                }
            }
            if up.conn.has_output()
                && !matches!(
                    tokio::time::timeout(CLOSE_WAIT, up.conn.flush()).await,
                    Ok(Ok(()))
                )
            {
                back_to_polling(&shared.state);
                return Upgraded::Aborted;
            }
            up.state = next;
            Upgraded::Pending(up)
        }
        Some(UpgradeStep::Complete) => Upgraded::Complete(up.conn),
        None => {
            tracing::debug!(sid = %socket.id(), "upgrade aborted");
            back_to_polling(&shared.state);
            match abort_code {
                Some(code) => engine.spawn_counted(close_with(*up.conn, code)),
                None => close_bounded(*up.conn, None).await,
            }
            Upgraded::Aborted
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
                .queue
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

fn heartbeat_in<D>(hb: &mut Heartbeat, socket: &Socket<D>) {
    let now = Instant::now().into_std();
    let ok = match socket.protocol() {
        ProtocolVersion::V3 => {
            hb.handle_ping(now).is_ok()
                && socket
                    .0
                    .queue
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
    ws: &mut WsConn,
    queue: &SendQueue<Item>,
    first: Item,
) -> std::io::Result<(bool, usize)> {
    let mut item = Some(first);
    let mut n = 0;
    while let Some(it) = item.take() {
        if let Item::Pause(d) = it {
            ws.flush().await?;
            tokio::time::sleep(d).await;
        }
        for f in it.frames() {
            if f.is_close_marker() {
                ws.close(None).await?;
                return Ok((true, n + 1));
            }
            ws.feed(f);
        }
        n += 1;
        if n < WRITE_BATCH {
            item = queue.try_recv();
        }
    }
    ws.flush().await?;
    Ok((false, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::close_code;

    #[test]
    fn accept_key_is_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn close_codes_for_broken_framing_are_those_of_ws() {
        assert_eq!(WsError::TooBig.close_code(), close_code::TOO_BIG);
        assert_eq!(WsError::InvalidUtf8.close_code(), close_code::INVALID_DATA);
        assert_eq!(WsError::Protocol("x").close_code(), close_code::PROTOCOL);
    }
}
