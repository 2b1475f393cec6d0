//! Serving the official JavaScript client bundle (`serveClient` in the reference).
//!
//! With [`SocketIoBuilder::serve_client`](crate::SocketIoBuilder::serve_client) pointing at
//! the `dist/` folder of the npm package `socket.io-client`, the server answers
//! `<path>socket.io.js`, `socket.io.min.js`, `socket.io.esm.min.js`,
//! `socket.io.msgpack.min.js` and their `.map` files (`<path>` is `/socket.io/` by default),
//! so a page can load the client with `<script src="/socket.io/socket.io.js"></script>`.
//!
//! As in the reference, the responses carry `ETag: "<client version>"` (an `If-None-Match`
//! with that tag, strong or weak, gets `304 Not Modified`), `Cache-Control: public, max-age=0`
//! and `application/javascript` (`application/json` for source maps), and are compressed with
//! brotli, gzip or deflate as the `Accept-Encoding` header prefers. The files are read once, when
//! the server is built, and compressed then, so a request costs no I/O and no compression.
//!
//! The bundle is not shipped inside the crate, so serving it is off by default: install it
//! with `npm install socket.io-client` and pass `node_modules/socket.io-client/dist`.
//!
//! ```no_run
//! use ferrio::{ClientBundle, SocketIo};
//!
//! # fn f() -> std::io::Result<()> {
//! // Either let `build` read the folder (an unreadable one is logged and not served)…
//! let io = SocketIo::builder()
//!     .serve_client("node_modules/socket.io-client/dist")
//!     .build();
//! // …or read it yourself to handle the error.
//! let bundle = ClientBundle::load("node_modules/socket.io-client/dist")?;
//! println!("serving socket.io-client {}", bundle.version());
//! let io = SocketIo::builder().client_bundle(bundle).build();
//! # Ok(())
//! # }
//! ```

use crate::client::Client;
use bytes::Bytes;
use ferrio_engine::{EngineLayer, EngineService, NotFound, ResponseBody};
use http::header::{
    HeaderValue, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, VARY,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// The files of the client bundle that are served, as named in `socket.io-client/dist`.
pub const CLIENT_FILES: [&str; 8] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

/// A content coding of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Br,
    Gzip,
    Deflate,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Br => "br",
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// One file, as read and in each compressed form.
struct BundleFile {
    content_type: &'static str,
    identity: Bytes,
    br: Bytes,
    gzip: Bytes,
    deflate: Bytes,
}

impl BundleFile {
    fn new(name: &str, data: Vec<u8>) -> io::Result<Self> {
        let is_map = name.ends_with(".map");
        let content_type = if is_map {
            "application/json; charset=utf-8"
        } else {
            "application/javascript; charset=utf-8"
        };
        Ok(BundleFile {
            content_type,
            // Source maps are only fetched by developer tools: compress them faster.
            br: Bytes::from(brotli_compress(&data, if is_map { 5 } else { 9 })?),
            gzip: Bytes::from(gzip_compress(&data)?),
            deflate: Bytes::from(deflate_compress(&data)?),
            identity: Bytes::from(data),
        })
    }

    fn body(&self, coding: Coding) -> &Bytes {
        match coding {
            Coding::Identity => &self.identity,
            Coding::Br => &self.br,
            Coding::Gzip => &self.gzip,
            Coding::Deflate => &self.deflate,
        }
    }
}

/// Brotli at `quality`, not the 11 of Node's `createBrotliCompress`: on the bundle 9 is within
/// 7% of 11's size and ten times faster, which keeps [`ClientBundle::load`] well under a
/// second. The window is as large as the file needs (at most 4 MiB).
fn brotli_compress(data: &[u8], quality: u32) -> io::Result<Vec<u8>> {
    let bits = (usize::BITS - data.len().max(1).leading_zeros()).clamp(10, 22);
    let mut out = Vec::with_capacity(data.len() / 4);
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, quality, bits);
        w.write_all(data)?;
        w.flush()?;
    }
    Ok(out)
}

fn gzip_compress(data: &[u8]) -> io::Result<Vec<u8>> {
    // Level 6, zlib's default as in Node's `createGzip`.
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(data)?;
    w.finish()
}

