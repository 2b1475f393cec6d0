//! Comparison runner: builds and starts, each in turn, Ferrio's `conformance`
//! example, the socketioxide bench server and the Node.js reference server,
//! each pinned to CPU 0, runs the load generator pinned to CPU 1 against it,
//! and prints one table with every metric and the ratios Ferrio/socketioxide
//! and Ferrio/Node. A server that is missing is skipped with a message.
//!
//! Then the `cluster` scenarios: two servers of each kind joined by Redis (a
//! private `redis-server` on a free port, or `--redis-url`), both on CPU 0,
//! the fan-out sender on the first and the receivers spread over both.
//! socketioxide is skipped there: its Redis adapter has its own wire format,
//! so it cannot form the cluster the two others form.
//!
//! `cargo run --release -p ferrio-bench --bin compare -- [--smoke]
//!  [--servers ferrio,socketioxide,node] [--out FILE] [--no-build] [--no-cluster | --cluster-only]
//!  [--redis-url URL] [-- generator options]`

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const SERVERS: [&str; 3] = ["ferrio", "socketioxide", "node"];

/// (scenario, metric key, readable name)
const METRICS: &[(&str, &str, &str)] = &[
    ("connect", "connected", "connections held"),
    ("connect", "conns_per_s", "connections/s"),
    ("connect", "handshake_p50_ms", "handshake p50 ms"),
    ("connect", "handshake_p99_ms", "handshake p99 ms"),
    ("connect", "rss_per_conn_kib", "server RSS/conn KiB"),
    ("connect", "server_cpu_pct", "server CPU %"),
    ("connect", "gen_cpu_pct", "generator CPU %"),
    ("connect", "other_cpu_pct", "other CPU % (noise)"),
    ("echo", "acks_per_s", "acks/s"),
    ("echo", "rtt_p50_ms", "RTT p50 ms"),
    ("echo", "rtt_p99_ms", "RTT p99 ms"),
    ("echo", "rtt_max_ms", "RTT max ms"),
    ("echo", "server_cpu_pct", "server CPU %"),
    ("echo", "server_user_us_per_op", "server user-space µs/ack"),
    ("echo", "server_sys_us_per_op", "server kernel µs/ack"),
    ("echo", "gen_cpu_pct", "generator CPU %"),
    ("echo", "other_cpu_pct", "other CPU % (noise)"),
    ("fanout", "deliveries_per_s", "deliveries/s"),
    ("fanout", "latency_p50_ms", "latency p50 ms"),
    ("fanout", "latency_p99_ms", "latency p99 ms"),
    ("fanout", "lost", "lost"),
    ("fanout", "duplicated", "duplicated"),
    ("fanout", "out_of_order", "out of order"),
    ("fanout", "server_cpu_pct", "server CPU %"),
    (
        "fanout",
        "server_user_us_per_op",
        "server user-space µs/delivery",
    ),
    (
        "fanout",
        "server_sys_us_per_op",
        "server kernel µs/delivery",
    ),
    ("fanout", "gen_cpu_pct", "generator CPU %"),
    ("fanout", "other_cpu_pct", "other CPU % (noise)"),
    ("fanout-rate", "deliveries_per_s", "deliveries/s"),
    ("fanout-rate", "latency_p50_ms", "latency p50 ms"),
    ("fanout-rate", "latency_p99_ms", "latency p99 ms"),
    ("fanout-rate", "latency_max_ms", "latency max ms"),
    ("fanout-rate", "lost", "lost"),
    ("fanout-rate", "duplicated", "duplicated"),
    ("fanout-rate", "out_of_order", "out of order"),
    ("fanout-rate", "server_cpu_pct", "server CPU %"),
    (
        "fanout-rate",
        "server_user_us_per_op",
        "server user-space µs/delivery",
    ),
    (
        "fanout-rate",
        "server_sys_us_per_op",
        "server kernel µs/delivery",
    ),
    ("fanout-rate", "gen_cpu_pct", "generator CPU %"),
    ("fanout-rate", "other_cpu_pct", "other CPU % (noise)"),
    ("polling", "round_trips_per_s", "round trips/s"),
    ("polling", "rtt_p50_ms", "RTT p50 ms"),
    ("polling", "rtt_p99_ms", "RTT p99 ms"),
    ("polling", "server_cpu_pct", "server CPU %"),
    (
        "polling",
        "server_user_us_per_op",
        "server user-space µs/round trip",
    ),
    (
        "polling",
        "server_sys_us_per_op",
        "server kernel µs/round trip",
    ),
    ("polling", "gen_cpu_pct", "generator CPU %"),
    ("polling", "other_cpu_pct", "other CPU % (noise)"),
    ("cluster", "deliveries_per_s", "deliveries/s"),
    ("cluster", "latency_p50_ms", "latency p50 ms (all)"),
    ("cluster", "latency_p99_ms", "latency p99 ms (all)"),
    (
        "cluster",
        "remote_latency_p50_ms",
        "cross-server latency p50 ms",
    ),
    (
        "cluster",
        "remote_latency_p99_ms",
        "cross-server latency p99 ms",
    ),
    ("cluster", "lost", "lost"),
    ("cluster", "duplicated", "duplicated"),
    ("cluster", "out_of_order", "out of order"),
    ("cluster", "server_cpu_pct", "server A CPU %"),
    ("cluster", "server_b_cpu_pct", "server B CPU %"),
    ("cluster", "gen_cpu_pct", "generator CPU %"),
    ("cluster", "other_cpu_pct", "other CPU % (Redis + noise)"),
    ("cluster", "loadavg_1m", "load average (1 min)"),
    (
        "cluster-rate",
        "remote_latency_p50_ms",
        "cross-server latency p50 ms",
    ),
    (
        "cluster-rate",
        "remote_latency_p99_ms",
        "cross-server latency p99 ms",
    ),
    (
        "cluster-rate",
        "remote_latency_max_ms",
        "cross-server latency max ms",
    ),
    ("cluster-rate", "latency_p99_ms", "latency p99 ms (all)"),
    ("cluster-rate", "lost", "lost"),
    ("cluster-rate", "duplicated", "duplicated"),
    ("cluster-rate", "out_of_order", "out of order"),
    (
        "cluster-rate",
        "other_cpu_pct",
        "other CPU % (Redis + noise)",
    ),
];

