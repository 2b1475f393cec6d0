//! [`Engine`]: the session table and the request dispatcher.
//!
//! Every HTTP request under the engine's path comes through [`Engine::handle`]: it is checked
//! the way the reference checks it, in its order ([`verify`]: transport, sid, method, Upgrade
//! header; then `allow_request` and the protocol version of a handshake), then handed to the
//! polling or WebSocket transport. Each session has one driver task that owns
//! its heartbeat and, once upgraded, its WebSocket.

use crate::config::EngineConfig;
use crate::error::{CloseReason, ErrorCode};
use crate::packet::{Frame, ProtocolVersion};
use crate::socket::{Item, RequestInfo, Socket, TransportKind, CLOSED, POLLING, WEBSOCKET};
use crate::transport::http::ConnControl;
use crate::transport::{polling, websocket};
use crate::{Sid, Str};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

/// What the layer above (Socket.IO, or an application) does with sessions.
///
/// The callbacks are synchronous and called in order for each session: `on_open` first, then
/// `on_message` for each message in the order the client sent them, then `on_close` once.
/// They run on the connection's task, so they must not block; spawn work that waits.
pub trait EngineHandler: Send + Sync + 'static {
    /// Data kept with each session, created when it opens.
    type Data: Default + Send + Sync + 'static;

    /// A session opened.
    fn on_open(&self, socket: &Socket<Self::Data>);

    /// A message arrived.
    fn on_message(&self, socket: &Socket<Self::Data>, message: Message);

    /// The session closed.
    fn on_close(&self, socket: &Socket<Self::Data>, reason: CloseReason);
}

/// The peer address of a connection, as a request extension.
///
/// [`serve`](crate::serve) inserts it; when mounting the engine in another server, insert it
/// yourself to have [`RequestInfo::remote_addr`] filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

pub(crate) struct Inner<H: EngineHandler> {
    pub(crate) config: EngineConfig,
    pub(crate) handler: H,
    sessions: RwLock<crate::SidMap<Socket<H::Data>>>,
    /// Tasks the engine spawned and that still run (session drivers, WebSocket handshakes
    /// and closes); see [`Engine::task_count`].
    pub(crate) tasks: Arc<AtomicUsize>,
    /// [`Engine::close`] was called: handshakes are refused.
    closing: std::sync::atomic::AtomicBool,
    /// Wakes [`Engine::closing`] when `closing` is set.
    closing_started: tokio::sync::Notify,
}

/// Counts a task of the engine while it lives (see [`Engine::task_count`]).
pub(crate) struct TaskGuard(Arc<AtomicUsize>);

impl TaskGuard {
    pub(crate) fn new(tasks: &Arc<AtomicUsize>) -> Self {
        tasks.fetch_add(1, Ordering::AcqRel);
        TaskGuard(tasks.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A future that counts as a task of the engine while it lives.
    pub(crate) struct Counted<F> {
        #[pin]
        fut: F,
        _guard: TaskGuard,
    }
}

impl<F: std::future::Future> std::future::Future for Counted<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.project().fut.poll(cx)
    }
}

/// An Engine.IO server: the session table, the options and the handler.
///
/// Cheap to clone. Use it through [`EngineService`](crate::EngineService) (a tower service that
/// also passes other requests on) or [`serve`](crate::serve).
pub struct Engine<H: EngineHandler>(pub(crate) Arc<Inner<H>>);

impl<H: EngineHandler> Clone for Engine<H> {
    fn clone(&self) -> Self {
        Engine(self.0.clone())
    }
}

impl<H: EngineHandler> fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.0.config)
            .field("sessions", &self.session_count())
            .finish()
    }
}

/// Parsed query parameters the engine cares about.
///
/// As with the reference (`Object.fromEntries(url.searchParams)`), the last value of a repeated
/// parameter wins, and an empty `sid` is no sid at all (a handshake).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) eio: Option<String>,
    pub(crate) transport: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) jsonp: Option<String>,
    pub(crate) b64: bool,
}

pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                crate::payload::percent_decode_lossy(k.as_bytes()),
                crate::payload::percent_decode_lossy(v.as_bytes()),
            )
        })
        .collect()
}

impl Query {
    pub(crate) fn parse(query: &str) -> Self {
        let mut q = Query::default();
        for (k, v) in parse_query(query) {
            match k.as_str() {
                "EIO" => q.eio = Some(v),
                "transport" => q.transport = Some(v),
                "sid" => q.sid = Some(v),
                "j" => q.jsonp = Some(v),
                "b64" => q.b64 = true,
                _ => {}
            }
        }
        q.sid = q.sid.filter(|s| !s.is_empty());
        q
    }

    /// The protocol a request speaks: `EIO=4` is v4, anything else (or nothing) v3.
    pub(crate) fn protocol(&self) -> ProtocolVersion {
        match self.eio.as_deref() {
            Some("4") => ProtocolVersion::V4,
            _ => ProtocolVersion::V3,
        }
    }
}

/// What [`verify`] needs to know about the session a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionView {
    pub(crate) transport: TransportKind,
    pub(crate) protocol: ProtocolVersion,
}

/// Where a request goes once [`verify`] accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// A request on the existing session named by `sid`.
    Session(TransportKind),
    /// A new session (the protocol version is checked later, as the reference does).
    Handshake(TransportKind),
}

/// The reference's request verification (`server.verify`), in its order: the transport, then
/// the sid (unknown: code 1; a transport other than the session's without an upgrade, or a
/// different protocol version: code 3), then for a handshake the method (code 2) and a
/// WebSocket request without `Upgrade` (code 3).
pub(crate) fn verify(
    query: &Query,
    method: &Method,
    upgrade: bool,
    offered: crate::Transports,
    session: impl FnOnce(&str) -> Option<SessionView>,
) -> Result<Route, ErrorCode> {
    let transport = match query.transport.as_deref() {
        Some("polling") if offered.polling => TransportKind::Polling,
        Some("websocket") if offered.websocket => TransportKind::WebSocket,
        _ => return Err(ErrorCode::UnknownTransport),
    };
    if let Some(sid) = &query.sid {
        let s = session(sid).ok_or(ErrorCode::UnknownSid)?;
        if !upgrade && s.transport != transport {
            return Err(ErrorCode::BadRequest);
        }
        if s.protocol != query.protocol() {
            return Err(ErrorCode::BadRequest);
        }
        return Ok(Route::Session(transport));
    }
    if method != Method::GET {
        return Err(ErrorCode::BadHandshakeMethod);
    }
    if transport == TransportKind::WebSocket && !upgrade {
        return Err(ErrorCode::BadRequest);
    }
    Ok(Route::Handshake(transport))
}

pub(crate) type Body = Full<Bytes>;

impl<H: EngineHandler> Engine<H> {
    /// A new engine.
    pub fn new(config: EngineConfig, handler: H) -> Self {
        Engine(Arc::new(Inner {
            config,
            handler,
            sessions: RwLock::new(crate::SidMap::default()),
            tasks: Arc::new(AtomicUsize::new(0)),
            closing: std::sync::atomic::AtomicBool::new(false),
            closing_started: tokio::sync::Notify::new(),
        }))
    }

    /// The options.
    pub fn config(&self) -> &EngineConfig {
        &self.0.config
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.0.handler
    }

    /// How many sessions are open (`clientsCount`).
    pub fn session_count(&self) -> usize {
        self.0.sessions.read().map(|s| s.len()).unwrap_or(0)
    }

    /// How many tasks the engine spawned are still running: one driver per session (it owns
    /// the heartbeat and, once upgraded, the WebSocket), plus WebSocket handshakes and closes
    /// under way. With no connection left it drops back to 0 (within a second or two of
    /// the last close: a close frame waits up to 1 s for the client's answer). For leak
    /// checks.
    pub fn task_count(&self) -> usize {
        self.0.tasks.load(Ordering::Acquire)
    }

