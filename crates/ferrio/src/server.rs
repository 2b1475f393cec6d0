//! [`SocketIo`]: the server, its options, and how it is served.

use crate::adapter::{Adapter, IntoRooms, MemoryAdapter};
use crate::client::Client;
use crate::client_bundle::{
    ClientBundle, ClientSource, ServedClient, SocketIoLayer, SocketIoService,
};
use crate::errors::EmitError;
use crate::handler::ConnectHandler;
use crate::namespace::{Namespace, NamespaceRef, NamespaceStats, Setup};
use crate::operators::BroadcastOperators;
use crate::recovery::{RecoveryConfig, RecoveryStore};
use crate::remote::RemoteSocket;
use ferrio_engine::{Engine, EngineConfig, EngineLayer, NotFound};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

type Matcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type AdapterFactory = Arc<dyn Fn(&str) -> Arc<dyn Adapter> + Send + Sync>;

/// Socket.IO server options (the engine's are in [`EngineConfig`]).
#[derive(Clone)]
pub struct SocketIoConfig {
    pub(crate) engine: EngineConfig,
    pub(crate) connect_timeout: Duration,
    pub(crate) recovery: Option<RecoveryConfig>,
    pub(crate) cleanup_empty_child_namespaces: bool,
    pub(crate) max_attachments: usize,
    pub(crate) adapter: AdapterFactory,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            engine: EngineConfig::default().with_path("/socket.io/"),
            connect_timeout: Duration::from_secs(45),
            recovery: None,
            cleanup_empty_child_namespaces: false,
            max_attachments: crate::parser::DEFAULT_MAX_ATTACHMENTS,
            adapter: Arc::new(|_| Arc::new(MemoryAdapter)),
        }
    }
}

impl fmt::Debug for SocketIoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIoConfig")
            .field("engine", &self.engine)
            .field("connect_timeout", &self.connect_timeout)
            .field("recovery", &self.recovery)
            .field(
                "cleanup_empty_child_namespaces",
                &self.cleanup_empty_child_namespaces,
            )
            .field("max_attachments", &self.max_attachments)
            .finish()
    }
}

/// Builds a [`SocketIo`] server.
///
/// ```
/// use ferrio::SocketIo;
/// use std::time::Duration;
/// let io = SocketIo::builder()
///     .ping_interval(Duration::from_secs(25))
///     .connect_timeout(Duration::from_secs(45))
///     .build();
/// ```
#[derive(Debug, Default)]
pub struct SocketIoBuilder {
    config: SocketIoConfig,
    client: Option<ClientSource>,
}

impl SocketIoBuilder {
    /// Replaces the Engine.IO options (the path defaults to `/socket.io/`).
    pub fn engine(mut self, config: EngineConfig) -> Self {
        self.config.engine = config;
        self
    }

    /// Changes the Engine.IO options.
    pub fn map_engine(mut self, f: impl FnOnce(EngineConfig) -> EngineConfig) -> Self {
        self.config.engine = f(self.config.engine);
        self
    }

    /// `path` (`/socket.io/`).
    pub fn path(self, path: &str) -> Self {
        self.map_engine(|e| e.with_path(path))
    }

    /// `pingInterval` (25 s).
    pub fn ping_interval(self, d: Duration) -> Self {
        self.map_engine(|e| e.with_ping_interval(d))
    }

    /// `pingTimeout` (20 s).
    pub fn ping_timeout(self, d: Duration) -> Self {
        self.map_engine(|e| e.with_ping_timeout(d))
    }

    /// `maxHttpBufferSize` (1,000,000 bytes).
    pub fn max_http_buffer_size(self, n: usize) -> Self {
        self.map_engine(|e| e.with_max_http_buffer_size(n))
    }

    /// `connectTimeout` (45 s): a connection that joins no namespace in time is closed.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// `connectionStateRecovery` (off).
    pub fn connection_state_recovery(mut self, config: Option<RecoveryConfig>) -> Self {
        self.config.recovery = config;
        self
    }

