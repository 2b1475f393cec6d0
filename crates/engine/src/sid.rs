//! Session ids: 20 characters of URL-safe base64, as the reference's `base64id`.
//!
//! Each id encodes 15 bytes: 12 from the operating system's CSPRNG (through
//! [`rand::rngs::OsRng`]-seeded `ThreadRng`, a ChaCha CSPRNG) and the low 3 bytes of a process-wide
//! counter, so two ids of one process never collide even if the generator repeated itself.

use base64::Engine as _;
use rand::RngCore;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

/// A 20-character session id (Engine.IO `sid`, and Socket.IO socket ids).
///
/// `Sid` is `Copy` and 20 bytes long, so maps keyed by it stay compact.
///
/// ```
/// use ferrio_engine::Sid;
/// let a = Sid::new();
/// assert_eq!(a.as_str().len(), 20);
/// assert_ne!(a, Sid::new());
/// assert_eq!(a.as_str().parse::<Sid>().unwrap(), a);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sid([u8; 20]);

impl std::hash::Hash for Sid {
    /// One `u64` of the id's random part: the 16 first characters are CSPRNG output.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let a = u64::from_le_bytes(self.0[..8].try_into().expect("8 bytes"));
        let b = u64::from_le_bytes(self.0[8..16].try_into().expect("8 bytes"));
        state.write_u64(a ^ b.rotate_left(29));
    }
}

/// A hasher for maps keyed by [`Sid`]: ids are random and chosen by the server, so a
/// multiply is as good a hash as SipHash, which cost 15% of a broadcast's CPU (callgrind)
/// in the room and socket tables. Not for keys a client chooses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SidHasher(u64);

impl std::hash::Hasher for SidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Builds [`SidHasher`]s.
pub type BuildSidHasher = std::hash::BuildHasherDefault<SidHasher>;

/// A map keyed by session or socket id.
pub type SidMap<V> = std::collections::HashMap<Sid, V, BuildSidHasher>;

/// A set of session or socket ids.
pub type SidSet = std::collections::HashSet<Sid, BuildSidHasher>;

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Sid {
    /// A fresh random id.
    pub fn new() -> Self {
        let mut raw = [0u8; 15];
        rand::thread_rng().fill_bytes(&mut raw[..12]);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        raw[12..].copy_from_slice(&n[1..]);
        let mut out = [0u8; 20];
        let written = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(raw, &mut out)
            .unwrap_or(0);
        debug_assert_eq!(written, 20);
        Sid(out)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Built from the base64 alphabet or checked in `from_str`.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl Default for Sid {
    fn default() -> Self {
        Sid::new()
    }
}

/// The text is not a 20-character id of the base64url alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid session id")]
pub struct InvalidSid;

impl std::str::FromStr for Sid {
    type Err = InvalidSid;
    fn from_str(s: &str) -> Result<Self, InvalidSid> {
        let bytes: [u8; 20] = s.as_bytes().try_into().map_err(|_| InvalidSid)?;
        if bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            Ok(Sid(bytes))
        } else {
            Err(InvalidSid)
        }
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_20_url_safe_chars_and_unique() {
        let ids: HashSet<Sid> = (0..10_000).map(|_| Sid::new()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            assert_eq!(id.as_str().len(), 20);
            assert!(id.as_str().parse::<Sid>().is_ok());
        }
    }

    #[test]
    fn parse_rejects_wrong_length_and_alphabet() {
        assert_eq!("short".parse::<Sid>(), Err(InvalidSid));
        assert_eq!("aaaaaaaaaaaaaaaaaaa/".parse::<Sid>(), Err(InvalidSid));
        assert_eq!("aaaaaaaaaaaaaaaaaaaaa".parse::<Sid>(), Err(InvalidSid));
    }
}
