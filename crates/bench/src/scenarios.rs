//! The benchmark scenarios. Everything runs on one current_thread runtime
//! inside a `LocalSet`; shared state is `Rc<RefCell<..>>`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::task::{spawn_local, JoinHandle};
use tokio::time::{sleep, sleep_until, timeout};

use crate::net::{source, Conn, Res};
use crate::polling::PollClient;
use crate::proto;
use crate::stats::{self, now_us, pct_ms, record, Cpu, CpuMeter};

/// Settings of a run (see `--help`).
#[derive(Clone, Debug)]
pub struct Params {
    /// The server's address.
    pub addr: SocketAddr,
    /// The server's pid, for RSS and CPU figures.
    pub pid: Option<u32>,
    /// The server's name in the report.
    pub label: String,
    /// How many source addresses (127.0.0.x) to spread connections over.
    pub sources: usize,
    /// Connections opened at once in `connect`.
    pub concurrency: usize,
    /// Connections of `connect`.
    pub conns: usize,
    /// Seconds `connect` holds its connections.
    pub hold: f64,
    /// Clients of `echo`.
    pub clients: usize,
    /// Seconds each measured scenario runs.
    pub duration: f64,
    /// Seconds of warm-up before measuring.
    pub warmup: f64,
    /// Receivers of `fanout`.
    pub receivers: usize,
    /// Messages in flight in `fanout`.
    pub window: usize,
    /// Messages per second of `fanout-rate`.
    pub rate: f64,
    /// Receivers of `fanout-rate`.
    pub rate_receivers: usize,
    /// Clients of `polling`.
    pub poll_clients: usize,
    /// Seconds between scenarios.
    pub cooldown: f64,
    /// The second server of the `cluster` scenarios (joined to the first through Redis).
    pub addr_b: Option<SocketAddr>,
    /// The second server's pid, for its CPU figure.
    pub pid_b: Option<u32>,
    /// The share of the `cluster` receivers on the first server (the sender's); the others
    /// are on the second one, so every delivery to them crosses Redis.
    pub on_a: f64,
}

impl Params {
    /// The full-size run.
    pub fn full(addr: SocketAddr) -> Params {
        Params {
            addr,
            pid: None,
            label: "server".to_owned(),
            sources: 4,
            concurrency: 200,
            conns: 10_000,
            hold: 5.0,
            clients: 200,
            duration: 10.0,
            warmup: 2.0,
            receivers: 1_000,
            window: 8,
            rate: 20.0,
            rate_receivers: 1_000,
            poll_clients: 100,
            cooldown: 2.0,
            addr_b: None,
            pid_b: None,
            on_a: 0.5,
        }
    }

    /// A few hundred connections, about a second per scenario.
    pub fn smoke(addr: SocketAddr) -> Params {
        Params {
            conns: 300,
            hold: 0.5,
            clients: 20,
            duration: 1.0,
            warmup: 0.2,
            receivers: 100,
            rate: 50.0,
            rate_receivers: 100,
            poll_clients: 10,
            cooldown: 0.3,
            ..Params::full(addr)
        }
    }
}

/// What a scenario reports.
pub struct Outcome {
    /// The figures as JSON.
    pub json: Value,
    /// A readable summary.
    pub summary: String,
    /// Lost/duplicated/out-of-order deliveries or failed clients.
    pub ok: bool,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn cpu_str(c: Cpu) -> String {
    let f = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.0}%"));
    let busy = if c.other.unwrap_or(0.0) > 20.0 {
        " (machine busy: figures unreliable)"
    } else {
        ""
    };
    format!(
        "CPU server {} (user {}, kernel {}) generator {} other {}{busy}",
        f(c.server),
        f(c.server_user),
        f(c.server_sys),
        f(c.generator),
        f(c.other)
    )
}

/// The server's CPU time per operation, in µs, split into user space and kernel: with the
/// server saturated, `1 / (user + kernel)` is its rate, and the kernel part is a floor no
/// user-space work can remove.
fn cost_json(cpu: Cpu, ops_per_s: f64) -> Value {
    let us = |pct: Option<f64>| {
        pct.filter(|_| ops_per_s > 0.0)
            .map(|p| (p / 100.0 * 1e6 / ops_per_s * 100.0).round() / 100.0)
    };
    json!({
        "server_user_us_per_op": us(cpu.server_user),
        "server_sys_us_per_op": us(cpu.server_sys),
    })
}

