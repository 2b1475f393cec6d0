//! The client bundle route (`serveClient`): content, ETag/304, compression, fall-through.

use bytes::Bytes;
use ferrio::{ClientBundle, SocketIo};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower_layer::Layer;
use tower_service::Service;

const JS: &str = "/*!\n * Socket.IO v9.9.9\n * (c) 2014-2026 Guillermo Rauch\n */\n";

/// A folder laid out like `node_modules/socket.io-client`: `package.json` and `dist/`.
struct Package {
    root: PathBuf,
}

impl Package {
    fn new(with_package_json: bool) -> Package {
        static N: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "ferrio-client-bundle-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let dist = root.join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        if with_package_json {
            std::fs::write(
                root.join("package.json"),
                r#"{"name":"socket.io-client","version":"4.8.4"}"#,
            )
            .unwrap();
        }
        std::fs::write(dist.join("socket.io.js"), main_js()).unwrap();
        std::fs::write(dist.join("socket.io.js.map"), r#"{"version":3}"#).unwrap();
        std::fs::write(dist.join("socket.io.min.js"), "var io={};").unwrap();
        Package { root }
    }

    fn dist(&self) -> PathBuf {
        self.root.join("dist")
    }
}

impl Drop for Package {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn main_js() -> String {
    let mut s = JS.to_owned();
    for i in 0..500 {
        s.push_str(&format!(
            "function f{i}(socket) {{ return socket.emit('hello', {i}); }}\n"
        ));
    }
    s
}

async fn get(io: &SocketIo, path: &str, headers: &[(&str, &str)]) -> (Response<()>, Bytes) {
    request(io, Method::GET, path, headers).await
}

async fn request(
    io: &SocketIo,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (Response<()>, Bytes) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Empty::<Bytes>::new()).unwrap();
    let mut svc = io.clone().into_service();
    let res = svc.call(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (Response::from_parts(parts, ()), body)
}

fn header<'a>(res: &'a Response<()>, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn serves_the_files_with_etag_cache_control_and_content_type() {
    let pkg = Package::new(true);
    let io = SocketIo::builder().serve_client(pkg.dist()).build();
    assert_eq!(io.client_bundle().unwrap().version(), "4.8.4");

    let (res, body) = get(&io, "/socket.io/socket.io.js", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body, main_js().as_bytes());
    assert_eq!(header(&res, "etag"), Some("\"4.8.4\""));
    assert_eq!(header(&res, "cache-control"), Some("public, max-age=0"));
    assert_eq!(
        header(&res, "content-type"),
        Some("application/javascript; charset=utf-8")
    );
    assert_eq!(header(&res, "content-encoding"), None);
    assert_eq!(header(&res, "vary"), Some("Accept-Encoding"));

    let (res, body) = get(&io, "/socket.io/socket.io.js.map", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body, &br#"{"version":3}"#[..]);
    assert_eq!(
        header(&res, "content-type"),
        Some("application/json; charset=utf-8")
    );

    // A query string (cache busting) is ignored, and HEAD is answered too.
    let (res, body) = get(&io, "/socket.io/socket.io.min.js?v=1", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body, &b"var io={};"[..]);
    let (res, _) = request(&io, Method::HEAD, "/socket.io/socket.io.min.js", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "etag"), Some("\"4.8.4\""));
}

#[tokio::test]
async fn if_none_match_strong_or_weak_gives_304() {
    let pkg = Package::new(true);
    let io = SocketIo::builder().serve_client(pkg.dist()).build();
    for tag in ["\"4.8.4\"", "W/\"4.8.4\"", "\"1.0.0\", \"4.8.4\""] {
        let (res, body) = get(&io, "/socket.io/socket.io.js", &[("if-none-match", tag)]).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert!(body.is_empty());
        assert_eq!(header(&res, "etag"), Some("\"4.8.4\""));
    }
    let (res, body) = get(
        &io,
        "/socket.io/socket.io.js",
        &[("if-none-match", "\"4.8.3\"")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body, main_js().as_bytes());
}

#[tokio::test]
async fn compresses_as_accept_encoding_prefers() {
    let pkg = Package::new(true);
    let io = SocketIo::builder().serve_client(pkg.dist()).build();
    let js = main_js();

    let (res, body) = get(
        &io,
        "/socket.io/socket.io.js",
        &[("accept-encoding", "gzip, deflate, br")],
    )
    .await;
    assert_eq!(header(&res, "content-encoding"), Some("br"));
    assert!(body.len() < js.len() / 4, "{} bytes", body.len());
    let mut out = String::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, js);

    let (res, body) = get(
        &io,
        "/socket.io/socket.io.js",
        &[("accept-encoding", "gzip, deflate")],
    )
    .await;
    assert_eq!(header(&res, "content-encoding"), Some("gzip"));
    let mut out = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, js);