/// `Content-Encoding: deflate` is the zlib format (RFC 9110 §8.4.1.2), as Node's `createDeflate`.
fn deflate_compress(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut w = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(data)?;
    w.finish()
}

/// The official JavaScript client, read into memory and precompressed, ready to be served.
///
/// Made by [`ClientBundle::load`] and given to
/// [`SocketIoBuilder::client_bundle`](crate::SocketIoBuilder::client_bundle); see the
/// [module docs](self).
///
/// ```no_run
/// # fn f() -> std::io::Result<()> {
/// let bundle = ferrio::ClientBundle::load("node_modules/socket.io-client/dist")?;
/// assert!(bundle.files().any(|f| f == "socket.io.js"));
/// # Ok(())
/// # }
/// ```
pub struct ClientBundle {
    version: String,
    etag: HeaderValue,
    weak_etag: String,
    files: HashMap<&'static str, BundleFile>,
}

impl fmt::Debug for ClientBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut files: Vec<_> = self.files.keys().collect();
        files.sort();
        f.debug_struct("ClientBundle")
            .field("version", &self.version)
            .field("files", &files)
            .finish()
    }
}

impl ClientBundle {
    /// Reads the bundle from `dir`, the `dist/` folder of the npm package `socket.io-client`,
    /// and compresses each file (brotli, gzip, deflate).
    ///
    /// Each of [`CLIENT_FILES`] found there is served; `socket.io.js` must be there. The
    /// version, sent as the ETag, is the one of the `package.json` next to `dir` (or in it);
    /// failing that the one in the banner of `socket.io.js` (`Socket.IO v4.8.4`); failing
    /// that a hash of the files.
    ///
    /// # Errors
    /// When `socket.io.js` is missing, or a file cannot be read.
    pub fn load(dir: impl AsRef<Path>) -> io::Result<ClientBundle> {
        let dir = dir.as_ref();
        let mut read = Vec::new();
        for name in CLIENT_FILES {
            match std::fs::read(dir.join(name)) {
                Ok(data) => read.push((name, data)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{}: {e}", dir.join(name).display()),
                    ))
                }
            }
        }
        // Compressing is the slow part: one thread per file.
        let files = std::thread::scope(|scope| {
            let jobs: Vec<_> = read
                .into_iter()
                .map(|(name, data)| (name, scope.spawn(move || BundleFile::new(name, data))))
                .collect();
            jobs.into_iter()
                .map(|(name, job)| {
                    let file = job
                        .join()
                        .map_err(|_| io::Error::other("compression panicked"))??;
                    Ok((name, file))
                })
                .collect::<io::Result<HashMap<_, _>>>()
        })?;
        let Some(main) = files.get("socket.io.js") else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no socket.io.js in {}: expected the dist/ folder of the npm package \
                     socket.io-client",
                    dir.display()
                ),
            ));
        };
        let version = package_version(dir)
            .or_else(|| banner_version(&main.identity))
            .unwrap_or_else(|| content_hash(&files));
        let etag = HeaderValue::from_str(&format!("\"{version}\"")).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("client version {version:?} is not a valid ETag"),
            )
        })?;
        Ok(ClientBundle {
            weak_etag: format!("W/\"{version}\""),
            etag,
            version,
            files,
        })
    }

    /// The client's version (`4.8.4`), sent quoted as the ETag.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The names of the files served.
    pub fn files(&self) -> impl Iterator<Item = &str> + '_ {
        self.files.keys().copied()
    }

    /// Whether `If-None-Match` names the bundle's version (strong or weak), or is `*`.
    fn not_modified(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag == self.etag || tag == self.weak_etag)
    }

    /// The response to a GET of `name`, or `None` when `name` is not a file of the bundle.
    fn respond(&self, name: &str, headers: &HeaderMap) -> Option<Response<Full<Bytes>>> {
        let file = self.files.get(name)?;
        let mut res = Response::new(Full::new(Bytes::new()));
        let h = res.headers_mut();
        h.insert(ETAG, self.etag.clone());
        h.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=0"));
        h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        if self.not_modified(headers) {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            return Some(res);
        }
        h.insert(CONTENT_TYPE, HeaderValue::from_static(file.content_type));
        let coding = headers
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map_or(Coding::Identity, negotiate);
        if coding != Coding::Identity {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
        }
        *res.body_mut() = Full::new(file.body(coding).clone());
        Some(res)
    }
}

