//! Engine.IO packets: the seven types and their text/binary forms (protocol v4).
//!
//! A packet on the wire is `<type digit><data>` in a text frame, or raw bytes in a binary
//! frame (always a `message` in v4). [`Packet::decode_text`] and [`Packet::decode_binary`] read
//! one packet; [`Frame`] is the encoded, shareable form that transports write.

use crate::Str;
use bytes::Bytes;

/// The Engine.IO protocol revision a session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// Engine.IO v3 (Socket.IO 2.x clients).
    V3,
    /// Engine.IO v4 (Socket.IO 3 and 4 clients).
    V4,
}

/// The packet type, with its wire digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: handshake, server to client.
    Open,
    /// `1`: the transport can be closed.
    Close,
    /// `2`: heartbeat request (server to client in v4; `2probe` from the client during an upgrade).
    Ping,
    /// `3`: heartbeat answer.
    Pong,
    /// `4`: application data.
    Message,
    /// `5`: the client completes an upgrade.
    Upgrade,
    /// `6`: no operation, used to close a pending poll during an upgrade.
    Noop,
}

impl PacketType {
    /// The wire digit.
    pub const fn as_char(self) -> u8 {
        match self {
            PacketType::Open => b'0',
            PacketType::Close => b'1',
            PacketType::Ping => b'2',
            PacketType::Pong => b'3',
            PacketType::Message => b'4',
            PacketType::Upgrade => b'5',
            PacketType::Noop => b'6',
        }
    }

    /// The type for a wire digit.
    pub const fn from_char(c: u8) -> Option<Self> {
        Some(match c {
            b'0' => PacketType::Open,
            b'1' => PacketType::Close,
            b'2' => PacketType::Ping,
            b'3' => PacketType::Pong,
            b'4' => PacketType::Message,
            b'5' => PacketType::Upgrade,
            b'6' => PacketType::Noop,
            _ => return None,
        })
    }
}

/// A decoded packet received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0` (never valid from a client; kept so that the decoder is total).
    Open,
    /// `1`.
    Close,
    /// `2` with its optional payload (`probe`).
    Ping(Str),
    /// `3` with its optional payload (`probe`).
    Pong(Str),
    /// `4<text>`.
    Message(Str),
    /// A binary message.
    Binary(Bytes),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

/// Why bytes did not decode as a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload or frame was empty.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type digit.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// A `b`-prefixed packet is not valid base64. Not produced any more: base64 is decoded as
    /// leniently as the reference does.
    #[error("invalid base64 in binary packet")]
    InvalidBase64,
    /// The bytes of a text packet are not UTF-8.
    #[error("text packet is not valid UTF-8")]
    InvalidUtf8,
    /// A v3 length prefix or binary header is malformed.
    #[error("invalid payload framing")]
    InvalidFraming,
}

impl Packet {
    /// Decodes one packet from a WebSocket text frame or one polling record.
    ///
    /// A leading `b` is a base64 binary message (polling, or WebSocket with `b64`), decoded as
    /// leniently as the reference does (see the module's base64 rules): it never fails.
    ///
    /// ```
    /// use ferrio_engine::{Packet, Str};
    /// assert_eq!(Packet::decode_text(Str::from("4hello")), Ok(Packet::Message(Str::from("hello"))));
    /// assert_eq!(Packet::decode_text(Str::from("2probe")), Ok(Packet::Ping(Str::from("probe"))));
    /// assert!(Packet::decode_text(Str::from("9")).is_err());
    /// ```
    pub fn decode_text(text: Str) -> Result<Packet, DecodeError> {
        let first = *text.as_bytes().first().ok_or(DecodeError::Empty)?;
        if first == b'b' {
            return Ok(Packet::Binary(decode_base64(&text.as_bytes()[1..])));
        }
        let data = || text.slice(1..text.len());
        Ok(match PacketType::from_char(first) {
            Some(PacketType::Open) => Packet::Open,
            Some(PacketType::Close) => Packet::Close,
            Some(PacketType::Ping) => Packet::Ping(data()),
            Some(PacketType::Pong) => Packet::Pong(data()),
            Some(PacketType::Message) => Packet::Message(data()),
            Some(PacketType::Upgrade) => Packet::Upgrade,
            Some(PacketType::Noop) => Packet::Noop,
            None => {
                let c = text.as_str().chars().next().unwrap_or('\0');
                return Err(DecodeError::UnknownType(c));
            }
        })
    }

    /// Decodes a WebSocket binary frame: a binary message in v4, `<type byte><data>` in v3.
    pub fn decode_binary(bytes: Bytes, version: ProtocolVersion) -> Result<Packet, DecodeError> {
        match version {
            ProtocolVersion::V4 => Ok(Packet::Binary(bytes)),
            ProtocolVersion::V3 => match bytes.first() {
                Some(4) => Ok(Packet::Binary(bytes.slice(1..))),
                Some(b) => Err(DecodeError::UnknownType(char::from(*b))),
                None => Err(DecodeError::Empty),
            },
        }
    }
}

