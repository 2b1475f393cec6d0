//! A socketioxide server implementing the subset of the conformance contract
//! (`/work/shared/conformance/CONTRACT.md`) that the benchmarks drive, so the
//! comparison runner can put it side by side with Ferrio and the Node.js
//! reference. Bench-only: namespace `/` with `auth` on connection,
//! `message`, `message-with-ack`, `join`, `leave`, `to-room`, `broadcast`,
//! `count`, `disconnect-me`, `close-me`.
//!
//! Multi-argument events are supported for the shapes the load generator
//! sends: one payload argument (`message`, `message-with-ack`, `broadcast`),
//! and `to-room` with exactly one payload argument after the event name.
//!
//! Environment: `PORT` (3000), `PING_INTERVAL_MS` (300), `PING_TIMEOUT_MS`
//! (200). Prints `listening on <PORT>` once it accepts connections.

use std::time::Duration;

use futures_util::FutureExt;
use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sorted_rooms(s: &SocketRef) -> Vec<String> {
    let mut rooms: Vec<String> = s.rooms().into_iter().map(|r| r.to_string()).collect();
    rooms.push(s.id.to_string());
    rooms.sort();
    rooms
}

async fn on_connect(s: SocketRef, Data(auth): Data<Value>) {
    let _ = s.emit("auth", &auth);

    s.on("message", async |s: SocketRef, Data(v): Data<Value>| {
        let _ = s.emit("message-back", &v);
    });
    s.on(
        "message-with-ack",
        async |Data(v): Data<Value>, ack: AckSender| {
            let _ = ack.send(&v);
        },
    );
    s.on(
        "join",
        async |s: SocketRef, Data(room): Data<String>, ack: AckSender| {
            s.join(room);
            let _ = ack.send(&sorted_rooms(&s));
        },
    );
    s.on(
        "leave",
        async |s: SocketRef, Data(room): Data<String>, ack: AckSender| {
            s.leave(room);
            let _ = ack.send(&sorted_rooms(&s));
        },
    );
    // socketioxide runs every message handler in a task of its own
    // (`tokio::spawn`), so two `to-room` events of one client could be
    // broadcast out of order. The contract (like Node) broadcasts them in
    // order: this handler starts the broadcast synchronously, before the
    // handler future is spawned (the in-memory adapter completes it in its
    // first poll), and spawns the rest only if it did not complete.
    s.on(
        "to-room",
        |io: SocketIo, Data((room, event, arg)): Data<(String, String, Value)>| {
            let mut fut = Box::pin(async move {
                let _ = io.to(room).emit(&event, &arg).await;
            });
            if (&mut fut).now_or_never().is_none() {
                tokio::spawn(fut);
            }
            std::future::ready(())
        },
    );
    s.on(
        "broadcast",
        async |s: SocketRef, Data((event, arg)): Data<(String, Value)>| {
            let _ = s.broadcast().emit(&event, &arg).await;
        },
    );
    s.on("count", async |io: SocketIo, ack: AckSender| {
        let n = io.sockets().len();
        let _ = ack.send(&n);
    });
    s.on("disconnect-me", async |s: SocketRef| {
        let _ = s.disconnect();
    });
    s.on("close-me", async |s: SocketRef| {
        let _ = s.disconnect();
    });
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = env_u64("PORT", 3000) as u16;
    let (layer, io) = SocketIo::builder()
        .ping_interval(Duration::from_millis(env_u64("PING_INTERVAL_MS", 300)))
        .ping_timeout(Duration::from_millis(env_u64("PING_TIMEOUT_MS", 200)))
        .max_payload(1_000_000)
        .connect_timeout(Duration::from_millis(1_000))
        .build_layer();
    io.ns("/", on_connect);

    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {port}");
    axum::serve(listener, app).await
}
