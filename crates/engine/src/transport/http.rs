//! HTTP plumbing shared by the transports: responses, CORS, compression, bounded bodies.

use crate::config::{CorsOrigin, EngineConfig};
use crate::engine::Body;
use crate::error::ErrorCode;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full, Limited};
use std::sync::{Arc, OnceLock};

/// A handle on the HTTP/1 connection a request came on, put in the request's extensions by
/// [`serve`](crate::serve).
///
/// hyper writes every response itself; the reference sometimes does not: it refuses upgrade
/// requests with hand-written bytes, and drops a POST's connection without an answer when its
/// session closes. Arming the handle makes the connection write these bytes (possibly none)
/// instead of hyper's response, then close. Without [`serve`] (the engine mounted in another
/// server) there is no handle and the engine answers with an ordinary response instead.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnControl(Arc<OnceLock<Bytes>>);

impl ConnControl {
    /// The handle of an HTTP/1 request, if the server installed one.
    pub(crate) fn of<B>(req: &Request<B>) -> Option<Self> {
        match req.version() {
            Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11 => {
                req.extensions().get::<ConnControl>().cloned()
            }
            _ => None,
        }
    }

    /// The bytes that replace the response, once armed.
    pub(crate) fn raw(&self) -> Option<&Bytes> {
        self.0.get()
    }

    /// Replaces `fallback` with `raw` on the wire when the connection has a handle. The
    /// response handed to hyper then says `Connection: close`, so that hyper closes the
    /// connection once it believes it wrote it.
    fn replace(conn: Option<&ConnControl>, raw: Bytes, fallback: Response<Body>) -> Response<Body> {
        match conn {
            Some(c) if c.0.set(raw).is_ok() => {
                let mut res = status(StatusCode::BAD_REQUEST);
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                res
            }
            _ => fallback,
        }
    }
}

pub(crate) fn status(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res
}

/// `{"code":N,"message":...}` with the code's status.
pub(crate) fn error_response(code: &ErrorCode) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(code.body())));
    *res.status_mut() = code.status();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The reference's raw refusal of an upgrade request (`abortUpgrade`), byte for byte.
pub(crate) fn upgrade_error_bytes(code: &ErrorCode) -> Bytes {
    let msg = code.message();
    Bytes::from(format!(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: {}\r\n\r\n{msg}",
        msg.len()
    ))
}

/// The answer to a refused WebSocket upgrade request: a plain 400 and a closed connection,
/// written as the reference writes it when the connection allows it.
pub(crate) fn upgrade_error(code: &ErrorCode, conn: Option<&ConnControl>) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(code.message().to_owned())));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    ConnControl::replace(conn, upgrade_error_bytes(code), res)
}

/// Drops the connection without an answer (an empty 400 that closes it, without a handle).
pub(crate) fn abort_connection(conn: Option<&ConnControl>) -> Response<Body> {
    let mut res = status(StatusCode::BAD_REQUEST);
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    ConnControl::replace(conn, Bytes::new(), res)
}

/// Marks a response whose empty body must still be announced with `Content-Length: 0` (hyper
/// leaves the header out of an empty 204 unless the body says its length).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExplicitEmptyBody;

