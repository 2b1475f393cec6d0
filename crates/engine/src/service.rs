//! Integration: a tower [`Service`] that serves the engine's path and passes the rest on, and
//! [`serve`] to run it on a TCP listener.

use crate::engine::{Engine, EngineHandler, RemoteAddr};
use crate::transport::http::{ConnControl, ExplicitEmptyBody};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_service::Service;

pin_project_lite::pin_project! {
    /// The body of an [`EngineService`] response: the engine's own, or the inner service's.
    #[project = ResponseBodyProj]
    #[allow(missing_docs)]
    pub enum ResponseBody<B> {
        /// A response of the engine.
        Engine { #[pin] body: Full<Bytes> },
        /// A response of the inner service.
        Inner { #[pin] body: B },
        /// A response of the engine whose `Content-Length` is written even when the body is
        /// empty (hyper leaves it out of an empty 204, the reference's CORS preflight has it).
        EngineWithLength { #[pin] body: Full<Bytes> },
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseBody::Engine { .. } => f.write_str("ResponseBody::Engine"),
            ResponseBody::Inner { .. } => f.write_str("ResponseBody::Inner"),
            ResponseBody::EngineWithLength { .. } => f.write_str("ResponseBody::EngineWithLength"),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            ResponseBodyProj::Engine { body } => body.poll_frame(cx).map_err(|e| match e {}),
            ResponseBodyProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            ResponseBodyProj::EngineWithLength { body } => {
                body.poll_frame(cx).map_err(|e| match e {})
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Engine { body } => body.is_end_stream(),
            ResponseBody::Inner { body } => body.is_end_stream(),
            // hyper omits `Content-Length` for a body that is over before it starts.
            ResponseBody::EngineWithLength { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Engine { body } => body.size_hint(),
            ResponseBody::Inner { body } => body.size_hint(),
            ResponseBody::EngineWithLength { body } => body.size_hint(),
        }
    }
}

/// The default inner service: `404 Not Found` for every request outside the engine's path.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = StatusCode::NOT_FOUND;
        std::future::ready(Ok(res))
    }
}

/// A tower service that answers the engine's path and passes every other request to `inner`.
///
/// ```
/// use ferrio_engine::{Engine, EngineConfig, EngineService, NotFound};
/// # use ferrio_engine::{CloseReason, EngineHandler, Message, Socket};
/// # struct H;
/// # impl EngineHandler for H {
/// #     type Data = ();
/// #     fn on_open(&self, _: &Socket) {}
/// #     fn on_message(&self, _: &Socket, _: Message) {}
/// #     fn on_close(&self, _: &Socket, _: CloseReason) {}
/// # }
/// let engine = Engine::new(EngineConfig::default(), H);
/// let service = EngineService::new(engine, NotFound);
/// ```
pub struct EngineService<H: EngineHandler, S = NotFound> {
    engine: Engine<H>,
    inner: S,
}

impl<H: EngineHandler, S: Clone> Clone for EngineService<H, S> {
    fn clone(&self) -> Self {
        EngineService {
            engine: self.engine.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<H: EngineHandler, S> fmt::Debug for EngineService<H, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineService")
            .field("engine", &self.engine)
            .finish()
    }
}

impl<H: EngineHandler, S> EngineService<H, S> {
    /// Wraps `inner`.
    pub fn new(engine: Engine<H>, inner: S) -> Self {
        EngineService { engine, inner }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine<H> {
        &self.engine
    }
}

impl<H: EngineHandler> Engine<H> {
    /// This engine as a service that answers 404 outside its path.
    pub fn into_service(self) -> EngineService<H, NotFound> {
        EngineService::new(self, NotFound)
    }
}

impl<H, S, B, ResBody> Service<Request<B>> for EngineService<H, S>
where
    H: EngineHandler,
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.engine.matches(req.uri().path()) {
            let engine = self.engine.clone();
            Box::pin(async move {
                let res = engine.handle(req).await;
                if res.extensions().get::<ExplicitEmptyBody>().is_some() {
                    return Ok(res.map(|body| ResponseBody::EngineWithLength { body }));
                }
                Ok(res.map(|body| ResponseBody::Engine { body }))
            })
        } else {
            let fut = self.inner.call(req);
            Box::pin(async move { Ok(fut.await?.map(|body| ResponseBody::Inner { body })) })
        }
    }
}

/// A tower [`Layer`](tower_layer::Layer) that puts an [`EngineService`] in front of a service.
pub struct EngineLayer<H: EngineHandler> {
    engine: Engine<H>,
}

impl<H: EngineHandler> EngineLayer<H> {
    /// A layer serving `engine`.
    pub fn new(engine: Engine<H>) -> Self {
        EngineLayer { engine }
    }
}

impl<H: EngineHandler> Clone for EngineLayer<H> {
    fn clone(&self) -> Self {
        EngineLayer {
            engine: self.engine.clone(),
        }
    }
}

impl<H: EngineHandler> fmt::Debug for EngineLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineLayer").finish()
    }
}