    /// Spawns a task counted by [`task_count`](Self::task_count).
    pub(crate) fn spawn_counted<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        // A struct, not `async move { let _guard = guard; fut.await }`: an async block keeps
        // the future it awaits twice (as captured and as awaited), which doubled the memory
        // of every session's driver task.
        tokio::spawn(Counted {
            fut,
            _guard: TaskGuard::new(&self.0.tasks),
        });
    }

    /// The open session with this id.
    pub fn socket(&self, sid: Sid) -> Option<Socket<H::Data>> {
        self.0.sessions.read().ok()?.get(&sid).cloned()
    }

    /// Whether a request is for the engine (its path starts with the engine's path).
    pub fn matches(&self, path: &str) -> bool {
        let p = &self.0.config.path;
        path.starts_with(p.as_str()) || path == &p[..p.len() - 1]
    }

    /// Closes every session (`forced close`) and waits until all are gone, or `deadline` passed.
    ///
    /// Queued frames are flushed first: polling clients get them with the close packet in their
    /// next poll, WebSocket clients before the close frame. From the first call on, handshakes
    /// are refused with `503 Service Unavailable` (what the reference's WebSocket server
    /// answers once closed; the engine does not own the listener, so it refuses polling
    /// handshakes the same way), and a session a handshake opened meanwhile is closed too.
    pub async fn close(&self, deadline: std::time::Duration) {
        self.0.closing.store(true, Ordering::Release);
        self.0.closing_started.notify_waiters();
        let sockets: Vec<_> = match self.0.sessions.read() {
            Ok(s) => s.values().cloned().collect(),
            Err(_) => return,
        };
        for s in &sockets {
            s.close();
        }
        let all = futures_util::future::join_all(sockets.iter().map(|s| s.closed()));
        if tokio::time::timeout(deadline, all).await.is_err() {
            for s in &sockets {
                s.mark_closed(CloseReason::ForcedClose);
            }
        }
        // The drivers now remove the sessions and tell the handler (a stalled write is
        // abandoned at once); wait for that briefly, so that the handler has seen every close
        // when this returns.
        for _ in 0..20 {
            // Sessions a handshake opened while the flag was being set are closed too.
            let left: Vec<_> = match self.0.sessions.read() {
                Ok(t) => t.values().cloned().collect(),
                Err(_) => Vec::new(),
            };
            if left.is_empty() {
                break;
            }
            for s in &left {
                s.mark_closed(CloseReason::ForcedClose);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Whether [`Engine::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.0.closing.load(Ordering::Acquire)
    }

    /// Resolves once [`Engine::close`] was called (at once if it was): the shutdown signal
    /// for [`serve_with_shutdown`](crate::serve_with_shutdown).
    pub async fn closing(&self) {
        loop {
            let started = self.0.closing_started.notified();
            tokio::pin!(started);
            started.as_mut().enable();
            if self.is_closing() {
                return;
            }
            started.await;
        }
    }

    /// Answers one HTTP request under the engine's path.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let origin = req.headers().get(header::ORIGIN).cloned();
        let mut res = self.dispatch(req).await;
        crate::transport::http::apply_cors(&self.0.config, origin.as_ref(), &mut res);
        res
    }

    async fn dispatch<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        use crate::transport::http::{error_response, preflight, upgrade_error};
        let config = &self.0.config;
        if req.method() == Method::OPTIONS && config.cors.is_some() {
            return preflight(config, req.headers());
        }
        let query = Query::parse(req.uri().query().unwrap_or(""));
        let is_upgrade = websocket::is_upgrade_request(req.headers());
        let conn = ConnControl::of(&req);
        let fail = |code: ErrorCode| {
            tracing::debug!(
                code = code.code(),
                message = code.message(),
                "request refused"
            );
            if is_upgrade {
                upgrade_error(&code, conn.as_ref())
            } else {
                error_response(&code)
            }
        };

        let mut found = None;
        let route = verify(&query, req.method(), is_upgrade, config.transports, |sid| {
            let socket = sid
                .parse::<Sid>()
                .ok()
                .and_then(|sid| self.socket(sid))
                .filter(|s| !s.is_closed())?;
            let view = SessionView {
                transport: socket.transport(),
                protocol: socket.protocol(),
            };
            found = Some(socket);
            Some(view)
        });
        let route = match route {
            Ok(route) => route,
            Err(code) => return fail(code),
        };

        match (route, found) {
            (Route::Session(transport), Some(socket)) => {
                if is_upgrade {
                    // The reference accepts the WebSocket first and then closes it when it
                    // cannot join the session (transport=polling, already upgrading, …).
                    let join = transport == TransportKind::WebSocket && config.allow_upgrades;
                    return websocket::upgrade_session(self, socket, join, query.b64, req);
                }
                match transport {
                    TransportKind::Polling => match *req.method() {
                        Method::GET => polling::get(self, socket, req).await,
                        Method::POST => polling::post(self, socket, conn.as_ref(), req).await,
                        _ => crate::transport::http::status(StatusCode::INTERNAL_SERVER_ERROR),
                    },
                    // A plain HTTP request on a WebSocket session (the reference leaves it
                    // hanging; we refuse it).
                    TransportKind::WebSocket => fail(ErrorCode::BadRequest),
                }
            }
            (Route::Session(_), None) => fail(ErrorCode::UnknownSid),
            (Route::Handshake(_), _) if self.is_closing() => {
                crate::transport::http::status(StatusCode::SERVICE_UNAVAILABLE)
            }
            (Route::Handshake(transport), _) => {
                if let Some(allow) = &config.allow_request {
                    let (parts, body) = req.into_parts();
                    if let Err(message) = allow(&parts).await {
                        let message = if message.is_empty() {
                            "Forbidden".to_owned()
                        } else {
                            message
                        };
                        return fail(ErrorCode::Forbidden(message));
                    }
                    return self
                        .handshake(
                            Request::from_parts(parts, body),
                            &query,
                            transport,
                            is_upgrade,
                        )
                        .await;
                }
                self.handshake(req, &query, transport, is_upgrade).await
            }
        }
    }

    async fn handshake<B>(
        &self,
        req: Request<B>,
        query: &Query,
        transport: TransportKind,
        is_upgrade: bool,
    ) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let info = request_info(&req);
        if is_upgrade {
            // Like the reference, the WebSocket is accepted before the protocol version is
            // checked; it is then refused on the upgraded connection.
            let version = if transport != TransportKind::WebSocket {
                Err(None)
            } else if query.protocol() == ProtocolVersion::V4 {
                Ok(ProtocolVersion::V4)
            } else {
                Err(Some(ErrorCode::UnsupportedProtocolVersion))
            };
            return websocket::new_session(self, version, query.b64, info, req);
        }
        let version = match query.protocol() {
            ProtocolVersion::V4 => ProtocolVersion::V4,
            _ => {
                return crate::transport::http::error_response(
                    &ErrorCode::UnsupportedProtocolVersion,
                )
            }
        };
        let socket = self.open_session(version, POLLING, query.jsonp.clone(), info);
        websocket::spawn_polling_driver(self, socket.clone());
        let mut res = polling::get(self, socket.clone(), req).await;
        if let Some(cookie) = &self.0.config.cookie {
            let mut v = format!("{}={}; Path={}", cookie.name, socket.id(), cookie.path);
            if cookie.http_only {
                v.push_str("; HttpOnly");
            }
            if let Some(s) = &cookie.same_site {
                v.push_str("; SameSite=");
                v.push_str(s);
            }
            if let Ok(v) = HeaderValue::from_str(&v) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
        res
    }

    /// Creates a session, queues its open packet and starts its driver (polling sessions).
    pub(crate) fn open_session(
        &self,
        version: ProtocolVersion,
        state: u8,
        jsonp: Option<String>,
        info: RequestInfo,
    ) -> Socket<H::Data> {
        let config = &self.0.config;
        let sid = Sid::new();
        let socket = Socket::new(
            sid,
            version,
            config.max_buffered_packets,
            state,
            jsonp.map(String::into_boxed_str),
            info,
            H::Data::default(),
        );
        let upgrades = if state == POLLING && config.allow_upgrades && config.transports.websocket {
            "[\"websocket\"]"
        } else {
            "[]"
        };
        let open = format!(
            "0{{\"sid\":\"{sid}\",\"upgrades\":{upgrades},\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            config.ping_interval.as_millis(),
            config.ping_timeout.as_millis(),
            config.max_http_buffer_size
        );
        let mut frames = vec![Frame::Text(open.into())];
        if let Some(initial) = &config.initial_packet {
            frames.push(Frame::message(initial));
        }
        // The queue is new and holds at least one item.
        let _ = socket.0.queue.try_send(Item::Many(frames.into()));
        if let Ok(mut s) = self.0.sessions.write() {
            s.insert(sid, socket.clone());
        }
        tracing::debug!(sid = %sid, transport = if state == WEBSOCKET { "websocket" } else { "polling" }, "session opened");
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.0.handler.on_open(&socket)
        }));
        if opened.is_err() {
            tracing::error!(target: "ferrio_engine", sid = %sid, "on_open panicked: closing the session");
            socket.mark_closed(CloseReason::ForcedClose);
        }
        socket
    }

    /// Removes a closed session and tells the handler, once.
    pub(crate) fn finish(&self, socket: &Socket<H::Data>) {
        debug_assert_eq!(
            socket.0.state.load(std::sync::atomic::Ordering::Acquire),
            CLOSED
        );
        let removed = self
            .0
            .sessions
            .write()
            .ok()
            .and_then(|mut s| s.remove(&socket.id()));
        if removed.is_some() {
            let reason = socket.close_reason().unwrap_or(CloseReason::TransportClose);
            tracing::debug!(sid = %socket.id(), %reason, "session closed");
            // The session is already removed; a panic must not unwind the driver.
            let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.0.handler.on_close(socket, reason)
            }));
            if closed.is_err() {
                tracing::error!(target: "ferrio_engine", sid = %socket.id(), "on_close panicked");
            }
        }
    }
}

fn request_info<B>(req: &Request<B>) -> RequestInfo {
    let secure = req.uri().scheme_str() == Some("https")
        || req
            .headers()
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    RequestInfo::new(
        req.headers(),
        req.uri(),
        req.extensions().get::<RemoteAddr>().map(|a| a.0),
        secure,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(transport: TransportKind) -> Option<SessionView> {
        Some(SessionView {
            transport,
            protocol: ProtocolVersion::V4,
        })
    }

    fn check(
        query: &str,
        method: Method,
        upgrade: bool,
        session: Option<SessionView>,
    ) -> Result<Route, u8> {
        verify(
            &Query::parse(query),
            &method,
            upgrade,
            crate::Transports::default(),
            |_| session,
        )
        .map_err(|e| e.code())
    }

    #[test]
    fn query_last_value_wins_and_empty_sid_is_a_handshake() {
        let q = Query::parse("EIO=3&transport=polling&EIO=4&transport=websocket&sid=&b64=1");
        assert_eq!(q.eio.as_deref(), Some("4"));
        assert_eq!(q.transport.as_deref(), Some("websocket"));
        assert_eq!(q.sid, None);
        assert!(q.b64);
        assert_eq!(q.protocol(), ProtocolVersion::V4);
        let q = Query::parse("sid=abc&sid=&j=");
        assert_eq!(q.sid, None, "the last (empty) sid wins");
        assert_eq!(q.jsonp.as_deref(), Some(""));
        assert_eq!(Query::parse("EIO=%34").protocol(), ProtocolVersion::V4);
        assert_eq!(Query::parse("EIO=04").protocol(), ProtocolVersion::V3);
        assert_eq!(Query::parse("").protocol(), ProtocolVersion::V3);
    }

    #[test]
    fn transport_is_checked_first() {
        assert_eq!(
            check("EIO=3&transport=abc", Method::POST, false, None),
            Err(0)
        );
        assert_eq!(check("EIO=4", Method::GET, true, None), Err(0));
        assert_eq!(
            check("EIO=4&transport=POLLING", Method::GET, false, None),
            Err(0)
        );
        let only_ws = crate::Transports {
            polling: false,
            websocket: true,
        };
        let q = Query::parse("EIO=4&transport=polling");
        assert_eq!(
            verify(&q, &Method::GET, false, only_ws, |_| None),
            Err(ErrorCode::UnknownTransport)
        );
    }

    #[test]
    fn then_the_sid() {
        let polling = view(TransportKind::Polling);
        assert_eq!(
            check("EIO=3&transport=polling&sid=x", Method::GET, false, None),
            Err(1)
        );
        assert_eq!(
            check("EIO=4&transport=polling&sid=x", Method::PUT, false, polling),
            Ok(Route::Session(TransportKind::Polling))
        );
        // Another transport without an upgrade, or another protocol version: code 3.
        assert_eq!(
            check(
                "EIO=4&transport=websocket&sid=x",
                Method::GET,
                false,
                polling
            ),
            Err(3)
        );
        assert_eq!(
            check(
                "EIO=4&transport=polling&sid=x",
                Method::GET,
                false,
                view(TransportKind::WebSocket)
            ),
            Err(3)
        );
        for eio in ["EIO=3&", "EIO=5&", ""] {
            let q = format!("{eio}transport=polling&sid=x");
            assert_eq!(check(&q, Method::GET, false, polling), Err(3), "{q}");
            let q = format!("{eio}transport=websocket&sid=x");
            assert_eq!(check(&q, Method::GET, true, polling), Err(3), "{q}");
        }
        // An upgrade may name another transport than the session's.
        assert_eq!(
            check(
                "EIO=4&transport=websocket&sid=x",
                Method::GET,
                true,
                polling
            ),
            Ok(Route::Session(TransportKind::WebSocket))
        );
        assert_eq!(
            check("EIO=4&transport=polling&sid=x", Method::GET, true, polling),
            Ok(Route::Session(TransportKind::Polling))
        );
    }

    #[test]
    fn then_the_handshake_method_and_upgrade_header() {
        assert_eq!(
            check("EIO=3&transport=polling", Method::POST, false, None),
            Err(2)
        );
        assert_eq!(
            check("EIO=4&transport=polling", Method::HEAD, false, None),
            Err(2)
        );
        assert_eq!(
            check("EIO=4&transport=websocket", Method::GET, false, None),
            Err(3)
        );
        assert_eq!(
            check(
                "EIO=4&transport=polling&transport=websocket",
                Method::GET,
                false,
                None
            ),
            Err(3)
        );
        // The protocol version of a handshake is checked later (code 5, or after the 101).
        assert_eq!(
            check("EIO=3&transport=polling", Method::GET, false, None),
            Ok(Route::Handshake(TransportKind::Polling))
        );
        assert_eq!(
            check("transport=websocket", Method::GET, true, None),
            Ok(Route::Handshake(TransportKind::WebSocket))
        );
        assert_eq!(
            check("EIO=4&transport=polling&sid=", Method::GET, false, None),
            Ok(Route::Handshake(TransportKind::Polling))
        );
    }
}
