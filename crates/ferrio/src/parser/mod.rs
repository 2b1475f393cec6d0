//! Socket.IO protocol v5 packet codecs.
//!
//! This module is sans-IO: pure functions and small state machines over
//! strings and byte buffers, with no runtime. It sits between the Engine.IO
//! layer, which carries *messages* (text or binary), and the Socket.IO
//! server, which works with [`Packet`]s:
//!
//! ```text
//!  Engine.IO message (text)  ──► Decoder::decode_text   ──┐
//!  Engine.IO message (binary)──► Decoder::decode_binary ──┴─► Option<Packet>
//!
//!  Packet ──► Parser::encode ──► Encoded { text, attachments }
//!                                 (send text, then each attachment as binary)
//! ```
//!
//! [`JsonParser`] is the default format of the reference (`socket.io-parser`):
//!
//! ```text
//! <type>[<attachments>-][<nsp>,][<ack id>][<JSON payload>]
//! ```
//!
//! for instance `2["hello",1]`, `21/admin,["hello"]`, `31["y"]` or
//! `451-["bin",{"_placeholder":true,"num":0}]` followed by one binary message.
//! The Engine.IO `4` (message) prefix is **not** part of the text.
//!
//! Decoding is strict, like the reference: any [`ParseError`] means the peer
//! sent something invalid, and the connection should be closed with the
//! reason `parse error`.
//!
//! The serde bridges ([`event_payload`], [`to_payload`], [`from_args`],
//! [`from_value`], [`from_payload`]) convert user types to and from payloads,
//! moving binary values (`bytes::Bytes`, `serde_bytes`) to attachments; their
//! [module docs](value) give the argument-list rule.
//!
//! ```
//! use ferrio::parser::{event_payload, from_args, Decoder, JsonParser, Packet, Parser};
//!
//! let parser = JsonParser::new();
//! let data = event_payload("hello", &("world", 42)).unwrap();
//! let encoded = parser.encode(&Packet::event("/", data, Some(7)));
//! assert_eq!(encoded.text, r#"27["hello","world",42]"#);
//!
//! let mut decoder = parser.decoder();
//! let packet = decoder.decode_text(&encoded.text).unwrap().unwrap();
//! assert_eq!(packet.event_name(), Some("hello"));
//! let (who, n): (String, u32) = from_args(packet.args(), packet.attachments()).unwrap();
//! assert_eq!((who.as_str(), n), ("world", 42));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod error;
#[doc(hidden)]
pub mod fuzzing;
mod json;
mod packet;
pub mod value;

#[cfg(test)]
mod tests;

pub use error::ParseError;
pub use json::{encode, JsonDecoder, JsonParser, DEFAULT_MAX_ATTACHMENTS, MAX_ACK_ID};
pub use packet::{
    is_reserved_event, Encoded, Packet, PacketKind, Payload, MAIN_NAMESPACE, RESERVED_EVENTS,
};
pub use value::{
    event_payload, from_args, from_payload, from_value, placeholder, to_payload, to_value,
};

/// A Socket.IO packet format (the reference calls it a *parser*).
///
/// One parser value is shared by the whole server; it encodes outgoing
/// packets and creates one [`Decoder`] per connection.
pub trait Parser: Send + Sync + 'static {
    /// The per-connection decoder.
    type Decoder: Decoder;

    /// Encodes `packet` as one text message plus its attachments.
    ///
    /// Encoding cannot fail. The packet's namespace must not contain a `,`
    /// (see [`Packet::nsp`]).
    fn encode(&self, packet: &Packet) -> Encoded;

    /// A fresh decoder for one connection.
    fn decoder(&self) -> Self::Decoder;
}

/// Reassembles packets from the Engine.IO messages of one connection.
///
/// Feed messages in arrival order. After an error, the decoder is back in its
/// initial state, but the connection should be closed anyway.
pub trait Decoder: Send + 'static {
    /// Feeds one Engine.IO text message; `Ok(Some(packet))` when it is
    /// complete, `Ok(None)` while waiting for attachments.
    fn decode_text(&mut self, text: &str) -> Result<Option<Packet>, ParseError>;

    /// Feeds one Engine.IO binary message (an attachment); `Ok(Some(packet))`
    /// when it was the last one the pending packet needed.
    fn decode_binary(&mut self, bin: bytes::Bytes) -> Result<Option<Packet>, ParseError>;
}
