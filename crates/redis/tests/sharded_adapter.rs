//! The sharded Redis adapter (`createShardedAdapter` format: SPUBLISH / SSUBSCRIBE) against the
//! real Redis at 127.0.0.1:6379, with in-process servers and raw WebSocket clients. Each test
//! uses its own channel prefix. Without Redis the tests are skipped, except in CI (`CI` set).
//!
//! The mixed clusters with Node.js servers are in `tests/e2e/cluster/sharded.test.mjs`.

#[path = "../../ferrio/tests/support/mod.rs"]
mod support;

mod common;
use common::{redis_up, URL};
use ferrio::adapter::Adapter;
use ferrio::parser::Payload;
use ferrio::{SocketIo, SocketRef};
use ferrio_redis::{RedisDriver, RedisShardedAdapter, RedisShardedAdapterConfig, SubscriptionMode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::Client;

fn unique_prefix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ferrio-sharded-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(prefix: &str, mode: SubscriptionMode) -> RedisShardedAdapterConfig {
    RedisShardedAdapterConfig {
        channel_prefix: prefix.to_owned(),
        subscription_mode: mode,
        requests_timeout: Duration::from_secs(2),
    }
}

struct Server {
    io: SocketIo,
    driver: RedisDriver,
    port: u16,
}

/// A server on `prefix`, listening, once subscribed. Its sockets join the rooms listed in
/// their `auth.rooms`, keep `auth.user` as their data, and answer `whoami` with it.
async fn server(prefix: &str, mode: SubscriptionMode) -> Server {
    let driver = RedisDriver::new(URL).unwrap();
    let io = SocketIo::builder()
        .adapter(RedisShardedAdapter::factory(
            driver.clone(),
            config(prefix, mode),
        ))
        .build();
    io.ns("/", |s: SocketRef| async move {
        let auth = s.handshake().auth.clone();
        for room in auth
            .get("rooms")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            s.join(room.as_str().unwrap_or_default().to_owned());
        }
        s.set_data(&json!({ "user": auth.get("user") })).ok();
    });
    let port = support::serve(&io).await;
    assert!(driver.ready(Duration::from_secs(5)).await, "subscribed");
    Server { io, driver, port }
}

async fn client(s: &Server, user: &str, rooms: &[&str]) -> Client {
    let auth = json!({ "user": user, "rooms": rooms }).to_string();
    Client::connect(s.port, "/", Some(&auth)).await
}

/// `PUBSUB SHARDNUMSUB channel`.
async fn shardnumsub(channel: &str) -> i64 {
    let client = redis::Client::open(URL).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("SHARDNUMSUB")
        .arg(channel)
        .query_async(&mut c)
        .await
        .unwrap();
    n
}

/// Waits until `PUBSUB SHARDNUMSUB channel` is `n`, for at most 3 s.
async fn wait_shardnumsub(channel: &str, n: i64) {
    for _ in 0..150 {
        if shardnumsub(channel).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "SHARDNUMSUB {channel} is {} (expected {n})",
        shardnumsub(channel).await
    );
}

/// Reads the next event packet, answering its acknowledgement request with `[answer]`.
async fn recv_and_ack(c: &mut Client, answer: &str) -> String {
    let text = c.recv().await;
    let rest = text.strip_prefix("42").expect("an EVENT");
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert!(!digits.is_empty(), "an ack id in {text}");
    c.send(&format!("43{digits}[\"{answer}\"]")).await;
    rest[digits.len()..].to_owned()
}

#[tokio::test]
async fn servers_count_each_other_with_shardnumsub() {
    if !redis_up().await {
        return;
    }
    let prefix = unique_prefix();
    let a = server(&prefix, SubscriptionMode::Dynamic).await;
    // An adapter that is not initialised does not subscribe: it sees the servers only.
    let observer =
        RedisShardedAdapter::new(a.driver.clone(), config(&prefix, Default::default()), "/");
    assert_eq!(observer.uid().len(), 16);
    assert_eq!(observer.server_count().await.unwrap(), 1);
    let b = server(&prefix, SubscriptionMode::Dynamic).await;
    assert_eq!(observer.server_count().await.unwrap(), 2);
    assert_eq!(shardnumsub(&format!("{prefix}#/#")).await, 2);
    // fetchSockets asks the other server and gets its (empty) answer in time.
    assert!(a.io.fetch_sockets().await.unwrap().is_empty());
    drop(b);
}