    /// `cleanupEmptyChildNamespaces` (false): drop a dynamic namespace's child when its last
    /// socket leaves.
    pub fn cleanup_empty_child_namespaces(mut self, cleanup: bool) -> Self {
        self.config.cleanup_empty_child_namespaces = cleanup;
        self
    }

    /// The most binary attachments a packet may have (10).
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.config.max_attachments = n;
        self
    }

    /// The adapter of each namespace (the in-memory [`MemoryAdapter`] by default).
    pub fn adapter<F>(mut self, factory: F) -> Self
    where
        F: Fn(&str) -> Arc<dyn Adapter> + Send + Sync + 'static,
    {
        self.config.adapter = Arc::new(factory);
        self
    }

    /// `serveClient` (off): serve the official JavaScript client from `dir`, the `dist/`
    /// folder of the npm package `socket.io-client`, under the path (`/socket.io/socket.io.js`,
    /// `.min.js`, `.esm.min.js`, `.msgpack.min.js` and the `.map` files), with an ETag,
    /// `304 Not Modified` and brotli/gzip/deflate. See [`crate::client_bundle`].
    ///
    /// Off by default because the bundle is not shipped in the crate. The files are read and
    /// compressed once, by [`build`](Self::build); a folder that cannot be read is logged (target
    /// `ferrio::server`) and nothing is served — use [`client_bundle`](Self::client_bundle) with
    /// [`ClientBundle::load`] to handle that error yourself.
    ///
    /// ```no_run
    /// let io = ferrio::SocketIo::builder()
    ///     .serve_client("node_modules/socket.io-client/dist")
    ///     .build();
    /// assert!(io.client_bundle().is_some());
    /// ```
    pub fn serve_client(mut self, dir: impl Into<PathBuf>) -> Self {
        self.client = Some(ClientSource::Dir(dir.into()));
        self
    }

    /// Serves a client bundle already loaded with [`ClientBundle::load`]; see
    /// [`serve_client`](Self::serve_client).
    ///
    /// ```no_run
    /// # fn f() -> std::io::Result<()> {
    /// let bundle = ferrio::ClientBundle::load("node_modules/socket.io-client/dist")?;
    /// let io = ferrio::SocketIo::builder().client_bundle(bundle).build();
    /// # Ok(())
    /// # }
    /// ```
    pub fn client_bundle(mut self, bundle: ClientBundle) -> Self {
        self.client = Some(ClientSource::Loaded(bundle));
        self
    }

    /// Builds the server.
    pub fn build(self) -> SocketIo {
        let client = self
            .client
            .and_then(|c| c.resolve(self.config.engine.path()));
        let inner = Arc::new_cyclic(|me| ServerInner {
            me: me.clone(),
            client,
            config: self.config,
            nsps: RwLock::new(HashMap::new()),
            parents: RwLock::new(Vec::new()),
            closing: AtomicBool::new(false),
        });
        let engine = Engine::new(
            inner.config.engine.clone(),
            Client {
                server: inner.clone(),
            },
        );
        SocketIo { inner, engine }
    }
}

pub(crate) struct ServerInner {
    me: std::sync::Weak<ServerInner>,
    client: Option<Arc<ServedClient>>,
    pub(crate) config: SocketIoConfig,
    nsps: RwLock<HashMap<String, Arc<Namespace>>>,
    parents: RwLock<Vec<(Matcher, Arc<Setup>)>>,
    closing: AtomicBool,
}

impl ServerInner {
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn new_namespace(&self, name: &str, setup: Arc<Setup>, child: bool) -> Arc<Namespace> {
        let on_empty: Option<crate::namespace::OnEmpty> =
            if child && self.config.cleanup_empty_child_namespaces {
                let me = self.me.clone();
                Some(Box::new(move |name: &str| {
                    if let Some(server) = me.upgrade() {
                        server.remove_namespace(name);
                    }
                }))
            } else {
                None
            };
        let ns = Arc::new(Namespace::new(
            name.to_owned(),
            setup,
            (self.config.adapter)(name),
            self.config.recovery.map(RecoveryStore::new),
            on_empty,
        ));
        ns.adapter.init(&ns);
        ns
    }

