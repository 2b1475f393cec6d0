//! permessage-deflate (RFC 7692): negotiation, inflation of what clients send, compression
//! of what the server sends.
//!
//! Off by default, as in the reference (`perMessageDeflate: false`). When on, the server:
//! - accepts the first `permessage-deflate` offer it can honour and always answers
//!   `server_no_context_takeover`: each message it sends is compressed on its own, by a
//!   compressor shared by every connection of a thread, so a connection holds no compressor
//!   state (a deflate context is about 300 KB) and a broadcast compresses to the same bytes
//!   for every recipient;
//! - inflates client messages with the context the client chose (takeover unless it offered
//!   `client_no_context_takeover` or [`PerMessageDeflate::client_no_context_takeover`] is
//!   set), allocated at the first compressed message, and never past the size limit, so a
//!   compression bomb costs at most `maxHttpBufferSize`;
//! - compresses only messages of at least [`PerMessageDeflate::threshold`] bytes (1024, as
//!   engine.io sets for `ws`).

use super::WsError;
use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;

/// The `perMessageDeflate` option.
///
/// ```
/// use ferrio_engine::{EngineConfig, ws::PerMessageDeflate};
/// let config = EngineConfig::default().with_per_message_deflate(Some(PerMessageDeflate::default()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerMessageDeflate {
    /// Messages shorter than this many bytes are sent uncompressed (1024).
    pub threshold: usize,
    /// Ask clients to compress each message on its own (`clientNoContextTakeover`, false):
    /// then no connection keeps an inflate context between messages.
    pub client_no_context_takeover: bool,
}

impl Default for PerMessageDeflate {
    fn default() -> Self {
        PerMessageDeflate {
            threshold: 1024,
            client_no_context_takeover: false,
        }
    }
}

/// What one connection negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmdParams {
    /// The compression threshold for what the server sends.
    pub threshold: usize,
    /// The client compresses each message on its own.
    pub client_no_context_takeover: bool,
}

impl PerMessageDeflate {
    /// Picks the first offer of the `Sec-WebSocket-Extensions` request headers that the server
    /// can honour; returns the parameters and the response header's value.
    ///
    /// An offer is refused when a parameter is unknown, repeated or out of range, or when it
    /// asks for `server_max_window_bits` below 15 (the compressor always uses a 32 KiB window).
    ///
    /// ```
    /// use ferrio_engine::ws::PerMessageDeflate;
    /// let pmd = PerMessageDeflate::default();
    /// let (params, answer) = pmd
    ///     .negotiate(["permessage-deflate; client_max_window_bits"])
    ///     .unwrap();
    /// assert_eq!(answer, "permessage-deflate; server_no_context_takeover");
    /// assert!(!params.client_no_context_takeover);
    /// assert!(pmd.negotiate(["x-webkit-deflate-frame"]).is_none());
    /// ```
    pub fn negotiate<'a>(
        &self,
        headers: impl IntoIterator<Item = &'a str>,
    ) -> Option<(PmdParams, String)> {
        headers
            .into_iter()
            .flat_map(|h| h.split(','))
            .find_map(|offer| self.accept(offer))
    }

    fn accept(&self, offer: &str) -> Option<(PmdParams, String)> {
        let mut parts = offer.split(';').map(str::trim);
        if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
            return None;
        }
        let mut seen = [false; 4];
        let mut client_nct = self.client_no_context_takeover;
        for param in parts {
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (param, None),
            };
            let window_bits = |v: Option<&str>| {
                v.and_then(|v| v.parse::<u8>().ok())
                    .filter(|b| (8..=15).contains(b))
            };
            let slot = match (name, value) {
                ("server_no_context_takeover", None) => 0,
                ("client_no_context_takeover", None) => {
                    client_nct = true;
                    1
                }
                // The compressor's window is always 15 bits: a smaller one can't be honoured.
                ("server_max_window_bits", v) => match window_bits(v) {
                    Some(15) => 2,
                    _ => return None,
                },
                // Any window the client uses is at most 15 bits, which the inflater handles.
                ("client_max_window_bits", None) => 3,
                ("client_max_window_bits", v) => {
                    window_bits(v)?;
                    3
                }
                _ => return None,
            };
            if std::mem::replace(&mut seen[slot], true) {
                return None;
            }
        }
        let mut answer = String::from("permessage-deflate; server_no_context_takeover");
        if client_nct {
            answer.push_str("; client_no_context_takeover");
        }
        Some((
            PmdParams {
                threshold: self.threshold,
                client_no_context_takeover: client_nct,
            },
            answer,
        ))
    }
}

/// The 4 bytes every compressed message ends with on the wire, minus (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// Inflates one connection's compressed messages.
#[derive(Debug)]
pub struct Inflater {
    /// Allocated at the first compressed message (about 40 KB with its window).
    state: Option<Box<Decompress>>,
    no_context_takeover: bool,
}

impl Inflater {
    /// An inflater for a connection that negotiated `params`.
    pub fn new(params: &PmdParams) -> Self {
        Inflater {
            state: None,
            no_context_takeover: params.client_no_context_takeover,
        }
    }

