//! WebSocket: new sessions, upgrades from polling, and the per-session driver.
//!
//! Every session has one driver task ([`drive`]). It owns the session's heartbeat and, once the
//! session is on WebSocket, the socket itself: it reads frames, writes the send queue in batches
//! and runs the upgrade handshake of a WebSocket that joins a polling session.

use super::http::{status, upgrade_error};
use super::{on_packet, Next};
use crate::engine::{Body, Engine, EngineHandler};
use crate::error::{CloseReason, ErrorCode};
use crate::heartbeat::{Heartbeat, HeartbeatAction};
use crate::packet::{Frame, Packet, PacketType, ProtocolVersion};
use crate::socket::{Item, RequestInfo, Socket, POLLING, UPGRADING, WEBSOCKET};
use crate::upgrade::{Upgrade, UpgradeStep};
use crate::Str;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::atomic::Ordering;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

pub(crate) type WsStream = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Frames written per flush, at most.
const WRITE_BATCH: usize = 64;

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
        .write_buffer_size(0)
        .max_write_buffer_size(max.max(1 << 20) + 1)
        .max_frame_size(Some(max))
        .max_message_size(Some(max))
}

/// Answers the HTTP upgrade and runs `then` with the WebSocket once hyper hands it over.
fn accept<B, F, Fut>(req: Request<B>, max: usize, then: F) -> Response<Body>
where
    B: Send + 'static,
    F: FnOnce(WsStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return upgrade_error(&ErrorCode::BadRequest);
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config(max)),
                )
                .await;
                then(ws).await;
            }
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

/// A WebSocket-only session.
pub(crate) fn new_session<H: EngineHandler, B: Send + 'static>(
    engine: &Engine<H>,
    version: ProtocolVersion,
    info: RequestInfo,
    req: Request<B>,
) -> Response<Body> {
    let engine = engine.clone();
    let max = engine.0.config.max_http_buffer_size;
    accept(req, max, move |ws| async move {
        let socket = engine.open_session(version, WEBSOCKET, info);
        drive(engine, socket, Some(ws)).await;
    })
}

/// A WebSocket that joins a polling session: handed to the session's driver.
pub(crate) fn upgrade_session<H: EngineHandler, B: Send + 'static>(
    engine: &Engine<H>,
    socket: Socket<H::Data>,
    req: Request<B>,
) -> Response<Body> {
    let max = engine.0.config.max_http_buffer_size;
    accept(req, max, move |ws| async move {
        if let Ok(mut offer) = socket.0.upgrade_offer.lock() {
            *offer = Some(ws);
        }
        socket.0.wake.notify_one();
    })
}

