//! The Engine.IO echo server of `shared/conformance/CONTRACT.md`: every message (text or
//! binary) goes straight back to the client that sent it.
//!
//! `PORT` (3000), `PING_INTERVAL_MS` (300), `PING_TIMEOUT_MS` (200); path `/engine.io/`,
//! maxPayload 1,000,000, CORS origin `*`. Prints `listening on <PORT>` once it accepts
//! connections. Run with `cargo run --release --example engine_echo`.
//!
//! Beyond the contract, for tests of options it leaves at their defaults:
//! `UPGRADE_TIMEOUT_MS` (10000, `upgradeTimeout`) and `PER_MESSAGE_DEFLATE` (unset: off; a
//! number: on, with that compression threshold in bytes).

use ferrio_engine::ws::PerMessageDeflate;
use ferrio_engine::{
    serve, CloseReason, Cors, Engine, EngineConfig, EngineHandler, Message, Socket,
};
use std::time::Duration;

struct Echo;

impl EngineHandler for Echo {
    type Data = ();

    fn on_open(&self, _socket: &Socket) {}

    fn on_message(&self, socket: &Socket, message: Message) {
        let sent = match message {
            Message::Text(text) => socket.send_text(&text).map_err(|e| e.into_inner()),
            Message::Binary(bytes) => socket.send_binary(bytes).map_err(|e| e.into_inner()),
        };
        if sent.is_err() {
            // The client does not read what it is sent: it is too slow to keep.
            socket.close();
        }
    }

    fn on_close(&self, _socket: &Socket, _reason: CloseReason) {}
}

fn env_ms(name: &str, default: u64) -> Duration {
    let ms = std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Duration::from_millis(ms)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let config = EngineConfig::default()
        .with_path("/engine.io")
        .with_ping_interval(env_ms("PING_INTERVAL_MS", 300))
        .with_ping_timeout(env_ms("PING_TIMEOUT_MS", 200))
        .with_max_http_buffer_size(1_000_000)
        .with_cors(Some(Cors::any()))
        .with_upgrade_timeout(env_ms("UPGRADE_TIMEOUT_MS", 10_000))
        .with_per_message_deflate(
            std::env::var("PER_MESSAGE_DEFLATE")
                .ok()
                .and_then(|t| t.parse().ok())
                .map(|threshold| PerMessageDeflate {
                    threshold,
                    ..PerMessageDeflate::default()
                }),
        );
    let engine = Engine::new(config, Echo);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {port}");
    serve(listener, engine.into_service()).await
}