fn base_json(p: &Params, scenario: &str, cpu: Cpu) -> Value {
    json!({
        "scenario": scenario,
        "label": p.label,
        "server_cpu_pct": cpu.server,
        "server_user_cpu_pct": cpu.server_user,
        "server_sys_cpu_pct": cpu.server_sys,
        "gen_cpu_pct": cpu.generator,
        "other_cpu_pct": cpu.other,
    })
}

fn extend(v: &mut Value, extra: Value) {
    if let (Value::Object(a), Value::Object(b)) = (v, extra) {
        a.extend(b);
    }
}

/// Connects `n` Socket.IO WebSocket clients, `p.concurrency` at a time.
/// Returns the clients, the handshake-time histogram (µs), the wall time and
/// the failures (count, first message).
async fn connect_many(
    p: &Params,
    addr: SocketAddr,
    n: usize,
) -> (Vec<Conn>, Histogram<u64>, Duration, usize, Option<String>) {
    let t0 = Instant::now();
    let sources = p.sources;
    let results: Vec<(Res<Conn>, Duration)> = stream::iter(0..n)
        .map(|i| async move {
            let t = Instant::now();
            let r = Conn::connect(addr, source(i, sources)).await;
            (r, t.elapsed())
        })
        .buffer_unordered(p.concurrency.max(1))
        .collect()
        .await;
    let wall = t0.elapsed();
    let mut h = stats::hist();
    let mut conns = Vec::with_capacity(n);
    let mut failed = 0;
    let mut first_err = None;
    for (r, d) in results {
        match r {
            Ok(c) => {
                record(&mut h, d.as_micros() as u64);
                conns.push(c);
            }
            Err(e) => {
                failed += 1;
                first_err.get_or_insert(e);
            }
        }
    }
    (conns, h, wall, failed, first_err)
}

/// Waits until the server is idle (below 5% CPU over 200 ms) or `max` passed.
pub async fn settle(p: &Params, min: f64) {
    sleep(secs(min)).await;
    let Some(pid) = p.pid else { return };
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let m = CpuMeter::start(Some(pid));
        sleep(Duration::from_millis(200)).await;
        match m.stop().server {
            Some(c) if c > 5.0 => continue,
            _ => return,
        }
    }
}

/// N WebSocket connections joined to `/`, held.
pub async fn connect(p: &Params) -> Outcome {
    let rss0 = p.pid.and_then(stats::rss_kib);
    let cpu = CpuMeter::start(p.pid);
    let (conns, h, wall, failed, err) = connect_many(p, p.addr, p.conns).await;
    let cpu = cpu.stop();
    let connected = conns.len();
    let dropped = Rc::new(Cell::new(0usize));
    let holders: Vec<JoinHandle<()>> = conns
        .into_iter()
        .map(|mut c| {
            let dropped = dropped.clone();
            spawn_local(async move {
                // Answers pings until aborted.
                if c.next_sio().await.is_err() {
                    dropped.set(dropped.get() + 1);
                    return;
                }
                while c.next_sio().await.is_ok() {}
                dropped.set(dropped.get() + 1);
            })
        })
        .collect();
    let settle_t = p.hold.clamp(0.0, 1.0);
    sleep(secs(settle_t)).await;
    let rss1 = p.pid.and_then(stats::rss_kib);
    sleep(secs(p.hold - settle_t)).await;
    let dropped = dropped.get();
    for h in &holders {
        h.abort();
    }
    for h in holders {
        let _ = h.await;
    }
    let rate = connected as f64 / wall.as_secs_f64().max(1e-9);
    let (p50, p99, max) = pct_ms(&h);
    let per_conn = match (rss0, rss1) {
        (Some(a), Some(b)) if connected > 0 => Some((b as f64 - a as f64) / connected as f64),
        _ => None,
    };
    let mut j = base_json(p, "connect", cpu);
    extend(
        &mut j,
        json!({
            "conns": p.conns, "connected": connected, "failed": failed,
            "first_error": err, "dropped_while_held": dropped,
            "conns_per_s": rate.round(), "handshake_p50_ms": p50, "handshake_p99_ms": p99,
            "handshake_max_ms": max, "rss_before_kib": rss0, "rss_after_kib": rss1,
            "rss_per_conn_kib": per_conn.map(|v| (v * 100.0).round() / 100.0),
        }),
    );
    let rss = per_conn.map_or("?".to_owned(), |v| format!("{v:.1} KiB"));
    let summary = format!(
        "connect: {connected}/{} connected in {:.2} s = {rate:.0} conn/s; handshake p50 {p50:.2} ms p99 {p99:.2} ms; \
         server RSS/conn {rss}; failed {failed}, dropped {dropped} | {}{}",
        p.conns,
        wall.as_secs_f64(),
        cpu_str(cpu),
        err.map(|e| format!(" | first error: {e}")).unwrap_or_default()
    );
    Outcome {
        json: j,
        summary,
        ok: failed == 0 && dropped == 0 && connected > 0,
    }
}