fn package_version(dir: &Path) -> Option<String> {
    let candidates = [dir.join("package.json"), dir.parent()?.join("package.json")];
    candidates.iter().find_map(|p| {
        let text = std::fs::read_to_string(p).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        if json.get("name")?.as_str()? != "socket.io-client" {
            return None;
        }
        Some(json.get("version")?.as_str()?.to_owned())
    })
}

fn banner_version(js: &[u8]) -> Option<String> {
    let head = std::str::from_utf8(&js[..js.len().min(256)]).ok()?;
    let rest = &head[head.find("Socket.IO v")? + "Socket.IO v".len()..];
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        .collect();
    (!version.is_empty()).then_some(version)
}

/// FNV-1a over the files, in a fixed order.
fn content_hash(files: &HashMap<&'static str, BundleFile>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for name in CLIENT_FILES {
        if let Some(f) = files.get(name) {
            for b in name.bytes().chain(f.identity.iter().copied()) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    format!("{h:016x}")
}

/// Picks the coding of the response from `Accept-Encoding`: the acceptable one with the highest
/// quality, brotli before gzip before deflate on a tie (as the reference's `accepts`), and no
/// compression when none is acceptable or `identity` is preferred.
fn negotiate(accept: &str) -> Coding {
    let mut explicit: Vec<(String, f32)> = Vec::new();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let token = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if token.is_empty() {
            continue;
        }
        let mut q = 1.0f32;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")) {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        explicit.push((token, q));
    }
    let quality = |name: &str| -> Option<f32> {
        explicit
            .iter()
            .find(|(t, _)| t == name)
            .or_else(|| explicit.iter().find(|(t, _)| t == "*"))
            .map(|(_, q)| *q)
    };
    let mut best = (Coding::Identity, 0.0f32);
    for coding in [Coding::Br, Coding::Gzip, Coding::Deflate] {
        if let Some(q) = quality(coding.name()) {
            if q > best.1 {
                best = (coding, q);
            }
        }
    }
    // identity is acceptable unless refused; only an explicit higher preference beats a coding.
    let identity = explicit
        .iter()
        .find(|(t, _)| t == "identity")
        .map(|(_, q)| *q);
    match identity {
        Some(q) if q > best.1 => Coding::Identity,
        _ => best.0,
    }
}

/// The bundle and the path it is served under.
pub(crate) struct ServedClient {
    pub(crate) prefix: String,
    pub(crate) bundle: ClientBundle,
}

impl ServedClient {
    /// The response for `req` when it asks for a file of the bundle (GET or HEAD).
    fn respond<B>(&self, req: &Request<B>) -> Option<Response<Full<Bytes>>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return None;
        }
        let name = req.uri().path().strip_prefix(self.prefix.as_str())?;
        self.bundle.respond(name, req.headers())
    }
}

/// What the service of [`SocketIo`](crate::SocketIo) is: the client bundle (when
/// [served](crate::SocketIoBuilder::serve_client)), then the Socket.IO path, then `inner`.
///
/// Made by [`SocketIo::into_service`](crate::SocketIo::into_service) (with `inner` answering
/// 404) and by the [`SocketIoLayer`] of [`SocketIo::layer`](crate::SocketIo::layer).
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let io = ferrio::SocketIo::builder()
///     .serve_client("node_modules/socket.io-client/dist")
///     .build();
/// let service: ferrio::SocketIoService = io.into_service();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ferrio::engine::serve(listener, service).await
/// # }
/// ```
pub struct SocketIoService<S = NotFound> {
    client: Option<Arc<ServedClient>>,
    inner: EngineService<Client, S>,
}

impl<S> SocketIoService<S> {
    pub(crate) fn new(client: Option<Arc<ServedClient>>, inner: EngineService<Client, S>) -> Self {
        SocketIoService { client, inner }
    }

    /// The Engine.IO service underneath.
    pub fn engine_service(&self) -> &EngineService<Client, S> {
        &self.inner
    }
}

