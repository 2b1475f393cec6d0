//! The conformance server of `shared/conformance/CONTRACT.md`: every black-box test and
//! benchmark drives it, and `reference-server.mjs` is the same on the Node.js reference.
//!
//! Environment: `PORT` (3000), `RECOVERY_MS` (connection state recovery, off),
//! `PING_INTERVAL_MS` (300), `PING_TIMEOUT_MS` (200), `REDIS_URL` (the Redis adapter of
//! `ferrio-redis`, key prefix `socket.io`, wire-compatible with `@socket.io/redis-adapter`; the
//! in-memory adapter when unset), `REDIS_ADAPTER` (with `REDIS_URL`: `classic`, the default, or
//! `sharded` for the `createShardedAdapter` format over SPUBLISH/SSUBSCRIBE, or `streams` for
//! `@socket.io/redis-streams-adapter` 0.3, whose sessions and offsets live in Redis so that
//! `RECOVERY_MS` recovers a client on another server). Prints `listening on <PORT>` once it
//! accepts connections (with `REDIS_URL`, once subscribed, or after 3 s with a warning if Redis
//! cannot be reached).
//! Run with `cargo run --release --example conformance`.

use ferrio::engine::Cors;
use ferrio::parser::Payload;
use ferrio::{
    AckSender, BroadcastAckError, ConnectError, Data, RecoveryConfig, SocketIo, SocketRef,
};
use serde_json::{json, Value};
use std::time::Duration;

fn env_ms(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
}

/// Splits the first `n` JSON arguments off a payload; the rest keeps the attachments.
fn split_args(args: Payload, n: usize) -> Option<(Vec<Value>, Payload)> {
    let Payload { value, attachments } = args;
    let Value::Array(mut items) = value else {
        return None;
    };
    if items.len() < n {
        return None;
    }
    let rest = items.split_off(n);
    Some((items, Payload::with_attachments(rest, attachments)))
}

fn on_main(socket: SocketRef, io: SocketIo) {
    socket.emit("auth", &socket.handshake().auth).ok();

    socket.on("message", |socket: SocketRef, args: Payload| async move {
        socket.emit_payload("message-back", args).ok();
    });
    socket.on(
        "message-with-ack",
        |args: Payload, ack: AckSender| async move {
            ack.send_raw(args).ok();
        },
    );
    socket.on(
        "join",
        |socket: SocketRef, Data(room): Data<String>, ack: AckSender| async move {
            socket.join(room);
            ack.send(&rooms(&socket)).ok();
        },
    );
    socket.on(
        "leave",
        |socket: SocketRef, Data(room): Data<String>, ack: AckSender| async move {
            socket.leave(room);
            ack.send(&rooms(&socket)).ok();
        },
    );
    let io2 = io.clone();
    socket.on("to-room", move |args: Payload| {
        let io = io2.clone();
        async move {
            let Some((head, rest)) = split_args(args, 2) else {
                return;
            };
            if let (Some(room), Some(event)) = (head[0].as_str(), head[1].as_str()) {
                io.to(room).emit_payload(event, rest).await.ok();
            }
        }
    });
    socket.on("broadcast", |socket: SocketRef, args: Payload| async move {
        let Some((head, rest)) = split_args(args, 1) else {
            return;
        };
        if let Some(event) = head[0].as_str() {
            socket.broadcast().emit_payload(event, rest).await.ok();
        }
    });
    socket.on(
        "ask",
        |socket: SocketRef, args: Payload, ack: AckSender| async move {
            let Some((head, rest)) = split_args(args, 1) else {
                return;
            };
            let Some(event) = head[0].as_str() else {
                return;
            };
            let answer = socket
                .emit_payload_with_ack::<Payload>(event, rest, Duration::from_millis(1000))
                .await;
            let reply = match answer {
                Ok(Payload { value, attachments }) => Payload::with_attachments(
                    vec![json!({ "ok": true, "res": value })],
                    attachments,
                ),
                Err(_) => Payload::new(vec![json!({ "ok": false, "res": [] })]),
            };
            ack.send_raw(reply).ok();
        },
    );
    let io2 = io.clone();
    socket.on(
        "ask-room",
        move |Data((room, event)): Data<(String, String)>, ack: AckSender| {
            let io = io2.clone();
            async move {
                let answers = io
                    .to(room)
                    .timeout(Duration::from_millis(1000))
                    .emit_with_ack::<Payload, _>(&event, &())
                    .await;
                let first = |p: Vec<Payload>| -> Vec<Value> {
                    p.into_iter()
                        .map(|p| p.items().first().cloned().unwrap_or(Value::Null))
                        .collect()
                };
                let reply = match answers {
                    Ok(r) => json!({ "ok": true, "responses": first(r) }),
                    Err(BroadcastAckError::Timeout { responses }) => {
                        json!({ "ok": false, "responses": first(responses) })
                    }
                    Err(_) => json!({ "ok": false, "responses": [] }),
                };
                ack.send(&reply).ok();
            }
        },
    );
    socket.on("count", move |ack: AckSender| {
        let io = io.clone();
        async move {
            let n = io.fetch_sockets().await.map(|s| s.len()).unwrap_or(0);
            ack.send(&n).ok();
        }
    });
    socket.on(
        "handshake",
        |socket: SocketRef, ack: AckSender| async move {
            let h = socket.handshake();
            ack.send(&json!({ "query": h.query, "auth": h.auth })).ok();
        },
    );
    socket.on("disconnect-me", |socket: SocketRef| async move {
        socket.disconnect(false);
    });
    socket.on("close-me", |socket: SocketRef| async move {
        socket.disconnect(true);
    });
}

