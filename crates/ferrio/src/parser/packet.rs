//! The packet model shared by every parser.

use bytes::Bytes;
use serde_json::Value;

/// The main namespace.
pub const MAIN_NAMESPACE: &str = "/";

/// Event names that a peer may not send (the reference rejects them when
/// decoding, because they have a special meaning to one side's emitter).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is one of the [`RESERVED_EVENTS`].
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// One Socket.IO packet, independent of its encoding.
///
/// BINARY_EVENT and BINARY_ACK are not separate kinds: an [`PacketKind::Event`]
/// or [`PacketKind::Ack`] whose [`Payload::attachments`] is non-empty is encoded
/// as type 5 or 6, and the decoder turns 5/6 back into `Event`/`Ack` with the
/// attachments filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The namespace, `"/"` for the main one.
    ///
    /// It must not contain a `,` (the comma ends the namespace on the wire, so
    /// such a packet could not be decoded back; the reference encoder throws).
    /// Decoded namespaces never contain one.
    pub nsp: String,
    /// The packet type and its content.
    pub kind: PacketKind,
}

/// The type-specific content of a [`Packet`].
#[derive(Debug, Clone, PartialEq)]
pub enum PacketKind {
    /// `CONNECT` (0). From a client: the optional `auth` object. From the
    /// server: `{"sid": …}` (plus `"pid"` with connection state recovery).
    /// The decoder only accepts an absent payload or a JSON object.
    Connect(Option<Value>),
    /// `DISCONNECT` (1), never with a payload.
    Disconnect,
    /// `EVENT` (2), or `BINARY_EVENT` (5) when there are attachments.
    Event {
        /// The whole array, including the event name at index 0.
        data: Payload,
        /// The ack id, when the sender asks for an acknowledgement. Peers
        /// reject ids above [`MAX_ACK_ID`](super::MAX_ACK_ID).
        id: Option<u64>,
    },
    /// `ACK` (3), or `BINARY_ACK` (6) when there are attachments.
    Ack {
        /// The acknowledgement's argument list.
        data: Payload,
        /// The id of the event being acknowledged.
        id: u64,
    },
    /// `CONNECT_ERROR` (4): a string or an object such as
    /// `{"message": …, "data": …}`.
    ConnectError(Value),
}

/// A JSON array with its binary attachments.
///
/// Binary values are represented in `value` by placeholder objects
/// `{"_placeholder":true,"num":i}` (see [`placeholder`](super::placeholder)),
/// where `i` indexes `attachments`. The placeholders stay in `value` after
/// decoding; [`from_value`](super::from_value) and friends resolve them.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The JSON array. Always a [`Value::Array`] in packets this crate builds
    /// or decodes.
    pub value: Value,
    /// The binary attachments, in placeholder order.
    pub attachments: Vec<Bytes>,
}

impl Default for Payload {
    /// An empty array without attachments.
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Payload {
    /// A payload without attachments.
    pub fn new(items: Vec<Value>) -> Self {
        Self {
            value: Value::Array(items),
            attachments: Vec::new(),
        }
    }

    /// A payload with attachments; `items` should reference each of them with
    /// a [`placeholder`](super::placeholder).
    pub fn with_attachments(items: Vec<Value>, attachments: Vec<Bytes>) -> Self {
        Self {
            value: Value::Array(items),
            attachments,
        }
    }

    /// The array's elements (empty if `value` is not an array).
    pub fn items(&self) -> &[Value] {
        match &self.value {
            Value::Array(items) => items,
            _ => &[],
        }
    }

    /// Whether the payload has binary attachments (it then encodes as
    /// BINARY_EVENT / BINARY_ACK).
    pub fn is_binary(&self) -> bool {
        !self.attachments.is_empty()
    }
}

impl Packet {
    /// A CONNECT packet.
    pub fn connect(nsp: impl Into<String>, data: Option<Value>) -> Self {
        Self {
            nsp: nsp.into(),
            kind: PacketKind::Connect(data),
        }
    }

    /// A DISCONNECT packet.
    pub fn disconnect(nsp: impl Into<String>) -> Self {
        Self {
            nsp: nsp.into(),
            kind: PacketKind::Disconnect,
        }
    }

    /// An EVENT packet; `data` holds the event name at index 0 (see
    /// [`event_payload`](super::event_payload)).
    pub fn event(nsp: impl Into<String>, data: Payload, id: Option<u64>) -> Self {
        Self {
            nsp: nsp.into(),
            kind: PacketKind::Event { data, id },
        }
    }

    /// An ACK packet; `data` is the acknowledgement's argument list (see
    /// [`to_payload`](super::to_payload)).
    pub fn ack(nsp: impl Into<String>, data: Payload, id: u64) -> Self {
        Self {
            nsp: nsp.into(),
            kind: PacketKind::Ack { data, id },
        }
    }

    /// A CONNECT_ERROR packet.
    pub fn connect_error(nsp: impl Into<String>, data: Value) -> Self {
        Self {
            nsp: nsp.into(),
            kind: PacketKind::ConnectError(data),
        }
    }

    /// The wire type digit: 0–4, or 5/6 for an event/ack with attachments.
    pub fn packet_type(&self) -> u8 {
        match &self.kind {
            PacketKind::Connect(_) => 0,
            PacketKind::Disconnect => 1,
            PacketKind::Event { data, .. } if data.is_binary() => 5,
            PacketKind::Event { .. } => 2,
            PacketKind::Ack { data, .. } if data.is_binary() => 6,
            PacketKind::Ack { .. } => 3,
            PacketKind::ConnectError(_) => 4,
        }
    }

    /// The event name, for an EVENT whose name is a string.
    ///
    /// The reference also accepts a number as event name (Node's emitter then
    /// dispatches it under its decimal string); see [`Packet::event_name_value`].
    pub fn event_name(&self) -> Option<&str> {
        self.event_name_value().and_then(Value::as_str)
    }

    /// The raw first element of an EVENT's array (a string or a number in
    /// decoded packets).
    pub fn event_name_value(&self) -> Option<&Value> {
        match &self.kind {
            PacketKind::Event { data, .. } => data.items().first(),
            _ => None,
        }
    }

    /// The arguments: an EVENT's array after the name, an ACK's whole array,
    /// nothing for the other kinds. Pass them to [`from_args`](super::from_args)
    /// together with [`Packet::attachments`].
    pub fn args(&self) -> &[Value] {
        match &self.kind {
            PacketKind::Event { data, .. } => data.items().get(1..).unwrap_or(&[]),
            PacketKind::Ack { data, .. } => data.items(),
            _ => &[],
        }
    }

    /// The binary attachments of an EVENT or ACK (empty otherwise).
    pub fn attachments(&self) -> &[Bytes] {
        match &self.kind {
            PacketKind::Event { data, .. } | PacketKind::Ack { data, .. } => &data.attachments,
            _ => &[],
        }
    }

    /// The ack id of an EVENT that requests one, or of an ACK.
    pub fn ack_id(&self) -> Option<u64> {
        match &self.kind {
            PacketKind::Event { id, .. } => *id,
            PacketKind::Ack { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// An encoded packet, as the default parser sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The text message, **without** the Engine.IO `4` (message) prefix.
    pub text: String,
    /// The binary messages that must follow `text`, in order.
    pub attachments: Vec<Bytes>,
}
