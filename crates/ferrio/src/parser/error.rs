//! Decoding errors.

/// Why an incoming Socket.IO packet was rejected.
///
/// Every variant corresponds to a case in which the Node reference decoder
/// (`socket.io-parser`) throws, or to a case it lets through but that this
/// crate rejects on purpose (each such case says so). The reference closes the
/// whole connection on any decode error, with the reason `parse error`; callers
/// are expected to do the same whatever the variant.
///
/// The `Display` text is meant for logs and is not stable.
///
/// After an error the [`Decoder`](super::Decoder) that returned it has dropped
/// any partially reassembled packet, so it is in its initial state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text message was empty: there is no packet type.
    ///
    /// (The reference reads `Number("")`, which is `0`, and decodes an empty
    /// string as a CONNECT to `/`; this crate rejects it.)
    #[error("empty packet")]
    Empty,

    /// The first character is not a packet type digit `0`–`6`.
    #[error("unknown packet type {0:?}")]
    UnknownPacketType(char),

    /// A BINARY_EVENT or BINARY_ACK header has no valid `<count>-` prefix:
    /// the `-` is missing, the count is not a run of ASCII digits, or the count
    /// is zero. (Reference: `Illegal attachments`.)
    #[error("illegal attachments")]
    InvalidAttachmentCount,

    /// The attachment count exceeds the decoder's limit.
    /// (Reference: `too many attachments`.)
    #[error("too many attachments ({count} > {max})")]
    TooManyAttachments {
        /// The announced count (saturated at `usize::MAX`).
        count: usize,
        /// The configured limit.
        max: usize,
    },

    /// The ack id does not fit in a JavaScript safe integer (`2^53 - 1`).
    #[error("ack id out of range")]
    AckIdOverflow,

    /// The payload after the header is not valid JSON, or is followed by
    /// trailing garbage.
    #[error("invalid JSON payload: {0}")]
    InvalidJson(#[source] serde_json::Error),

    /// An EVENT, ACK, BINARY_EVENT, BINARY_ACK or CONNECT_ERROR packet has no
    /// payload. (The reference lets these through and the server then ignores
    /// or mishandles them; this crate rejects them.)
    #[error("packet type {packet_type} requires a payload")]
    MissingPayload {
        /// The packet type digit (`0`–`6`).
        packet_type: u8,
    },

    /// A CONNECT payload is present but is not a JSON object.
    #[error("CONNECT payload must be an object")]
    InvalidConnectPayload,

    /// A DISCONNECT packet carries a payload.
    #[error("DISCONNECT must not carry a payload")]
    UnexpectedDisconnectPayload,

    /// An EVENT payload is not a non-empty array whose first element is a
    /// string or a number.
    #[error("EVENT payload must be a non-empty array starting with the event name")]
    InvalidEventPayload,

    /// The event name is reserved (`connect`, `connect_error`, `disconnect`,
    /// `disconnecting`, `newListener`, `removeListener`).
    #[error("reserved event name {0:?}")]
    ReservedEventName(String),

    /// An ACK payload is not an array.
    #[error("ACK payload must be an array")]
    InvalidAckPayload,

    /// An ACK or BINARY_ACK packet has no ack id. (The reference decodes it and
    /// the server drops it as an unknown ack; this crate rejects it.)
    #[error("ACK without an id")]
    MissingAckId,

    /// A CONNECT_ERROR payload is neither a string nor an object.
    #[error("CONNECT_ERROR payload must be a string or an object")]
    InvalidConnectErrorPayload,

    /// An object with `"_placeholder": true` has a `num` that is missing, not a
    /// non-negative integer, or not below the attachment count.
    /// (Reference: `illegal attachments`.)
    #[error("illegal attachment placeholder")]
    InvalidPlaceholder,

    /// A text message arrived while binary attachments were still expected.
    /// (Reference: `got plaintext data when reconstructing a packet`.)
    #[error("text packet while {pending} attachment(s) are pending")]
    UnexpectedText {
        /// How many attachments were still missing.
        pending: usize,
    },

    /// A binary message arrived while no attachment was expected.
    /// (Reference: `got binary data when not reconstructing a packet`.)
    #[error("binary message while no attachment is pending")]
    UnexpectedBinary,
}
