//! The Redis Streams adapter (`@socket.io/redis-streams-adapter` 0.3.1 format) against the real
//! Redis at 127.0.0.1:6379, with in-process servers and raw WebSocket clients. Each test uses
//! its own stream, channel prefix and session key prefix. Without Redis the tests are skipped,
//! except in CI (`CI` set).
//!
//! The mixed clusters with Node.js servers are in `tests/e2e/cluster/streams.test.mjs`.

#[path = "../../ferrio/tests/support/mod.rs"]
mod support;

mod common;
use common::{redis_up, URL};
use ferrio::parser::Payload;
use ferrio::{RecoveryConfig, SocketIo, SocketRef};
use ferrio_redis::streams::SessionRecord;
use ferrio_redis::{RedisDriver, RedisStreams, RedisStreamsAdapter, RedisStreamsAdapterConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::Client;
use tokio_tungstenite::tungstenite::Message;

/// Stream, channel prefix and session key prefix of one test.
fn config() -> RedisStreamsAdapterConfig {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "ferrio-streams-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    RedisStreamsAdapterConfig {
        stream_name: name.clone(),
        channel_prefix: name.clone(),
        session_key_prefix: format!("{name}:session:"),
        requests_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(URL)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

struct Server {
    io: SocketIo,
    port: u16,
}

/// A server listening once subscribed and reading the stream. Its sockets join the rooms of
/// their `auth.rooms`, keep `auth.user` as their data, answer `sse-q` server-side emits with
/// `"<name>:<arg>"`, and acknowledge `ping` with their user.
async fn server(config: &RedisStreamsAdapterConfig, name: &'static str, recovery: bool) -> Server {
    let driver = RedisDriver::new(URL).unwrap();
    let streams = RedisStreams::new(driver, config.clone());
    let io = SocketIo::builder()
        .adapter(streams.factory())
        .connection_state_recovery(recovery.then(|| RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(10),
            ..Default::default()
        }))
        .build();
    io.ns("/", |s: SocketRef| async move {
        let auth = s.handshake().auth.clone();
        if !s.recovered() {
            for room in auth
                .get("rooms")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                s.join(room.as_str().unwrap_or_default().to_owned());
            }
            if let Some(user) = auth.get("user") {
                s.set_data(&json!({ "user": user })).ok();
            }
        }
    });
    let ns = io.namespace("/").unwrap();
    ns.on_server_side_emit(move |data: Payload, ack| {
        if let Some(ack) = ack {
            let arg = data.items().get(1).and_then(Value::as_str).unwrap_or("");
            ack.send(Payload::new(vec![json!(format!("{name}:{arg}"))]));
        }
    });
    let port = support::serve(&io).await;
    assert!(
        streams.ready(Duration::from_secs(5)).await,
        "subscribed and reading"
    );
    Server { io, port }
}

async fn client(s: &Server, user: &str, rooms: &[&str]) -> Client {
    let auth = json!({ "user": user, "rooms": rooms }).to_string();
    Client::connect(s.port, "/", Some(&auth)).await
}

/// Deletes the test's stream and session keys.
async fn cleanup(config: &RedisStreamsAdapterConfig) {
    let mut c = redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", config.session_key_prefix))
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    let mut del = redis::cmd("DEL");
    del.arg(&config.stream_name);
    for k in keys {
        del.arg(k);
    }
    let _: redis::RedisResult<i64> = del.query_async(&mut c).await;
}

/// The `[event, ...args]` of an EVENT frame `42[...]`.
fn event(frame: &str) -> Vec<Value> {
    let rest = frame
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("not an EVENT: {frame}"));
    serde_json::from_str(rest).unwrap()
}