    /// The namespace a CONNECT names: a static one, or a new child of a dynamic one.
    pub(crate) fn namespace_for(&self, name: &str) -> Option<Arc<Namespace>> {
        if let Some(ns) = self.nsps.read().ok()?.get(name) {
            return Some(ns.clone());
        }
        let setup = {
            let parents = self.parents.read().ok()?;
            parents
                .iter()
                .find(|(m, _)| m(name))
                .map(|(_, s)| s.clone())?
        };
        let mut nsps = self.nsps.write().ok()?;
        let ns = nsps
            .entry(name.to_owned())
            .or_insert_with(|| self.new_namespace(name, setup, true))
            .clone();
        tracing::debug!(target: "ferrio::server", nsp = name, "dynamic namespace created");
        Some(ns)
    }

    fn remove_namespace(&self, name: &str) {
        if let Ok(mut nsps) = self.nsps.write() {
            if nsps.get(name).is_some_and(|ns| ns.socket_count() == 0) {
                nsps.remove(name);
                tracing::debug!(target: "ferrio::server", nsp = name, "empty child namespace removed");
            }
        }
    }
}

/// Live counts of a server (see [`SocketIo::stats`]). Serializes to JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Open Engine.IO sessions (connections).
    pub sessions: usize,
    /// Engine.IO tasks alive ([`Engine::task_count`]).
    pub engine_tasks: usize,
    /// Every namespace, by name (dynamic children included).
    pub namespaces: Vec<NamespaceStats>,
}

impl Stats {
    /// Sockets over every namespace.
    pub fn sockets(&self) -> usize {
        self.namespaces.iter().map(|n| n.sockets).sum()
    }

    /// Rooms over every namespace.
    pub fn rooms(&self) -> usize {
        self.namespaces.iter().map(|n| n.rooms).sum()
    }

    /// Pending acknowledgements over every namespace.
    pub fn pending_acks(&self) -> usize {
        self.namespaces.iter().map(|n| n.pending_acks).sum()
    }

    /// Whether nothing is left: no session, task, socket, room entry or pending ack.
    pub fn is_idle(&self) -> bool {
        self.sessions == 0
            && self.engine_tasks == 0
            && self.namespaces.iter().all(|n| {
                n.sockets == 0 && n.rooms == 0 && n.sockets_in_rooms == 0 && n.pending_acks == 0
            })
    }
}

/// A Socket.IO server (`io` in the reference). Cheap to clone.
///
/// ```no_run
/// use ferrio::{Data, SocketIo, SocketRef};
///
/// # async fn run() -> std::io::Result<()> {
/// let io = SocketIo::new();
/// io.ns("/", |socket: SocketRef| async move {
///     socket.on("chat message", |socket: SocketRef, Data(msg): Data<String>| async move {
///         socket.broadcast().emit("chat message", &msg).await.ok();
///     });
/// });
/// io.listen("127.0.0.1:3000").await
/// # }
/// ```
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<ServerInner>,
    engine: Engine<Client>,
}

impl fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIo")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Default for SocketIo {
    fn default() -> Self {
        SocketIo::new()
    }
}

impl SocketIo {
    /// A server with the default options.
    pub fn new() -> Self {
        SocketIo::builder().build()
    }

