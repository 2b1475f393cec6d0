//! Transports: thin drivers between HTTP/WebSocket I/O and the sans-IO core.

pub(crate) mod http;
pub(crate) mod polling;
pub(crate) mod websocket;
pub(crate) mod ws_conn;

use crate::engine::{Engine, EngineHandler, Message};
use crate::error::CloseReason;
use crate::packet::Packet;
use crate::socket::Socket;

/// What a transport does after handing a packet to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Continue,
    /// A pong (v4) or ping (v3) for the heartbeat.
    Heartbeat,
    Close(CloseReason),
}

/// Gives a message to the handler. A panic is caught (the driver must survive it to remove
/// the session and call [`EngineHandler::on_close`]), logged, and closes the session with
/// `forced close`.
fn on_message<H: EngineHandler>(engine: &Engine<H>, socket: &Socket<H::Data>, m: Message) -> Next {
    let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine.handler().on_message(socket, m)
    }));
    match call {
        Ok(()) => Next::Continue,
        Err(_) => {
            tracing::error!(target: "ferrio_engine", sid = %socket.id(), "on_message panicked: closing the session");
            Next::Close(CloseReason::ForcedClose)
        }
    }
}

/// The common packet rules of every transport once a session is open.
pub(crate) fn on_packet<H: EngineHandler>(
    engine: &Engine<H>,
    socket: &Socket<H::Data>,
    packet: Packet,
) -> Next {
    match packet {
        Packet::Message(text) => on_message(engine, socket, Message::Text(text)),
        Packet::Binary(bytes) => on_message(engine, socket, Message::Binary(bytes)),
        Packet::Pong(_) => match socket.protocol() {
            crate::ProtocolVersion::V3 => Next::Close(CloseReason::TransportError),
            _ => Next::Heartbeat,
        },
        Packet::Ping(_) => match socket.protocol() {
            crate::ProtocolVersion::V3 => Next::Heartbeat,
            // "invalid heartbeat direction"
            _ => Next::Close(CloseReason::TransportError),
        },
        // Only the polling transport acts on a client close packet (it handles it before
        // calling this); over WebSocket the reference ignores it.
        Packet::Close | Packet::Open | Packet::Upgrade | Packet::Noop => Next::Continue,
    }
}
