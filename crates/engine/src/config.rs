//! Server options, with the reference server's defaults.

use crate::Str;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future, as returned by [`AllowRequest`] hooks.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A hook that accepts or refuses a handshake request (`allowRequest` in the reference).
///
/// `Err(message)` answers HTTP 403 `{"code":4,"message":<message>}`.
pub type AllowRequest =
    Arc<dyn Fn(&http::request::Parts) -> BoxFuture<Result<(), String>> + Send + Sync>;

/// The transports a server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling (XHR and JSONP).
    pub polling: bool,
    /// WebSocket.
    pub websocket: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            polling: true,
            websocket: true,
        }
    }
}

/// Which origins CORS allows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorsOrigin {
    /// `Access-Control-Allow-Origin: *`.
    Any,
    /// The request's `Origin`, echoed back (`origin: true` in the `cors` package).
    Mirror,
    /// Only these origins (echoed when they match).
    List(Vec<String>),
}

/// CORS settings, with the defaults of the npm `cors` package that the reference uses.
#[derive(Debug, Clone)]
pub struct Cors {
    /// Allowed origins.
    pub origin: CorsOrigin,
    /// Send `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// Preflight `Access-Control-Allow-Methods`.
    pub methods: String,
    /// Preflight `Access-Control-Allow-Headers`; `None` echoes the request's
    /// `Access-Control-Request-Headers`.
    pub allowed_headers: Option<String>,
    /// `Access-Control-Expose-Headers`.
    pub exposed_headers: Option<String>,
    /// Preflight `Access-Control-Max-Age`, in seconds.
    pub max_age: Option<u64>,
}

impl Cors {
    /// CORS for the given origins.
    pub fn new(origin: CorsOrigin) -> Self {
        Cors {
            origin,
            credentials: false,
            methods: "GET,HEAD,PUT,PATCH,POST,DELETE".into(),
            allowed_headers: None,
            exposed_headers: None,
            max_age: None,
        }
    }

    /// CORS that allows every origin (`origin: "*"`).
    pub fn any() -> Self {
        Cors::new(CorsOrigin::Any)
    }
}

/// The `cookie` option: a cookie holding the sid, set on the handshake response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// Cookie name (`io`).
    pub name: String,
    /// `Path` (`/`).
    pub path: String,
    /// `HttpOnly` (true).
    pub http_only: bool,
    /// `SameSite` (`Lax`).
    pub same_site: Option<String>,
}

impl Default for Cookie {
    fn default() -> Self {
        Cookie {
            name: "io".into(),
            path: "/".into(),
            http_only: true,
            same_site: Some("Lax".into()),
        }
    }
}

/// The `httpCompression` option: gzip or deflate of polling responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCompression {
    /// Bodies shorter than this many bytes are sent as they are (1024).
    pub threshold: usize,
}

impl Default for HttpCompression {
    fn default() -> Self {
        HttpCompression { threshold: 1024 }
    }
}

/// Engine.IO server options.
///
/// Every limit here has the reference's default. Options are set with the `with_*` methods:
///
/// ```
/// use ferrio_engine::EngineConfig;
/// use std::time::Duration;
/// let config = EngineConfig::default()
///     .with_path("/engine.io")
///     .with_ping_interval(Duration::from_millis(300))
///     .with_ping_timeout(Duration::from_millis(200));
/// assert_eq!(config.path(), "/engine.io/");
/// assert_eq!(config.max_http_buffer_size(), 1_000_000);
/// ```
#[derive(Clone)]
pub struct EngineConfig {
    pub(crate) path: String,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) max_http_buffer_size: usize,
    pub(crate) max_buffered_packets: usize,
    pub(crate) transports: Transports,
    pub(crate) allow_upgrades: bool,
    pub(crate) allow_request: Option<AllowRequest>,
    pub(crate) cookie: Option<Cookie>,
    pub(crate) cors: Option<Cors>,
    pub(crate) http_compression: Option<HttpCompression>,
    pub(crate) per_message_deflate: Option<crate::ws::PerMessageDeflate>,
    pub(crate) initial_packet: Option<Str>,
    pub(crate) polling_close_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/engine.io/".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_http_buffer_size: 1_000_000,
            max_buffered_packets: 4096,
            transports: Transports::default(),
            allow_upgrades: true,
            allow_request: None,
            cookie: None,
            cors: None,
            http_compression: Some(HttpCompression::default()),
            per_message_deflate: None,
            initial_packet: None,
            polling_close_timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("path", &self.path)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("max_http_buffer_size", &self.max_http_buffer_size)
            .field("max_buffered_packets", &self.max_buffered_packets)
            .field("transports", &self.transports)
            .field("allow_upgrades", &self.allow_upgrades)
            .field("allow_request", &self.allow_request.is_some())
            .field("cookie", &self.cookie)
            .field("cors", &self.cors)
            .field("http_compression", &self.http_compression)
            .field("per_message_deflate", &self.per_message_deflate)
            .field("initial_packet", &self.initial_packet)
            .finish()
    }
}