/// Scenarios whose rate is bound by the server's CPU, and whether a higher ratio is better
/// (a rate) or a lower one (a latency).
const KERNEL_FLOOR: &[(&str, bool)] = &[
    ("echo", true),
    ("fanout", true),
    ("fanout-rate", false),
    ("polling", true),
];

/// Why socketioxide has no cluster figures.
const SIOXIDE_CLUSTER: &str = "socketioxide's Redis adapter uses its own wire format \
(not @socket.io/redis-adapter's), so it cannot form the cluster the others form";

struct Opts {
    smoke: bool,
    servers: Vec<String>,
    out: Option<PathBuf>,
    build: bool,
    cluster: bool,
    cluster_only: bool,
    redis_url: Option<String>,
    /// Rounds of the single-server scenarios, the servers taking turns in each.
    rounds: usize,
    gen_args: Vec<String>,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        smoke: false,
        servers: SERVERS.iter().map(|s| s.to_string()).collect(),
        out: None,
        build: true,
        cluster: true,
        cluster_only: false,
        redis_url: None,
        rounds: 1,
        gen_args: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--smoke" => o.smoke = true,
            "--no-build" => o.build = false,
            "--no-cluster" => o.cluster = false,
            "--cluster-only" => o.cluster_only = true,
            "--redis-url" => o.redis_url = Some(args.next().ok_or("--redis-url needs a value")?),
            "--servers" => {
                let v = args.next().ok_or("--servers needs a value")?;
                o.servers = v.split(',').map(str::to_owned).collect();
                if let Some(bad) = o.servers.iter().find(|s| !SERVERS.contains(&s.as_str())) {
                    return Err(format!(
                        "unknown server {bad} (known: {})",
                        SERVERS.join(",")
                    ));
                }
            }
            "--out" => o.out = Some(args.next().ok_or("--out needs a value")?.into()),
            "--rounds" => {
                o.rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n >= 1)
                    .ok_or("--rounds needs a number from 1")?;
            }
            "--" => o.gen_args.extend(args.by_ref()),
            "-h" | "--help" => {
                println!(
                    "usage: compare [--smoke] [--servers ferrio,socketioxide,node] [--out FILE] \
                     [--rounds N] [--no-build] [--no-cluster | --cluster-only] [--redis-url URL] \
                     [-- generator options (see ferrio-bench --help)]\n\
                     --rounds N: the single-server scenarios N times, the servers taking turns; \
                     the table shows each figure's median (a drift of the machine then hits \
                     every server alike)"
                );
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(o)
}

fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs a command; on failure returns the tail of its output.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = text.lines().rev().take(15).collect();
    Err(tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
}

/// Copies the conformance directory (without node_modules) to a temp dir and
/// runs `npm ci` there unless an identical lock file is already installed.
fn install_node(root: &Path) -> Result<PathBuf, String> {
    if !have("node") || !have("npm") {
        return Err("node/npm not found on PATH".to_owned());
    }
    let src = std::env::var_os("FERRIO_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            root.join("../shared/conformance"),
            PathBuf::from("/work/shared/conformance"),
        ])
        .find(|p| p.join("reference-server.mjs").exists())
        .ok_or("no conformance directory (set FERRIO_CONFORMANCE_DIR)")?;
    let dst = std::env::temp_dir().join("ferrio-bench-node");
    std::fs::create_dir_all(&dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    let lock = std::fs::read(src.join("package-lock.json"))
        .map_err(|e| format!("package-lock.json: {e}"))?;
    let installed = std::fs::read(dst.join("package-lock.json")).ok();
    for f in std::fs::read_dir(&src).map_err(|e| e.to_string())? {
        let f = f.map_err(|e| e.to_string())?;
        let name = f.file_name();
        if name == "node_modules" || !f.path().is_file() {
            continue;
        }
        std::fs::copy(f.path(), dst.join(&name)).map_err(|e| format!("copy {name:?}: {e}"))?;
    }
    if installed.as_deref() == Some(&lock[..]) && dst.join("node_modules/socket.io").exists() {
        eprintln!("compare: node: reusing {}", dst.display());
    } else {
        eprintln!("compare: node: npm ci in {}", dst.display());
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dst))
        .map_err(|e| format!("npm ci failed:\n{e}"))?;
    }
    Ok(dst)
}

struct Server {
    child: Child,
    pid: u32,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process by its pid.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pinned(cpu: &str, prog: &Path, pin: bool) -> Command {
    if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu).arg(prog);
        c
    } else {
        Command::new(prog)
    }
}

/// Starts a server and waits (at most 60 s) for `listening on`.
fn start(mut cmd: Command, port: u16, log: &Path) -> Result<Server, String> {
    let logf = std::fs::File::create(log).map_err(|e| e.to_string())?;
    cmd.env("PORT", port.to_string())
        .env("PING_INTERVAL_MS", "25000")
        .env("PING_TIMEOUT_MS", "20000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(logf);
    let mut child = cmd.spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("listening on") {
                let _ = tx.send(());
            }
        }
    });
    let server = Server { child, pid };
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => Ok(server),
        Err(_) => Err(format!(
            "did not print `listening on` within 60 s (stderr in {})",
            log.display()
        )),
    }
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if v.abs() >= 100.0 || v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    }
}

/// The command that starts server `name` (`ferrio`, `socketioxide` or `node`), pinned to
/// CPU 0; builds Ferrio's example first when `build`, installs the Node reference.
fn server_command(
    name: &str,
    root: &Path,
    release: &Path,
    cargo: &std::ffi::OsStr,
    build: bool,
    pin: bool,
) -> Result<Command, String> {
    match name {
        "ferrio" => {
            if build {
                eprintln!("compare: building Ferrio's conformance example (release)");
                run(Command::new(cargo)
                    .args(["build", "--release", "--example", "conformance"])
                    .current_dir(root))
                .map_err(|e| format!("Ferrio's `conformance` example did not build:\n{e}"))?;
            }
            let exe = release.join("examples/conformance");
            if !exe.exists() {
                return Err(format!("{} does not exist", exe.display()));
            }
            Ok(pinned("0", &exe, pin))
        }
        "socketioxide" => {
            let exe = release.join("socketioxide_server");
            if !exe.exists() {
                return Err(format!("{} does not exist", exe.display()));
            }
            Ok(pinned("0", &exe, pin))
        }
        _ => install_node(root).map(|dir| {
            let mut c = pinned("0", Path::new("node"), pin);
            c.arg(dir.join("reference-server.mjs")).current_dir(&dir);
            c
        }),
    }
}

/// A free port from `from` on (at most 9 further).
fn free_port(from: u16) -> u16 {
    let mut port = from;
    while !port_free(port) && port < from + 9 {
        port += 1;
    }
    port
}