impl<S: Clone> Clone for SocketIoService<S> {
    fn clone(&self) -> Self {
        SocketIoService {
            client: self.client.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S> fmt::Debug for SocketIoService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIoService")
            .field("client", &self.client.as_ref().map(|c| &c.bundle))
            .field("inner", &self.inner)
            .finish()
    }
}

type ServiceFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for SocketIoService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ServiceFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if let Some(res) = self.client.as_ref().and_then(|c| c.respond(&req)) {
            tracing::trace!(target: "ferrio::server", path = req.uri().path(), status = %res.status(), "client bundle");
            let res = res.map(|body| ResponseBody::Engine { body });
            return Box::pin(std::future::ready(Ok(res)));
        }
        self.inner.call(req)
    }
}

/// A tower [`Layer`](tower_layer::Layer) putting Socket.IO (and the client bundle, when
/// served) in front of another service, e.g. an axum `Router`. Made by
/// [`SocketIo::layer`](crate::SocketIo::layer).
///
/// ```no_run
/// # fn f(io: ferrio::SocketIo) {
/// use tower_layer::Layer;
/// let service = io.layer().layer(ferrio::engine::NotFound);
/// # }
/// ```
#[derive(Clone)]
pub struct SocketIoLayer {
    client: Option<Arc<ServedClient>>,
    engine: EngineLayer<Client>,
}

impl SocketIoLayer {
    pub(crate) fn new(client: Option<Arc<ServedClient>>, engine: EngineLayer<Client>) -> Self {
        SocketIoLayer { client, engine }
    }
}

impl fmt::Debug for SocketIoLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIoLayer")
            .field("client", &self.client.as_ref().map(|c| &c.bundle))
            .finish()
    }
}

impl<S> tower_layer::Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SocketIoService::new(self.client.clone(), self.engine.layer(inner))
    }
}

/// Where the builder gets the bundle from.
pub(crate) enum ClientSource {
    Dir(PathBuf),
    Loaded(ClientBundle),
}

impl fmt::Debug for ClientSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientSource::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
            ClientSource::Loaded(b) => f.debug_tuple("Loaded").field(b).finish(),
        }
    }
}

impl ClientSource {
    /// The bundle to serve under `prefix`; a folder that cannot be read is logged and skipped.
    pub(crate) fn resolve(self, prefix: &str) -> Option<Arc<ServedClient>> {
        let bundle = match self {
            ClientSource::Loaded(b) => b,
            ClientSource::Dir(dir) => match ClientBundle::load(&dir) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(target: "ferrio::server", error = %e, "client bundle not served");
                    return None;
                }
            },
        };
        tracing::debug!(target: "ferrio::server", version = bundle.version(), path = prefix, "serving the client bundle");
        Some(Arc::new(ServedClient {
            prefix: prefix.to_owned(),
            bundle,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_reference_order_and_qualities() {
        assert_eq!(negotiate("gzip, deflate, br"), Coding::Br);
        assert_eq!(negotiate("gzip, deflate"), Coding::Gzip);
        assert_eq!(negotiate("deflate"), Coding::Deflate);
        assert_eq!(negotiate("br;q=0.5, gzip"), Coding::Gzip);
        assert_eq!(
            negotiate("br;q=0, gzip;q=0, deflate;q=0.1"),
            Coding::Deflate
        );
        assert_eq!(negotiate("*"), Coding::Br);
        assert_eq!(negotiate("*;q=0.5, br;q=0"), Coding::Gzip);
        assert_eq!(negotiate("identity"), Coding::Identity);
        assert_eq!(negotiate("identity, gzip;q=0.5"), Coding::Identity);
        assert_eq!(negotiate("compress"), Coding::Identity);
        assert_eq!(negotiate(""), Coding::Identity);
    }

    #[test]
    fn version_from_the_banner() {
        let js = b"/*!\n * Socket.IO v4.8.4\n * (c) 2014-2026 Guillermo Rauch\n */\n(function(){})";
        assert_eq!(banner_version(js).as_deref(), Some("4.8.4"));
        assert_eq!(banner_version(b"(function(){})"), None);
    }
}