    /// A builder for the options.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::default()
    }

    /// The options.
    pub fn config(&self) -> &SocketIoConfig {
        &self.inner.config
    }

    /// Declares the namespace `name` and its connection handler (`io.of(name).on("connection")`).
    pub fn ns<H: ConnectHandler>(&self, name: &str, handler: H) -> NamespaceRef {
        let mut name = name.to_owned();
        if !name.starts_with('/') {
            name.insert(0, '/');
        }
        let setup = Arc::new(Setup {
            handler: Arc::new(handler),
            middlewares: RwLock::new(Vec::new()),
        });
        let ns = self.inner.new_namespace(&name, setup.clone(), false);
        if let Ok(mut nsps) = self.inner.nsps.write() {
            nsps.insert(name, ns.clone());
        }
        NamespaceRef {
            setup,
            ns: Some(ns),
        }
    }

    /// Declares dynamic namespaces: any name `matcher` accepts is created on its first
    /// CONNECT, with this handler and the middlewares added to the returned setup
    /// (`io.of(regex)` / `io.of(fn)`).
    ///
    /// ```no_run
    /// # use ferrio::{SocketIo, SocketRef};
    /// # fn f(io: SocketIo) {
    /// io.dyn_ns(
    ///     |name: &str| name.strip_prefix("/dyn-").is_some_and(|r| !r.is_empty()),
    ///     |socket: SocketRef| async move { socket.emit("nsp", socket.nsp()).ok(); },
    /// );
    /// # }
    /// ```
    pub fn dyn_ns<M, H>(&self, matcher: M, handler: H) -> NamespaceRef
    where
        M: Fn(&str) -> bool + Send + Sync + 'static,
        H: ConnectHandler,
    {
        let setup = Arc::new(Setup {
            handler: Arc::new(handler),
            middlewares: RwLock::new(Vec::new()),
        });
        if let Ok(mut p) = self.inner.parents.write() {
            p.push((Arc::new(matcher), setup.clone()));
        }
        NamespaceRef { setup, ns: None }
    }

    /// The namespace `name`, if it exists.
    pub fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        self.inner.nsps.read().ok()?.get(name).cloned()
    }

    /// Operators on the namespace `name` (`io.of(name)`), if it exists.
    pub fn of(&self, name: &str) -> Option<BroadcastOperators> {
        self.namespace(name).map(BroadcastOperators::new)
    }

    fn main(&self) -> BroadcastOperators {
        match self.namespace("/") {
            Some(ns) => BroadcastOperators::new(ns),
            None => {
                // Emitting on `/` before declaring it: declare it with no handler.
                let r = self.ns("/", |_s: crate::SocketRef| async {});
                BroadcastOperators::new(r.ns.unwrap_or_else(|| unreachable!()))
            }
        }
    }

    /// Sockets of `/` in `rooms`.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.main().to(rooms)
    }

    /// Same as [`to`](Self::to).
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.main().to(rooms)
    }

    /// Sockets of `/` not in `rooms`.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.main().except(rooms)
    }

    /// Sockets of `/` on this server.
    pub fn local(&self) -> BroadcastOperators {
        self.main().local()
    }

    /// Volatile broadcast on `/`.
    pub fn volatile(&self) -> BroadcastOperators {
        self.main().volatile()
    }

    /// Broadcast on `/` with an acknowledgement timeout.
    pub fn timeout(&self, d: Duration) -> BroadcastOperators {
        self.main().timeout(d)
    }

    /// Emits to every socket of `/`.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.main().emit(event, args).await
    }

    /// Every socket of `/`, across the cluster.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, EmitError> {
        self.main().fetch_sockets().await
    }

    /// Makes every socket of `/` join `rooms`.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.main().sockets_join(rooms).await
    }

    /// Makes every socket of `/` leave `rooms`.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.main().sockets_leave(rooms).await
    }

    /// Disconnects every socket of `/`.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitError> {
        self.main().disconnect_sockets(close).await
    }

    /// Emits an event to the other servers of the cluster (`serverSideEmit`).
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<Vec<crate::parser::Payload>, EmitError> {
        let ns = self.main();
        let ns = ns.namespace().clone();
        let data = crate::parser::event_payload(event, args)?;
        Ok(ns.adapter.server_side_emit(&ns, data, false).await?)
    }

    /// Live counts, for leak checks and monitoring: Engine.IO sessions and tasks, and per
    /// namespace its sockets, rooms and pending acknowledgements. With no client connected
    /// every count is 0 (tasks within about a second of the last close).
    ///
    /// ```
    /// let io = ferrio::SocketIo::new();
    /// io.ns("/", |_s: ferrio::SocketRef| async {});
    /// let stats = io.stats();
    /// assert_eq!((stats.sessions, stats.engine_tasks, stats.sockets()), (0, 0, 0));
    /// ```
    pub fn stats(&self) -> Stats {
        let nsps: Vec<_> = match self.inner.nsps.read() {
            Ok(n) => n.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        let mut namespaces: Vec<NamespaceStats> = nsps.iter().map(|n| n.stats()).collect();
        namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        Stats {
            sessions: self.engine.session_count(),
            engine_tasks: self.engine.task_count(),
            namespaces,
        }
    }

    /// Emits an event to the other servers and collects their acknowledgements
    /// (`serverSideEmitWithAck`): one [`Payload`](crate::parser::Payload) per server that
    /// answered; an error when some did not answer in time.
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<Vec<crate::parser::Payload>, EmitError> {
        let ns = self.main();
        let ns = ns.namespace().clone();
        let data = crate::parser::event_payload(event, args)?;
        Ok(ns.adapter.server_side_emit(&ns, data, true).await?)
    }

    /// The Engine.IO server underneath.
    pub fn engine(&self) -> &Engine<Client> {
        &self.engine
    }

    /// The client bundle served (see [`SocketIoBuilder::serve_client`]), if any.
    ///
    /// ```
    /// let io = ferrio::SocketIo::new();
    /// assert!(io.client_bundle().is_none()); // off by default
    /// ```
    pub fn client_bundle(&self) -> Option<&ClientBundle> {
        self.inner.client.as_ref().map(|c| &c.bundle)
    }

    /// A tower service answering the Socket.IO path (and the client bundle, when served),
    /// 404 elsewhere.
    pub fn into_service(self) -> SocketIoService<NotFound> {
        SocketIoService::new(self.inner.client.clone(), self.engine.into_service())
    }

    /// A tower layer: put Socket.IO (and the client bundle, when served) in front of another
    /// service (an axum `Router`, …).
    pub fn layer(&self) -> SocketIoLayer {
        SocketIoLayer::new(
            self.inner.client.clone(),
            EngineLayer::new(self.engine.clone()),
        )
    }

    /// Serves on `addr` until [`SocketIo::close`] is called: then the listener is closed (new
    /// connections are refused and the port is free, as the reference's `io.close()` closes
    /// its HTTP server) and this returns `Ok(())`, while `close` ends the connections.
    ///
    /// ```no_run
    /// use ferrio::{SocketIo, SocketRef};
    /// use std::time::Duration;
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let io = SocketIo::new();
    /// io.ns("/", |_socket: SocketRef| async move {});
    /// let server = tokio::spawn({
    ///     let io = io.clone();
    ///     async move { io.listen("0.0.0.0:3000").await }
    /// });
    /// // … until it is time to stop (a signal, say):
    /// io.close(Duration::from_secs(5)).await; // clients get `server shutting down`
    /// server.await.expect("the server task")?; // returned when close() began
    /// # Ok(()) }
    /// ```
    pub async fn listen(&self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let engine = self.engine.clone();
        ferrio_engine::serve_with_shutdown(listener, self.clone().into_service(), async move {
            engine.closing().await
        })
        .await
    }

    /// Closes every connection (reason `server shutting down`, no DISCONNECT packet, as the
    /// reference), flushing what was queued, within `deadline`.
    pub async fn close(&self, deadline: Duration) {
        self.inner.closing.store(true, Ordering::Release);
        self.engine.close(deadline).await;
        let nsps: Vec<_> = match self.inner.nsps.read() {
            Ok(n) => n.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        for ns in nsps {
            if let Err(e) = ns.adapter.close().await {
                tracing::warn!(target: "ferrio::server", nsp = %ns.name, error = %e, "adapter close failed");
            }
        }
    }
}

impl BroadcastOperators {
    pub(crate) fn namespace(&self) -> &Arc<Namespace> {
        self.ns_ref()
    }
}
