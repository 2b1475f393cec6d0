//! Messages from frames: the [`Decoder`] of what a client sends.

use super::deflate::{Inflater, PmdParams};
use super::frame::{apply_mask, Header, OpCode};
use super::{close_code, WsError};
use crate::Str;
use bytes::{Buf, Bytes, BytesMut};

/// A message (or control frame) from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Str),
    /// A binary message.
    Binary(Bytes),
    /// A ping (to be answered with a pong carrying the same bytes).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame: its code and reason, if it had any.
    Close(Option<CloseFrame>),
}

/// The code and reason of a close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// A valid close code ([`close_code::is_valid`]).
    pub code: u16,
    /// The reason, valid UTF-8.
    pub reason: Bytes,
}

#[derive(Debug)]
struct Partial {
    binary: bool,
    compressed: bool,
    buf: BytesMut,
}

/// Turns the bytes of one connection into messages.
///
/// Every rule is checked on the frame header, before the payload is buffered: the mask, the
/// reserved bits and opcodes, control frames (unfragmented, at most 125 bytes, never
/// compressed), continuation order, and the size limit, which applies to each frame, to the
/// sum of a fragmented message's frames, and to a compressed message once inflated.
#[derive(Debug)]
pub struct Decoder {
    max: usize,
    partial: Option<Partial>,
    inflater: Option<Inflater>,
}

impl Decoder {
    /// A decoder for messages of at most `max` bytes; `deflate` when the connection
    /// negotiated permessage-deflate.
    pub fn new(max: usize, deflate: Option<&PmdParams>) -> Self {
        Decoder {
            max,
            partial: None,
            inflater: deflate.map(Inflater::new),
        }
    }

    /// Takes the next complete message from the front of `src`: `Ok(None)` when `src` needs
    /// more bytes (it then has room reserved for the frame under way). Complete unfragmented
    /// messages are split off `src` without a copy.
    ///
    /// After an error the connection must be closed with [`WsError::close_code`].
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, WsError> {
        loop {
            let Some((h, header_len)) = Header::parse(src)? else {
                return Ok(None);
            };
            let Some(mask) = h.mask else {
                return Err(WsError::Protocol("unmasked client frame"));
            };
            if h.opcode.is_control() {
                if !h.fin || h.len > 125 {
                    return Err(WsError::Protocol("fragmented or oversized control frame"));
                }
                if h.rsv1 {
                    return Err(WsError::Protocol("RSV1 set on a control frame"));
                }
            } else {
                match (h.opcode, &self.partial) {
                    (OpCode::Continuation, None) => {
                        return Err(WsError::Protocol("continuation without a message"))
                    }
                    (OpCode::Text | OpCode::Binary, Some(_)) => {
                        return Err(WsError::Protocol("new message inside a fragmented one"))
                    }
                    _ => {}
                }
                if h.rsv1 && (self.inflater.is_none() || h.opcode == OpCode::Continuation) {
                    return Err(WsError::Protocol("RSV1 set without permessage-deflate"));
                }
                let buffered = self.partial.as_ref().map_or(0, |p| p.buf.len() as u64);
                if h.len.saturating_add(buffered) > self.max as u64 {
                    return Err(WsError::TooBig);
                }
            }
            // Bounded: a control frame is at most 125 bytes, a data frame at most `max`.
            let total = header_len + h.len as usize;
            if src.len() < total {
                src.reserve(total - src.len());
                return Ok(None);
            }
            // The whole buffer is this frame (the common case): take it rather than split it,
            // which would allocate a shared header for the two halves.
            let mut payload = if src.len() == total {
                std::mem::take(src)
            } else {
                src.split_to(total)
            };
            payload.advance(header_len);
            apply_mask(&mut payload, mask);
            match h.opcode {
                OpCode::Ping => return Ok(Some(Message::Ping(payload.freeze()))),
                OpCode::Pong => return Ok(Some(Message::Pong(payload.freeze()))),
                OpCode::Close => return close(payload.freeze()).map(Some),
                OpCode::Text | OpCode::Binary if h.fin => {
                    let binary = h.opcode == OpCode::Binary;
                    return self.finish(binary, h.rsv1, payload.freeze()).map(Some);
                }
                OpCode::Text | OpCode::Binary => {
                    self.partial = Some(Partial {
                        binary: h.opcode == OpCode::Binary,
                        compressed: h.rsv1,
                        buf: payload,
                    });
                }
                OpCode::Continuation => {
                    let p = self.partial.as_mut().expect("checked above");
                    p.buf.extend_from_slice(&payload);
                    if h.fin {
                        let p = self.partial.take().expect("checked above");
                        return self
                            .finish(p.binary, p.compressed, p.buf.freeze())
                            .map(Some);
                    }
                }
            }
        }
    }

