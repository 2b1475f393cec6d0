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
/// Like the reference (Node's `querystring`), the form is decoded leniently: `+` is a space, a
/// `%` that does not start an escape is kept, invalid UTF-8 becomes U+FFFD, and only the first
/// 1000 fields count. Returns `None` unless there is exactly one `d` field: the reference
/// answers such a POST `200 ok` and ignores it. Then the client's newline escaping is undone
/// (see [`unescape_jsonp`]).
pub fn decode_jsonp_form(body: &[u8]) -> Option<String> {
    let mut found = None;
    for pair in body
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .take(1000)
    {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[..0]),
        };
        if percent_decode_lossy(k) == "d" {
            if found.is_some() {
                // `d` given twice is an array, not a string: ignored.
                return None;
            }
            found = Some(percent_decode_lossy(v));
        }
    }
    found.map(|d| unescape_jsonp(&d))
}

/// Undoes the JSONP client's escaping of newlines, with the reference's two regular
/// expressions: an escaped newline `\n` (backslash, `n`) becomes a newline unless the
/// backslash is itself escaped, and then every `\\n` becomes `\n`.
///
/// ```
/// use ferrio_engine::payload::unescape_jsonp;
/// assert_eq!(unescape_jsonp(r"a\nb"), "a\nb");
/// assert_eq!(unescape_jsonp(r"a\\nb"), r"a\nb");
/// ```
pub fn unescape_jsonp(input: &str) -> String {
    // Pass 1: /(\\)?\\n/g -> newline unless the optional backslash matched.
    let b = input.as_bytes();
    let mut pass1 = String::with_capacity(input.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'\\') && b.get(i + 2) == Some(&b'n') {
            i += 3;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'n') {
            pass1.push_str(&input[copied..i]);
            pass1.push('\n');
            i += 2;
            copied = i;
        } else {
            i += 1;
        }
    }
    pass1.push_str(&input[copied..]);
    // Pass 2: /\\\\n/g -> "\\n".
    pass1.replace("\\\\n", "\\n")
}

/// Percent-decodes a query or form component as Node's `querystring` and `URLSearchParams`
/// do: `+` is a space, `%XX` is a byte, any other `%` stays, and invalid UTF-8 becomes U+FFFD.
pub(crate) fn percent_decode_lossy(input: &[u8]) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
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
        assert_eq!(decode_jsonp_form(b"4ignored"), None);
        assert_eq!(decode_jsonp_form(b"d=1&d=2"), None, "an array is ignored");
        assert_eq!(decode_jsonp_form(b"x=1&%64=4a").as_deref(), Some("4a"));
        assert_eq!(decode_jsonp_form(b"d").as_deref(), Some(""));
        assert_eq!(decode_jsonp_form(b"d=%zz%4").as_deref(), Some("%zz%4"));
        assert_eq!(decode_jsonp_form(b"d=4%FF").as_deref(), Some("4\u{FFFD}"));
    }

    #[test]
    fn jsonp_newline_unescaping_follows_the_reference() {
        // The client sends a newline as \n and a literal "\n" as \\n.
        assert_eq!(unescape_jsonp(r"4line1\nline2"), "4line1\nline2");
        assert_eq!(unescape_jsonp(r"4esc\\nkept"), r"4esc\nkept");
        assert_eq!(unescape_jsonp(r"\n\n"), "\n\n");
        assert_eq!(unescape_jsonp(r"\\\n"), r"\\n");
        assert_eq!(unescape_jsonp(r"a\b\"), r"a\b\");
        assert_eq!(unescape_jsonp("é\\n€"), "é\n€");
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode_lossy(b"a+b%20c"), "a b c");
        assert_eq!(percent_decode_lossy(b"%E2%82%AC"), "€");
        assert_eq!(percent_decode_lossy(b"100%"), "100%");
        assert_eq!(percent_decode_lossy(b"%g1%1"), "%g1%1");
        assert_eq!(percent_decode_lossy(b"%00%ff"), "\0\u{FFFD}");
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