fn rooms(socket: &SocketRef) -> Vec<String> {
    let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    rooms.sort();
    rooms
}

fn is_dynamic(name: &str) -> bool {
    name.strip_prefix("/dyn-").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
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
    let redis = match std::env::var("REDIS_URL") {
        Ok(url) => match ferrio_redis::RedisDriver::new(&url) {
            Ok(driver) => Some(driver),
            Err(e) => {
                eprintln!("REDIS_URL: {e}");
                std::process::exit(2);
            }
        },
        Err(_) => None,
    };
    let recovery = env_ms("RECOVERY_MS").map(|d| RecoveryConfig {
        max_disconnection_duration: d,
        ..Default::default()
    });
    let io = SocketIo::builder()
        .ping_interval(env_ms("PING_INTERVAL_MS").unwrap_or(Duration::from_millis(300)))
        .ping_timeout(env_ms("PING_TIMEOUT_MS").unwrap_or(Duration::from_millis(200)))
        .max_http_buffer_size(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .map_engine(|e| e.with_cors(Some(Cors::any())))
        .connection_state_recovery(recovery);
    let adapter = std::env::var("REDIS_ADAPTER").unwrap_or_default();
    let mut streams = None;
    let io = match (&redis, adapter.as_str()) {
        (None, _) => io,
        (Some(driver), "streams") => {
            let s = ferrio_redis::RedisStreams::new(
                driver.clone(),
                ferrio_redis::RedisStreamsAdapterConfig::default(),
            );
            let io = io.adapter(s.factory());
            streams = Some(s);
            io
        }
        (Some(driver), "sharded") => io.adapter(ferrio_redis::RedisShardedAdapter::factory(
            driver.clone(),
            ferrio_redis::RedisShardedAdapterConfig::default(),
        )),
        (Some(driver), "" | "classic") => io.adapter(ferrio_redis::RedisAdapter::factory(
            driver.clone(),
            ferrio_redis::RedisAdapterConfig::default(),
        )),
        (Some(_), other) => {
            eprintln!("REDIS_ADAPTER: unknown adapter {other:?} (classic, sharded, streams)");
            std::process::exit(2);
        }
    }
    .build();

    let io2 = io.clone();
    io.ns("/", move |socket: SocketRef| {
        on_main(socket, io2.clone());
        async {}
    });
    io.ns("/custom", |socket: SocketRef| async move {
        socket.emit("auth", &socket.handshake().auth).ok();
    });
    io.ns("/private", |socket: SocketRef| async move {
        socket.emit("auth", &socket.handshake().auth).ok();
    })
    .with(|socket: SocketRef| async move {
        if socket.handshake().auth.get("token").and_then(Value::as_str) == Some("secret") {
            Ok(())
        } else {
            Err(ConnectError::new("unauthorized").with_data(json!({ "reason": "bad token" })))
        }
    });
    io.dyn_ns(is_dynamic, |socket: SocketRef| async move {
        socket.emit("nsp", socket.nsp()).ok();
    });

    if let Some(driver) = &redis {
        let ready = match &streams {
            // Subscribed, and reading the stream from its newest entry.
            Some(s) => s.ready(Duration::from_secs(3)).await,
            None => driver.ready(Duration::from_secs(3)).await,
        };
        if !ready {
            eprintln!(
                "Redis is not reachable yet: serving local clients, retrying in the background"
            );
        }
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {port}");
    ferrio::engine::serve(listener, io.into_service()).await
}
