//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay test
//! (`tests/fuzz_corpus.rs`). Not a public API: hidden from the docs, and it may change at any
//! time (like rustls's `internal` module).
//!
//! Each function feeds arbitrary bytes to one decoder that reads network input, the way the
//! transports call it, and panics if an invariant does not hold (so the fuzzer reports it).
//! Every function is total: it must never panic on any input other than by a broken
//! invariant.

use crate::packet::{Frame, Packet, ProtocolVersion};
use crate::{payload, Str};
use bytes::Bytes;

/// The lossy UTF-8 conversion the polling transport applies to a POST body.
fn body_text(data: &[u8]) -> Str {
    match Str::from_utf8(Bytes::copy_from_slice(data)) {
        Ok(s) => s,
        Err(b) => String::from_utf8_lossy(&b).into_owned().into(),
    }
}

/// The frame a decoded packet re-encodes to (what a peer would have sent).
fn reencode(packet: &Packet) -> Frame {
    let text = |digit: char, data: &str| {
        let mut s = String::with_capacity(data.len() + 1);
        s.push(digit);
        s.push_str(data);
        Frame::Text(s.into())
    };
    match packet {
        Packet::Open => text('0', ""),
        Packet::Close => text('1', ""),
        Packet::Ping(d) => text('2', d),
        Packet::Pong(d) => text('3', d),
        Packet::Message(d) => text('4', d),
        Packet::Binary(b) => Frame::Binary(b.clone()),
        Packet::Upgrade => text('5', ""),
        Packet::Noop => text('6', ""),
    }
}

/// `engine_packet`: one WebSocket frame. The first byte chooses text or binary (v3/v4); a
/// decoded packet re-encodes to a frame that decodes to the same packet.
pub fn engine_packet(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let decoded = match mode % 3 {
        0 => Packet::decode_text(body_text(rest)),
        1 => Packet::decode_binary(Bytes::copy_from_slice(rest), ProtocolVersion::V4),
        _ => Packet::decode_binary(Bytes::copy_from_slice(rest), ProtocolVersion::V3),
    };
    let Ok(packet) = decoded else { return };
    let again = match reencode(&packet) {
        Frame::Text(s) => Packet::decode_text(s),
        Frame::Binary(b) => Packet::decode_binary(b, ProtocolVersion::V4),
    };
    assert_eq!(again.as_ref(), Ok(&packet), "packet does not round-trip");
    // A base64 binary packet never yields more bytes than its text holds.
    if let (0, Packet::Binary(b)) = (mode % 3, &packet) {
        assert!(b.len() <= rest.len() * 3 / 4 + 1, "base64 output too long");
    }
}

/// `engine_payload`: one polling POST body (v4). The valid prefix re-encodes to a payload that
/// decodes to the same packets, and base64 binaries survive the trip.
pub fn engine_payload(data: &[u8]) {
    let (packets, error) = payload::decode_v4(body_text(data));
    check_payload_round_trip(&packets);
    if error.is_none() {
        assert!(!packets.is_empty(), "a valid payload has a packet");
    }
}

fn check_payload_round_trip(packets: &[Packet]) {
    if packets.is_empty() {
        return;
    }
    // A text packet whose data holds the separator cannot be re-encoded in one payload; the
    // decoder never produces one, since it splits on every separator.
    let frames: Vec<Frame> = packets.iter().map(reencode).collect();
    for f in &frames {
        if let Frame::Text(s) = f {
            assert!(
                !s.as_bytes().contains(&payload::SEPARATOR),
                "decoded packet holds a separator"
            );
        }
    }
    let mut out = String::new();
    payload::encode_v4(frames.iter(), &mut out);
    let (again, error) = payload::decode_v4(Str::from(out));
    assert_eq!(error, None, "re-encoded payload does not decode");
    assert_eq!(again, packets, "payload does not round-trip");
}

/// `engine_jsonp_form`: one JSONP POST body, then its payload, as the polling transport does.
pub fn engine_jsonp_form(data: &[u8]) {
    if let Some(text) = payload::decode_jsonp_form(data) {
        let (packets, _) = payload::decode_v4(Str::from(text));
        check_payload_round_trip(&packets);
    }
    // Percent-encoding any text and decoding it gives the text back.
    let text = String::from_utf8_lossy(data);
    let mut encoded = String::with_capacity(text.len() * 3);
    for b in text.as_bytes() {
        encoded.push_str(&format!("%{b:02X}"));
    }
    assert_eq!(payload::percent_decode_lossy(encoded.as_bytes()), text);
    let _ = payload::unescape_jsonp(&text);
}

