//! Frame headers (RFC 6455 §5.2) and masking.
//!
//! Clients mask every frame; the server never does. [`Header::parse`] reads a client frame's
//! header without touching its payload, so the size limit applies before anything is
//! buffered; [`Header::encode`] writes a server frame's header.

use super::WsError;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: the next fragment of a message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Result<OpCode, WsError> {
        Ok(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return Err(WsError::Protocol("reserved opcode")),
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The last frame of its message.
    pub fin: bool,
    /// RSV1: with permessage-deflate, the message is compressed.
    pub rsv1: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key (every client frame has one).
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub len: u64,
}

/// The longest header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

impl Header {
    /// Reads a header from the start of `buf`: `Ok(None)` when `buf` does not hold all of it
    /// yet, else the header and its length in bytes.
    ///
    /// RSV2 and RSV3 (no extension here uses them) and reserved opcodes are protocol errors.
    pub fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, WsError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        if b0 & 0x30 != 0 {
            return Err(WsError::Protocol("RSV2 or RSV3 set"));
        }
        let opcode = OpCode::from_bits(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let (len, mut at) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                    if len >> 63 != 0 {
                        return Err(WsError::Protocol("payload length with the top bit set"));
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            let Some(m) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([m[0], m[1], m[2], m[3]])
        } else {
            None
        };
        Ok(Some((
            Header {
                fin: b0 & 0x80 != 0,
                rsv1: b0 & 0x40 != 0,
                opcode,
                mask,
                len,
            },
            at,
        )))
    }

    /// Appends an unmasked (server) frame header to `out`.
    pub fn encode(fin: bool, rsv1: bool, opcode: OpCode, len: usize, out: &mut Vec<u8>) {
        let b0 = u8::from(fin) << 7 | u8::from(rsv1) << 6 | opcode.bits();
        match len {
            0..=125 => out.extend_from_slice(&[b0, len as u8]),
            126..=0xFFFF => {
                out.extend_from_slice(&[b0, 126]);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.extend_from_slice(&[b0, 127]);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
    }
}

/// XORs `buf` with the masking key (masking and unmasking are the same operation).
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let m = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes((&*c).try_into().expect("8 bytes")) ^ m;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    // Every chunk is 8 bytes long, so the remainder starts at a multiple of 4.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_three_length_forms() {
        let h = Header::parse(&[0x81, 0x85, 1, 2, 3, 4]).unwrap().unwrap();
        assert_eq!(
            h,
            (
                Header {
                    fin: true,
                    rsv1: false,
                    opcode: OpCode::Text,
                    mask: Some([1, 2, 3, 4]),
                    len: 5
                },
                6
            )
        );
        let h = Header::parse(&[0x02, 0xFE, 0x01, 0x00, 9, 9, 9, 9])
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.0.len, h.0.fin, h.0.opcode, h.1),
            (256, false, OpCode::Binary, 8)
        );
        let mut b = vec![0xC2, 0xFF];
        b.extend_from_slice(&70_000u64.to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        let (h, n) = Header::parse(&b).unwrap().unwrap();
        assert_eq!((h.len, h.rsv1, n), (70_000, true, 14));
    }

    #[test]
    fn a_partial_header_asks_for_more() {
        let full = [0x81u8, 0xFE, 0x01, 0x00, 1, 2, 3, 4];
        for cut in 0..full.len() {
            assert_eq!(Header::parse(&full[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn reserved_bits_and_opcodes_are_protocol_errors() {
        for b0 in [0xA1u8, 0x91, 0x83, 0x8B, 0x87] {
            assert!(
                matches!(
                    Header::parse(&[b0, 0x80, 0, 0, 0, 0]),
                    Err(WsError::Protocol(_))
                ),
                "{b0:#x}"
            );
        }
        let mut b = vec![0x82, 0xFF];
        b.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(Header::parse(&b).is_err());
    }

    #[test]
    fn encodes_server_headers_unmasked() {
        let mut out = Vec::new();
        Header::encode(true, false, OpCode::Text, 3, &mut out);
        assert_eq!(out, [0x81, 3]);
        out.clear();
        Header::encode(true, true, OpCode::Binary, 300, &mut out);
        assert_eq!(out, [0xC2, 126, 1, 44]);
        out.clear();
        Header::encode(false, false, OpCode::Continuation, 70_000, &mut out);
        assert_eq!(out[..2], [0x00, 127]);
        assert_eq!(out[2..], 70_000u64.to_be_bytes());
    }

    proptest! {
        #[test]
        fn mask_matches_the_bytewise_rule(data: Vec<u8>, mask: [u8; 4]) {
            let mut fast = data.clone();
            apply_mask(&mut fast, mask);
            let slow: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn encoded_headers_parse_back(fin: bool, rsv1: bool, len in 0usize..200_000) {
            let mut out = Vec::new();
            Header::encode(fin, rsv1, OpCode::Binary, len, &mut out);
            let (h, n) = Header::parse(&out).unwrap().unwrap();
            prop_assert_eq!(n, out.len());
            prop_assert_eq!((h.fin, h.rsv1, h.len, h.mask), (fin, rsv1, len as u64, None));
        }
    }
}
