//! Drives a Socket.IO cluster through [`RedisEmitter`], one operation per argument, from the
//! command line (the cluster tests use it to drive Node.js servers):
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 cargo run -p ferrio-redis --example emit -- \
//!   '{"op":"emit","to":["room1"],"except":["room2"],"event":"news","args":["hello",1]}' \
//!   '{"op":"sockets_join","nsp":"/","to":["room1"],"rooms":["room3"]}'
//! ```
//!
//! Operations: `emit` (`event`, `args`), `sockets_join` / `sockets_leave` (`rooms`),
//! `disconnect_sockets` (`close`), `server_side_emit` (`event`, `args`); each may have `nsp`,
//! `to`, `except`, `volatile`. `key` (`socket.io`) and `REDIS_URL` (`redis://127.0.0.1:6379`)
//! choose the cluster. Exits non-zero on the first failure.

use ferrio_redis::RedisEmitter;
use serde_json::Value;

fn strings(v: &Value, name: &str) -> Vec<String> {
    v.get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn run(spec: &Value, url: &str) -> Result<(), String> {
    let key = spec
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or("socket.io");
    let base = RedisEmitter::with_key(url, key).map_err(|e| e.to_string())?;
    let mut e = base.of(spec.get("nsp").and_then(Value::as_str).unwrap_or("/"));
    e = e.to(strings(spec, "to")).except(strings(spec, "except"));
    if spec.get("volatile").and_then(Value::as_bool) == Some(true) {
        e = e.volatile();
    }
    let event = spec.get("event").and_then(Value::as_str).unwrap_or("");
    let args: Vec<Value> = spec
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let op = spec.get("op").and_then(Value::as_str).unwrap_or("emit");
    let r = match op {
        "emit" => {
            e.emit_payload(event, ferrio::parser::Payload::new(args))
                .await
        }
        "sockets_join" => e.sockets_join(strings(spec, "rooms")).await,
        "sockets_leave" => e.sockets_leave(strings(spec, "rooms")).await,
        "disconnect_sockets" => {
            let close = spec.get("close").and_then(Value::as_bool).unwrap_or(false);
            e.disconnect_sockets(close).await
        }
        "server_side_emit" => {
            e.server_side_emit_payload(event, ferrio::parser::Payload::new(args))
                .await
        }
        other => return Err(format!("unknown op {other}")),
    };
    r.map_err(|e| format!("{op}: {e}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    for arg in std::env::args().skip(1) {
        let spec: Value = match serde_json::from_str(&arg) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("bad spec {arg}: {e}");
                std::process::exit(2);
            }
        };
        if let Err(e) = run(&spec, &url).await {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