/// Phase flag shared by closed-loop clients.
const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// C clients in closed loop on `message-with-ack`.
pub async fn echo(p: &Params) -> Outcome {
    let (conns, _, _, failed, err) = connect_many(p, p.addr, p.clients).await;
    let phase = Rc::new(Cell::new(WARMUP));
    let hist = Rc::new(RefCell::new(stats::hist()));
    let count = Rc::new(Cell::new(0u64));
    let errors = Rc::new(RefCell::new((0usize, None::<String>)));
    let tasks: Vec<JoinHandle<()>> = conns
        .into_iter()
        .map(|mut c| {
            let (phase, hist, count, errors) =
                (phase.clone(), hist.clone(), count.clone(), errors.clone());
            spawn_local(async move {
                let mut id = 0u64;
                while phase.get() != STOP {
                    id += 1;
                    let t = Instant::now();
                    match c
                        .call(id, "message-with-ack", "\"bench-payload-0123456789\"")
                        .await
                    {
                        Ok(_) => {
                            if phase.get() == MEASURE {
                                record(&mut hist.borrow_mut(), t.elapsed().as_micros() as u64);
                                count.set(count.get() + 1);
                            }
                        }
                        Err(e) => {
                            let mut er = errors.borrow_mut();
                            er.0 += 1;
                            er.1.get_or_insert(e);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    sleep(secs(p.warmup)).await;
    phase.set(MEASURE);
    let cpu = CpuMeter::start(p.pid);
    let t0 = Instant::now();
    sleep(secs(p.duration)).await;
    phase.set(STOP);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu.stop();
    let n = count.get();
    for t in tasks {
        let _ = timeout(Duration::from_secs(12), t).await;
    }
    let h = hist.borrow();
    let (p50, p99, max) = pct_ms(&h);
    let (errs, first) = errors.borrow().clone();
    let err = err.or(first);
    let rate = n as f64 / wall;
    let mut j = base_json(p, "echo", cpu);
    extend(&mut j, cost_json(cpu, rate));
    extend(
        &mut j,
        json!({
            "clients": p.clients, "connect_failed": failed, "client_errors": errs, "first_error": err,
            "duration_s": wall, "acks": n, "acks_per_s": rate.round(),
            "rtt_p50_ms": p50, "rtt_p99_ms": p99, "rtt_max_ms": max,
        }),
    );
    let summary = format!(
        "echo: {} clients, {wall:.1} s: {rate:.0} acks/s; RTT p50 {p50:.2} ms p99 {p99:.2} ms max {max:.2} ms; \
         failed {failed}, errors {errs} | {}{}",
        p.clients,
        cpu_str(cpu),
        err.map(|e| format!(" | first error: {e}")).unwrap_or_default()
    );
    Outcome {
        json: j,
        summary,
        ok: failed == 0 && errs == 0 && n > 0,
    }
}

/// Delivery bookkeeping of the fan-out scenarios.
struct Fan {
    receivers: usize,
    /// Per receiver: bitset of the sequence numbers received.
    seen: Vec<Vec<u64>>,
    max_seen: Vec<i64>,
    dup: u64,
    ooo: u64,
    /// Deliveries received in [measure_from, measure_to] (µs, generator clock).
    deliveries: u64,
    measure_from: u64,
    measure_to: u64,
    hist: Histogram<u64>,
    /// Receivers from this index on are on the other server of a cluster; their latency is
    /// also recorded in `remote_hist`.
    remote_from: usize,
    remote_hist: Histogram<u64>,
    /// Oldest sequence number not yet delivered to every receiver, and the
    /// delivery counts of it and the following ones sent.
    base: u64,
    counts: VecDeque<u32>,
    dropped: usize,
    notify: Rc<Notify>,
}

impl Fan {
    fn deliver(&mut self, i: usize, seq: u64, ts: u64) {
        let now = now_us();
        let words = &mut self.seen[i];
        let (w, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if w >= words.len() {
            words.resize(w + 64, 0);
        }
        if words[w] & bit != 0 {
            self.dup += 1;
            return;
        }
        words[w] |= bit;
        if (seq as i64) < self.max_seen[i] {
            self.ooo += 1;
        } else {
            self.max_seen[i] = seq as i64;
        }
        if now >= self.measure_from && now <= self.measure_to {
            self.deliveries += 1;
        }
        if ts >= self.measure_from && ts <= self.measure_to {
            record(&mut self.hist, now.saturating_sub(ts));
            if i >= self.remote_from {
                record(&mut self.remote_hist, now.saturating_sub(ts));
            }
        }
        if seq >= self.base {
            if let Some(c) = self.counts.get_mut((seq - self.base) as usize) {
                *c += 1;
            }
            let mut progressed = false;
            while self.counts.front() == Some(&(self.receivers as u32)) {
                self.counts.pop_front();
                self.base += 1;
                progressed = true;
            }
            if progressed {
                self.notify.notify_one();
            }
        }
    }

    fn lost(&self, sent: u64) -> u64 {
        let full = (sent / 64) as usize;
        let mut lost = 0;
        for words in &self.seen {
            let mut got: u64 = words.iter().take(full).map(|w| w.count_ones() as u64).sum();
            let rem = sent % 64;
            if rem > 0 {
                if let Some(w) = words.get(full) {
                    got += (w & ((1u64 << rem) - 1)).count_ones() as u64;
                }
            }
            lost += sent - got.min(sent);
        }
        lost
    }
}

/// How the fan-out sender paces itself.
#[derive(Clone, Copy)]
pub enum Pace {
    /// Closed loop: at most this many messages not yet delivered to every receiver.
    Window(usize),
    /// Open loop at a fixed rate (messages/s).
    Rate(f64),
}

/// R receivers in room `bench`, one sender emitting `to-room`.
pub async fn fanout(p: &Params, pace: Pace) -> Outcome {
    fan_out(p, pace, None).await
}

/// The fan-out across two servers joined by Redis: the sender on the first server
/// (`--addr`), the receivers spread over both (`--on-a`), so the deliveries to the second
/// server's receivers (`--addr-b`) cross Redis; their latency is reported on its own.
pub async fn cluster(p: &Params, pace: Pace) -> Outcome {
    let name = match pace {
        Pace::Window(_) => "cluster",
        Pace::Rate(_) => "cluster-rate",
    };
    match p.addr_b {
        Some(b) => fan_out(p, pace, Some(b)).await,
        None => Outcome {
            json: json!({"scenario": name, "label": p.label, "error": "--addr-b missing"}),
            summary: format!("{name}: needs the second server (--addr-b)"),
            ok: false,
        },
    }
}

/// The 1-minute load average of the machine (`/proc/loadavg`).
fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

async fn fan_out(p: &Params, pace: Pace, addr_b: Option<SocketAddr>) -> Outcome {
    let (name, receivers) = match (pace, addr_b) {
        (Pace::Window(_), None) => ("fanout", p.receivers),
        (Pace::Rate(_), None) => ("fanout-rate", p.rate_receivers),
        (Pace::Window(_), Some(_)) => ("cluster", p.receivers),
        (Pace::Rate(_), Some(_)) => ("cluster-rate", p.rate_receivers),
    };
    // Receivers on the sender's server, then (cluster) those on the other one.
    let on_a = match addr_b {
        Some(_) => ((receivers as f64) * p.on_a.clamp(0.0, 1.0)).round() as usize,
        None => receivers,
    };
    let (conns, _, _, mut failed, mut err) = connect_many(p, p.addr, on_a + 1).await;
    let mut conns = conns;
    let Some(mut sender) = conns.pop() else {
        return Outcome {
            json: json!({"scenario": name, "label": p.label, "error": err}),
            summary: format!("{name}: no connection: {}", err.unwrap_or_default()),
            ok: false,
        };
    };
    let remote_from = conns.len();
    if let Some(b) = addr_b {
        let (more, _, _, failed_b, err_b) = connect_many(p, b, receivers - on_a).await;
        conns.extend(more);
        failed += failed_b;
        err = err.or(err_b);
    }
    // Join the room, `concurrency` at a time.
    let joined: Vec<Res<(bool, Conn)>> = stream::iter(conns.into_iter().enumerate())
        .map(|(k, mut c)| async move {
            c.call(1, "join", "\"bench\"").await?;
            Ok((k >= remote_from, c))
        })
        .buffer_unordered(p.concurrency.max(1))
        .collect()
        .await;
    let mut rx = Vec::with_capacity(joined.len());
    let mut join_failed = 0;
    for r in joined {
        match r {
            Ok(c) => rx.push(c),
            Err(e) => {
                join_failed += 1;
                err.get_or_insert(e);
            }
        }
    }
    // The sender's server's receivers first, then the other server's.
    rx.sort_by_key(|(remote, _)| *remote);
    let remote_from = rx.iter().take_while(|(remote, _)| !remote).count();
    let rx: Vec<Conn> = rx.into_iter().map(|(_, c)| c).collect();
    let r = rx.len();
    let notify = Rc::new(Notify::new());
    let fan = Rc::new(RefCell::new(Fan {
        receivers: r,
        seen: vec![Vec::new(); r],
        max_seen: vec![-1; r],
        dup: 0,
        ooo: 0,
        deliveries: 0,
        measure_from: u64::MAX,
        measure_to: u64::MAX,
        hist: stats::hist(),
        remote_from: if addr_b.is_some() {
            remote_from
        } else {
            usize::MAX
        },
        remote_hist: stats::hist(),
        base: 0,
        counts: VecDeque::new(),
        dropped: 0,
        notify: notify.clone(),
    }));
    let tasks: Vec<JoinHandle<()>> = rx
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let fan = fan.clone();
            spawn_local(async move {
                loop {
                    match c.next_sio().await {
                        Ok(pkt) => {
                            if let Some((seq, ts)) = proto::sio(&pkt).and_then(proto::tick) {
                                fan.borrow_mut().deliver(i, seq, ts);
                            }
                        }
                        Err(_) => {
                            fan.borrow_mut().dropped += 1;
                            return;
                        }
                    }
                }
            })
        })
        .collect();

    let t_start = Instant::now();
    let measure_at = t_start + secs(p.warmup);
    let end = measure_at + secs(p.duration);
    let mut measuring = false;
    let mut cpu = None;
    let mut cpu_b: Option<CpuMeter> = None;
    let mut seq = 0u64;
    let mut msg = String::with_capacity(96);
    let mut stalled = false;
    let mut send_err = None;
    let stall = Duration::from_secs(5);
    let mut next_send = tokio::time::Instant::now();
    fn push(fan: &RefCell<Fan>, msg: &mut String, seq: u64) {
        use std::fmt::Write;
        msg.clear();
        let _ = write!(
            msg,
            "42[\"to-room\",\"bench\",\"tick\",[{seq},{}]]",
            now_us()
        );
        fan.borrow_mut().counts.push_back(0);
    }
    loop {
        let now = Instant::now();
        if r == 0 || now >= end {
            break;
        }
        if !measuring && now >= measure_at {
            measuring = true;
            fan.borrow_mut().measure_from = now_us();
            cpu = Some(CpuMeter::start(p.pid));
            cpu_b = addr_b.map(|_| CpuMeter::start(p.pid_b));
        }
        let res: Res<()> = async {
            match pace {
                Pace::Window(w) => {
                    let in_flight = seq - fan.borrow().base;
                    for _ in in_flight..w as u64 {
                        push(&fan, &mut msg, seq);
                        seq += 1;
                        sender.feed(msg.as_str());
                    }
                    sender.flush().await?;
                    tokio::select! {
                        _ = notify.notified() => {}
                        r = sender.next_sio() => { r?; }
                        _ = sleep(stall) => { stalled = true; }
                    }
                }
                Pace::Rate(hz) => {
                    tokio::select! {
                        _ = sleep_until(next_send) => {
                            push(&fan, &mut msg, seq);
                            seq += 1;
                            sender.send(msg.as_str()).await?;
                            next_send += secs(1.0 / hz.max(0.001));
                        }
                        r = sender.next_sio() => { r?; }
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = res {
            send_err = Some(e);
            break;
        }
        if stalled {
            break;
        }
    }
    fan.borrow_mut().measure_to = now_us();
    let wall = measure_at.elapsed().as_secs_f64();
    let mut cpu = cpu.map_or(Cpu::default(), |c| c.stop());
    let server_b_cpu = cpu_b.and_then(|c| c.stop().server);
    // The other server is not "other" load: it is part of the system under test.
    if let (Some(o), Some(b)) = (cpu.other, server_b_cpu) {
        cpu.other = Some((o - b).max(0.0));
    }
    // Drain: wait (bounded) for everything sent to be delivered everywhere.
    let drain_end = Instant::now() + Duration::from_secs(5);
    while fan.borrow().base < seq && Instant::now() < drain_end {
        let _ = timeout(Duration::from_millis(50), notify.notified()).await;
    }
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    drop(sender);
    let f = fan.borrow();
    let lost = f.lost(seq);
    let (p50, p99, max) = pct_ms(&f.hist);
    let rate = f.deliveries as f64 / wall.max(1e-9);
    let err = send_err.clone().or(err);
    let mut j = base_json(p, name, cpu);
    if addr_b.is_none() {
        // Both servers' work is in the deliveries of a cluster; this is one server's alone.
        extend(&mut j, cost_json(cpu, rate));
    }
    extend(
        &mut j,
        json!({
            "receivers": r, "connect_failed": failed, "join_failed": join_failed,
            "dropped": f.dropped, "first_error": err, "stalled": stalled,
            "duration_s": wall, "messages_sent": seq, "deliveries": f.deliveries,
            "deliveries_per_s": rate.round(),
            "latency_p50_ms": p50, "latency_p99_ms": p99, "latency_max_ms": max,
            "lost": lost, "duplicated": f.dup, "out_of_order": f.ooo,
        }),
    );
    match pace {
        Pace::Window(w) => extend(&mut j, json!({ "window": w })),
        Pace::Rate(hz) => extend(&mut j, json!({ "rate_hz": hz })),
    }
    let mut cluster_str = String::new();
    if addr_b.is_some() {
        let (rp50, rp99, rmax) = pct_ms(&f.remote_hist);
        let on_b = r.saturating_sub(remote_from);
        extend(
            &mut j,
            json!({
                "receivers_on_a": remote_from.min(r), "receivers_on_b": on_b,
                "remote_latency_p50_ms": rp50, "remote_latency_p99_ms": rp99,
                "remote_latency_max_ms": rmax,
                "server_b_cpu_pct": server_b_cpu, "loadavg_1m": loadavg(),
            }),
        );
        cluster_str = format!(
            "; {on_b} receivers on the other server: latency p50 {rp50:.2} ms p99 {rp99:.2} ms \
             max {rmax:.2} ms; CPU server B {}; load {}",
            server_b_cpu.map_or("?".to_owned(), |v| format!("{v:.0}%")),
            loadavg().map_or("?".to_owned(), |v| format!("{v:.2}")),
        );
    }
    let summary = format!(
        "{name}: {r} receivers, {seq} messages in {wall:.1} s: {rate:.0} deliveries/s; latency p50 {p50:.2} ms \
         p99 {p99:.2} ms max {max:.2} ms; lost {lost} dup {} ooo {}{}{cluster_str} | {}{}",
        f.dup,
        f.ooo,
        if stalled { " STALLED" } else { "" },
        cpu_str(cpu),
        err.as_ref()
            .map(|e| format!(" | first error: {e}"))
            .unwrap_or_default()
    );
    let ok = r > 0
        && lost == 0
        && f.dup == 0
        && f.ooo == 0
        && failed == 0
        && join_failed == 0
        && f.dropped == 0
        && !stalled
        && send_err.is_none()
        && seq > 0;
    Outcome {
        json: j,
        summary,
        ok,
    }
}

/// C polling-only clients doing acked round trips in closed loop.
pub async fn polling(p: &Params) -> Outcome {
    let addr = p.addr;
    let sources = p.sources;
    let results: Vec<Res<PollClient>> = stream::iter(0..p.poll_clients)
        .map(|i| PollClient::connect(addr, source(i, sources)))
        .buffer_unordered(p.concurrency.max(1))
        .collect()
        .await;
    let mut clients = Vec::new();
    let mut failed = 0;
    let mut err = None;
    for r in results {
        match r {
            Ok(c) => clients.push(c),
            Err(e) => {
                failed += 1;
                err.get_or_insert(e);
            }
        }
    }
    let phase = Rc::new(Cell::new(WARMUP));
    let hist = Rc::new(RefCell::new(stats::hist()));
    let count = Rc::new(Cell::new(0u64));
    let errors = Rc::new(RefCell::new((0usize, None::<String>)));
    let tasks: Vec<JoinHandle<()>> = clients
        .into_iter()
        .map(|mut c| {
            let (phase, hist, count, errors) =
                (phase.clone(), hist.clone(), count.clone(), errors.clone());
            spawn_local(async move {
                while phase.get() != STOP {
                    let t = Instant::now();
                    match c.round_trip("\"bench-payload-0123456789\"").await {
                        Ok(()) => {
                            if phase.get() == MEASURE {
                                record(&mut hist.borrow_mut(), t.elapsed().as_micros() as u64);
                                count.set(count.get() + 1);
                            }
                        }
                        Err(e) => {
                            let mut er = errors.borrow_mut();
                            er.0 += 1;
                            er.1.get_or_insert(e);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    sleep(secs(p.warmup)).await;
    phase.set(MEASURE);
    let cpu = CpuMeter::start(p.pid);
    let t0 = Instant::now();
    sleep(secs(p.duration)).await;
    phase.set(STOP);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu.stop();
    let n = count.get();
    for t in tasks {
        let _ = timeout(Duration::from_secs(12), t).await;
    }
    let h = hist.borrow();
    let (p50, p99, max) = pct_ms(&h);
    let (errs, first) = errors.borrow().clone();
    let err = err.or(first);
    let rate = n as f64 / wall;
    let mut j = base_json(p, "polling", cpu);
    extend(&mut j, cost_json(cpu, rate));
    extend(
        &mut j,
        json!({
            "clients": p.poll_clients, "connect_failed": failed, "client_errors": errs,
            "first_error": err, "duration_s": wall, "round_trips": n,
            "round_trips_per_s": rate.round(),
            "rtt_p50_ms": p50, "rtt_p99_ms": p99, "rtt_max_ms": max,
        }),
    );
    let summary = format!(
        "polling: {} clients, {wall:.1} s: {rate:.0} round trips/s; RTT p50 {p50:.2} ms p99 {p99:.2} ms \
         max {max:.2} ms; failed {failed}, errors {errs} | {}{}",
        p.poll_clients,
        cpu_str(cpu),
        err.map(|e| format!(" | first error: {e}")).unwrap_or_default()
    );
    Outcome {
        json: j,
        summary,
        ok: failed == 0 && errs == 0 && n > 0,
    }
}
