//! Errors: the reference server's HTTP error codes, and why a session closed.

use http::StatusCode;

/// The Engine.IO error codes of the reference server, answered as
/// `{"code":N,"message":"..."}` with `Content-Type: application/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 0: unknown or missing `transport` (HTTP 400).
    UnknownTransport,
    /// 1: unknown or closed `sid` (HTTP 400).
    UnknownSid,
    /// 2: a handshake with a method other than GET (HTTP 400).
    BadHandshakeMethod,
    /// 3: a bad request: transport mismatch, a WebSocket request without `Upgrade`, … (HTTP 400).
    BadRequest,
    /// 4: `allow_request` refused the handshake, with its message (HTTP 403).
    Forbidden(String),
    /// 5: `EIO` is not a supported protocol version (HTTP 400).
    UnsupportedProtocolVersion,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(&self) -> u8 {
        match self {
            ErrorCode::UnknownTransport => 0,
            ErrorCode::UnknownSid => 1,
            ErrorCode::BadHandshakeMethod => 2,
            ErrorCode::BadRequest => 3,
            ErrorCode::Forbidden(_) => 4,
            ErrorCode::UnsupportedProtocolVersion => 5,
        }
    }

    /// The message, as the reference words it.
    pub fn message(&self) -> &str {
        match self {
            ErrorCode::UnknownTransport => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden(msg) => msg,
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status: 403 for [`Forbidden`](Self::Forbidden), 400 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            ErrorCode::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body: `{"code":N,"message":"..."}`.
    ///
    /// ```
    /// use ferrio_engine::ErrorCode;
    /// assert_eq!(ErrorCode::UnsupportedProtocolVersion.body(),
    ///            r#"{"code":5,"message":"Unsupported protocol version"}"#);
    /// ```
    pub fn body(&self) -> String {
        let msg = serde_json::to_string(self.message()).unwrap_or_else(|_| "\"\"".into());
        format!("{{\"code\":{},\"message\":{msg}}}", self.code())
    }
}

/// Why a session closed, with the reference's reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// `transport error`: the transport failed (I/O error, oversized message, protocol violation).
    TransportError,
    /// `transport close`: the client closed the transport or sent a close packet.
    TransportClose,
    /// `forced close`: the server closed the session.
    ForcedClose,
    /// `ping timeout`: no pong within `ping_timeout`.
    PingTimeout,
    /// `parse error`: the client sent bytes that are not Engine.IO packets.
    ParseError,
}

impl CloseReason {
    /// The reference's reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportError => "transport error",
            CloseReason::TransportClose => "transport close",
            CloseReason::ForcedClose => "forced close",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame could not be queued on a socket.
///
/// The frame is handed back, as with `tokio::sync::mpsc` errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError<T> {
    /// The socket's send queue is full (`max_buffered_packets`); the client is too slow.
    #[error("the socket's send queue is full")]
    Full(T),
    /// The session is closed.
    #[error("the socket is closed")]
    Closed(T),
}

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Full(t) | SendError::Closed(t) => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_the_reference() {
        assert_eq!(
            ErrorCode::UnknownTransport.body(),
            r#"{"code":0,"message":"Transport unknown"}"#
        );
        assert_eq!(
            ErrorCode::UnknownSid.body(),
            r#"{"code":1,"message":"Session ID unknown"}"#
        );
        assert_eq!(
            ErrorCode::BadHandshakeMethod.body(),
            r#"{"code":2,"message":"Bad handshake method"}"#
        );
        assert_eq!(
            ErrorCode::BadRequest.body(),
            r#"{"code":3,"message":"Bad request"}"#
        );
        assert_eq!(
            ErrorCode::Forbidden("no \"way\"".into()).body(),
            r#"{"code":4,"message":"no \"way\""}"#
        );
        assert_eq!(
            ErrorCode::Forbidden(String::new()).status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(ErrorCode::UnknownSid.status(), StatusCode::BAD_REQUEST);
    }
}
