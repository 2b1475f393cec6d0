//! Percentiles, CPU and memory accounting from /proc, resource limits.

use std::sync::OnceLock;
use std::time::Instant;

use hdrhistogram::Histogram;

static BASE: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the generator started (one clock for sender and receivers).
pub fn now_us() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// A latency histogram in microseconds, 1 µs .. 10 min, 3 significant digits.
pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// Records `us` microseconds (at least 1) in `h`.
pub fn record(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.max(1));
}

/// `(p50, p99, max)` in milliseconds.
pub fn pct_ms(h: &Histogram<u64>) -> (f64, f64, f64) {
    if h.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let ms = |v: u64| v as f64 / 1000.0;
    (
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
    )
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime (all threads) of `pid` (`None` = this process), in clock ticks.
pub fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    cpu_split(pid).map(|(u, s)| u + s)
}

/// (utime, stime) of `pid` (`None` = this process): time in user space and in the kernel,
/// in clock ticks.
pub fn cpu_split(pid: Option<u32>) -> Option<(u64, u64)> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &s[s.rfind(')')? + 2..];
    let mut it = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = it.next()?.parse().ok()?;
    let stime: u64 = it.next()?.parse().ok()?;
    Some((utime, stime))
}

/// Resident set size of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Busy clock ticks of the whole machine (all CPUs), from /proc/stat.
pub fn machine_busy_ticks() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is within user).
    let total: u64 = v.iter().take(8).sum();
    Some(total - v.get(3)? - v.get(4).copied().unwrap_or(0))
}

/// CPU use of the server, of the generator and of everything else on the
/// machine over an interval.
pub struct CpuMeter {
    t0: Instant,
    server_pid: Option<u32>,
    server0: Option<(u64, u64)>,
    me0: Option<u64>,
    machine0: Option<u64>,
}

impl CpuMeter {
    /// Starts measuring the CPU of the server (`server_pid`), this process and the machine.
    pub fn start(server_pid: Option<u32>) -> Self {
        CpuMeter {
            t0: Instant::now(),
            server_pid,
            server0: server_pid.and_then(|p| cpu_split(Some(p))),
            me0: cpu_ticks(None),
            machine0: machine_busy_ticks(),
        }
    }

    /// Server, generator and other (the rest of the machine) CPU use, in %
    /// of one core; `None` when unknown.
    pub fn stop(&self) -> Cpu {
        let wall = self.t0.elapsed().as_secs_f64().max(1e-6);
        let tck = clk_tck();
        let delta = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
            _ => None,
        };
        let pct = |t: f64| (t / tck / wall * 1000.0).round() / 10.0;
        let server1 = self.server_pid.and_then(|p| cpu_split(Some(p)));
        let server_user = delta(self.server0.map(|t| t.0), server1.map(|t| t.0));
        let server_sys = delta(self.server0.map(|t| t.1), server1.map(|t| t.1));
        let server = server_user.zip(server_sys).map(|(u, s)| u + s);
        let gen = delta(self.me0, cpu_ticks(None));
        let machine = delta(self.machine0, machine_busy_ticks());
        let other = machine.map(|m| (m - server.unwrap_or(0.0) - gen.unwrap_or(0.0)).max(0.0));
        Cpu {
            server: server.map(pct),
            server_user: server_user.map(pct),
            server_sys: server_sys.map(pct),
            generator: gen.map(pct),
            other: other.map(pct),
        }
    }
}

/// CPU use over an interval, in % of one core.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    /// The server process.
    pub server: Option<f64>,
    /// The server's time in user space (its own code).
    pub server_user: Option<f64>,
    /// The server's time in the kernel (system calls, and the TCP work they do: on loopback a
    /// send also runs the receiving side's TCP input).
    pub server_sys: Option<f64>,
    /// This load generator.
    pub generator: Option<f64>,
    /// Everything else on the machine: when high, the figures are unreliable.
    pub other: Option<f64>,
}

/// Raises RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
        rl.rlim_cur
    }
}