    /// Inflates one message; more than `max` bytes of output is [`WsError::TooBig`], found
    /// before more than `max + 1` bytes are held.
    pub fn inflate(&mut self, data: &[u8], max: usize) -> Result<Bytes, WsError> {
        let d = self
            .state
            .get_or_insert_with(|| Box::new(Decompress::new(false)));
        let limit = max.saturating_add(1);
        let mut out: Vec<u8> = Vec::with_capacity(data.len().saturating_mul(3).max(64).min(limit));
        let result = (|| {
            for input in [data, &TAIL[..]] {
                let mut pos = 0;
                loop {
                    if out.len() == out.capacity() {
                        if out.len() >= limit {
                            return Err(WsError::TooBig);
                        }
                        out.reserve_exact(out.len().max(256).min(limit - out.len()));
                    }
                    let (in0, out0) = (d.total_in(), out.len());
                    let status = d
                        .decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync)
                        .map_err(|_| WsError::BadCompression)?;
                    pos += (d.total_in() - in0) as usize;
                    if out.len() > max {
                        return Err(WsError::TooBig);
                    }
                    let done = pos == input.len() && out.len() < out.capacity();
                    if done || status == Status::StreamEnd {
                        break;
                    }
                    if d.total_in() == in0 && out.len() == out0 && out.len() < out.capacity() {
                        return Err(WsError::BadCompression);
                    }
                }
            }
            Ok(())
        })();
        if result.is_err() || self.no_context_takeover {
            d.reset(false);
        }
        result.map(|()| Bytes::from(out))
    }
}

thread_local! {
    /// One compressor per thread, reset for every message (`server_no_context_takeover`).
    static COMPRESSOR: RefCell<Option<Compress>> = const { RefCell::new(None) };
}

/// Appends `data`, compressed as one permessage-deflate message (without the final
/// `00 00 FF FF`), to `out`.
pub fn deflate(data: &[u8], out: &mut Vec<u8>) {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        let c = c.get_or_insert_with(|| Compress::new(Compression::default(), false));
        let start = out.len();
        out.reserve(data.len() / 2 + 64);
        let mut pos = 0;
        loop {
            let in0 = c.total_in();
            c.compress_vec(&data[pos..], out, FlushCompress::Sync)
                .expect("compressing into a growing buffer cannot fail");
            pos += (c.total_in() - in0) as usize;
            if pos == data.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        c.reset();
        debug_assert!(out[start..].ends_with(&TAIL));
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pmd() -> PerMessageDeflate {
        PerMessageDeflate::default()
    }

    #[test]
    fn accepts_what_browsers_and_ws_offer() {
        for offer in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=15",
        ] {
            let (p, answer) = pmd().negotiate([offer]).expect(offer);
            assert_eq!(answer, "permessage-deflate; server_no_context_takeover");
            assert!(!p.client_no_context_takeover);
            assert_eq!(p.threshold, 1024);
        }
    }

    #[test]
    fn client_no_context_takeover_comes_from_the_offer_or_the_option() {
        let (p, answer) = pmd()
            .negotiate(["permessage-deflate; client_no_context_takeover"])
            .unwrap();
        assert!(p.client_no_context_takeover);
        assert!(answer.ends_with("; client_no_context_takeover"));
        let forced = PerMessageDeflate {
            client_no_context_takeover: true,
            ..pmd()
        };
        assert!(
            forced
                .negotiate(["permessage-deflate"])
                .unwrap()
                .0
                .client_no_context_takeover
        );
    }

    #[test]
    fn refuses_offers_it_cannot_honour_and_takes_the_next() {
        for bad in [
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover=1",
            "deflate-frame",
        ] {
            assert_eq!(pmd().negotiate([bad]), None, "{bad}");
        }
        let (_, answer) = pmd()
            .negotiate([
                "permessage-deflate; server_max_window_bits=9, permessage-deflate; client_no_context_takeover",
            ])
            .unwrap();
        assert!(answer.contains("client_no_context_takeover"));
        assert!(pmd().negotiate(["foo", "permessage-deflate"]).is_some());
    }

    #[test]
    fn the_rfc_example_inflates() {
        // RFC 7692 §7.2.3.1: "Hello" compressed.
        let mut i = Inflater::new(&pmd().negotiate(["permessage-deflate"]).unwrap().0);
        let out = i
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100)
            .unwrap();
        assert_eq!(&out[..], b"Hello");
        // With context takeover, the second "Hello" refers back to the first (§7.2.3.2).
        let out = i.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], 100).unwrap();
        assert_eq!(&out[..], b"Hello");
    }

    #[test]
    fn a_compression_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10_000_000];
        let mut bomb = Vec::new();
        deflate(&zeros, &mut bomb);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        let params = pmd().negotiate(["permessage-deflate"]).unwrap().0;
        let mut i = Inflater::new(&params);
        assert_eq!(i.inflate(&bomb, 1_000_000), Err(WsError::TooBig));
        // Exactly at the limit is fine.
        let mut ok = Vec::new();
        deflate(&zeros[..1_000_000], &mut ok);
        assert_eq!(
            Inflater::new(&params)
                .inflate(&ok, 1_000_000)
                .unwrap()
                .len(),
            1_000_000
        );
    }

    #[test]
    fn garbage_is_bad_compression() {
        let params = pmd().negotiate(["permessage-deflate"]).unwrap().0;
        let mut i = Inflater::new(&params);
        assert_eq!(i.inflate(&[0xff; 32], 1000), Err(WsError::BadCompression));
        // The inflater was reset: a valid message inflates afterwards.
        let mut ok = Vec::new();
        deflate(b"again", &mut ok);
        assert_eq!(&i.inflate(&ok, 1000).unwrap()[..], b"again");
    }

    proptest! {
        #[test]
        fn what_the_server_compresses_inflates_back(msgs in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..3000), 1..5)) {
            let params = pmd().negotiate(["permessage-deflate"]).unwrap().0;
            let mut i = Inflater::new(&params);
            for m in msgs {
                let mut c = Vec::new();
                deflate(&m, &mut c);
                prop_assert_eq!(&i.inflate(&c, 10_000).unwrap()[..], &m[..]);
            }
        }
    }
}