pub(crate) fn text_response(body: impl Into<Bytes>, content_type: &'static str) -> Response<Body> {
    let mut res = Response::new(Full::new(body.into()));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Answers a CORS preflight (`OPTIONS`) with 204, as the `cors` package does.
pub(crate) fn preflight(config: &EngineConfig, req_headers: &HeaderMap) -> Response<Body> {
    let mut res = status(StatusCode::NO_CONTENT);
    let Some(cors) = &config.cors else { return res };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&cors.methods) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    match &cors.allowed_headers {
        Some(allowed) => {
            if let Ok(v) = HeaderValue::from_str(allowed) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        None => {
            if let Some(v) = req_headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
                h.append(
                    header::VARY,
                    HeaderValue::from_static("Access-Control-Request-Headers"),
                );
            }
        }
    }
    if let Some(age) = cors.max_age {
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    res.extensions_mut().insert(ExplicitEmptyBody);
    res
}

/// Adds the CORS headers to any engine response (errors included, as the reference does).
pub(crate) fn apply_cors(
    config: &EngineConfig,
    origin: Option<&HeaderValue>,
    res: &mut Response<Body>,
) {
    let Some(cors) = &config.cors else { return };
    let h = res.headers_mut();
    match &cors.origin {
        CorsOrigin::Any => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        CorsOrigin::Mirror => {
            if let Some(o) = origin {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            }
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        CorsOrigin::List(list) => {
            if let Some(o) = origin.filter(|o| list.iter().any(|l| l.as_bytes() == o.as_bytes())) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            }
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    if cors.credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if let Some(exposed) = &cors.exposed_headers {
        if let Ok(v) = HeaderValue::from_str(exposed) {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    TooLarge,
    Io,
}

/// Reads a body of at most `limit` bytes; refuses larger ones before buffering them.
pub(crate) async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, BodyError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Io),
    }
}

/// The encoding the reference picks for `Accept-Encoding` among `gzip` and `deflate` (the npm
/// `accepts` package): the highest `q` above 0, an exact name before `*`, then the client's
/// order, then gzip before deflate. `None` when neither is acceptable or the header is absent.
pub(crate) fn choose_encoding(accept: &str) -> Option<&'static str> {
    // (q, specificity, position in the header, position in our list)
    let mut best: Option<(f32, u8, usize, usize)> = None;
    for (i, name) in ["gzip", "deflate"].into_iter().enumerate() {
        let mut prio: Option<(f32, u8, usize)> = None;
        for (o, entry) in accept.split(',').enumerate() {
            let mut parts = entry.split(';');
            let enc = parts.next().unwrap_or("").trim();
            let s = if enc.eq_ignore_ascii_case(name) {
                1
            } else if enc == "*" {
                0
            } else {
                continue;
            };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|v| v.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            let better = match prio {
                None => true,
                Some((pq, ps, po)) => {
                    (s, q, std::cmp::Reverse(o)) > (ps, pq, std::cmp::Reverse(po))
                }
            };
            if better {
                prio = Some((q, s, o));
            }
        }
        let Some((q, s, o)) = prio.filter(|p| p.0 > 0.0) else {
            continue;
        };
        let better = match best {
            None => true,
            Some((bq, bs, bo, _)) => q > bq || (q == bq && (s > bs || (s == bs && o < bo))),
        };
        if better {
            best = Some((q, s, o, i));
        }
    }
    best.map(|(.., i)| ["gzip", "deflate"][i])
}

/// Compresses `body` with gzip or deflate (zlib format, as Node's `createDeflate`) when the
/// client accepts it and it is long enough.
pub(crate) fn compress(
    config: &EngineConfig,
    req_headers: &HeaderMap,
    body: Bytes,
) -> (Bytes, Option<&'static str>) {
    use flate2::write::{GzEncoder, ZlibEncoder};
    use std::io::Write;
    let Some(c) = config.http_compression else {
        return (body, None);
    };
    if body.len() < c.threshold {
        return (body, None);
    }
    let accept = req_headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let level = flate2::Compression::default();
    let encoding = choose_encoding(accept);
    let out = match encoding {
        Some("gzip") => {
            let mut e = GzEncoder::new(Vec::with_capacity(body.len() / 2), level);
            e.write_all(&body).and_then(|_| e.finish())
        }
        Some("deflate") => {
            let mut e = ZlibEncoder::new(Vec::with_capacity(body.len() / 2), level);
            e.write_all(&body).and_then(|_| e.finish())
        }
        _ => return (body, None),
    };
    match out {
        Ok(out) => (out.into(), encoding),
        Err(_) => (body, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_negotiation_follows_accepts() {
        assert_eq!(choose_encoding(""), None);
        assert_eq!(choose_encoding("gzip"), Some("gzip"));
        assert_eq!(choose_encoding("deflate"), Some("deflate"));
        assert_eq!(choose_encoding("gzip, deflate, br"), Some("gzip"));
        assert_eq!(choose_encoding("deflate, gzip"), Some("deflate"));
        assert_eq!(choose_encoding("gzip;q=0.5, deflate"), Some("deflate"));
        assert_eq!(choose_encoding("gzip;q=0, deflate;q=0"), None);
        assert_eq!(choose_encoding("*"), Some("gzip"));
        assert_eq!(choose_encoding("*;q=0.1, deflate"), Some("deflate"));
        assert_eq!(choose_encoding("GZIP"), Some("gzip"));
        assert_eq!(choose_encoding("br, identity"), None);
    }

    #[test]
    fn raw_upgrade_refusal_is_byte_exact() {
        assert_eq!(
            &upgrade_error_bytes(&ErrorCode::UnknownTransport)[..],
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 17\r\n\r\nTransport unknown"
        );
    }

    #[test]
    fn replacing_a_response_needs_a_handle_and_happens_once() {
        let fallback = || status(StatusCode::IM_A_TEAPOT);
        let res = ConnControl::replace(None, Bytes::from_static(b"x"), fallback());
        assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
        let c = ConnControl::default();
        let res = ConnControl::replace(Some(&c), Bytes::from_static(b"x"), fallback());
        assert_eq!(res.headers()[header::CONNECTION], "close");
        assert_eq!(c.raw().map(|b| &b[..]), Some(&b"x"[..]));
        let res = ConnControl::replace(Some(&c), Bytes::from_static(b"y"), fallback());
        assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    }
}