    fn finish(&mut self, binary: bool, compressed: bool, data: Bytes) -> Result<Message, WsError> {
        let data = match (&mut self.inflater, compressed) {
            (Some(i), true) => i.inflate(&data, self.max)?,
            _ => data,
        };
        if binary {
            Ok(Message::Binary(data))
        } else {
            Str::from_utf8(data)
                .map(Message::Text)
                .map_err(|_| WsError::InvalidUtf8)
        }
    }
}

fn close(payload: Bytes) -> Result<Message, WsError> {
    match payload.len() {
        0 => Ok(Message::Close(None)),
        1 => Err(WsError::Protocol("close frame of one byte")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !close_code::is_valid(code) {
                return Err(WsError::Protocol("invalid close code"));
            }
            let reason = payload.slice(2..);
            if std::str::from_utf8(&reason).is_err() {
                return Err(WsError::InvalidUtf8);
            }
            Ok(Message::Close(Some(CloseFrame { code, reason })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::deflate::{deflate, PerMessageDeflate};
    use super::*;
    use proptest::prelude::*;

    /// A client frame: masked with a fixed key.
    fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = Vec::new();
        Header::encode(
            b0 & 0x80 != 0,
            b0 & 0x40 != 0,
            op(b0 & 0x0F),
            payload.len(),
            &mut out,
        );
        out[0] = b0;
        out[1] |= 0x80;
        out.extend_from_slice(&mask);
        let at = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[at..], mask);
        out
    }

    fn op(bits: u8) -> OpCode {
        match bits {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            _ => OpCode::Pong,
        }
    }

    fn decode_all(d: &mut Decoder, wire: &[u8]) -> Result<Vec<Message>, WsError> {
        let mut src = BytesMut::from(wire);
        let mut out = Vec::new();
        while let Some(m) = d.decode(&mut src)? {
            out.push(m);
        }
        assert!(src.is_empty(), "{} bytes left", src.len());
        Ok(out)
    }

    #[test]
    fn text_binary_and_control_frames() {
        let mut wire = frame(0x81, b"4hello");
        wire.extend(frame(0x82, &[4, 1, 2]));
        wire.extend(frame(0x89, b"p"));
        wire.extend(frame(0x8A, b""));
        wire.extend(frame(0x88, &[0x03, 0xE8, b'b', b'y', b'e']));
        let msgs = decode_all(&mut Decoder::new(100, None), &wire).unwrap();
        assert_eq!(
            msgs,
            [
                Message::Text("4hello".into()),
                Message::Binary(vec![4, 1, 2].into()),
                Message::Ping("p".into()),
                Message::Pong("".into()),
                Message::Close(Some(CloseFrame {
                    code: 1000,
                    reason: "bye".into()
                })),
            ]
        );
    }

    #[test]
    fn fragments_reassemble_around_control_frames() {
        let mut wire = frame(0x01, b"4he");
        wire.extend(frame(0x89, b""));
        wire.extend(frame(0x00, b"ll"));
        wire.extend(frame(0x80, b"o"));
        let msgs = decode_all(&mut Decoder::new(100, None), &wire).unwrap();
        assert_eq!(
            msgs,
            [Message::Ping("".into()), Message::Text("4hello".into())]
        );
    }

    #[test]
    fn framing_violations_are_refused() {
        let unmasked = [0x81u8, 0x01, b'4'];
        let cases: Vec<(Vec<u8>, WsError)> = vec![
            (
                unmasked.to_vec(),
                WsError::Protocol("unmasked client frame"),
            ),
            (
                frame(0x80, b"x"),
                WsError::Protocol("continuation without a message"),
            ),
            (
                [frame(0x01, b"a"), frame(0x81, b"b")].concat(),
                WsError::Protocol("new message inside a fragmented one"),
            ),
            (
                frame(0x09, b""),
                WsError::Protocol("fragmented or oversized control frame"),
            ),
            (
                frame(0x89, &[0; 126]),
                WsError::Protocol("fragmented or oversized control frame"),
            ),
            (
                frame(0xC1, b"x"),
                WsError::Protocol("RSV1 set without permessage-deflate"),
            ),
            (
                frame(0x88, &[3]),
                WsError::Protocol("close frame of one byte"),
            ),
            (
                frame(0x88, &[0x03, 0xED]),
                WsError::Protocol("invalid close code"),
            ),
            (frame(0x88, &[0x03, 0xE8, 0xff]), WsError::InvalidUtf8),
            (frame(0x81, &[0xff, 0xfe]), WsError::InvalidUtf8),
        ];
        for (wire, err) in cases {
            assert_eq!(decode_all(&mut Decoder::new(100, None), &wire), Err(err));
        }
    }

    #[test]
    fn the_limit_applies_before_the_payload_arrives() {
        let mut d = Decoder::new(10, None);
        // Only the header of an 11-byte frame: refused without waiting for the payload.
        let mut src = BytesMut::from(&frame(0x82, &[0; 11])[..6]);
        assert_eq!(d.decode(&mut src), Err(WsError::TooBig));
        // A fragmented message whose frames add up past the limit.
        let wire = [frame(0x02, &[0; 6]), frame(0x80, &[0; 5])].concat();
        assert_eq!(
            decode_all(&mut Decoder::new(10, None), &wire),
            Err(WsError::TooBig)
        );
        // Exactly at the limit.
        let wire = [frame(0x02, &[0; 6]), frame(0x80, &[0; 4])].concat();
        assert_eq!(
            decode_all(&mut Decoder::new(10, None), &wire)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn an_incomplete_frame_reserves_room_for_itself() {
        let wire = frame(0x82, &[7; 1000]);
        let mut d = Decoder::new(2000, None);
        let mut src = BytesMut::from(&wire[..10]);
        assert_eq!(d.decode(&mut src), Ok(None));
        assert!(src.capacity() >= wire.len());
        src.extend_from_slice(&wire[10..]);
        assert_eq!(
            d.decode(&mut src),
            Ok(Some(Message::Binary(vec![7; 1000].into())))
        );
    }

    #[test]
    fn compressed_messages_inflate_and_stay_under_the_limit() {
        let params = PerMessageDeflate::default()
            .negotiate(["permessage-deflate"])
            .unwrap()
            .0;
        let text = "4".to_owned() + &"hello ".repeat(500);
        let mut c = Vec::new();
        deflate(text.as_bytes(), &mut c);
        // Compressed, and fragmented in two.
        let (a, b) = c.split_at(c.len() / 2);
        let wire = [frame(0x41, a), frame(0x80, b), frame(0xC1, &c)].concat();
        let mut d = Decoder::new(10_000, Some(&params));
        let msgs = decode_all(&mut d, &wire).unwrap();
        assert_eq!(msgs, vec![Message::Text(text.clone().into()); 2]);
        // Inflated past the limit: too big, although the compressed frame is small.
        let mut d = Decoder::new(1000, Some(&params));
        assert_eq!(decode_all(&mut d, &frame(0xC1, &c)), Err(WsError::TooBig));
        // RSV1 on a continuation frame is a protocol error.
        let wire = [frame(0x41, a), frame(0xC0, b)].concat();
        let mut d = Decoder::new(10_000, Some(&params));
        assert!(matches!(
            decode_all(&mut d, &wire),
            Err(WsError::Protocol(_))
        ));
    }

    proptest! {
        #[test]
        fn any_split_of_the_stream_gives_the_same_messages(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
            cuts in proptest::collection::vec(1usize..64, 1..40),
        ) {
            let wire: Vec<u8> = payloads.iter().flat_map(|p| frame(0x82, p)).collect();
            let mut d = Decoder::new(1000, None);
            let mut src = BytesMut::new();
            let mut got = Vec::new();
            let mut at = 0;
            for cut in cuts.iter().cycle() {
                if at >= wire.len() { break; }
                let end = (at + cut).min(wire.len());
                src.extend_from_slice(&wire[at..end]);
                at = end;
                while let Some(m) = d.decode(&mut src).unwrap() {
                    got.push(m);
                }
            }
            let want: Vec<Message> = payloads.into_iter().map(|p| Message::Binary(p.into())).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let params = PerMessageDeflate::default().negotiate(["permessage-deflate"]).unwrap().0;
            let mut d = Decoder::new(256, Some(&params));
            let mut src = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = d.decode(&mut src) {}
        }
    }
}
