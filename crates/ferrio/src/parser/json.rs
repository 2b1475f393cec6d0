//! The default `socket.io-parser` text format.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::error::ParseError;
use super::packet::{is_reserved_event, Encoded, Packet, PacketKind, Payload, MAIN_NAMESPACE};
use super::value::placeholder_num;
use super::{Decoder, Parser};

/// Largest ack id the reference can represent exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_ACK_ID: u64 = (1 << 53) - 1;

/// Default limit of attachments per packet, as in the reference.
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// The default Socket.IO parser (`socket.io-parser`): one text message per
/// packet, followed by one binary message per attachment.
///
/// ```text
/// <type>[<attachments>-][<nsp>,][<ack id>][<JSON payload>]
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonParser {
    max_attachments: usize,
}

impl Default for JsonParser {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonParser {
    /// A parser accepting at most [`DEFAULT_MAX_ATTACHMENTS`] attachments per
    /// packet.
    pub const fn new() -> Self {
        Self {
            max_attachments: DEFAULT_MAX_ATTACHMENTS,
        }
    }

    /// Sets the largest attachment count the decoders accept
    /// (the reference's `maxAttachments`).
    pub const fn with_max_attachments(mut self, max: usize) -> Self {
        self.max_attachments = max;
        self
    }

    /// The largest attachment count the decoders accept.
    pub const fn max_attachments(&self) -> usize {
        self.max_attachments
    }
}

impl Parser for JsonParser {
    type Decoder = JsonDecoder;

    fn encode(&self, packet: &Packet) -> Encoded {
        encode(packet)
    }

    fn decoder(&self) -> JsonDecoder {
        JsonDecoder::new(self.max_attachments)
    }
}

/// Encodes `packet` in the default format (what [`JsonParser::encode`] does).
///
/// The text is exactly what the reference encoder produces for the same
/// packet, with JSON written compactly by `serde_json` (key order is kept).
/// A namespace of `"/"` (or `""`) is omitted.
pub fn encode(packet: &Packet) -> Encoded {
    let (data, id, attachments): (Option<&Value>, Option<u64>, &[Bytes]) = match &packet.kind {
        PacketKind::Connect(data) => (data.as_ref(), None, &[]),
        PacketKind::Disconnect => (None, None, &[]),
        PacketKind::Event { data, id } => (Some(&data.value), *id, &data.attachments),
        PacketKind::Ack { data, id } => (Some(&data.value), Some(*id), &data.attachments),
        PacketKind::ConnectError(data) => (Some(data), None, &[]),
    };
    let with_nsp = !packet.nsp.is_empty() && packet.nsp != MAIN_NAMESPACE;

    let mut cap = 1;
    if !attachments.is_empty() {
        cap += 3;
    }
    if with_nsp {
        cap += packet.nsp.len() + 1;
    }
    if id.is_some() {
        cap += 4;
    }
    if let Some(data) = data {
        cap += json_len_hint(data);
    }

    let mut buf: Vec<u8> = Vec::with_capacity(cap);
    buf.push(b'0' + packet.packet_type());
    if !attachments.is_empty() {
        buf.extend_from_slice(itoa::Buffer::new().format(attachments.len()).as_bytes());
        buf.push(b'-');
    }
    if with_nsp {
        buf.extend_from_slice(packet.nsp.as_bytes());
        buf.push(b',');
    }
    if let Some(id) = id {
        buf.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
    }
    if let Some(data) = data {
        // Serialising a `Value` into a `Vec` cannot fail: map keys are strings
        // and writing to a `Vec` is infallible.
        let _ = serde_json::to_writer(&mut buf, data);
    }
    // Everything written is UTF-8 (`&str` pieces and serde_json output), so
    // the fallback is never taken; it only avoids a panic path.
    let text = String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());

    Encoded {
        text,
        attachments: attachments.to_vec(),
    }
}

/// A cheap estimate of the compact JSON length of `v` (exact but for string
/// escapes and numbers), used to size the output buffer once.
fn json_len_hint(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(_) => 5,
        Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(|i| json_len_hint(i) + 1).sum::<usize>(),
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + 4 + json_len_hint(v))
                .sum::<usize>()
        }
    }
}

/// The decoder of [`JsonParser`]: a small state machine that is either idle
/// or reassembling a binary packet.
#[derive(Debug)]
pub struct JsonDecoder {
    max_attachments: usize,
    pending: Option<Pending>,
}

/// A BINARY_EVENT / BINARY_ACK whose attachments have not all arrived.
#[derive(Debug)]
struct Pending {
    packet: Packet,
    expected: usize,
}

impl JsonDecoder {
    /// A decoder accepting at most `max_attachments` attachments per packet.
    pub fn new(max_attachments: usize) -> Self {
        Self {
            max_attachments,
            pending: None,
        }
    }

    /// How many attachments the packet being reassembled still waits for
    /// (0 when idle).
    pub fn pending_attachments(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| {
            p.expected.saturating_sub(p.packet.attachments().len())
        })
    }

    /// Drops any partially reassembled packet.
    pub fn reset(&mut self) {
        self.pending = None;
    }
}

impl Decoder for JsonDecoder {
    fn decode_text(&mut self, text: &str) -> Result<Option<Packet>, ParseError> {
        if self.pending.is_some() {
            let pending = self.pending_attachments();
            self.pending = None;
            return Err(ParseError::UnexpectedText { pending });
        }
        let (packet, expected) = decode_str(text, self.max_attachments)?;
        if expected == 0 {
            Ok(Some(packet))
        } else {
            self.pending = Some(Pending { packet, expected });
            Ok(None)
        }
    }