/// Spawns the driver of a polling session.
pub(crate) fn spawn_polling_driver<H: EngineHandler>(engine: &Engine<H>, socket: Socket<H::Data>) {
    tokio::spawn(drive(engine.clone(), socket, None));
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

fn to_ws(frame: &Frame) -> WsMessage {
    match frame {
        Frame::Text(s) => WsMessage::Text(utf8(s.clone())),
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
    ws: WsStream,
    state: Upgrade,
    deadline: Instant,
}

/// The session's driver: heartbeat, WebSocket I/O, upgrades, and the end of the session.
pub(crate) async fn drive<H: EngineHandler>(
    engine: Engine<H>,
    socket: Socket<H::Data>,
    mut ws: Option<WsStream>,
) {
    let config = &engine.0.config;
    let shared = socket.0.clone();
    let mut hb = Heartbeat::new(
        socket.protocol(),
        config.ping_interval,
        config.ping_timeout,
        Instant::now().into_std(),
    );
    let mut rx = match ws {
        Some(_) => Some(shared.rx.clone().lock_owned().await),
        None => None,
    };
    let mut upgrading: Option<Upgrading> = None;
    let mut close_deadline: Option<Instant> = None;
    let mut close_frame_sent = false;

    while !socket.is_closed() {
        let hb_at = Instant::from_std(hb.poll_timeout());
        let upgrade_at = upgrading.as_ref().map(|u| u.deadline);
        let mut up_ws = upgrading.as_mut().map(|u| &mut u.ws);
        tokio::select! {
            _ = sleep_until(hb_at) => {
                match hb.handle_timeout(Instant::now().into_std()) {
                    // A full queue means the client does not read: it cannot answer either.
                    Some(HeartbeatAction::SendPing)
                        if shared.tx.try_send(Item::One(Frame::control(PacketType::Ping))).is_err() =>
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
            _ = shared.wake.notified() => {
                if shared.heartbeat_pending.swap(false, Ordering::AcqRel) {
                    heartbeat_in(&mut hb, &socket);
                }
                let offer = shared.upgrade_offer.lock().ok().and_then(|mut o| o.take());
                if let Some(new_ws) = offer {
                    if ws.is_none() && upgrading.is_none()
                        && shared.state.compare_exchange(POLLING, UPGRADING, Ordering::AcqRel, Ordering::Acquire).is_ok()
                    {
                        tracing::debug!(sid = %socket.id(), "upgrade started");
                        upgrading = Some(Upgrading {
                            ws: new_ws,
                            state: Upgrade::AwaitingProbe,
                            deadline: Instant::now() + config.upgrade_timeout,
                        });
                    } else {
                        let mut new_ws = new_ws;
                        let _ = new_ws.close(None).await;
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
                    match write_batch(w, r, item).await {
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
                let step = match msg {
                    Some(Ok(m)) => match decode_ws(m, socket.protocol()) {
                        Ok(Some(p)) => up.state.handle(&p).ok(),
                        Ok(None) => Some(UpgradeStep::AnswerProbe(up.state)),
                        Err(_) => None,
                    },
                    _ => None,
                };
                match step {
                    Some(UpgradeStep::AnswerProbe(next)) => {
                        if next == Upgrade::AwaitingUpgrade && up.state == Upgrade::AwaitingProbe {
                            if up.ws.send(WsMessage::Text("3probe".into())).await.is_err() {
                                shared.state.store(POLLING, Ordering::Release);
                                continue;
                            }
                            // Release the pending poll so the client can finish the upgrade.
                            let _ = shared.tx.try_send(Item::One(Frame::control(PacketType::Noop)));
                        }
                        up.state = next;
                        upgrading = Some(up);
                    }
                    Some(UpgradeStep::Complete) => {
                        shared.state.store(WEBSOCKET, Ordering::Release);
                        shared.closed.notify_waiters();
                        rx = Some(shared.rx.clone().lock_owned().await);
                        ws = Some(up.ws);
                        tracing::debug!(sid = %socket.id(), "upgraded to WebSocket");
                    }
                    None => {
                        tracing::debug!(sid = %socket.id(), "upgrade aborted");
                        let _ = up.ws.close(None).await;
                        let _ = shared.state.compare_exchange(UPGRADING, POLLING, Ordering::AcqRel, Ordering::Acquire);
                    }
                }
            }
            _ = sleep_opt(upgrade_at) => {
                if let Some(mut up) = upgrading.take() {
                    tracing::debug!(sid = %socket.id(), "upgrade timed out");
                    let _ = up.ws.close(None).await;
                    let _ = shared.state.compare_exchange(UPGRADING, POLLING, Ordering::AcqRel, Ordering::Acquire);
                }
            }
            _ = sleep_opt(close_deadline) => {
                socket.mark_closed(CloseReason::ForcedClose);
            }
        }
    }

    if let Some(mut up) = upgrading.take() {
        let _ = up.ws.close(None).await;
    }
    if let Some(mut w) = ws.take() {
        if !close_frame_sent {
            let _ = w.close(None).await;
        }
    }
    drop(rx);
    engine.finish(&socket);
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
/// Returns true when the close marker was met and the close frame sent.
async fn write_batch(
    ws: &mut WsStream,
    rx: &mut tokio::sync::mpsc::Receiver<Item>,
    first: Item,
) -> Result<bool, tokio_tungstenite::tungstenite::Error> {
    let mut item = Some(first);
    let mut n = 0;
    while let Some(it) = item.take() {
        for f in it.frames() {
            if f.as_text() == Some("1") {
                ws.flush().await?;
                let _ = ws.close(None).await;
                return Ok(true);
            }
            ws.feed(to_ws(f)).await?;
        }
        n += 1;
        if n < WRITE_BATCH {
            item = rx.try_recv().ok();
        }
    }
    ws.flush().await?;
    Ok(false)
}
