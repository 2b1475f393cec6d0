//! HTTP plumbing shared by the transports: responses, CORS, compression, bounded bodies.

use crate::config::{CorsOrigin, EngineConfig};
use crate::engine::Body;
use crate::error::ErrorCode;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

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

/// The answer to a refused WebSocket upgrade request: a plain 400 and a closed connection.
pub(crate) fn upgrade_error(code: &ErrorCode) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(code.message().to_owned())));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res
}

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

/// Compresses `body` with gzip or deflate when the client accepts it and it is long enough.
pub(crate) fn compress(
    config: &EngineConfig,
    req_headers: &HeaderMap,
    body: Bytes,
) -> (Bytes, Option<&'static str>) {
    use flate2::write::{DeflateEncoder, GzEncoder};
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
    let has = |name: &str| {
        accept.split(',').any(|e| {
            e.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(name)
        })
    };
    let level = flate2::Compression::default();
    if has("gzip") {
        let mut e = GzEncoder::new(Vec::with_capacity(body.len() / 2), level);
        if e.write_all(&body).is_ok() {
            if let Ok(out) = e.finish() {
                return (out.into(), Some("gzip"));
            }
        }
    } else if has("deflate") {
        let mut e = DeflateEncoder::new(Vec::with_capacity(body.len() / 2), level);
        if e.write_all(&body).is_ok() {
            if let Ok(out) = e.finish() {
                return (out.into(), Some("deflate"));
            }
        }
    }
    (body, None)
}
