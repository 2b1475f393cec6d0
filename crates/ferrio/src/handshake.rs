//! [`Handshake`]: what a socket knows about the request that opened its connection.

use ferrio_engine::RequestInfo;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

/// The handshake of a socket (`socket.handshake` in the reference).
///
/// It (de)serializes in the reference's JSON shape, as cluster adapters exchange it in
/// `fetchSockets` responses: `{headers, time, address, xdomain, secure, issued, url, query,
/// auth}`, header names in lower case with string values (a repeated header becomes an array),
/// `address` the peer's IP without the port.
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

impl Serialize for Handshake {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut headers = Map::new();
        for name in self.headers.keys() {
            let values: Vec<Value> = self
                .headers
                .get_all(name)
                .iter()
                .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let value = match <[Value; 1]>::try_from(values) {
                Ok([one]) => one,
                Err(many) => Value::Array(many),
            };
            headers.insert(name.as_str().to_owned(), value);
        }
        let mut m = s.serialize_map(Some(9))?;
        m.serialize_entry("headers", &headers)?;
        m.serialize_entry("time", &self.time)?;
        m.serialize_entry("address", &self.address.map(|a| a.ip().to_string()))?;
        m.serialize_entry("xdomain", &self.xdomain)?;
        m.serialize_entry("secure", &self.secure)?;
        m.serialize_entry("issued", &self.issued)?;
        m.serialize_entry("url", &self.url)?;
        m.serialize_entry("query", &self.query)?;
        m.serialize_entry("auth", &self.auth)?;
        m.end()
    }
}

/// The reference's JSON shape, every field optional (a peer may omit some).
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    xdomain: Option<bool>,
    #[serde(default)]
    secure: Option<bool>,
    #[serde(default)]
    issued: Option<f64>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    query: Option<Map<String, Value>>,
    #[serde(default)]
    auth: Option<Value>,
}

impl<'de> Deserialize<'de> for Handshake {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let mut headers = http::HeaderMap::new();
        for (k, v) in &w.headers {
            let Ok(name) = http::HeaderName::from_bytes(k.as_bytes()) else {
                continue;
            };
            let values = match v {
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                Value::String(s) => vec![s.as_str()],
                _ => Vec::new(),
            };
            for v in values {
                if let Ok(v) = http::HeaderValue::from_str(v) {
                    headers.append(name.clone(), v);
                }
            }
        }
        let address = w.address.as_deref().and_then(|a| {
            a.parse::<SocketAddr>()
                .ok()
                .or_else(|| a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0)))
        });
        Ok(Handshake {
            headers,
            time: w.time.unwrap_or_default(),
            address,
            xdomain: w.xdomain.unwrap_or(false),
            secure: w.secure.unwrap_or(false),
            issued: w.issued.filter(|n| *n >= 0.0).map_or(0, |n| n as u64),
            url: w.url.unwrap_or_default(),
            query: w.query.unwrap_or_default(),
            auth: w.auth.unwrap_or_else(|| Value::Object(Map::new())),
        })
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

    #[test]
    fn json_shape_round_trips() {
        let node = serde_json::json!({
            "headers": {"host": "127.0.0.1:3000", "accept": ["a", "b"]},
            "time": "Sat Nov 28 2026 21:23:51 GMT+0000 (Coordinated Universal Time)",
            "address": "::ffff:127.0.0.1",
            "xdomain": true,
            "secure": false,
            "issued": 1795901031738u64,
            "url": "/socket.io/?EIO=4&transport=websocket",
            "query": {"EIO": "4", "transport": "websocket"},
            "auth": {"user": "bob"}
        });
        let h: Handshake = serde_json::from_value(node.clone()).unwrap();
        assert_eq!(h.headers.get_all("accept").iter().count(), 2);
        assert_eq!(h.issued, 1_795_901_031_738);
        assert_eq!(h.auth["user"], "bob");
        assert_eq!(serde_json::to_value(&h).unwrap(), node);
        let partial: Handshake = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(partial.auth, serde_json::json!({}));
        assert!(partial.address.is_none());
    }
}
