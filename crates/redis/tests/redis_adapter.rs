//! The Redis adapter and emitter against the real Redis at 127.0.0.1:6379 (started by
//! `.ci/run`), with in-process servers. Each test uses its own key prefix, so tests do not see
//! each other. Without Redis the tests are skipped, except in CI (`CI` set), where they fail.
//!
//! The cluster tests with real Node.js servers are in `tests/e2e/cluster`.

mod common;
use common::{redis_up, URL};
use ferrio::adapter::Adapter;
use ferrio::parser::Payload;
use ferrio::{SocketIo, SocketRef};
use ferrio_redis::{RedisAdapter, RedisAdapterConfig, RedisDriver, RedisEmitter};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

fn unique_key() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ferrio-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(key: &str) -> RedisAdapterConfig {
    RedisAdapterConfig {
        key: key.to_owned(),
        requests_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

/// A server on `key` with `/` declared, once subscribed.
async fn server(key: &str) -> (SocketIo, RedisDriver) {
    let driver = RedisDriver::new(URL).unwrap();
    let io = SocketIo::builder()
        .adapter(RedisAdapter::factory(driver.clone(), config(key)))
        .build();
    io.ns("/", |_s: SocketRef| async move {});
    assert!(driver.ready(Duration::from_secs(5)).await, "subscribed");
    (io, driver)
}

/// A Redis adapter driven by hand, on its own connections, for a server whose namespace `/`
/// has the in-memory adapter: a requester that is nobody else's peer.
async fn requester(key: &str) -> (SocketIo, RedisAdapter, Arc<ferrio::Namespace>) {
    let io = SocketIo::new();
    io.ns("/", |_s: SocketRef| async move {});
    let ns = io.namespace("/").unwrap();
    let driver = RedisDriver::new(URL).unwrap();
    let adapter = RedisAdapter::new(driver.clone(), config(key), "/");
    adapter.init(&ns);
    assert!(driver.ready(Duration::from_secs(5)).await, "subscribed");
    (io, adapter, ns)
}

#[tokio::test]
async fn servers_count_each_other() {
    if !redis_up().await {
        return;
    }
    let key = unique_key();
    let (a, _da) = server(&key).await;
    let adapter = RedisAdapter::new(RedisDriver::new(URL).unwrap(), config(&key), "/");
    // Not subscribed: the count is the servers'.
    assert_eq!(adapter.server_count().await.unwrap(), 1);
    let (_b, _db) = server(&key).await;
    assert_eq!(adapter.server_count().await.unwrap(), 2);
    // fetchSockets asks the other server and gets its (empty) answer.
    assert!(a.fetch_sockets().await.unwrap().is_empty());
}

#[tokio::test]
async fn server_side_emit_with_and_without_ack() {
    if !redis_up().await {
        return;
    }
    let key = unique_key();
    let (a, da) = server(&key).await;
    let (b, _db) = server(&key).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<serde_json::Value>();
    b.namespace("/")
        .unwrap()
        .on_server_side_emit(move |data: Payload, ack| {
            tx.send(data.value.clone()).ok();
            if let Some(ack) = ack {
                ack.send(Payload::new(vec![json!({ "from": "b" }), json!("ignored")]));
            }
        });

    // Without ack, through the server API.
    a.server_side_emit("hello", &("world", 1)).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, json!(["hello", "world", 1]));

    // With ack, through the server API: the first argument of b's answer, as in Node.
    let answers = a.server_side_emit_with_ack("q", &()).await.unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].value, json!([{ "from": "b" }]));
    let got = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, json!(["q"]));

    a.server_side_emit("hello", &("world", 1)).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, json!(["hello", "world", 1]));

    // With ack: one answer per other server (a has no listener: an empty answer), the first
    // argument of each.
    drop(da);
    let (_c, requester, ns) = requester(&key).await;
    let mut answers: Vec<serde_json::Value> = requester
        .server_side_emit(&ns, Payload::new(vec![json!("question")]), true)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.value)
        .collect();
    answers.sort_by_key(|v| v.to_string());
    assert_eq!(answers, vec![json!([]), json!([{ "from": "b" }])]);
    let got = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, json!(["question"]));
}

#[tokio::test]
async fn server_side_emit_without_listener_is_answered() {
    if !redis_up().await {
        return;
    }
    let key = unique_key();
    let (_b, _db) = server(&key).await;
    let (_c, requester, ns) = requester(&key).await;
    let started = std::time::Instant::now();
    let answers = requester
        .server_side_emit(&ns, Payload::new(vec![json!("nobody")]), true)
        .await
        .unwrap();
    assert_eq!(answers, vec![Payload::new(vec![])]);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn the_emitter_reaches_server_side_listeners() {
    if !redis_up().await {
        return;
    }
    let key = unique_key();
    let (a, _da) = server(&key).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    a.namespace("/")
        .unwrap()
        .on_server_side_emit(move |data: Payload, ack| {
            assert!(ack.is_none());
            s.lock().unwrap().push(data.value.clone());
        });
    let emitter = RedisEmitter::with_key(URL, &key).unwrap();
    emitter
        .server_side_emit("from-emitter", &("x",))
        .await
        .unwrap();
    // Reserved names are refused, as by the Node emitter.
    assert!(emitter.emit("connect", &()).await.is_err());
    for _ in 0..100 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*seen.lock().unwrap(), vec![json!(["from-emitter", "x"])]);
}

#[tokio::test]
async fn redis_unreachable_gives_clear_errors_and_no_panic() {
    // Port 1 on loopback: nothing listens there.
    let driver = RedisDriver::new("redis://127.0.0.1:1").unwrap();
    let io = SocketIo::builder()
        .adapter(RedisAdapter::factory(
            driver.clone(),
            RedisAdapterConfig::default(),
        ))
        .build();
    io.ns("/", |_s: SocketRef| async move {});
    assert!(!driver.ready(Duration::from_millis(300)).await);
    let err = io.emit("ev", &1).await.unwrap_err().to_string();
    assert!(err.contains("Redis unavailable"), "{err}");
    assert!(io.fetch_sockets().await.is_err());
    let emitter = RedisEmitter::new("redis://127.0.0.1:1").unwrap();
    assert!(emitter.emit("ev", &()).await.is_err());
    assert!(RedisDriver::new("not a url").is_err());
}