/// Decodes base64 the way Node's `Buffer.from(text, "base64")` does, which is what the reference
/// server applies to `b`-prefixed packets. It never fails:
///
/// - both alphabets are accepted (`+/` and the URL-safe `-_`);
/// - characters outside the alphabet (spaces, `*`, …) are skipped;
/// - the first `=` ends the data: padding is optional and anything after it is ignored;
/// - a trailing single character (6 bits, not a whole byte) is dropped.
///
/// ```text
/// "AQIDB" -> 01 02 03     "AQ" -> 01     "AQ==AQ" -> 01     "-_8" -> fb ff     "A*Q ID" -> 01 02 03
/// ```
pub(crate) fn decode_base64(input: &[u8]) -> Bytes {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        }))
    }
    // Node sizes its output from the raw length (padding excluded) and never writes more.
    let mut len = input.len();
    for _ in 0..2 {
        if len > 0 && input[len - 1] == b'=' {
            len -= 1;
        }
    }
    let cap = match len % 4 {
        _ if input.len() < 2 || len < 2 => 0,
        0 => len / 4 * 3,
        r => len / 4 * 3 + 1 + usize::from(r == 3),
    };
    let mut out = Vec::with_capacity(cap);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in input {
        if c == b'=' {
            break;
        }
        let Some(v) = sextet(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if out.len() == cap {
                break;
            }
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Bytes::from(out)
}

/// An encoded packet, ready to be written by any transport and cheap to clone.
///
/// A text frame holds the whole packet (`<type digit><data>`); a binary frame holds only the
/// message bytes. Build a frame once and send clones of it to many sockets.
///
/// ```
/// use ferrio_engine::Frame;
/// let f = Frame::message("hello");
/// assert_eq!(f.as_text().unwrap(), "4hello");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text packet, type digit included.
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

impl Frame {
    /// A `message` packet with this text.
    pub fn message(text: &str) -> Frame {
        let mut s = String::with_capacity(text.len() + 1);
        s.push('4');
        s.push_str(text);
        Frame::Text(s.into())
    }

    /// A `message` packet from text that already starts with the `4` type digit.
    ///
    /// This is how layers above build a frame in one allocation. Returns the string back
    /// if it does not start with `4`.
    pub fn message_prefixed(text: String) -> Result<Frame, String> {
        if text.as_bytes().first() == Some(&b'4') {
            Ok(Frame::Text(text.into()))
        } else {
            Err(text)
        }
    }

    /// A binary message.
    pub fn binary(bytes: impl Into<Bytes>) -> Frame {
        Frame::Binary(bytes.into())
    }

    /// A packet of `kind` with no data (`1`, `2`, `3`, `5`, `6`).
    pub(crate) fn control(kind: PacketType) -> Frame {
        static DIGITS: [&str; 7] = ["0", "1", "2", "3", "4", "5", "6"];
        Frame::Text(Str::from(DIGITS[usize::from(kind.as_char() - b'0')]))
    }

    /// The text of a text frame.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Frame::Text(s) => Some(s.as_str()),
            Frame::Binary(_) => None,
        }
    }

    /// Whether this is the close packet `1` (what [`Socket::close`](crate::Socket::close)
    /// queues behind the rest).
    pub(crate) fn is_close_marker(&self) -> bool {
        matches!(self, Frame::Text(s) if s.as_bytes() == b"1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_type() {
        let cases = [
            ("0", Packet::Open),
            ("1", Packet::Close),
            ("2", Packet::Ping(Str::from(""))),
            ("2probe", Packet::Ping(Str::from("probe"))),
            ("3probe", Packet::Pong(Str::from("probe"))),
            ("4", Packet::Message(Str::from(""))),
            ("4é€😀", Packet::Message(Str::from("é€😀"))),
            ("5", Packet::Upgrade),
            ("6", Packet::Noop),
            (
                "bAQIDBA==",
                Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
            ),
            ("b", Packet::Binary(Bytes::new())),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Packet::decode_text(Str::from(input)),
                Ok(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_unknown_types_and_empty() {
        assert_eq!(Packet::decode_text(Str::from("")), Err(DecodeError::Empty));
        assert_eq!(
            Packet::decode_text(Str::from("7")),
            Err(DecodeError::UnknownType('7'))
        );
        assert_eq!(
            Packet::decode_text(Str::from("€x")),
            Err(DecodeError::UnknownType('€'))
        );
    }

    #[test]
    fn base64_is_as_lenient_as_node_buffer() {
        let cases: [(&str, &[u8]); 14] = [
            ("AQIDBA==", &[1, 2, 3, 4]),
            ("AQIDB", &[1, 2, 3]),
            ("AQ", &[1]),
            ("AQI", &[1, 2]),
            ("AQ==AQ", &[1]),
            ("AQID=A", &[1, 2, 3]),
            ("-_8", &[0xfb, 0xff]),
            ("+/8=", &[0xfb, 0xff]),
            ("A*Q ID", &[1, 2, 3]),
            ("A\nQ\tI\rD", &[1, 2, 3]),
            ("!!!!", &[]),
            ("====", &[]),
            ("", &[]),
            ("A", &[]),
        ];
        for (input, expected) in cases {
            assert_eq!(&decode_base64(input.as_bytes())[..], expected, "{input:?}");
        }
        assert_eq!(
            Packet::decode_text(Str::from("bAQ==AQ")),
            Ok(Packet::Binary(Bytes::from_static(&[1])))
        );
    }

    #[test]
    fn binary_frames_by_version() {
        let b = Bytes::from_static(&[4, 1, 2]);
        assert_eq!(
            Packet::decode_binary(b.clone(), ProtocolVersion::V4),
            Ok(Packet::Binary(b.clone()))
        );
        assert_eq!(
            Packet::decode_binary(b, ProtocolVersion::V3),
            Ok(Packet::Binary(Bytes::from_static(&[1, 2])))
        );
        assert!(Packet::decode_binary(Bytes::new(), ProtocolVersion::V3).is_err());
    }

    #[test]
    fn frames_encode_with_type_digit() {
        assert_eq!(Frame::message("x").as_text(), Some("4x"));
        assert_eq!(Frame::control(PacketType::Noop).as_text(), Some("6"));
        assert_eq!(Frame::control(PacketType::Ping).as_text(), Some("2"));
        assert!(Frame::message_prefixed("2x".into()).is_err());
        assert_eq!(
            Frame::message_prefixed("4x".into()).unwrap().as_text(),
            Some("4x")
        );
    }
}
