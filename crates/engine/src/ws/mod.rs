//! WebSocket (RFC 6455), server side, as Engine.IO uses it: sans-IO.
//!
//! - [`frame`]: frame headers and masking.
//! - [`message`]: a [`Decoder`] that turns the bytes a client sends into messages: it checks
//!   every framing rule and the size limit *before* it buffers a payload, reassembles
//!   fragmented messages, validates text, and inflates compressed messages.
//! - [`deflate`]: the permessage-deflate extension (RFC 7692): negotiation, and the
//!   compression of what the server sends.
//!
//! Nothing here owns a socket or a clock: the transport's driver reads bytes into a buffer,
//! asks the decoder for messages, and writes what the [`frame`] encoder produced.
//!
//! ```
//! use bytes::BytesMut;
//! use ferrio_engine::ws::{Decoder, Message};
//!
//! // A masked text frame "4hi" (an Engine.IO message packet), as a client sends it.
//! let mut wire = BytesMut::from(&[0x81, 0x83, 1, 2, 3, 4, b'4' ^ 1, b'h' ^ 2, b'i' ^ 3][..]);
//! let mut decoder = Decoder::new(1_000_000, None);
//! assert_eq!(decoder.decode(&mut wire), Ok(Some(Message::Text("4hi".into()))));
//! assert!(wire.is_empty());
//! ```

pub mod deflate;
pub mod frame;
pub mod message;

pub use deflate::{PerMessageDeflate, PmdParams};
pub use frame::{Header, OpCode};
pub use message::{CloseFrame, Decoder, Message};

/// Why the decoder refused what a client sent. Each maps to the close code that `ws` (the
/// reference's WebSocket server) sends for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    /// A framing rule was broken (unmasked frame, reserved bits or opcode, fragmented or
    /// oversized control frame, stray continuation, invalid close code…).
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    /// A frame or message (after inflation, too) is larger than the limit.
    #[error("WebSocket message over the size limit")]
    TooBig,
    /// A text message (or a close reason) that is not UTF-8.
    #[error("WebSocket text is not valid UTF-8")]
    InvalidUtf8,
    /// A compressed message that does not inflate.
    #[error("invalid compressed WebSocket message")]
    BadCompression,
}

impl WsError {
    /// The close code sent before the connection is dropped: 1002, 1009 or 1007.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => close_code::PROTOCOL,
            WsError::TooBig => close_code::TOO_BIG,
            WsError::InvalidUtf8 | WsError::BadCompression => close_code::INVALID_DATA,
        }
    }
}

/// The close codes this server sends.
pub mod close_code {
    /// 1000: normal closure.
    pub const NORMAL: u16 = 1000;
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL: u16 = 1002;
    /// 1007: data inconsistent with the message type (text that is not UTF-8).
    pub const INVALID_DATA: u16 = 1007;
    /// 1009: message too big.
    pub const TOO_BIG: u16 = 1009;

    /// Whether a peer may send `code` in a close frame (the rule of `ws`).
    pub fn is_valid(code: u16) -> bool {
        (1000..=1014).contains(&code) && !matches!(code, 1004..=1006)
            || (3000..=4999).contains(&code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_the_close_codes_of_ws() {
        assert_eq!(WsError::Protocol("x").close_code(), 1002);
        assert_eq!(WsError::TooBig.close_code(), 1009);
        assert_eq!(WsError::InvalidUtf8.close_code(), 1007);
        assert_eq!(WsError::BadCompression.close_code(), 1007);
    }

    #[test]
    fn close_codes_a_peer_may_send() {
        for ok in [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(close_code::is_valid(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            assert!(!close_code::is_valid(bad), "{bad}");
        }
    }
}
