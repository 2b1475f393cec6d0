//! [`Engine`]: the session table and the request dispatcher.
//!
//! Every HTTP request under the engine's path comes through [`Engine::handle`]: it is checked
//! the way the reference checks it (transport, sid, method, protocol version, `allow_request`),
//! then handed to the polling or WebSocket transport. Each session has one driver task that owns
//! its heartbeat and, once upgraded, its WebSocket.

use crate::config::EngineConfig;
use crate::error::{CloseReason, ErrorCode};
use crate::packet::{Frame, ProtocolVersion};
use crate::socket::{Item, RequestInfo, Socket, CLOSED, POLLING, WEBSOCKET};
use crate::transport::{polling, websocket};
use crate::{Sid, Str};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

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
    sessions: RwLock<HashMap<Sid, Socket<H::Data>>>,
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
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub(crate) eio: Option<String>,
    pub(crate) transport: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) jsonp: Option<String>,
}

pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                crate::payload::percent_decode_query(k),
                crate::payload::percent_decode_query(v),
            )
        })
        .collect()
}

impl Query {
    fn parse(query: &str) -> Self {
        let mut q = Query::default();
        for (k, v) in parse_query(query) {
            match k.as_str() {
                "EIO" if q.eio.is_none() => q.eio = Some(v),
                "transport" if q.transport.is_none() => q.transport = Some(v),
                "sid" if q.sid.is_none() => q.sid = Some(v),
                "j" if q.jsonp.is_none() => q.jsonp = Some(v),
                _ => {}
            }
        }
        q
    }
}

pub(crate) type Body = Full<Bytes>;

impl<H: EngineHandler> Engine<H> {
    /// A new engine.
    pub fn new(config: EngineConfig, handler: H) -> Self {
        Engine(Arc::new(Inner {
            config,
            handler,
            sessions: RwLock::new(HashMap::new()),
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
    /// next poll, WebSocket clients before the close frame.
    pub async fn close(&self, deadline: std::time::Duration) {
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
        let fail = |code: ErrorCode| {
            tracing::debug!(
                code = code.code(),
                message = code.message(),
                "request refused"
            );
            if is_upgrade {
                upgrade_error(&code)
            } else {
                error_response(&code)
            }
        };

        let transport = match query.transport.as_deref() {
            Some("polling") if config.transports.polling => crate::TransportKind::Polling,
            Some("websocket") if config.transports.websocket => crate::TransportKind::WebSocket,
            _ => return fail(ErrorCode::UnknownTransport),
        };

        if let Some(sid) = &query.sid {
            let Some(socket) = sid.parse::<Sid>().ok().and_then(|sid| self.socket(sid)) else {
                return fail(ErrorCode::UnknownSid);
            };
            if socket.is_closed() {
                return fail(ErrorCode::UnknownSid);
            }
            let current = socket.transport();
            if !is_upgrade && current != transport {
                return fail(ErrorCode::BadRequest);
            }
            return match transport {
                crate::TransportKind::Polling => match *req.method() {
                    Method::GET => polling::get(self, socket, query.jsonp.as_deref(), req).await,
                    Method::POST => polling::post(self, socket, query.jsonp.is_some(), req).await,
                    _ => crate::transport::http::status(StatusCode::INTERNAL_SERVER_ERROR),
                },
                crate::TransportKind::WebSocket => {
                    if !is_upgrade
                        || !config.allow_upgrades
                        || socket.0.state.load(std::sync::atomic::Ordering::Acquire) != POLLING
                    {
                        return fail(ErrorCode::BadRequest);
                    }
                    websocket::upgrade_session(self, socket, req)
                }
            };
        }

        if req.method() != Method::GET {
            return fail(ErrorCode::BadHandshakeMethod);
        }
        if transport == crate::TransportKind::WebSocket && !is_upgrade {
            return fail(ErrorCode::BadRequest);
        }
        if let Some(allow) = &config.allow_request {
            let (parts, body) = req.into_parts();
            let verdict = allow(&parts).await;
            if let Err(message) = verdict {
                let message = if message.is_empty() {
                    "Forbidden".to_owned()
                } else {
                    message
                };
                return fail(ErrorCode::Forbidden(message));
            }
            return self
                .handshake(Request::from_parts(parts, body), &query, transport)
                .await;
        }
        self.handshake(req, &query, transport).await
    }

    async fn handshake<B>(
        &self,
        req: Request<B>,
        query: &Query,
        transport: crate::TransportKind,
    ) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let version = match query.eio.as_deref() {
            Some("4") => ProtocolVersion::V4,
            _ => {
                let code = ErrorCode::UnsupportedProtocolVersion;
                return if transport == crate::TransportKind::WebSocket {
                    crate::transport::http::upgrade_error(&code)
                } else {
                    crate::transport::http::error_response(&code)
                };
            }
        };
        let info = request_info(&req);
        match transport {
            crate::TransportKind::Polling => {
                let socket = self.open_session(version, POLLING, info);
                websocket::spawn_polling_driver(self, socket.clone());
                let mut res = polling::get(self, socket.clone(), query.jsonp.as_deref(), req).await;
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
            crate::TransportKind::WebSocket => websocket::new_session(self, version, info, req),
        }
    }

    /// Creates a session, queues its open packet and starts its driver (polling sessions).
    pub(crate) fn open_session(
        &self,
        version: ProtocolVersion,
        state: u8,
        info: RequestInfo,
    ) -> Socket<H::Data> {
        let config = &self.0.config;
        let sid = Sid::new();
        let socket = Socket::new(
            sid,
            version,
            config.max_buffered_packets,
            state,
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
        let _ = socket.0.tx.try_send(Item::Many(frames));
        if let Ok(mut s) = self.0.sessions.write() {
            s.insert(sid, socket.clone());
        }
        tracing::debug!(sid = %sid, transport = if state == WEBSOCKET { "websocket" } else { "polling" }, "session opened");
        self.0.handler.on_open(&socket);
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
            self.0.handler.on_close(socket, reason);
        }
    }
}

fn request_info<B>(req: &Request<B>) -> RequestInfo {
    let secure = req.uri().scheme_str() == Some("https")
        || req
            .headers()
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    RequestInfo {
        headers: req.headers().clone(),
        uri: req.uri().clone(),
        remote_addr: req.extensions().get::<RemoteAddr>().map(|a| a.0),
        time: SystemTime::now(),
        secure,
    }
}
