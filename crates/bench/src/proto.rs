//! Minimal Engine.IO v4 / Socket.IO v5 text-packet helpers (namespace `/`,
//! no binary attachments): only what the load generator needs, without
//! allocating per packet.

/// Socket.IO payload of an Engine.IO `message` packet (`4...`), if `pkt` is one.
pub fn sio(pkt: &str) -> Option<&str> {
    pkt.strip_prefix('4')
}

/// Parses a leading decimal number, returning it and the rest.
pub fn parse_u64(s: &str) -> Option<(u64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v: u64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add((b[i] - b'0') as u64)?;
        i += 1;
    }
    if i == 0 {
        None
    } else {
        Some((v, &s[i..]))
    }
}

/// Ack id of a Socket.IO ACK packet (`3<id>[...]`) on namespace `/`.
pub fn ack_id(sio: &str) -> Option<u64> {
    let rest = sio.strip_prefix('3')?;
    let (id, rest) = parse_u64(rest)?;
    rest.starts_with('[').then_some(id)
}

/// `(seq, ts_us)` of a benchmark delivery event `2["tick",[seq,ts]]`.
pub fn tick(sio: &str) -> Option<(u64, u64)> {
    let rest = sio.strip_prefix("2[\"tick\",[")?;
    let (seq, rest) = parse_u64(rest)?;
    let rest = rest.strip_prefix(',')?;
    let (ts, rest) = parse_u64(rest)?;
    rest.starts_with(']').then_some((seq, ts))
}

/// Whether a Socket.IO packet is the CONNECT reply on `/` (`0{...}`).
pub fn is_connect(sio: &str) -> bool {
    sio.starts_with("0{") || sio == "0"
}

/// Whether a Socket.IO packet is a CONNECT_ERROR (`4...`).
pub fn is_connect_error(sio: &str) -> bool {
    sio.starts_with('4')
}

/// The `sid` of an Engine.IO OPEN packet (`0{"sid":"..",...}`).
pub fn open_sid(pkt: &str) -> Option<String> {
    let json = pkt.strip_prefix('0')?;
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get("sid")?.as_str().map(str::to_owned)
}

/// Appends an event packet `42<id>["<event>",<args>]` (with its Engine.IO
/// `4` prefix) to `out`; `args` is raw JSON, comma-separated.
pub fn push_event(out: &mut String, ack: Option<u64>, event: &str, args: &str) {
    use std::fmt::Write;
    out.push_str("42");
    if let Some(id) = ack {
        let _ = write!(out, "{id}");
    }
    out.push_str("[\"");
    out.push_str(event);
    out.push('"');
    if !args.is_empty() {
        out.push(',');
        out.push_str(args);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(ack_id("312[\"x\"]"), Some(12));
        assert_eq!(ack_id("3[\"x\"]"), None);
        assert_eq!(tick("2[\"tick\",[5,123]]"), Some((5, 123)));
        assert_eq!(tick("2[\"auth\",{}]"), None);
        assert!(is_connect("0{\"sid\":\"a\"}"));
        assert_eq!(
            open_sid("0{\"sid\":\"abc\",\"upgrades\":[]}").as_deref(),
            Some("abc")
        );
        let mut s = String::new();
        push_event(&mut s, Some(7), "message-with-ack", "\"x\"");
        assert_eq!(s, "427[\"message-with-ack\",\"x\"]");
    }
}