/// `engine_query`: a request's query string, as the engine parses it.
pub fn engine_query(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let pairs = crate::engine::parse_query(&query);
    let q = crate::engine::Query::parse(&query);
    let _ = q.protocol();
    // The last value of a repeated key wins.
    let last = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(q.eio.as_deref(), last("EIO"));
    assert_eq!(q.transport.as_deref(), last("transport"));
    assert_eq!(q.jsonp.as_deref(), last("j"));
    assert_eq!(q.sid.as_deref(), last("sid").filter(|s| !s.is_empty()));
    assert_eq!(q.b64, last("b64").is_some());
    assert!(pairs.len() <= query.len(), "more pairs than bytes");
}

/// `engine_base64`: the lenient base64 decoder of `b`-prefixed packets; canonical base64
/// decodes to the bytes it encodes.
pub fn engine_base64(data: &[u8]) {
    use base64::Engine as _;
    let out = crate::packet::decode_base64(data);
    assert!(
        out.len() <= data.len() * 3 / 4 + 1,
        "base64 output too long"
    );
    let canonical = base64::engine::general_purpose::STANDARD.encode(data);
    assert_eq!(
        &crate::packet::decode_base64(canonical.as_bytes())[..],
        data,
        "canonical base64 does not round-trip"
    );
}

/// The WebSocket decoder ([`crate::ws::Decoder`]) on a client's byte stream.
///
/// Byte 0 picks the options (bit 0: permessage-deflate negotiated, bit 1: with
/// `client_no_context_takeover`; bits 2–7: how many bytes each read delivers), bytes 1–2 the
/// size limit; the rest is the stream. Checks: no panic; no message over the limit; the
/// stream read in pieces gives the messages it gives read at once; every message re-encoded
/// (compressed, when negotiated) as client frames decodes back to itself.
pub fn ws_frames(data: &[u8]) {
    use crate::ws::{deflate, frame, Decoder, Message, PerMessageDeflate};
    use bytes::BytesMut;

    let [opts, m0, m1, rest @ ..] = data else {
        return;
    };
    let max = usize::from(u16::from_le_bytes([*m0, *m1])) + 1;
    let params = (opts & 1 != 0).then(|| {
        let offer = if opts & 2 != 0 {
            "permessage-deflate; client_no_context_takeover"
        } else {
            "permessage-deflate"
        };
        PerMessageDeflate::default()
            .negotiate([offer])
            .expect("valid offer")
            .0
    });
    let step = usize::from(opts >> 2) + 1;

    let run = |chunk: usize| {
        let mut decoder = Decoder::new(max, params.as_ref());
        let mut src = BytesMut::new();
        let mut out = Vec::new();
        for piece in rest.chunks(chunk) {
            src.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut src) {
                    Ok(Some(m)) => out.push(Ok(m)),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e));
                        return out;
                    }
                }
            }
        }
        out
    };
    let whole = run(rest.len().max(1));
    assert_eq!(
        run(step),
        whole,
        "the same stream in pieces decodes differently"
    );

    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for m in whole.into_iter().map_while(Result::ok) {
        let (opcode, payload) = match &m {
            Message::Text(t) => (frame::OpCode::Text, t.as_bytes().to_vec()),
            Message::Binary(b) => (frame::OpCode::Binary, b.to_vec()),
            Message::Ping(p) => (frame::OpCode::Ping, p.to_vec()),
            Message::Pong(p) => (frame::OpCode::Pong, p.to_vec()),
            Message::Close(_) => continue,
        };
        // Control frames are at most 125 bytes whatever the limit (as in `ws`).
        assert!(
            payload.len() <= max || opcode.is_control(),
            "a message over the limit"
        );
        // Compressed unless that makes it longer than the limit (which applies on the wire).
        let mut compressed = Vec::new();
        if params.is_some() && !opcode.is_control() {
            deflate::deflate(&payload, &mut compressed);
        }
        let compress = !compressed.is_empty() && compressed.len() <= max;
        let body = if compress { compressed } else { payload };
        let mask = [0xa5, 0x5a, 0x0f, 0xf0];
        let at = wire.len();
        frame::Header::encode(true, compress, opcode, body.len(), &mut wire);
        wire[at + 1] |= 0x80;
        wire.extend_from_slice(&mask);
        let p = wire.len();
        wire.extend_from_slice(&body);
        frame::apply_mask(&mut wire[p..], mask);
        expected.push(m);
    }
    let mut decoder = Decoder::new(max, params.as_ref());
    let mut src = BytesMut::from(&wire[..]);
    for m in expected {
        assert_eq!(decoder.decode(&mut src), Ok(Some(m)), "re-encoded message");
    }
    assert!(src.is_empty());
}
