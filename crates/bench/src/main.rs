//! `ferrio-bench`: a Socket.IO v5 / Engine.IO v4 load generator (WebSocket
//! and HTTP long-polling) for any server implementing the conformance
//! contract (`shared/conformance/CONTRACT.md`) started with
//! `PING_INTERVAL_MS=25000 PING_TIMEOUT_MS=20000`.
//!
//! One current_thread runtime; see `crates/bench/README.md`.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use ferrio_bench::scenarios::{self, Outcome, Pace, Params};
use ferrio_bench::{net, stats};

const USAGE: &str = "\
usage: ferrio-bench <scenario> [options]

scenarios:
  connect      N WebSocket connections joined to /, held (conn/s, handshake p50/p99, server RSS/conn)
  echo         C clients in closed loop on message-with-ack (acks/s, RTT)
  fanout       R receivers in a room, one sender in closed loop with a window (deliveries/s, latency, lost/dup/ooo)
  fanout-rate  the same at a fixed low rate (latency without queueing)
  polling      C polling-only clients doing acked round trips
  all          all of the above, in that order
  smoke        all of the above, tiny (a few hundred connections, ~1 s each)
  cluster      fanout across two servers joined by Redis (--addr-b): sender on the first,
               receivers spread over both (--on-a); cross-server latency reported apart
  cluster-rate the same at a fixed low rate (--rate, --rate-receivers)
  cluster-all  cluster then cluster-rate
  cluster-smoke  the same, tiny

options:
  --addr HOST:PORT     server (loopback only)            [127.0.0.1:3000]
  --pid PID            server pid, for CPU and RSS from /proc
  --label NAME         name of the server in the output  [server]
  --json FILE          append one JSON object per scenario to FILE
  --conns N            connect: connections              [10000]
  --hold S             connect: seconds to hold them      [5]
  --clients C          echo: clients                      [200]
  --receivers R        fanout: receivers                  [1000]
  --window W           fanout: messages in flight         [8]
  --rate HZ            fanout-rate: messages per second   [20]
  --rate-receivers R   fanout-rate: receivers             [1000]
  --poll-clients C     polling: clients                   [100]
  --duration S         measured seconds per scenario      [10]
  --warmup S           unmeasured seconds before          [2]
  --cooldown S         pause between scenarios            [2]
  --concurrency K      connection attempts in flight      [200]
  --sources K          source addresses 127.0.0.1..K      [4]
  --addr-b HOST:PORT   cluster: the second server (loopback only)
  --pid-b PID          cluster: the second server's pid, for its CPU
  --on-a F             cluster: share of the receivers on --addr [0.5]

Exits non-zero when a scenario lost, duplicated or reordered deliveries, or
clients failed.";

fn parse_args(args: &[String]) -> Result<(String, Params, Option<String>), String> {
    let scenario = args.first().cloned().ok_or("missing scenario")?;
    let mut addr: SocketAddr = "127.0.0.1:3000".parse().expect("literal");
    let mut addr_b: Option<SocketAddr> = None;
    let mut rest: Vec<(String, String)> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let k = args[i].trim_start_matches("--").to_owned();
        let v = args
            .get(i + 1)
            .cloned()
            .ok_or_else(|| format!("--{k} needs a value"))?;
        if k == "addr" {
            addr = v.parse().map_err(|e| format!("--addr {v}: {e}"))?;
        } else if k == "addr-b" {
            let b: SocketAddr = v.parse().map_err(|e| format!("--addr-b {v}: {e}"))?;
            net::check_loopback(&b)?;
            addr_b = Some(b);
        } else {
            rest.push((k, v));
        }
        i += 2;
    }
    net::check_loopback(&addr)?;
    let mut p = if scenario == "smoke" || scenario == "cluster-smoke" {
        Params::smoke(addr)
    } else {
        Params::full(addr)
    };
    p.addr_b = addr_b;
    let mut json = None;
    for (k, v) in rest {
        let num = |v: &str| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("--{k} {v}: not a number"))
        };
        match k.as_str() {
            "pid" => p.pid = Some(num(&v)? as u32),
            "label" => p.label = v,
            "json" => json = Some(v),
            "conns" => p.conns = num(&v)? as usize,
            "hold" => p.hold = num(&v)?,
            "clients" => p.clients = num(&v)? as usize,
            "receivers" => p.receivers = num(&v)? as usize,
            "window" => p.window = (num(&v)? as usize).max(1),
            "rate" => p.rate = num(&v)?.max(0.1),
            "rate-receivers" => p.rate_receivers = num(&v)? as usize,
            "poll-clients" => p.poll_clients = num(&v)? as usize,
            "duration" => p.duration = num(&v)?.min(3600.0),
            "warmup" => p.warmup = num(&v)?.min(600.0),
            "cooldown" => p.cooldown = num(&v)?.min(600.0),
            "concurrency" => p.concurrency = (num(&v)? as usize).max(1),
            "sources" => p.sources = (num(&v)? as usize).clamp(1, 250),
            "pid-b" => p.pid_b = Some(num(&v)? as u32),
            "on-a" => p.on_a = num(&v)?.min(1.0),
            _ => return Err(format!("unknown option --{k}")),
        }
    }
    p.hold = p.hold.min(3600.0);
    Ok((scenario, p, json))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0] == "-h" || args[0] == "--help" {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (scenario, p, json_path) = match parse_args(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("ferrio-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let list: Vec<&str> = match scenario.as_str() {
        "all" | "smoke" => vec!["connect", "echo", "fanout", "fanout-rate", "polling"],
        "cluster-all" | "cluster-smoke" => vec!["cluster", "cluster-rate"],
        s @ ("connect" | "echo" | "fanout" | "fanout-rate" | "polling" | "cluster"
        | "cluster-rate") => vec![s],
        s => {
            eprintln!("ferrio-bench: unknown scenario {s}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let nofile = stats::raise_nofile();
    let need = p.conns.max(p.receivers).max(p.rate_receivers) + 64;
    if (nofile as usize) < need {
        eprintln!(
            "ferrio-bench: warning: RLIMIT_NOFILE is {nofile}, below the {need} descriptors needed"
        );
    }
    stats::now_us();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let mut all_ok = true;
    let mut json_file = json_path.map(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("--json {path}: {e}"))
    });
    local.block_on(&rt, async {
        for (i, s) in list.iter().enumerate() {
            if i > 0 {
                scenarios::settle(&p, p.cooldown).await;
            }
            let o: Outcome = match *s {
                "connect" => scenarios::connect(&p).await,
                "echo" => scenarios::echo(&p).await,
                "fanout" => scenarios::fanout(&p, Pace::Window(p.window)).await,
                "fanout-rate" => scenarios::fanout(&p, Pace::Rate(p.rate)).await,
                "cluster" => scenarios::cluster(&p, Pace::Window(p.window)).await,
                "cluster-rate" => scenarios::cluster(&p, Pace::Rate(p.rate)).await,
                _ => scenarios::polling(&p).await,
            };
            let mut j = o.json;
            if let serde_json::Value::Object(m) = &mut j {
                m.insert("ok".to_owned(), o.ok.into());
            }
            println!("[{}] {}", p.label, o.summary);
            println!("{j}");
            if let Some(f) = json_file.as_mut() {
                let _ = writeln!(f, "{j}");
            }
            let _ = std::io::stdout().flush();
            all_ok &= o.ok;
        }
    });
    if all_ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("ferrio-bench: FAILED: a scenario lost, duplicated or reordered deliveries, or clients failed");
        ExitCode::FAILURE
    }
}