/// Runs the generator to its end (a 30-minute backstop); false when it failed.
fn run_generator(mut g: Command, name: &str) -> bool {
    let status = g.spawn().and_then(|mut c| {
        // Bounded: the generator stops by itself; this is a backstop.
        let end = Instant::now() + Duration::from_secs(30 * 60);
        loop {
            if let Some(s) = c.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > end {
                let _ = c.kill();
                return c.wait();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    match status {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("compare: generator against {name} exited with {s}");
            false
        }
        Err(e) => {
            eprintln!("compare: generator against {name}: {e}");
            false
        }
    }
}

/// Adds the generator's JSON lines (one object per scenario) to `per`.
/// Counts that must stay 0: over rounds, the largest is kept, not the median.
const FAILURE_COUNTS: &[&str] = &[
    "lost",
    "duplicated",
    "out_of_order",
    "dropped",
    "connect_failed",
    "join_failed",
    "client_errors",
    "failed",
];

/// Per server and scenario, each numeric figure's median over the rounds (the upper middle
/// one for an even count; the largest for [`FAILURE_COUNTS`]); other fields from the first
/// round.
fn median_of(
    rounds: &[BTreeMap<String, BTreeMap<String, Value>>],
) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut out: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let Some(first) = rounds.first() else {
        return out;
    };
    for (server, scenarios) in first {
        for (sc, v) in scenarios {
            let mut merged = v.clone();
            if let Value::Object(fields) = &mut merged {
                for (key, field) in fields.iter_mut() {
                    if !field.is_number() {
                        continue;
                    }
                    let mut all: Vec<f64> = rounds
                        .iter()
                        .filter_map(|r| r.get(server)?.get(sc)?.get(key)?.as_f64())
                        .collect();
                    all.sort_by(f64::total_cmp);
                    let pick = if FAILURE_COUNTS.contains(&key.as_str()) {
                        all.len().saturating_sub(1)
                    } else {
                        all.len() / 2
                    };
                    if let Some(m) = all.get(pick) {
                        *field = serde_json::json!(m);
                    }
                }
            }
            out.entry(server.clone())
                .or_default()
                .insert(sc.clone(), merged);
        }
    }
    out
}

fn read_results(json: &Path, per: &mut BTreeMap<String, Value>) {
    let text = std::fs::read_to_string(json).unwrap_or_default();
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            if let Some(sc) = v.get("scenario").and_then(Value::as_str) {
                per.insert(sc.to_owned(), v.clone());
            }
        }
    }
}

