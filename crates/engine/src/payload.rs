//! Polling payloads: several packets in one HTTP body.
//!
//! Protocol v4 joins packets with the record separator `\x1e` and writes binary messages as
//! `b<base64>`. The encoder and decoder are pure functions over buffers.

use crate::packet::{DecodeError, Frame, Packet};
use crate::Str;
use base64::Engine as _;

/// The record separator between packets of a v4 payload.
pub const SEPARATOR: u8 = 0x1e;

/// Appends `frames` to `out` as one v4 payload.
///
/// ```
/// use ferrio_engine::{payload, Frame};
/// let mut out = String::new();
/// payload::encode_v4([Frame::message("hello"), Frame::binary(vec![1u8, 2, 3, 4])].iter(), &mut out);
/// assert_eq!(out, "4hello\x1ebAQIDBA==");
/// ```
pub fn encode_v4<'a>(frames: impl IntoIterator<Item = &'a Frame>, out: &mut String) {
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            out.push(char::from(SEPARATOR));
        }
        match frame {
            Frame::Text(s) => out.push_str(s),
            Frame::Binary(b) => {
                out.push('b');
                base64::engine::general_purpose::STANDARD.encode_string(b, out);
            }
        }
    }
}

/// How many bytes `frame` adds to a v4 payload.
pub(crate) fn encoded_len_v4(frame: &Frame) -> usize {
    match frame {
        Frame::Text(s) => s.len() + 1,
        Frame::Binary(b) => 2 + b.len().div_ceil(3) * 4,
    }
}

/// Decodes a v4 payload into its packets.
///
/// Like the reference, decoding stops at the first invalid packet: the packets before it are
/// returned together with the error, so that they are still delivered before the session closes.
///
/// ```
/// use ferrio_engine::{payload, Packet, Str};
/// let (packets, err) = payload::decode_v4(Str::from("4a\x1e3\x1e4b"));
/// assert_eq!(packets.len(), 3);
/// assert!(err.is_none());
/// ```
pub fn decode_v4(body: Str) -> (Vec<Packet>, Option<DecodeError>) {
    let mut packets = Vec::new();
    let mut start = 0;
    let bytes = body.as_bytes();
    loop {
        let end = memchr(SEPARATOR, &bytes[start..]).map_or(bytes.len(), |i| start + i);
        match Packet::decode_text(body.slice(start..end)) {
            Ok(p) => packets.push(p),
            Err(e) => return (packets, Some(e)),
        }
        if end == bytes.len() {
            return (packets, None);
        }
        start = end + 1;
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == needle)
}

/// Writes `payload` as a JSONP response body: `___eio[<index>]("<payload>");`.
///
/// `index` keeps only the digits of the client's `j` parameter (as the reference does), so it
/// can never inject script. The payload is a JSON string literal, with U+2028 and U+2029
/// escaped as well.
pub fn encode_jsonp(index: &str, payload: &str) -> String {
    let mut out = String::with_capacity(payload.len() + 16);
    out.push_str("___eio[");
    out.extend(index.chars().filter(char::is_ascii_digit));
    out.push_str("](");
    let literal = serde_json::to_string(payload).unwrap_or_else(|_| "\"\"".to_owned());
    for c in literal.chars() {
        match c {
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push_str(");");
    out
}

/// Reads the payload out of a JSONP POST body (`application/x-www-form-urlencoded`, field `d`).
///
/// Returns `None` when there is no `d` field. Escaped newlines (`\\n`) are unescaped as the
/// reference does.
pub fn decode_jsonp_form(body: &[u8]) -> Option<String> {
    for pair in body.split(|b| *b == b'&') {
        let mut kv = pair.splitn(2, |b| *b == b'=');
        if kv.next() == Some(b"d") {
            let value = kv.next().unwrap_or_default();
            let decoded = percent_decode_form(value)?;
            return Some(decoded.replace("\\\\n", "\\n"));
        }
    }
    None
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
pub(crate) fn percent_decode_form(input: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Decodes a URL query component (`%XX`, and `+` as a space like `URLSearchParams`).
pub(crate) fn percent_decode_query(input: &str) -> String {
    percent_decode_form(input.as_bytes())
        .unwrap_or_else(|| String::from_utf8_lossy(input.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    #[test]
    fn encodes_observed_reference_payload() {
        let frames = [
            Frame::message("40{\"sid\":\"v6hteFxKuwpyoZohAAAA\"}"),
            Frame::message("452-[\"bin\"]"),
            Frame::binary(vec![1u8, 2, 3, 4]),
            Frame::binary(vec![5u8]),
        ];
        let mut out = String::new();
        encode_v4(frames.iter(), &mut out);
        assert_eq!(
            out,
            "440{\"sid\":\"v6hteFxKuwpyoZohAAAA\"}\x1e4452-[\"bin\"]\x1ebAQIDBA==\x1ebBQ=="
        );
        let expected: usize = frames.iter().map(encoded_len_v4).sum::<usize>() - 1;
        assert_eq!(out.len(), expected);
    }

    #[test]
    fn decode_stops_at_first_invalid_packet() {
        let (packets, err) = decode_v4(Str::from("4a\x1ex\x1e4b"));
        assert_eq!(packets, vec![Packet::Message(Str::from("a"))]);
        assert_eq!(err, Some(DecodeError::UnknownType('x')));
        let (packets, err) = decode_v4(Str::from(""));
        assert!(packets.is_empty());
        assert_eq!(err, Some(DecodeError::Empty));
        let (_, err) = decode_v4(Str::from("4a\x1e"));
        assert_eq!(err, Some(DecodeError::Empty));
    }

    #[test]
    fn jsonp_escapes_and_strips_index() {
        assert_eq!(
            encode_jsonp("0", "0{\"sid\":\"x\"}"),
            "___eio[0](\"0{\\\"sid\\\":\\\"x\\\"}\");"
        );
        assert_eq!(encode_jsonp("1);alert(1", "4"), "___eio[11](\"4\");");
        assert_eq!(encode_jsonp("2", "4\u{2028}"), "___eio[2](\"4\\u2028\");");
    }

    #[test]
    fn jsonp_form_body() {
        assert_eq!(
            decode_jsonp_form(b"d=4hello%20world").as_deref(),
            Some("4hello world")
        );
        assert_eq!(
            decode_jsonp_form(b"d=4a+b%1E4c").as_deref(),
            Some("4a b\x1e4c")
        );
        assert_eq!(decode_jsonp_form(b"x=1"), None);
        assert_eq!(decode_jsonp_form(b"d=%zz"), None);
    }

    fn frame_strategy() -> impl Strategy<Value = Frame> {
        prop_oneof![
            "[^\x1e]*".prop_map(|s| Frame::message(&s)),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Frame::binary),
        ]
    }

    proptest! {
        #[test]
        fn v4_round_trip(frames in proptest::collection::vec(frame_strategy(), 1..8)) {
            let mut out = String::new();
            encode_v4(frames.iter(), &mut out);
            let (packets, err) = decode_v4(Str::from(out));
            prop_assert!(err.is_none());
            let back: Vec<Frame> = packets.into_iter().map(|p| match p {
                Packet::Message(s) => Frame::message(&s),
                Packet::Binary(b) => Frame::Binary(b),
                other => panic!("unexpected {other:?}"),
            }).collect();
            prop_assert_eq!(back, frames);
        }

        #[test]
        fn decoder_never_panics(s in ".*") {
            let _ = decode_v4(Str::from(s));
        }

        #[test]
        fn binary_decoder_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Packet::decode_binary(Bytes::from(b), crate::ProtocolVersion::V3);
        }
    }
}