async fn room_broadcasts(mode: SubscriptionMode) {
    let prefix = unique_prefix();
    let a = server(&prefix, mode).await;
    let b = server(&prefix, mode).await;
    let mut a1 = client(&a, "a1", &["r1"]).await;
    let mut b1 = client(&b, "b1", &["r1"]).await;
    let mut b2 = client(&b, "b2", &[]).await;
    let room_channel = format!("{prefix}#/#r1#");
    let dynamic = mode != SubscriptionMode::Static;
    wait_shardnumsub(&room_channel, if dynamic { 2 } else { 0 }).await;
    // A socket's own room has no channel in "dynamic" mode, one in "dynamic-private".
    let private = if mode == SubscriptionMode::DynamicPrivate {
        1
    } else {
        0
    };
    wait_shardnumsub(&format!("{prefix}#/#{}#", b1.sid), private).await;

    a.io.to("r1").emit("ev", &(1, "x")).await.unwrap();
    assert_eq!(a1.recv().await, r#"42["ev",1,"x"]"#);
    assert_eq!(b1.recv().await, r#"42["ev",1,"x"]"#);
    assert!(b2.silent_for(Duration::from_millis(200)).await);

    // From the other side, and with `except`.
    b.io.to("r1").emit("obj", &json!({ "n": 2 })).await.unwrap();
    assert_eq!(a1.recv().await, r#"42["obj",{"n":2}]"#);
    assert_eq!(b1.recv().await, r#"42["obj",{"n":2}]"#);
    a.io.except("r1").emit("not-r1", &()).await.unwrap();
    assert_eq!(b2.recv().await, r#"42["not-r1"]"#);
    assert!(a1.silent_for(Duration::from_millis(200)).await);
    assert!(b1.silent_for(Duration::from_millis(1)).await);

    // To one socket of the other server (its private room).
    a.io.to(b1.sid.as_str()).emit("direct", &()).await.unwrap();
    assert_eq!(b1.recv().await, r#"42["direct"]"#);

    // The room channel is given up with the room's last socket.
    drop(b1);
    if dynamic {
        wait_shardnumsub(&room_channel, 1).await;
    }
    a.io.to("r1").emit("after", &()).await.unwrap();
    assert_eq!(a1.recv().await, r#"42["after"]"#);
    assert!(b2.silent_for(Duration::from_millis(200)).await);
}

#[tokio::test]
async fn room_broadcasts_cross_servers_dynamic() {
    if redis_up().await {
        room_broadcasts(SubscriptionMode::Dynamic).await;
    }
}

#[tokio::test]
async fn room_broadcasts_cross_servers_static() {
    if redis_up().await {
        room_broadcasts(SubscriptionMode::Static).await;
    }
}

#[tokio::test]
async fn room_broadcasts_cross_servers_dynamic_private() {
    if redis_up().await {
        room_broadcasts(SubscriptionMode::DynamicPrivate).await;
    }
}

#[tokio::test]
async fn a_broadcast_with_acks_counts_every_client_of_the_cluster() {
    if !redis_up().await {
        return;
    }
    let prefix = unique_prefix();
    let a = server(&prefix, SubscriptionMode::Dynamic).await;
    let b = server(&prefix, SubscriptionMode::Dynamic).await;
    let mut a1 = client(&a, "a1", &["r"]).await;
    let mut b1 = client(&b, "b1", &["r"]).await;
    let mut b2 = client(&b, "b2", &["r"]).await;
    let _outsider = client(&b, "b3", &[]).await;
    let ask =
        a.io.to("r")
            .timeout(Duration::from_secs(2))
            .emit_with_ack::<Value, _>("ask", &());
    let ask = tokio::spawn(ask);
    for (c, answer) in [(&mut a1, "pa"), (&mut b1, "pb1"), (&mut b2, "pb2")] {
        assert_eq!(recv_and_ack(c, answer).await, r#"["ask"]"#);
    }
    let mut answers = ask.await.unwrap().unwrap();
    answers.sort_by_key(|v| v.to_string());
    assert_eq!(answers, vec![json!("pa"), json!("pb1"), json!("pb2")]);

    // An empty room: no answer, at once.
    let started = std::time::Instant::now();
    let none =
        a.io.to("empty")
            .timeout(Duration::from_secs(2))
            .emit_with_ack::<Value, _>("ask", &())
            .await
            .unwrap();
    assert!(none.is_empty());
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn fetch_sockets_join_leave_and_disconnect_across_servers() {
    if !redis_up().await {
        return;
    }
    let prefix = unique_prefix();
    let a = server(&prefix, SubscriptionMode::Dynamic).await;
    let b = server(&prefix, SubscriptionMode::Dynamic).await;
    let _a1 = client(&a, "ann", &["r"]).await;
    let mut b1 = client(&b, "bob", &["r"]).await;
    let _b2 = client(&b, "bea", &[]).await;

    let mut found = a.io.to("r").fetch_sockets().await.unwrap();
    found.sort_by_key(|s| s.data["user"].to_string());
    let users: Vec<&Value> = found.iter().map(|s| &s.data["user"]).collect();
    assert_eq!(users, [&json!("ann"), &json!("bob")]);
    let bob = &found[1];
    assert_eq!(bob.id.as_str(), b1.sid);
    assert!(bob.local.is_none(), "bob is on the other server");
    assert!(bob.rooms.iter().any(|r| &**r == "r"));
    assert_eq!(bob.handshake.auth["user"], json!("bob"));
    assert_eq!(a.io.fetch_sockets().await.unwrap().len(), 3);

    // socketsJoin / socketsLeave reach the other server's sockets.
    let extra = format!("{prefix}#/#extra#");
    a.io.to("r").sockets_join("extra").await.unwrap();
    wait_shardnumsub(&extra, 2).await;
    let ns_b = b.io.namespace("/").unwrap();
    assert!(ns_b.rooms().iter().any(|r| &**r == "extra"));
    a.io.to("extra").emit("in-extra", &()).await.unwrap();
    assert_eq!(b1.recv().await, r#"42["in-extra"]"#);
    a.io.to("extra").sockets_leave("extra").await.unwrap();
    wait_shardnumsub(&extra, 0).await;

    // disconnectSockets: the selected socket of the other server is disconnected.
    a.io.to(b1.sid.as_str())
        .disconnect_sockets(false)
        .await
        .unwrap();
    assert_eq!(b1.recv().await, "41");
    support::eventually(|| ns_b.socket_count() == 1).await;
    assert_eq!(a.io.fetch_sockets().await.unwrap().len(), 2);
}

#[tokio::test]
async fn server_side_emit_with_and_without_ack() {
    if !redis_up().await {
        return;
    }
    let prefix = unique_prefix();
    let a = server(&prefix, SubscriptionMode::Dynamic).await;
    let b = server(&prefix, SubscriptionMode::Dynamic).await;
    let c = server(&prefix, SubscriptionMode::Dynamic).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    b.io.namespace("/")
        .unwrap()
        .on_server_side_emit(move |data: Payload, ack| {
            tx.send(data.value.clone()).ok();
            if let Some(ack) = ack {
                ack.send(Payload::new(vec![json!({ "from": "b" }), json!("ignored")]));
            }
        });
    a.io.server_side_emit("hello", &("world", 1)).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, json!(["hello", "world", 1]));

    // One answer per other server: b's first argument; c has no listener (an empty answer).
    let mut answers: Vec<Value> =
        a.io.server_side_emit_with_ack("q", &())
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.value)
            .collect();
    answers.sort_by_key(|v| v.to_string());
    assert_eq!(answers, vec![json!([]), json!([{ "from": "b" }])]);
    drop(c);
}

#[tokio::test]
async fn redis_unreachable_gives_clear_errors_and_local_delivery() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = RedisDriver::new(&format!("redis://127.0.0.1:{port}")).unwrap();
    let io = SocketIo::builder()
        .adapter(RedisShardedAdapter::factory(
            driver.clone(),
            Default::default(),
        ))
        .build();
    io.ns("/", |s: SocketRef| async move { s.join("r") });
    assert!(!driver.ready(Duration::from_millis(300)).await);
    let listen = support::serve(&io).await;
    let mut c = Client::connect(listen, "/", None).await;
    // The local part happens; the cluster part fails with a transport error, at once.
    let started = std::time::Instant::now();
    let err = io.to("r").emit("ev", &()).await.unwrap_err();
    assert!(err.to_string().contains("Redis"), "{err}");
    assert_eq!(c.recv().await, r#"42["ev"]"#);
    assert!(io.fetch_sockets().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The Node.js reference with `createShardedAdapter` (`tests/e2e/cluster/node-sharded-server.mjs`),
/// killed on drop.
struct NodeServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeServer {
    /// Starts it on channel prefix `prefix`, or `None` when the reference packages are not
    /// installed (`FERRIO_REFERENCE_DIR`, default `/tmp/conformance`; required in CI).
    async fn start(prefix: &str) -> Option<NodeServer> {
        use std::io::BufRead;
        let dir = std::env::var("FERRIO_REFERENCE_DIR").unwrap_or("/tmp/conformance".into());
        if !std::path::Path::new(&dir)
            .join("node_modules/@socket.io/redis-adapter")
            .exists()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "{dir}: reference not installed"
            );
            eprintln!("{dir}: Node reference not installed: test skipped");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/e2e/cluster/node-sharded-server.mjs"
        );
        let mut child = std::process::Command::new("node")
            .arg(script)
            .env("FERRIO_REFERENCE_DIR", &dir)
            .env("PORT", port.to_string())
            .env("REDIS_URL", URL)
            .env("CHANNEL_PREFIX", prefix)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if line.starts_with("listening on") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        let server = NodeServer { child, port };
        tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .expect("node-sharded-server listening within 20 s")
            .unwrap();
        Some(server)
    }
}

#[tokio::test]
async fn a_ferrio_server_and_a_node_sharded_server_form_one_cluster() {
    if !redis_up().await {
        return;
    }
    let prefix = unique_prefix();
    let Some(node) = NodeServer::start(&prefix).await else {
        return;
    };
    let a = server(&prefix, SubscriptionMode::Dynamic).await;
    wait_shardnumsub(&format!("{prefix}#/#"), 2).await;
    let mut n1 = Client::connect(node.port, "/", None).await;
    assert!(n1.recv().await.starts_with(r#"42["auth""#));
    n1.send(r#"420["join","r"]"#).await;
    assert!(n1.recv().await.starts_with("430["));
    let mut a1 = client(&a, "ann", &["r"]).await;
    wait_shardnumsub(&format!("{prefix}#/#r#"), 2).await;

    // Room broadcasts both ways (on the room's own channel).
    a.io.to("r").emit("hi", &(1,)).await.unwrap();
    assert_eq!(a1.recv().await, r#"42["hi",1]"#);
    assert_eq!(n1.recv().await, r#"42["hi",1]"#);
    n1.send(r#"42["to-room","r","from-node",2]"#).await;
    assert_eq!(a1.recv().await, r#"42["from-node",2]"#);
    assert_eq!(n1.recv().await, r#"42["from-node",2]"#);

    // fetchSockets: Node answers with its socket, handshake included.
    let found = a.io.fetch_sockets().await.unwrap();
    assert_eq!(found.len(), 2);
    let remote = found
        .iter()
        .find(|s| s.local.is_none())
        .expect("Node's socket");
    assert_eq!(remote.id.as_str(), n1.sid);
    assert!(remote.rooms.iter().any(|r| &**r == "r"));
    assert_eq!(
        remote.handshake.url,
        "/socket.io/?EIO=4&transport=websocket"
    );

    // socketsJoin / socketsLeave from Ferrio move Node's socket (and its subscriptions).
    let x = format!("{prefix}#/#x#");
    a.io.to("r").sockets_join("x").await.unwrap();
    wait_shardnumsub(&x, 2).await;
    a.io.to("x").emit("in-x", &()).await.unwrap();
    assert_eq!(n1.recv().await, r#"42["in-x"]"#);
    assert_eq!(a1.recv().await, r#"42["in-x"]"#);
    a.io.to("r").sockets_leave("x").await.unwrap();
    wait_shardnumsub(&x, 0).await;

    // A broadcast with acks counts Node's client.
    let ask = tokio::spawn(
        a.io.to("r")
            .timeout(Duration::from_secs(2))
            .emit_with_ack::<Value, _>("ask", &()),
    );
    assert_eq!(recv_and_ack(&mut a1, "pa").await, r#"["ask"]"#);
    assert_eq!(recv_and_ack(&mut n1, "pn").await, r#"["ask"]"#);
    let mut answers = ask.await.unwrap().unwrap();
    answers.sort_by_key(|v| v.to_string());
    assert_eq!(answers, vec![json!("pa"), json!("pn")]);

    // serverSideEmit with ack: Node's listener answers.
    let answers =
        a.io.server_side_emit_with_ack("sse-q", &("q",))
            .await
            .unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].value, json!(["node:q"]));

    // disconnectSockets from Ferrio reaches Node's socket.
    a.io.to(n1.sid.as_str())
        .disconnect_sockets(false)
        .await
        .unwrap();
    assert_eq!(n1.recv().await, "41");
}