/// The entries of `stream` as `(id, [(field, value)])`.
async fn entries(stream: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut c = redis().await;
    redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn broadcasts_cross_servers_and_carry_their_stream_entry_id_as_offset() {
    if !redis_up().await {
        return;
    }
    let config = config();
    let a = server(&config, "a", true).await;
    let b = server(&config, "b", true).await;
    let mut a1 = client(&a, "a1", &["r1"]).await;
    let mut b1 = client(&b, "b1", &["r1"]).await;
    let mut b2 = client(&b, "b2", &[]).await;
    assert!(a1.reply["pid"].is_string(), "recovery is on: {}", a1.reply);

    a.io.to("r1").emit("ev", &(1, "x")).await.unwrap();
    let (at_a, at_b) = (event(&a1.recv().await), event(&b1.recv().await));
    assert_eq!(at_a, at_b, "the same offset on both servers");
    assert_eq!(at_a[..3], [json!("ev"), json!(1), json!("x")]);
    let offset = at_a[3].as_str().unwrap().to_owned();
    assert!(b2.silent_for(Duration::from_millis(200)).await);

    // The offset is the id of the entry, written as Node writes it.
    let stream = entries(&config.stream_name).await;
    let (id, fields) = stream.last().unwrap();
    assert_eq!(id, &offset);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["uid", "nsp", "type", "data"]);
    assert_eq!(fields[1].1, "/");
    assert_eq!(fields[2].1, "3");
    assert_eq!(
        fields[3].1,
        r#"{"packet":{"type":2,"data":["ev",1,"x"]},"opts":{"rooms":["r1"],"except":[],"flags":{}}}"#
    );

    // From the other side, with binary (base64 msgpack in the stream) and `except`.
    b.io.except("r1")
        .emit("bin", &bytes::Bytes::from_static(&[1, 2, 3]))
        .await
        .unwrap();
    assert!(b2
        .recv()
        .await
        .starts_with(r#"451-["bin",{"_placeholder":true,"num":0},""#));
    assert_eq!(b2.recv().await, "<binary 3>");
    assert!(a1.silent_for(Duration::from_millis(200)).await);
    let stream = entries(&config.stream_name).await;
    let data = &stream.last().unwrap().1[3].1;
    assert!(
        !data.starts_with('{'),
        "binary data is base64 msgpack: {data}"
    );

    // A packet to one socket directly carries the newest offset this server has seen.
    let s = b.io.namespace("/").unwrap().sockets()[0].clone();
    s.emit("direct", &()).unwrap();
    let direct = event(&if s.id().as_str() == b1.sid {
        b1.recv().await
    } else {
        b2.recv().await
    });
    assert_eq!(direct[1], json!(stream.last().unwrap().0));
    cleanup(&config).await;
}

#[tokio::test]
async fn requests_count_the_servers_and_collect_their_answers() {
    if !redis_up().await {
        return;
    }
    let config = config();
    let a = server(&config, "a", false).await;
    let b = server(&config, "b", false).await;
    let _a1 = client(&a, "a1", &["r1"]).await;
    let _b1 = client(&b, "b1", &["r1"]).await;
    let _b2 = client(&b, "b2", &[]).await;

    // An adapter that is not initialised does not subscribe: it sees the servers only.
    let observer =
        RedisStreamsAdapter::factory(RedisDriver::new(URL).unwrap(), config.clone())("/");
    assert_eq!(observer.server_count().await.unwrap(), 2);

    let mut users: Vec<String> =
        a.io.fetch_sockets()
            .await
            .unwrap()
            .iter()
            .map(|s| s.data["user"].as_str().unwrap().to_owned())
            .collect();
    users.sort();
    assert_eq!(users, ["a1", "b1", "b2"]);
    let in_r1 = b.io.to("r1").fetch_sockets().await.unwrap();
    assert_eq!(in_r1.len(), 2);
    assert!(in_r1.iter().all(|s| s.rooms.iter().any(|r| &**r == "r1")));

    // serverSideEmit with an acknowledgement: one answer per other server.
    let answers = a.io.server_side_emit_with_ack("sse-q", "hi").await.unwrap();
    let answers: Vec<Value> = answers.iter().map(|p| p.items()[0].clone()).collect();
    assert_eq!(answers, [json!("b:hi")]);
    cleanup(&config).await;
}

#[tokio::test]
async fn broadcast_acks_count_every_client_of_the_cluster() {
    if !redis_up().await {
        return;
    }
    let config = config();
    let a = server(&config, "a", false).await;
    let b = server(&config, "b", false).await;
    let mut a1 = client(&a, "a1", &["r1"]).await;
    let mut b1 = client(&b, "b1", &["r1"]).await;
    let io = a.io.clone();
    let asked = tokio::spawn(async move {
        io.to("r1")
            .timeout(Duration::from_secs(2))
            .emit_with_ack::<Payload, _>("ping", &())
            .await
    });
    for (c, answer) in [(&mut a1, "from-a1"), (&mut b1, "from-b1")] {
        let text = c.recv().await;
        let rest = text.strip_prefix("42").unwrap();
        let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
        assert!(!id.is_empty(), "an ack id in {text}");
        c.send(&format!("43{id}[\"{answer}\"]")).await;
    }
    let mut answers: Vec<Value> = asked
        .await
        .unwrap()
        .unwrap()
        .iter()
        .map(|p| p.items()[0].clone())
        .collect();
    answers.sort_by_key(|v| v.to_string());
    assert_eq!(answers, [json!("from-a1"), json!("from-b1")]);
    cleanup(&config).await;
}

#[tokio::test]
async fn sockets_join_leave_and_disconnect_reach_the_other_server() {
    if !redis_up().await {
        return;
    }
    let config = config();
    let a = server(&config, "a", false).await;
    let b = server(&config, "b", false).await;
    let mut a1 = client(&a, "a1", &["r1"]).await;
    let mut b1 = client(&b, "b1", &["r1"]).await;
    let mut b2 = client(&b, "b2", &[]).await;

    a.io.to("r1").sockets_join("r2").await.unwrap();
    let ns_b = b.io.namespace("/").unwrap();
    support::eventually(|| ns_b.rooms().iter().any(|r| &**r == "r2")).await;
    b.io.to("r2").emit("r2-ev", &()).await.unwrap();
    assert_eq!(a1.recv().await, r#"42["r2-ev"]"#);
    assert_eq!(b1.recv().await, r#"42["r2-ev"]"#);
    assert!(b2.silent_for(Duration::from_millis(200)).await);

    a.io.to("r1").sockets_leave("r2").await.unwrap();
    support::eventually(|| !ns_b.rooms().iter().any(|r| &**r == "r2")).await;

    a.io.to("r1").disconnect_sockets(false).await.unwrap();
    assert_eq!(a1.recv().await, "41");
    assert_eq!(b1.recv().await, "41");
    assert!(b2.silent_for(Duration::from_millis(200)).await);
    support::eventually(|| ns_b.socket_count() == 1).await;
    cleanup(&config).await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_text(ws: &mut Ws) -> String {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return t.to_string();
        }
    }
}

/// Opens a WebSocket session and sends the CONNECT of `/` with `auth`; returns the frames up
/// to and including the CONNECT reply (and the open session).
async fn reconnect(port: u16, auth: &Value) -> (Ws, Vec<String>) {
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut frames = Vec::new();
    assert!(next_text(&mut ws).await.starts_with("0{"));
    ws.send(Message::Text(format!("40{auth}").into()))
        .await
        .unwrap();
    loop {
        let f = next_text(&mut ws).await;
        let done = f.starts_with("40");
        frames.push(f);
        if done {
            return (ws, frames);
        }
    }
}

#[tokio::test]
async fn a_session_kept_in_redis_is_restored_by_the_other_server_with_what_it_missed() {
    if !redis_up().await {
        return;
    }
    let config = config();
    let a = server(&config, "a", true).await;
    let b = server(&config, "b", true).await;
    let mut a1 = client(&a, "a1", &["r1"]).await;
    let (sid, pid) = (a1.sid.clone(), a1.reply["pid"].as_str().unwrap().to_owned());
    b.io.to("r1").emit("seen", &()).await.unwrap();
    let offset = event(&a1.recv().await)[1].as_str().unwrap().to_owned();

    // The transport is lost: the session goes to Redis, as Node stores it.
    drop(a1);
    let key = format!("{}{pid}", config.session_key_prefix);
    let mut c = redis().await;
    let mut raw: Option<String> = None;
    for _ in 0..100 {
        raw = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        if raw.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let record = SessionRecord::decode(raw.expect("the session key").as_bytes()).unwrap();
    assert_eq!(
        (record.sid.as_str(), record.pid.as_str()),
        (sid.as_str(), pid.as_str())
    );
    let mut rooms = record.rooms.clone();
    rooms.sort();
    let mut expected = vec![sid.clone(), "r1".to_owned()];
    expected.sort();
    assert_eq!(rooms, expected);
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        ttl > 9_000 && ttl <= 10_000,
        "PX maxDisconnectionDuration: {ttl}"
    );

    // Meanwhile: to its room, to another room, to everyone.
    b.io.to("r1").emit("missed", &1).await.unwrap();
    b.io.to("r2").emit("not-mine", &()).await.unwrap();
    a.io.emit("missed", &2).await.unwrap();

    // Back on server b.
    let (_restored_ws, frames) = reconnect(b.port, &json!({ "pid": pid, "offset": offset })).await;
    let (reply, missed) = frames.split_last().unwrap();
    let reply: Value = serde_json::from_str(&reply[2..]).unwrap();
    assert_eq!(reply, json!({ "sid": sid, "pid": pid }), "same id and pid");
    let missed: Vec<Vec<Value>> = missed.iter().map(|f| event(f)).collect();
    assert_eq!(missed.len(), 2, "{missed:?}");
    assert_eq!(missed[0][..2], [json!("missed"), json!(1)]);
    assert_eq!(missed[1][..2], [json!("missed"), json!(2)]);
    let ids: Vec<String> = entries(&config.stream_name)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for m in &missed {
        assert!(
            ids.contains(&m[2].as_str().unwrap().to_owned()),
            "an entry id"
        );
    }
    // The session was taken: it is gone from Redis, and restored with its rooms and data.
    let gone: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(gone.is_none());
    let restored = b.io.to("r1").fetch_sockets().await.unwrap();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].id.as_str(), sid);
    assert_eq!(restored[0].data, json!({ "user": "a1" }));

    // An unknown offset or a second use of the pid gives a new session.
    let (_ws, frames) = reconnect(b.port, &json!({ "pid": pid, "offset": "1-0" })).await;
    let reply: Value = serde_json::from_str(&frames.last().unwrap()[2..]).unwrap();
    assert_ne!(reply["sid"], json!(sid));
    cleanup(&config).await;
}

#[tokio::test]
async fn without_redis_local_delivery_goes_on_and_operations_fail_cleanly() {
    // Nothing listens on port 1.
    let driver = RedisDriver::new("redis://127.0.0.1:1").unwrap();
    let streams = RedisStreams::new(driver.clone(), config());
    let io = SocketIo::builder()
        .adapter(streams.factory())
        .connection_state_recovery(Some(RecoveryConfig::default()))
        .build();
    io.ns("/", |_s: SocketRef| async move {});
    let port = support::serve(&io).await;
    assert!(!streams.ready(Duration::from_millis(300)).await);
    let mut c = Client::connect(port, "/", None).await;
    let sent = io.emit("local", &1).await;
    assert!(sent.is_err(), "the append failed: {sent:?}");
    // Delivered without offset.
    assert_eq!(c.recv().await, r#"42["local",1]"#);
    assert!(io.fetch_sockets().await.is_err());
    // The other constructor works the same way.
    let adapter = RedisStreamsAdapter::factory(driver, config())("/");
    assert!(adapter.server_count().await.is_err());
}

/// A private redis-server (no persistence) on `port`, killed on drop.
struct PrivateRedis(std::process::Child);

impl PrivateRedis {
    async fn start(port: u16) -> Option<PrivateRedis> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(PrivateRedis(child));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_restarted_redis_is_reconnected_and_delivery_resumes() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let Some(redis_server) = PrivateRedis::start(port).await else {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server must be installed in CI"
        );
        eprintln!("redis-server is not installed: test skipped");
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let config = config();
    let make = |url: String, config: RedisStreamsAdapterConfig| async move {
        let streams = RedisStreams::new(RedisDriver::new(&url).unwrap(), config);
        let io = SocketIo::builder().adapter(streams.factory()).build();
        io.ns("/", |_s: SocketRef| async move {});
        let port = support::serve(&io).await;
        assert!(streams.ready(Duration::from_secs(5)).await);
        Server { io, port }
    };
    let a = make(url.clone(), config.clone()).await;
    let b = make(url.clone(), config.clone()).await;
    let mut a1 = Client::connect(a.port, "/", None).await;
    let mut b1 = Client::connect(b.port, "/", None).await;
    a.io.emit("before", &()).await.unwrap();
    assert_eq!(a1.recv().await, r#"42["before"]"#);
    assert_eq!(b1.recv().await, r#"42["before"]"#);

    // Redis goes away: local delivery goes on, the cluster part fails cleanly.
    drop(redis_server);
    let sent = a.io.emit("during", &()).await;
    assert!(sent.is_err(), "{sent:?}");
    assert_eq!(a1.recv().await, r#"42["during"]"#);
    assert!(b1.silent_for(Duration::from_millis(300)).await);

    // Back (empty: no persistence): the connections are remade and delivery resumes.
    let _redis_server = PrivateRedis::start(port).await.expect("restarted");
    let mut n = 0;
    let got = loop {
        n += 1;
        assert!(n < 100, "delivery did not resume within 10 s");
        if a.io.emit("after", &n).await.is_ok() {
            if let Ok(f) = tokio::time::timeout(Duration::from_millis(300), b1.recv()).await {
                break f;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(got.starts_with(r#"42["after","#), "{got}");
    // And both ways.
    b.io.emit("back", &()).await.unwrap();
    loop {
        let f = a1.recv().await;
        if f == r#"42["back"]"# {
            break;
        }
        assert!(
            f.starts_with(r#"42["after""#) || f == r#"42["during"]"#,
            "{f}"
        );
    }
}

/// Graceful shutdown with recovery on (issue 7): a server that closes stores its clients'
/// sessions in Redis before `close` returns (`server shutting down` is a recoverable reason),
/// so a client that reconnects to another process gets what it missed and keeps its id.
#[tokio::test]
async fn after_a_graceful_shutdown_the_clients_recover_on_another_server() {
    if !redis_up().await {
        return;
    }
    let config = config();
    let a = server(&config, "a", true).await;
    let b = server(&config, "b", true).await;
    let mut a1 = client(&a, "a1", &["r1"]).await;
    let (sid, pid) = (a1.sid.clone(), a1.reply["pid"].as_str().unwrap().to_owned());
    a.io.to("r1").emit("before", &0).await.unwrap();
    let offset = event(&a1.recv().await)
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();

    a.io.close(Duration::from_secs(2)).await;
    // Stored before close returned: a process may exit right after.
    let key = format!("{}{pid}", config.session_key_prefix);
    let mut c = redis().await;
    let raw: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        raw.is_some(),
        "the session is in Redis when close() returns"
    );
    drop(a1);

    b.io.to("r1").emit("missed", &1).await.unwrap();
    b.io.emit("missed", &2).await.unwrap();
    let (_ws, frames) = reconnect(b.port, &json!({ "pid": pid, "offset": offset })).await;
    let (reply, missed) = frames.split_last().unwrap();
    let reply: Value = serde_json::from_str(&reply[2..]).unwrap();
    assert_eq!(reply, json!({ "sid": sid, "pid": pid }), "same id and pid");
    let missed: Vec<Vec<Value>> = missed.iter().map(|f| event(f)).collect();
    assert_eq!(missed.len(), 2, "{missed:?}");
    assert_eq!(missed[0][..2], [json!("missed"), json!(1)]);
    assert_eq!(missed[1][..2], [json!("missed"), json!(2)]);
    cleanup(&config).await;
}
