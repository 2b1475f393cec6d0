#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets to fuzz/corpus/<target>/ (not committed).

Seeds come from the protocol examples (shared/reference/*.md), the packets the e2e tests
send, and the Redis fixtures captured from Node (crates/redis/tests/fixtures/*.json).
Run from the repository root: python3 fuzz/seeds.py
"""
import glob, hashlib, json, os, re, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)

def frame(msgs):
    """The sio_* framing: tag (1 = binary), u16 LE length, bytes."""
    out = b""
    for m in msgs:
        tag, body = (1, m) if isinstance(m, bytes) else (0, m.encode())
        out += bytes([tag]) + struct.pack("<H", len(body)) + body
    return out

SIO = [
    '0', '0/admin,', '0{"token":"abc"}', '0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}',
    '1', '1/admin,', '2["foo"]', '2/admin,["bar"]', '212["foo"]', '2/admin,12["bar",1,{"a":[null,true]}]',
    '3/admin,13["bar"]', '31[]', '4{"message":"Not authorized"}', '4"error"', '2[1,"num-event"]',
    '2["hello","world",42,1.5e300,-0.0,{"k":"v"}]', '2["x",{"_placeholder":true,"num":0}]',
    '29007199254740991["big"]', '29007199254740992["overflow"]', '2["connect"]', '2 ["ws"] ',
]
SIO_BIN = [
    ['51-["baz",{"_placeholder":true,"num":0}]', b"\x01\x02\x03"],
    ['52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', b"\x01", b""],
    ['61-15["bar",{"_placeholder":true,"num":0}]', b"\xff" * 8],
    ['51-["a",{"_placeholder":true,"num":0.0}]', b"x", '2["after"]'],
    ['52-["a",{"_placeholder":true,"num":0}]', b"x", '2["too soon"]'],
    ['511-["many"]'] + [b"z"] * 11,
    [b"\x00", '2["binary first"]'],
]

def sio_seeds():
    for t in SIO:
        put("sio_decoder", b"\x0a" + frame([t]))
        put("sio_from_args", frame([t]))
    for ms in SIO_BIN:
        put("sio_decoder", b"\x0a" + frame(ms))
        put("sio_from_args", frame(ms))
    for path in glob.glob(os.path.join(ROOT, "crates/ferrio/tests/*.rs")):
        for m in set(re.findall(r'"(4[0-6][^"\\]*(?:\\.[^"\\]*)*)"', open(path).read())):
            text = m.encode().decode("unicode_escape")[1:]
            put("sio_decoder", b"\x0a" + frame([text]))

ENGINE = [
    "0", "1", "2", "2probe", "3probe", "4hello", "5", "6", "4é€😀", "bAQIDBA==", "b", "bAQ==AQ",
    "b-_8", "bA*Q ID", "40", '42["hello"]', '40{"sid":"wZX3oN0bSVIhsaknAAAI"}', "9", "",
]
PAYLOADS = [
    "4hello\x1e2\x1e4world", "4hello\x1ebAQIDBA==", '42["hello"]\x1e42["world"]', "4a\x1e", "\x1e",
    "4a\x1ex\x1e4b", "1\x1e4after close", '451-["b",{"_placeholder":true,"num":0}]\x1ebAQID',
]
FORMS = ["d=4hello%20world", "d=4a+b%1E4c", "x=1&%64=4a", "d", "d=%zz%4", "d=4%FF", "d=1&d=2",
         r"d=4line1\nline2%5C%5Cn", "&&d=4&&", "d=4%E2%80%A8"]
QUERIES = ["EIO=4&transport=polling&t=N8hyd6w", "EIO=4&transport=websocket&sid=lv_VI97HAXpY6yYWAAAC",
           "EIO=3&transport=polling&j=0&b64=1", "sid=&EIO=4", "EIO=4&EIO=3", "transport=polling%20&x",
           "j=1);alert(1", "a=%E2%82%AC&b=%&c=+"]

def engine_seeds():
    for t in ENGINE:
        put("engine_packet", b"\x00" + t.encode())
        put("engine_payload", t)
    put("engine_packet", b"\x01\x04\x01\x02")
    put("engine_packet", b"\x02\x04\x01\x02")
    for p in PAYLOADS:
        put("engine_payload", p)
    for f in FORMS:
        put("engine_jsonp_form", f)
    for q in QUERIES:
        put("engine_query", q)
    for b in ["AQIDBA==", "AQIDB", "AQ", "-_8", "+/8=", "A*Q ID", "A\nQ\tI\rD", "====", "A", "AQ==AQ"]:
        put("engine_base64", b)
    # Examples from the reference documents: lines that look like packets.
    for path in glob.glob("/work/shared/reference/*.md") + glob.glob(os.path.join(ROOT, "../shared/reference/*.md")):
        for line in open(path, encoding="utf-8", errors="replace"):
            line = line.strip().strip("`")
            if re.match(r"^[0-6b][^ ]{0,200}$", line):
                text = line.replace("\\x1e", "\x1e")
                put("engine_payload", text)
                if re.match(r"^[0-6]", line):
                    put("sio_decoder", b"\x0a" + frame([line]))

def redis_seeds():
    for path in sorted(glob.glob(os.path.join(ROOT, "crates/redis/tests/fixtures/*.json"))):
        doc = json.load(open(path))
        for m in doc.get("messages", []):
            raw = None
            if "hex" in m:
                raw = bytes.fromhex(m["hex"])
            elif "text" in m:
                raw = m["text"].encode()
            elif "payload" in m and isinstance(m["payload"], str):
                raw = m["payload"].encode()
            if raw is None:
                continue
            ch = m.get("channel", "")
            if raw[:1] != b"{":
                put("redis_msgpack", raw)
            if "request" in ch or "response" in ch:
                for mode in range(0, 13):
                    if mode in (0, 2) or "response" in ch:
                        put("redis_classic", bytes([mode]) + raw)
            elif ch.startswith("socket.io#") or "#" in ch and "sharded" not in path:
                put("redis_classic", b"\x01" + raw)
            if "sharded" in path or m.get("kind") in ("spubsub", "stream"):
                put("redis_cluster", raw)
    for raw in [b"\xc0", b"\xd4\x00\x00", b"\xd6\xff\x00\x00\x00\x01", b"\xc7\x0c\xff" + b"\x00" * 12,
                b"\x92\xa1a\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", b"\x81\xa1k\xd4\x00\x00"]:
        put("redis_msgpack", raw)

def ws_frame(opcode, payload, fin=True, rsv1=False, mask=b"\x37\xfa\x21\x3d"):
    """A masked client WebSocket frame (RFC 6455 section 5.2)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n < 65536:
        head = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))

def deflate_raw(data):
    """permessage-deflate (RFC 7692): raw DEFLATE, sync-flushed, without the 00 00 ff ff tail."""
    import zlib
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]

def ws_seeds():
    """engine_ws: byte 0 options (bit 0 permessage-deflate, bit 1 client_no_context_takeover,
    bits 2-7 read size - 1), bytes 1-2 the size limit - 1 (u16 LE), then the client's stream."""
    def put_ws(opts, limit, stream):
        put("engine_ws", bytes([opts]) + struct.pack("<H", limit - 1) + stream)
    hello = ws_frame(0x1, b"Hello")
    put_ws(0, 1000, hello)
    put_ws(0x1c, 1000, hello + ws_frame(0x2, bytes(range(200))) + ws_frame(0x9, b"ping"))
    # Fragmented text with a ping in the middle; a close with a code and a reason.
    put_ws(4, 1000, ws_frame(0x1, b"4frag", fin=False) + ws_frame(0x9, b"") +
           ws_frame(0x0, b"mented", fin=False) + ws_frame(0x0, b"!") + ws_frame(0x8, b"\x03\xe8bye"))
    put_ws(0, 1000, ws_frame(0xA, b"pong") + ws_frame(0x8, b""))
    # Engine.IO packets as a client sends them.
    put_ws(0, 65535, ws_frame(0x1, b"2probe") + ws_frame(0x1, b"5") + ws_frame(0x1, '4h\u00e9llo \u2028'.encode()) +
           ws_frame(0x2, b"\x04\x01\x02\x03") + ws_frame(0x1, b"3"))
    # Over the limit (16-bit and 64-bit lengths), invalid UTF-8, a reserved opcode, unmasked.
    put_ws(0, 100, ws_frame(0x1, b"x" * 300))
    # 64-bit lengths, header only: 70,000 (over any u16 limit) and 2^63 (top bit must be 0).
    put_ws(0, 65535, b"\x82\xff" + struct.pack(">Q", 70000) + b"\x37\xfa\x21\x3d" + b"y" * 16)
    put_ws(0, 65535, b"\x82\xff" + struct.pack(">Q", 1 << 63) + b"\x37\xfa\x21\x3d")
    put_ws(0, 1000, ws_frame(0x1, b"\xff\xfe"))
    put_ws(0, 1000, ws_frame(0x3, b"?"))
    put_ws(0, 1000, b"\x81\x05Hello")
    # permessage-deflate: one compressed message, a fragmented one (RSV1 on the first frame
    # only), an uncompressed one, context kept or not, and a small bomb over the limit.
    text = b'4{"event":"chat","data":"' + b"hello " * 40 + b'"}'
    for opts in (1, 3, 1 | (7 << 2), 3 | (63 << 2)):
        z = deflate_raw(text)
        put_ws(opts, 1000, ws_frame(0x1, z, rsv1=True) + ws_frame(0x1, z, rsv1=True) +
               ws_frame(0x1, b"plain") + ws_frame(0x2, deflate_raw(bytes(64)), rsv1=True))
        put_ws(opts, 1000, ws_frame(0x1, z[:5], fin=False, rsv1=True) + ws_frame(0x0, z[5:]))
    put_ws(1, 1000, ws_frame(0x2, deflate_raw(bytes(1_000_000)), rsv1=True))
    put_ws(1, 1000, ws_frame(0x1, b"\x00garbage", rsv1=True))
    put_ws(0, 1000, ws_frame(0x1, deflate_raw(b"rsv1 without the extension"), rsv1=True))

sio_seeds(); engine_seeds(); ws_seeds(); redis_seeds()
for t in sorted(os.listdir(OUT)):
    print(t, len(os.listdir(os.path.join(OUT, t))))