impl<H: EngineHandler, S> tower_layer::Layer<S> for EngineLayer<H> {
    type Service = EngineService<H, S>;
    fn layer(&self, inner: S) -> Self::Service {
        EngineService::new(self.engine.clone(), inner)
    }
}

/// Serves `service` on `listener` (HTTP/1.1 with upgrades, and HTTP/2), forever.
///
/// Each request carries a [`RemoteAddr`] extension with the peer's address. Request heads are
/// limited to 16 KiB, as in Node (larger ones get `431` and the connection is closed).
pub async fn serve<S, ResBody>(listener: tokio::net::TcpListener, service: S) -> std::io::Result<()>
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_with_shutdown(listener, service, std::future::pending()).await
}

/// [`serve`] until `shutdown` resolves: then the listener is closed (new connections are
/// refused, the port is free again) and this returns `Ok(())`; the connections already
/// accepted go on in their own tasks (an [`Engine::close`](crate::Engine::close) ends them).
///
/// ```no_run
/// use ferrio_engine::{serve_with_shutdown, CloseReason, Engine, EngineConfig, EngineHandler, Message, Socket};
/// use std::time::Duration;
///
/// struct Quiet;
/// impl EngineHandler for Quiet {
///     type Data = ();
///     fn on_open(&self, _socket: &Socket) {}
///     fn on_message(&self, _socket: &Socket, _message: Message) {}
///     fn on_close(&self, _socket: &Socket, _reason: CloseReason) {}
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let engine = Engine::new(EngineConfig::default(), Quiet);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let server = tokio::spawn(serve_with_shutdown(listener, engine.clone().into_service(), {
///     let engine = engine.clone();
///     async move { engine.closing().await }
/// }));
/// // … until it is time to stop (a signal, say):
/// engine.close(Duration::from_secs(5)).await; // the listener is closed from the start
/// server.await.expect("the server task")?;
/// # Ok(()) }
/// ```
pub async fn serve_with_shutdown<S, ResBody>(
    listener: tokio::net::TcpListener,
    service: S,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let control = ConnControl::default();
        let svc = AddRemote {
            inner: service.clone(),
            addr,
            control: control.clone(),
        };
        tokio::spawn(async move {
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().max_buf_size(MAX_HEAD);
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(ConnIo::new(stream, control)),
                hyper_util::service::TowerToHyperService::new(svc),
            );
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// The largest request head [`serve`] reads (Node's `--max-http-header-size`).
const MAX_HEAD: usize = 16 * 1024;

#[derive(Clone)]
struct AddRemote<S> {
    inner: S,
    addr: std::net::SocketAddr,
    control: ConnControl,
}

impl<S, B> Service<Request<B>> for AddRemote<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        req.extensions_mut().insert(RemoteAddr(self.addr));
        req.extensions_mut().insert(self.control.clone());
        self.inner.call(req)
    }
}

pin_project_lite::pin_project! {
    /// A connection of [`serve`]: the TCP stream, except that once the engine armed its
    /// [`ConnControl`], what hyper writes is swallowed and the armed bytes go out instead.
    struct ConnIo {
        #[pin]
        inner: tokio::net::TcpStream,
        control: ConnControl,
        // How much of the armed bytes is written.
        raw_written: usize,
    }
}

impl ConnIo {
    fn new(inner: tokio::net::TcpStream, control: ConnControl) -> Self {
        ConnIo {
            inner,
            control,
            raw_written: 0,
        }
    }

    /// Writes what is left of the armed bytes; `Ready(true)` once done, `Ready(false)` when
    /// the connection is not armed.
    fn poll_raw(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        use tokio::io::AsyncWrite;
        let mut this = self.project();
        let Some(raw) = this.control.raw() else {
            return Poll::Ready(Ok(false));
        };
        while *this.raw_written < raw.len() {
            let n = std::task::ready!(this
                .inner
                .as_mut()
                .poll_write(cx, &raw[*this.raw_written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *this.raw_written += n;
        }
        Poll::Ready(Ok(true))
    }
}

impl tokio::io::AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if std::task::ready!(self.as_mut().poll_raw(cx))? {
            return Poll::Ready(Ok(buf.len()));
        }
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if std::task::ready!(self.as_mut().poll_raw(cx))? {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.as_mut().poll_raw(cx))?;
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.as_mut().poll_raw(cx))?;
        self.project().inner.poll_shutdown(cx)
    }
}