/// A private `redis-server` (no persistence) on a free port, once it answers PING; its
/// URL. The machine's Redis is left alone, and no other test sees the cluster's traffic.
fn start_redis(work: &Path) -> Result<(Server, String), String> {
    if !have("redis-server") {
        return Err("redis-server not found on PATH (or pass --redis-url)".to_owned());
    }
    let port = free_port(6390);
    let log = std::fs::File::create(work.join("redis.log")).map_err(|e| e.to_string())?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server: {e}"))?;
    let server = Server {
        pid: child.id(),
        child,
    };
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if redis_ping(port) {
            return Ok((server, format!("redis://127.0.0.1:{port}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("redis-server on port {port} did not answer PING"))
}

fn redis_ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn main() -> ExitCode {
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("compare: {e}");
            return ExitCode::from(2);
        }
    };
    raise_nofile();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let release = target.join("release");
    let work = target.join("ferrio-bench");
    let _ = std::fs::create_dir_all(&work);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let pin = have("taskset") && std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    if !pin {
        eprintln!("compare: warning: taskset or a second CPU missing: running unpinned");
    }

    if opts.build {
        eprintln!("compare: building ferrio-bench and socketioxide_server (release)");
        if let Err(e) = run(Command::new(&cargo)
            .args(["build", "--release", "-p", "ferrio-bench", "--bins"])
            .current_dir(&root))
        {
            eprintln!("compare: build of ferrio-bench failed:\n{e}");
            return ExitCode::FAILURE;
        }
    }
    let generator = release.join("ferrio-bench");

    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut results: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut failed = false;
    let single_server = if opts.cluster_only {
        &[][..]
    } else {
        &opts.servers[..]
    };
    let mut rounds: Vec<BTreeMap<String, BTreeMap<String, Value>>> = Vec::new();
    for round in 0..opts.rounds {
        if opts.rounds > 1 {
            eprintln!("compare: round {} of {}", round + 1, opts.rounds);
        }
        let mut this_round = BTreeMap::new();
        for (i, name) in single_server.iter().enumerate() {
            if skipped.iter().any(|(n, _)| n == name) {
                continue;
            }
            let cmd = match server_command(
                name,
                &root,
                &release,
                &cargo,
                opts.build && round == 0,
                pin,
            ) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("compare: SKIPPING {name}: {e}");
                    skipped.push((name.clone(), e.lines().next().unwrap_or("").to_owned()));
                    continue;
                }
            };
            let port = free_port(3100 + 10 * i as u16);
            let log = work.join(format!("{name}.stderr.log"));
            eprintln!("compare: starting {name} on 127.0.0.1:{port}");
            let server = match start(cmd, port, &log) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("compare: SKIPPING {name}: {e}");
                    skipped.push((name.clone(), e));
                    continue;
                }
            };
            let json = work.join(format!("{name}.jsonl"));
            let _ = std::fs::remove_file(&json);
            let mut g = pinned("1", &generator, pin);
            g.arg(if opts.smoke { "smoke" } else { "all" })
                .args(["--addr", &format!("127.0.0.1:{port}")])
                .args(["--pid", &server.pid.to_string()])
                .args(["--label", name])
                .arg("--json")
                .arg(&json)
                .args(&opts.gen_args);
            failed |= !run_generator(g, name);
            drop(server);
            read_results(&json, this_round.entry(name.clone()).or_default());
            // Let the ports and the machine settle between servers.
            std::thread::sleep(Duration::from_secs(2));
        }
        rounds.push(this_round);
    }
    results.extend(median_of(&rounds));

    // The cluster scenarios: two servers of a kind joined by Redis.
    let cluster_servers: Vec<&String> = opts
        .servers
        .iter()
        .filter(|n| {
            if !opts.cluster {
                false
            } else if n.as_str() == "socketioxide" {
                skipped.push((
                    "socketioxide (cluster)".to_owned(),
                    SIOXIDE_CLUSTER.to_owned(),
                ));
                false
            } else {
                true
            }
        })
        .collect();
    let redis = if cluster_servers.is_empty() {
        None
    } else if let Some(url) = &opts.redis_url {
        Some((None, url.clone()))
    } else {
        match start_redis(&work) {
            Ok((server, url)) => Some((Some(server), url)),
            Err(e) => {
                eprintln!("compare: SKIPPING the cluster scenarios: {e}");
                skipped.push(("cluster".to_owned(), e));
                None
            }
        }
    };
    if let Some((_redis_server, url)) = &redis {
        for (i, name) in cluster_servers.into_iter().enumerate() {
            let label = format!("{name} (cluster)");
            let mut nodes = Vec::new();
            for k in 0..2 {
                let port = free_port(3200 + 10 * i as u16 + 2 * k);
                let log = work.join(format!("{name}-cluster-{k}.stderr.log"));
                // Built by the single-server run, unless there was none.
                let build_first = opts.build && opts.cluster_only && k == 0;
                let started = server_command(name, &root, &release, &cargo, build_first, pin)
                    .and_then(|mut cmd| {
                        cmd.env("REDIS_URL", url);
                        start(cmd, port, &log)
                    });
                match started {
                    Ok(s) => nodes.push((s, port)),
                    Err(e) => {
                        eprintln!("compare: SKIPPING {label}: {e}");
                        skipped.push((label.clone(), e.lines().next().unwrap_or("").to_owned()));
                        break;
                    }
                }
            }
            if nodes.len() < 2 {
                continue;
            }
            // Both print `listening on` once subscribed (Ferrio) or connected (Node): give
            // Node's SUBSCRIBE replies a moment.
            std::thread::sleep(Duration::from_millis(500));
            eprintln!(
                "compare: cluster of two {name} servers on 127.0.0.1:{} and :{} ({url})",
                nodes[0].1, nodes[1].1
            );
            let json = work.join(format!("{name}-cluster.jsonl"));
            let _ = std::fs::remove_file(&json);
            let mut g = pinned("1", &generator, pin);
            g.arg(if opts.smoke {
                "cluster-smoke"
            } else {
                "cluster-all"
            })
            .args(["--addr", &format!("127.0.0.1:{}", nodes[0].1)])
            .args(["--pid", &nodes[0].0.pid.to_string()])
            .args(["--addr-b", &format!("127.0.0.1:{}", nodes[1].1)])
            .args(["--pid-b", &nodes[1].0.pid.to_string()])
            .args(["--label", &label])
            .arg("--json")
            .arg(&json)
            .args(&opts.gen_args);
            failed |= !run_generator(g, &label);
            drop(nodes);
            read_results(&json, results.entry(name.clone()).or_default());
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    drop(redis);

    // The table.
    let get = |server: &str, sc: &str, key: &str| -> Option<f64> {
        results.get(server)?.get(sc)?.get(key)?.as_f64()
    };
    let mut rows: Vec<[String; 6]> = vec![[
        "metric".into(),
        "ferrio".into(),
        "socketioxide".into(),
        "node".into(),
        "F/sioxide".into(),
        "F/node".into(),
    ]];
    for (sc, key, label) in METRICS {
        let f = get("ferrio", sc, key);
        let s = get("socketioxide", sc, key);
        let n = get("node", sc, key);
        if f.is_none() && s.is_none() && n.is_none() {
            continue;
        }
        rows.push([
            format!("{sc}: {label}"),
            fmt_num(f),
            fmt_num(s),
            fmt_num(n),
            ratio(f, s),
            ratio(f, n),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    println!();
    println!(
        "Ferrio vs socketioxide vs Node ({}{}; servers on CPU 0, generator on CPU 1{})",
        if opts.smoke { "smoke" } else { "full" },
        if opts.rounds > 1 {
            format!(", medians of {} rounds", opts.rounds)
        } else {
            String::new()
        },
        if pin { "" } else { " - NOT pinned" }
    );
    for (ri, r) in rows.iter().enumerate() {
        let mut line = format!("{:<w$}", r[0], w = widths[0]);
        for (c, cell) in r.iter().enumerate().skip(1) {
            line.push_str(&format!("  {:>w$}", cell, w = widths[c]));
        }
        println!("{line}");
        if ri == 0 {
            println!("{}", "-".repeat(line.len()));
        }
    }
    // The kernel's share: both servers make the same system calls per operation, so Ferrio's
    // kernel time per operation is a floor its user-space work cannot go below. With Ferrio's
    // user-space time at zero, F/sioxide would at best be socketioxide's whole cost over
    // Ferrio's kernel cost (for a rate; the inverse for a latency that follows the server's
    // CPU time per broadcast).
    let mut floors = serde_json::Map::new();
    for (sc, rate) in KERNEL_FLOOR {
        let cost = |server: &str| {
            Some((
                get(server, sc, "server_user_us_per_op")?,
                get(server, sc, "server_sys_us_per_op")?,
            ))
        };
        let (Some((fu, fs)), Some((su, ss))) = (cost("ferrio"), cost("socketioxide")) else {
            continue;
        };
        if fs <= 0.0 || su + ss <= 0.0 {
            continue;
        }
        let best = if *rate {
            (su + ss) / fs
        } else {
            fs / (su + ss)
        };
        if floors.is_empty() {
            println!();
            println!("Server CPU per operation (µs, user + kernel) and the best F/sioxide a server with Ferrio's kernel time and no user-space time could reach:");
        }
        println!(
            "  {sc}: ferrio {fu:.2} + {fs:.2}, socketioxide {su:.2} + {ss:.2}; kernel share of socketioxide {:.0}%; best reachable F/sioxide {best:.2}",
            ss / (su + ss) * 100.0
        );
        floors.insert(
            (*sc).to_owned(),
            serde_json::json!({"best_ratio_vs_socketioxide": (best * 100.0).round() / 100.0}),
        );
    }
    for (name, why) in &skipped {
        println!("skipped {name}: {why}");
    }
    let out = opts.out.unwrap_or_else(|| work.join("compare.json"));
    let all = serde_json::json!({
        "smoke": opts.smoke,
        "pinned": pin,
        "results": results,
        "rounds": if rounds.len() > 1 { serde_json::to_value(&rounds).unwrap_or_default() } else { Value::Null },
        "kernel_floor": floors,
        "skipped": skipped.iter().map(|(n, w)| serde_json::json!({"server": n, "reason": w})).collect::<Vec<_>>(),
    });
    match std::fs::write(&out, serde_json::to_string_pretty(&all).unwrap_or_default()) {
        Ok(()) => println!("results: {}", out.display()),
        Err(e) => eprintln!("compare: {}: {e}", out.display()),
    }
    if failed {
        eprintln!("compare: FAILED: a generator run reported lost/duplicated/out-of-order deliveries or failed clients");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
