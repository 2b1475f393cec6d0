//! A client that stops reading while others receive a fast broadcast stream (issue 7).
//! Its own test binary: it measures latency and RSS, which other tests would disturb.
//! Live counts come from [`SocketIo::stats`]; `docs/reliability.md` and `docs/security.md`
//! point here.

#[path = "support/stress.rs"]
mod stress;
mod support;

#[allow(unused_imports)]
use ferrio::{DisconnectReason, SocketIo, SocketRef};
#[allow(unused_imports)]
use futures_util::{SinkExt, StreamExt};
#[allow(unused_imports)]
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
#[allow(unused_imports)]
use stress::*;
#[allow(unused_imports)]
use support::{serve, Client};
#[allow(unused_imports)]
use tokio::io::{AsyncReadExt, AsyncWriteExt};
#[allow(unused_imports)]
use tokio::net::TcpStream;
#[allow(unused_imports)]
use tokio_tungstenite::tungstenite::Message;

// ---- slow consumer --------------------------------------------------------------------------

/// Broadcasts `count` messages of `size` bytes at `rate` per second to `/`, each carrying
/// its send time; returns the per-message delivery latencies seen by `readers`.
async fn stream(
    io: &SocketIo,
    readers: Vec<Client>,
    count: usize,
    rate: u32,
    size: usize,
) -> Vec<Duration> {
    let epoch = Instant::now();
    let mut tasks = Vec::new();
    for mut c in readers {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(count);
            while lat.len() < count {
                let m = c.recv().await;
                let Some(rest) = m.strip_prefix("42[\"tick\",") else {
                    continue;
                };
                let us: u64 = rest[..rest.find(',').unwrap()].parse().unwrap();
                let sent = epoch + Duration::from_micros(us);
                lat.push(Instant::now().saturating_duration_since(sent));
            }
            lat
        }));
    }
    let pad = "p".repeat(size);
    let interval = Duration::from_secs(1) / rate;
    for i in 0..count {
        let at = epoch + interval * i as u32;
        tokio::time::sleep_until(at.into()).await;
        let us = epoch.elapsed().as_micros() as u64;
        io.emit("tick", &(us, &pad)).await.ok();
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all
}

fn p99(lat: &[Duration]) -> Duration {
    lat[(lat.len() * 99 / 100).min(lat.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_stops_reading_is_disconnected_without_slowing_the_others() {
    // Default queue bound (4096 items).
    let io = SocketIo::builder().build();
    let reasons: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let r2 = reasons.clone();
    io.ns("/", move |socket: SocketRef| {
        let reasons = r2.clone();
        async move {
            socket.on_disconnect(move |_s: SocketRef, reason: DisconnectReason| {
                reasons.lock().unwrap().push(reason.as_str());
                async {}
            });
        }
    });
    let port = serve(&io).await;
    const READERS: usize = 4;
    const COUNT: usize = 6000;
    const RATE: u32 = 1000;
    const SIZE: usize = 8 * 1024;

    // Run 1: readers only.
    let mut readers = Vec::new();
    for _ in 0..READERS {
        readers.push(Client::connect(port, "/", None).await);
    }
    let base = stream(&io, readers, COUNT / 3, RATE, SIZE).await;
    let rss_before = rss_kib();

    // Run 2: the same, plus a client that joined and then never reads again. 6000 messages
    // of 8 KiB is ~48 MiB: more than the kernel buffers of the loopback connection and the
    // 4096-item queue hold, so the queue fills and the server drops the client.
    let mut readers = Vec::new();
    for _ in 0..READERS {
        readers.push(Client::connect(port, "/", None).await);
    }
    let slow = Client::connect(port, "/", None).await;
    let slow_id: ferrio::Sid = slow.sid.parse().unwrap();
    let slow_conn = io
        .namespace("/")
        .unwrap()
        .socket(slow_id)
        .unwrap()
        .conn_id();
    let slow_engine = io.engine().socket(slow_conn).unwrap();
    let queue_peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watch = {
        let peak = queue_peak.clone();
        tokio::spawn(async move {
            // The slow client's send queue, sampled: never more than its bound.
            while !slow_engine.is_closed() {
                let used = 4096 - slow_engine.capacity();
                peak.fetch_max(used, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let with_slow = stream(&io, readers, COUNT, RATE, SIZE).await;
    watch.abort();
    let rss_after = rss_kib();
    let (b, w) = (p99(&base), p99(&with_slow));
    eprintln!(
        "slow consumer: p99 {b:?} without, {w:?} with the slow client; queue peak {}; RSS {rss_before} -> {rss_after} KiB",
        queue_peak.load(std::sync::atomic::Ordering::Relaxed)
    );
    // Within 1.5x (plus 2 ms for timer jitter at sub-millisecond latencies).
    assert!(
        w <= b * 3 / 2 + Duration::from_millis(2),
        "p99 {w:?} vs {b:?}"
    );
    assert!(queue_peak.load(std::sync::atomic::Ordering::Relaxed) <= 4096);
    // Disconnected as a transport error once its queue was full, and gone from every table.
    support::eventually(|| reasons.lock().unwrap().contains(&"transport error")).await;
    assert!(io.namespace("/").unwrap().socket(slow_id).is_none());
    assert!(io.engine().socket(slow_conn).is_none());
    // The queue holds shared frames: memory does not grow with the backlog (100 MiB margin
    // for the readers' own buffers in this process).
    assert!(
        rss_after < rss_before + 100 * 1024,
        "RSS {rss_before} -> {rss_after} KiB"
    );
    drop(slow);
    let s = idle(&io, Duration::from_secs(5)).await;
    assert!(s.is_idle(), "{s:?}");
}
