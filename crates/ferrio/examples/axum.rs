//! Ferrio mounted on an axum `Router`: the same application state is used by ordinary HTTP
//! routes and by the Socket.IO handlers.
//!
//! ```sh
//! cargo run --release --example axum          # PORT (3000), FERRIO_CLIENT_DIR (optional)
//! curl localhost:3000/health
//! curl localhost:3000/api/rooms
//! curl -X POST localhost:3000/api/rooms/lobby/messages -H 'content-type: application/json' \
//!      -d '{"text":"hello from curl"}'
//! ```
//!
//! Socket.IO clients connect to `/socket.io/` and send `join` (a room name) and `message`
//! (`{ room, text }`); messages reach every socket of the room as `message`
//! (`{ room, from, text }`), including those posted over HTTP. With `FERRIO_CLIENT_DIR`
//! pointing at `socket.io-client/dist`, the browser client is served at
//! `/socket.io/socket.io.js` too.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrio::{AckSender, Data, SocketIo, SocketRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the HTTP handlers and the Socket.IO handlers share.
#[derive(Clone)]
struct AppState {
    io: SocketIo,
    started: Instant,
    rooms: Arc<Mutex<BTreeMap<String, RoomStats>>>,
}

#[derive(Default, Clone, Serialize)]
struct RoomStats {
    messages: u64,
    last: Option<ChatMessage>,
}

#[derive(Clone, Serialize, Deserialize)]
struct ChatMessage {
    room: String,
    from: String,
    text: String,
}

impl AppState {
    /// Records `msg` and sends it to the sockets of its room.
    async fn post(&self, msg: ChatMessage) {
        {
            let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            let stats = rooms.entry(msg.room.clone()).or_default();
            stats.messages += 1;
            stats.last = Some(msg.clone());
        }
        self.io
            .to(msg.room.clone())
            .emit("message", &msg)
            .await
            .ok();
    }
}

// ---- HTTP ---------------------------------------------------------------------------------

#[derive(Serialize)]
struct Health {
    status: &'static str,
    uptime_secs: u64,
    sockets: usize,
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    let sockets = state.io.fetch_sockets().await.map_or(0, |s| s.len());
    Json(Health {
        status: "ok",
        uptime_secs: state.started.elapsed().as_secs(),
        sockets,
    })
}

#[derive(Serialize)]
struct RoomInfo {
    name: String,
    members: usize,
    #[serde(flatten)]
    stats: RoomStats,
}

async fn list_rooms(State(state): State<AppState>) -> Json<Vec<RoomInfo>> {
    let rooms: Vec<(String, RoomStats)> = {
        let rooms = state.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.iter().map(|(n, s)| (n.clone(), s.clone())).collect()
    };
    let mut out = Vec::with_capacity(rooms.len());
    for (name, stats) in rooms {
        let members = state
            .io
            .to(name.clone())
            .fetch_sockets()
            .await
            .map_or(0, |s| s.len());
        out.push(RoomInfo {
            name,
            members,
            stats,
        });
    }
    Json(out)
}

#[derive(Deserialize)]
struct NewMessage {
    text: String,
}

async fn post_message(
    State(state): State<AppState>,
    Path(room): Path<String>,
    Json(body): Json<NewMessage>,
) -> StatusCode {
    state
        .post(ChatMessage {
            room,
            from: "http".into(),
            text: body.text,
        })
        .await;
    StatusCode::ACCEPTED
}

// ---- Socket.IO ----------------------------------------------------------------------------

#[derive(Deserialize)]
struct IncomingMessage {
    room: String,
    text: String,
}

fn on_connect(socket: SocketRef, state: AppState) {
    let s = state.clone();
    socket.on(
        "join",
        move |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
            let state = s.clone();
            async move {
                socket.join(room.clone());
                state
                    .rooms
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(room.clone())
                    .or_default();
                ack.send(&room).ok();
            }
        },
    );
    socket.on(
        "message",
        move |socket: SocketRef, Data(msg): Data<IncomingMessage>| {
            let state = state.clone();
            async move {
                let from = socket.id().to_string();
                state
                    .post(ChatMessage {
                        room: msg.room,
                        from,
                        text: msg.text,
                    })
                    .await;
            }
        },
    );
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

    let mut builder = SocketIo::builder();
    if let Some(dir) = std::env::var_os("FERRIO_CLIENT_DIR") {
        builder = builder.serve_client(dir);
    }
    let io = builder.build();
    let state = AppState {
        io: io.clone(),
        started: Instant::now(),
        rooms: Arc::default(),
    };
    let s = state.clone();
    io.ns("/", move |socket: SocketRef| {
        on_connect(socket, s.clone());
        async {}
    });

    let app = Router::new()
        .route(
            "/",
            get(|| async { "Ferrio on axum: see /health and /api/rooms\n" }),
        )
        .route("/health", get(health))
        .route("/api/rooms", get(list_rooms))
        .route("/api/rooms/{room}/messages", post(post_message))
        .with_state(state)
        .layer(io.layer());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {port}");
    axum::serve(listener, app).await
}
