//! [`Handshake`]: what a socket knows about the request that opened its connection.

use ferrio_engine::RequestInfo;
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The handshake of a socket (`socket.handshake` in the reference).
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Request headers.
    pub headers: http::HeaderMap,
    /// When the connection was opened, e.g. `Sat, 28 Nov 2026 21:05:00 GMT`.
    pub time: String,
    /// The peer address, when known.
    pub address: Option<SocketAddr>,
    /// Whether the request was cross-origin (it had an `Origin` header).
    pub xdomain: bool,
    /// Whether it came over TLS.
    pub secure: bool,
    /// When the connection was opened, in ms since the Unix epoch.
    pub issued: u64,
    /// The request URL (path and query).
    pub url: String,
    /// The query parameters (the last value wins for repeated keys).
    pub query: Map<String, Value>,
    /// The `auth` payload of the CONNECT packet (`{}` when absent).
    pub auth: Value,
}

impl Handshake {
    pub(crate) fn new(req: &RequestInfo, auth: Value) -> Self {
        let issued = req
            .time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut query = Map::new();
        for (k, v) in req.query_pairs() {
            query.insert(k, Value::String(v));
        }
        Handshake {
            headers: req.headers.clone(),
            time: http_date(req.time),
            address: req.remote_addr,
            xdomain: req.headers.contains_key(http::header::ORIGIN),
            secure: req.secure,
            issued,
            url: req.uri.to_string(),
            query,
            auth,
        }
    }
}

/// An RFC 7231 date, as JavaScript's `Date#toString`-like string the reference stores.
fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WD[(days % 7) as usize],
        d,
        MO[(mo - 1) as usize],
        y,
        h,
        m,
        s
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_format_like_http() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_900_000);
        assert_eq!(http_date(t), "Sat, 28 Nov 2026 21:06:40 GMT");
    }
}