    fn decode_binary(&mut self, bin: Bytes) -> Result<Option<Packet>, ParseError> {
        let Some(pending) = self.pending.as_mut() else {
            return Err(ParseError::UnexpectedBinary);
        };
        let attachments = match &mut pending.packet.kind {
            PacketKind::Event { data, .. } | PacketKind::Ack { data, .. } => &mut data.attachments,
            // Only events and acks are ever pending.
            _ => {
                self.pending = None;
                return Err(ParseError::UnexpectedBinary);
            }
        };
        attachments.push(bin);
        if attachments.len() < pending.expected {
            return Ok(None);
        }
        Ok(self.pending.take().map(|p| p.packet))
    }
}

/// Decodes one text message into a packet and the number of attachments that
/// must follow it.
fn decode_str(s: &str, max_attachments: usize) -> Result<(Packet, usize), ParseError> {
    let b = s.as_bytes();
    let packet_type = match b.first() {
        Some(c @ b'0'..=b'6') => c - b'0',
        Some(_) => {
            return Err(ParseError::UnknownPacketType(
                s.chars().next().unwrap_or_default(),
            ))
        }
        None => return Err(ParseError::Empty),
    };
    let mut i = 1;

    // <attachments>-
    let mut attachments = 0;
    if packet_type == 5 || packet_type == 6 {
        let dash = b[i..]
            .iter()
            .position(|&c| c == b'-')
            .ok_or(ParseError::InvalidAttachmentCount)?;
        let digits = &b[i..i + dash];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::InvalidAttachmentCount);
        }
        let count = digits.iter().fold(0usize, |n, &d| {
            n.saturating_mul(10).saturating_add(usize::from(d - b'0'))
        });
        if count == 0 {
            return Err(ParseError::InvalidAttachmentCount);
        }
        if count > max_attachments {
            return Err(ParseError::TooManyAttachments {
                count,
                max: max_attachments,
            });
        }
        attachments = count;
        i += dash + 1;
    }

    // <nsp>,
    let nsp = if b.get(i) == Some(&b'/') {
        let start = i;
        match b[i..].iter().position(|&c| c == b',') {
            Some(comma) => {
                i += comma + 1;
                &s[start..i - 1]
            }
            None => {
                i = b.len();
                &s[start..]
            }
        }
    } else {
        MAIN_NAMESPACE
    };

    // <ack id>
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let id = if digits > 0 {
        let mut id: u64 = 0;
        for &d in &b[i..i + digits] {
            id = id
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .filter(|&n| n <= MAX_ACK_ID)
                .ok_or(ParseError::AckIdOverflow)?;
        }
        i += digits;
        Some(id)
    } else {
        None
    };

    // <JSON payload>
    let data = if i < b.len() {
        Some(serde_json::from_str::<Value>(&s[i..]).map_err(ParseError::InvalidJson)?)
    } else {
        None
    };

    let missing = || ParseError::MissingPayload { packet_type };
    let kind = match packet_type {
        0 => match data {
            None => PacketKind::Connect(None),
            Some(v @ Value::Object(_)) => PacketKind::Connect(Some(v)),
            Some(_) => return Err(ParseError::InvalidConnectPayload),
        },
        1 => match data {
            None => PacketKind::Disconnect,
            Some(_) => return Err(ParseError::UnexpectedDisconnectPayload),
        },
        2 | 5 => {
            let value = data.ok_or_else(missing)?;
            match value.as_array().and_then(|a| a.first()) {
                Some(Value::String(name)) if is_reserved_event(name) => {
                    return Err(ParseError::ReservedEventName(name.clone()))
                }
                Some(Value::String(_) | Value::Number(_)) => {}
                _ => return Err(ParseError::InvalidEventPayload),
            }
            if attachments > 0 {
                check_placeholders(&value, attachments)?;
            }
            PacketKind::Event {
                data: payload(value, attachments),
                id,
            }
        }
        3 | 6 => {
            let value = data.ok_or_else(missing)?;
            if !value.is_array() {
                return Err(ParseError::InvalidAckPayload);
            }
            let id = id.ok_or(ParseError::MissingAckId)?;
            if attachments > 0 {
                check_placeholders(&value, attachments)?;
            }
            PacketKind::Ack {
                data: payload(value, attachments),
                id,
            }
        }
        _ => match data {
            Some(v @ (Value::String(_) | Value::Object(_))) => PacketKind::ConnectError(v),
            Some(_) => return Err(ParseError::InvalidConnectErrorPayload),
            None => return Err(missing()),
        },
    };
    Ok((
        Packet {
            nsp: nsp.to_owned(),
            kind,
        },
        attachments,
    ))
}

fn payload(value: Value, attachments: usize) -> Payload {
    Payload {
        value,
        attachments: Vec::with_capacity(attachments),
    }
}

/// Checks that every placeholder in `v` references one of `count` attachments
/// (the reference's `reconstructPacket` check).
fn check_placeholders(v: &Value, count: usize) -> Result<(), ParseError> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| check_placeholders(i, count)),
        Value::Object(map) => match placeholder_num(map) {
            Some(Some(num)) if num < count => Ok(()),
            Some(_) => Err(ParseError::InvalidPlaceholder),
            None => check_map(map, count),
        },
        _ => Ok(()),
    }
}

fn check_map(map: &Map<String, Value>, count: usize) -> Result<(), ParseError> {
    map.values().try_for_each(|v| check_placeholders(v, count))
}
