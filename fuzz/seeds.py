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

sio_seeds(); engine_seeds(); redis_seeds()
for t in sorted(os.listdir(OUT)):
    print(t, len(os.listdir(os.path.join(OUT, t))))
