//! Errors of the Socket.IO layer.

use std::time::Duration;

/// Why a socket left its namespace, with the reference's reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// `transport error`: the connection failed.
    TransportError,
    /// `transport close`: the client's connection closed.
    TransportClose,
    /// `forced close`: the Engine.IO session was closed by the server.
    ForcedClose,
    /// `ping timeout`: the client stopped answering the heartbeat.
    PingTimeout,
    /// `parse error`: the client sent an invalid packet.
    ParseError,
    /// `server shutting down`: [`SocketIo::close`](crate::SocketIo::close).
    ServerShuttingDown,
    /// `forced server close`: the connection was closed by `disconnect(true)` on another namespace.
    ForcedServerClose,
    /// `client namespace disconnect`: the client left the namespace.
    ClientNamespaceDisconnect,
    /// `server namespace disconnect`: the server called [`disconnect`](crate::SocketRef::disconnect).
    ServerNamespaceDisconnect,
    /// `handler panicked` (Ferrio only): a callback of the application (handler, middleware,
    /// listener) panicked while handling this connection, which was closed. In Node the
    /// exception would end the process.
    HandlerPanicked,
}

impl DisconnectReason {
    /// The reference's reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::ForcedServerClose => "forced server close",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::HandlerPanicked => "handler panicked",
        }
    }

    /// Whether a session is kept for connection state recovery after this reason.
    pub(crate) fn is_recoverable(self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportError
                | DisconnectReason::TransportClose
                | DisconnectReason::ForcedClose
                | DisconnectReason::PingTimeout
                | DisconnectReason::ServerShuttingDown
                | DisconnectReason::ForcedServerClose
        )
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ferrio_engine::CloseReason> for DisconnectReason {
    fn from(r: ferrio_engine::CloseReason) -> Self {
        use ferrio_engine::CloseReason as C;
        match r {
            C::TransportError => DisconnectReason::TransportError,
            C::TransportClose => DisconnectReason::TransportClose,
            C::PingTimeout => DisconnectReason::PingTimeout,
            C::ParseError => DisconnectReason::ParseError,
            _ => DisconnectReason::ForcedClose,
        }
    }
}

/// An event could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The arguments could not be serialized.
    #[error("cannot serialize the arguments: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The event name is reserved (`connect`, `disconnect`, …).
    #[error("\"{0}\" is a reserved event name")]
    ReservedEvent(String),
    /// The socket is disconnected.
    #[error("the socket is disconnected")]
    Disconnected,
    /// The client's send queue is full; it was disconnected (see
    /// [`EngineConfig::with_max_buffered_packets`](ferrio_engine::EngineConfig::with_max_buffered_packets)).
    #[error("the client's send queue is full")]
    QueueFull,
    /// The adapter failed (for instance, the Redis connection is down).
    #[error("adapter error: {0}")]
    Adapter(#[from] crate::adapter::AdapterError),
}

/// An acknowledgement did not come.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No answer within the timeout (the reference's `operation has timed out`).
    #[error("operation has timed out")]
    Timeout(Duration),
    /// The socket disconnected before answering.
    #[error("the socket disconnected before acknowledging")]
    Disconnected,
    /// The answer did not deserialize into the expected type.
    #[error("cannot deserialize the acknowledgement: {0}")]
    Decode(#[from] serde_json::Error),
    /// The event could not be sent.
    #[error(transparent)]
    Emit(#[from] EmitError),
}

/// The error a namespace middleware returns to refuse a connection.
///
/// The client receives a CONNECT_ERROR packet `{"message":…,"data":…}` (`data` only when set).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The message (`err.message` in the reference).
    pub message: String,
    /// Extra data for the client (`err.data`).
    pub data: Option<serde_json::Value>,
}

impl ConnectError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data for the client.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn to_value(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("message".into(), self.message.clone().into());
        if let Some(d) = &self.data {
            m.insert("data".into(), d.clone());
        }
        serde_json::Value::Object(m)
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}