    let (res, body) = get(
        &io,
        "/socket.io/socket.io.js",
        &[("accept-encoding", "deflate")],
    )
    .await;
    assert_eq!(header(&res, "content-encoding"), Some("deflate"));
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(&body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, js);

    let (res, body) = get(
        &io,
        "/socket.io/socket.io.js",
        &[("accept-encoding", "identity")],
    )
    .await;
    assert_eq!(header(&res, "content-encoding"), None);
    assert_eq!(body, js.as_bytes());
}

#[tokio::test]
async fn other_requests_fall_through_to_the_engine_and_the_inner_service() {
    let pkg = Package::new(true);
    let io = SocketIo::builder().serve_client(pkg.dist()).build();
    // Not in this dist/ folder, not a bundle file, not GET: the engine answers (400, code 0).
    for path in [
        "/socket.io/socket.io.msgpack.min.js",
        "/socket.io/socket.io.foo.js",
        "/socket.io/",
    ] {
        let (res, body) = get(&io, path, &[]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(body.starts_with(b"{\"code\":0"), "{path}");
    }
    let (res, _) = request(&io, Method::POST, "/socket.io/socket.io.js", &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Outside the path: the inner service (404 for `into_service`).
    let (res, _) = get(&io, "/socket.io.js", &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // The layer keeps the bundle in front of the engine and the inner service.
    let inner = tower_service_fn(|_req| {
        Response::new(http_body_util::Full::new(Bytes::from_static(b"inner")))
    });
    let mut svc = io.layer().layer(inner);
    for (path, status, body) in [
        ("/socket.io/socket.io.min.js", 200, &b"var io={};"[..]),
        ("/index.html", 200, &b"inner"[..]),
    ] {
        let req = Request::get(path).body(Empty::<Bytes>::new()).unwrap();
        let res = svc.call(req).await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), body);
    }
}

#[tokio::test]
async fn follows_the_path_and_is_off_by_default() {
    let pkg = Package::new(false);
    let io = SocketIo::builder()
        .path("/realtime")
        .serve_client(pkg.dist())
        .build();
    // Without package.json the version comes from the banner.
    assert_eq!(io.client_bundle().unwrap().version(), "9.9.9");
    let (res, _) = get(&io, "/realtime/socket.io.js", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "etag"), Some("\"9.9.9\""));
    let (res, _) = get(&io, "/socket.io/socket.io.js", &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let io = SocketIo::new();
    assert!(io.client_bundle().is_none());
    let (res, _) = get(&io, "/socket.io/socket.io.js", &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn a_folder_without_the_bundle_is_an_error() {
    let pkg = Package::new(true);
    let err = ClientBundle::load(&pkg.root).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("socket.io.js"), "{err}");
    // `serve_client` logs it and serves nothing.
    let io = SocketIo::builder().serve_client(&pkg.root).build();
    assert!(io.client_bundle().is_none());

    let bundle = ClientBundle::load(pkg.dist()).unwrap();
    let mut files: Vec<_> = bundle.files().collect();
    files.sort();
    assert_eq!(
        files,
        ["socket.io.js", "socket.io.js.map", "socket.io.min.js"]
    );
}

/// A service from a closure, without pulling in `tower`.
fn tower_service_fn<F>(f: F) -> ServiceFn<F> {
    ServiceFn(f)
}

#[derive(Clone)]
struct ServiceFn<F>(F);

impl<F, B, R> Service<Request<B>> for ServiceFn<F>
where
    F: FnMut(Request<B>) -> Response<R>,
{
    type Response = Response<R>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Response<R>, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        std::future::ready(Ok((self.0)(req)))
    }
}
