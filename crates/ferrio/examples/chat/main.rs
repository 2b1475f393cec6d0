//! The classic Socket.IO chat, served by Ferrio: nicknames, "joined"/"left" notices, a typing
//! indicator, messages broadcast to everyone else and the number of people online.
//!
//! ```sh
//! ./scripts/demo                     # installs the client bundle from npm, then runs this
//! FERRIO_CLIENT_DIR=path/to/socket.io-client/dist cargo run --release --example chat
//! ```
//!
//! Then open <http://localhost:3000> in two windows. Environment: `PORT` (3000),
//! `FERRIO_CLIENT_DIR` (the `dist/` folder of the npm package `socket.io-client`; by default the
//! one installed by `./scripts/demo` or by the e2e tests), `RUST_LOG`.
//!
//! The page (`index.html`, `style.css`, `chat.js`, compiled into the binary) loads the official
//! client from Ferrio itself at `/socket.io/socket.io.js` ([`SocketIoBuilder::serve_client`]).
//! Ferrio is a tower layer in front of a ten-line static file service, with no web framework;
//! see `examples/axum.rs` for the same layer on an axum `Router`.
//!
//! [`SocketIoBuilder::serve_client`]: ferrio::SocketIoBuilder::serve_client

use bytes::Bytes;
use ferrio::{ClientBundle, Data, SocketIo, SocketRef};
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// The nickname of a socket that has joined the chat.
#[derive(Clone)]
struct Nickname(String);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Login {
    num_users: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserEvent<'a> {
    username: &'a str,
    num_users: usize,
}

#[derive(Serialize, Deserialize)]
struct Message {
    username: String,
    message: String,
}

#[derive(Serialize)]
struct Typing<'a> {
    username: &'a str,
}

fn on_connect(socket: SocketRef, online: Arc<AtomicUsize>) {
    socket.on(
        "new message",
        |socket: SocketRef, Data(message): Data<String>| async move {
            let Some(Nickname(username)) = socket.get::<Nickname>() else {
                return;
            };
            let msg = Message { username, message };
            socket.broadcast().emit("new message", &msg).await.ok();
        },
    );

    let count = online.clone();
    socket.on(
        "add user",
        move |socket: SocketRef, Data(username): Data<String>| {
            let online = count.clone();
            async move {
                let username: String = username.trim().chars().take(32).collect();
                if username.is_empty() || socket.get::<Nickname>().is_some() {
                    return;
                }
                socket.insert(Nickname(username.clone()));
                let num_users = online.fetch_add(1, Ordering::SeqCst) + 1;
                socket.emit("login", &Login { num_users }).ok();
                let joined = UserEvent {
                    username: &username,
                    num_users,
                };
                socket.broadcast().emit("user joined", &joined).await.ok();
            }
        },
    );

    for (event, forward) in [("typing", "typing"), ("stop typing", "stop typing")] {
        socket.on(event, move |socket: SocketRef| async move {
            if let Some(Nickname(username)) = socket.get::<Nickname>() {
                let typing = Typing {
                    username: &username,
                };
                socket.broadcast().emit(forward, &typing).await.ok();
            }
        });
    }

    socket.on_disconnect(move |socket: SocketRef, _reason| {
        let online = online.clone();
        async move {
            if let Some(Nickname(username)) = socket.remove::<Nickname>() {
                let num_users = online.fetch_sub(1, Ordering::SeqCst) - 1;
                let left = UserEvent {
                    username: &username,
                    num_users,
                };
                socket.broadcast().emit("user left", &left).await.ok();
            }
        }
    });
}

/// The page and its assets; everything else is 404.
#[derive(Clone, Copy)]
struct Page;

impl<B> Service<Request<B>> for Page {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (content_type, body) = match req.uri().path() {
            "/" | "/index.html" => ("text/html; charset=utf-8", include_str!("index.html")),
            "/style.css" => ("text/css; charset=utf-8", include_str!("style.css")),
            "/chat.js" => ("text/javascript; charset=utf-8", include_str!("chat.js")),
            _ => ("text/plain; charset=utf-8", "not found"),
        };
        let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        if body == "not found" {
            *res.status_mut() = StatusCode::NOT_FOUND;
        }
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        headers.insert(header::CACHE_CONTROL, "no-cache".parse().unwrap());
        std::future::ready(Ok(res))
    }
}

/// `FERRIO_CLIENT_DIR`, or a copy of `socket.io-client` installed in this repository.
fn client_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FERRIO_CLIENT_DIR") {
        return Some(dir.into());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    ["examples-assets", "tests/e2e"]
        .iter()
        .map(|d| root.join(d).join("node_modules/socket.io-client/dist"))
        .find(|d| d.join("socket.io.js").is_file())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);

    let Some(dir) = client_dir() else {
        eprintln!(
            "the Socket.IO client bundle was not found: run ./scripts/demo, or set \
             FERRIO_CLIENT_DIR to the dist/ folder of the npm package socket.io-client"
        );
        std::process::exit(1);
    };
    let bundle = match ClientBundle::load(&dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot serve the client bundle: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "serving socket.io-client {} from {}",
        bundle.version(),
        dir.display()
    );

    let io = SocketIo::builder().client_bundle(bundle).build();
    let online = Arc::new(AtomicUsize::new(0));
    io.ns("/", move |socket: SocketRef| {
        on_connect(socket, online.clone());
        async {}
    });

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {port}: open http://localhost:{port}");
    ferrio::engine::serve(listener, io.layer().layer(Page)).await
}