impl EngineConfig {
    /// The path the server answers under (default `/engine.io/`; a trailing `/` is added).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        let mut path = path.into();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        if !path.ends_with('/') {
            path.push('/');
        }
        self.path = path;
        self
    }

    /// `pingInterval` (25 s): how often the server pings.
    pub fn with_ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }

    /// `pingTimeout` (20 s): how long the client has to answer a ping.
    pub fn with_ping_timeout(mut self, d: Duration) -> Self {
        self.ping_timeout = d;
        self
    }

    /// `upgradeTimeout` (10 s): how long an upgrade may take before the new transport is closed.
    pub fn with_upgrade_timeout(mut self, d: Duration) -> Self {
        self.upgrade_timeout = d;
        self
    }

    /// `maxHttpBufferSize` (1,000,000 bytes): the largest polling body and WebSocket message.
    ///
    /// Larger polling bodies are answered 413 before they are buffered, and close the session
    /// (`transport error`); larger WebSocket frames or messages close the connection with code
    /// 1009.
    pub fn with_max_http_buffer_size(mut self, bytes: usize) -> Self {
        self.max_http_buffer_size = bytes;
        self
    }

    /// How many packets may wait in one socket's send queue (4096; the reference has no limit).
    ///
    /// When the queue is full, [`Socket::send`](crate::Socket::send) fails with
    /// [`SendError::Full`](crate::SendError::Full) and the layer above applies its policy
    /// (drop a volatile packet, otherwise disconnect the slow client).
    pub fn with_max_buffered_packets(mut self, n: usize) -> Self {
        self.max_buffered_packets = n.max(1);
        self
    }

    /// `transports` (both): which transports are offered.
    pub fn with_transports(mut self, t: Transports) -> Self {
        self.transports = t;
        self
    }

    /// `allowUpgrades` (true): whether polling sessions may upgrade to WebSocket.
    pub fn with_allow_upgrades(mut self, allow: bool) -> Self {
        self.allow_upgrades = allow;
        self
    }

    /// `allowRequest`: an async check of every handshake request.
    ///
    /// ```
    /// use ferrio_engine::EngineConfig;
    /// let config = EngineConfig::default().with_allow_request(|parts| {
    ///     let ok = parts.headers.contains_key("x-token");
    ///     async move { if ok { Ok(()) } else { Err("missing token".to_owned()) } }
    /// });
    /// ```
    pub fn with_allow_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(&http::request::Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.allow_request = Some(Arc::new(move |parts| Box::pin(f(parts))));
        self
    }

    /// `cookie` (off): set a cookie with the sid on the handshake response.
    pub fn with_cookie(mut self, cookie: Option<Cookie>) -> Self {
        self.cookie = cookie;
        self
    }

    /// `cors` (off): CORS headers on every response, and preflight answers.
    pub fn with_cors(mut self, cors: Option<Cors>) -> Self {
        self.cors = cors;
        self
    }

    /// `httpCompression` (on, threshold 1024): compress polling responses.
    pub fn with_http_compression(mut self, c: Option<HttpCompression>) -> Self {
        self.http_compression = c;
        self
    }

    /// `perMessageDeflate` (off): the WebSocket permessage-deflate extension.
    ///
    /// When on, messages of at least [`threshold`](crate::ws::PerMessageDeflate::threshold)
    /// bytes are compressed, each on its own (`server_no_context_takeover`), and compressed
    /// client messages are inflated up to `maxHttpBufferSize` (a larger result closes the
    /// connection with 1009). See [`ws::deflate`](crate::ws::deflate).
    pub fn with_per_message_deflate(mut self, pmd: Option<crate::ws::PerMessageDeflate>) -> Self {
        self.per_message_deflate = pmd;
        self
    }

    /// `initialPacket` (none): a message sent right after the open packet.
    pub fn with_initial_packet(mut self, text: Option<Str>) -> Self {
        self.initial_packet = text;
        self
    }

    /// The path, always with a trailing `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `pingInterval`.
    pub fn ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// `pingTimeout`.
    pub fn ping_timeout(&self) -> Duration {
        self.ping_timeout
    }

    /// `maxHttpBufferSize`.
    pub fn max_http_buffer_size(&self) -> usize {
        self.max_http_buffer_size
    }

    /// The transports offered.
    pub fn transports(&self) -> Transports {
        self.transports
    }
}
