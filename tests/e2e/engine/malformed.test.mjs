// Malformed input: each case is answered exactly as the Node reference answers it, and a separate
// healthy client still works afterwards.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startEngine, assertEngineError, maskedFrame, sleep, UNKNOWN_SID, UNSUPPORTED_PROTOCOL, TRANSPORT_UNKNOWN, PING_INTERVAL } from "../lib/engine-util.mjs";

let t;
before(async () => {
  t = await startEngine();
});
after(async () => {
  await t?.stop();
});

// Polling payloads that are a parse error: the POST is still answered `200 ok`, and the session
// is closed at once (the next request on the sid gets 400 code 1).
const FATAL_PAYLOADS = [
  ["garbage text", "abc"],
  ["an unknown packet type digit", "9hello"],
  ["an unknown packet type letter", "xhello"],
  ["an empty body", ""],
  ["a trailing record separator", "4a\x1e"],
  ["an empty packet between two messages", "4a\x1e\x1e4b"],
  ["a bad packet between two good ones", "4a\x1ezzz\x1e4b"],
  ["a client ping (v4 clients never ping)", "2"],
  ["a client ping probe over polling", "2probe"],
];

// Payloads the reference accepts; the GET that follows gets exactly this.
const TOLERATED_PAYLOADS = [
  ["truncated base64 (the incomplete tail is dropped)", "bAQIDB", "bAQID"],
  ["base64 without padding", "bAQ", "bAQ=="],
  ["base64 with data after the padding", "bAQ==AQ", "bAQ=="],
  ["base64 in the URL-safe alphabet", "b-_8", "b+/8="],
  ["base64 with a space and a foreign character", "bA*Q ID", "bAQID"],
  ["base64 that decodes to nothing", "b!!!!", "b"],
  ["a bare b", "b", "b"],
  ["only padding", "b====", "b"],
  ["an empty message", "4", "4"],
  ["a NUL byte and CRLF inside a message", "4a\x00\r\nb", "4a\x00\r\nb"],
];

// Invalid UTF-8: every bad sequence becomes U+FFFD (WHATWG decoding), the session survives.
const INVALID_UTF8 = [
  ["lone continuation-free bytes ff fe", [0x34, 0xff, 0xfe, 0x41], "4\uFFFD\uFFFDA"],
  ["a truncated 3-byte sequence at the end", [0x34, 0xe2, 0x82], "4\uFFFD"],
  ["a truncated 3-byte sequence before ASCII", [0x34, 0xe2, 0x82, 0x41], "4\uFFFDA"],
  ["an overlong encoding c0 af", [0x34, 0xc0, 0xaf], "4\uFFFD\uFFFD"],
  ["an encoded surrogate ed a0 80", [0x34, 0xed, 0xa0, 0x80], "4\uFFFD\uFFFD\uFFFD"],
];

// Packets the server ignores over polling; the session survives and only the heartbeat follows.
const IGNORED_PACKETS = [
  ["an unsolicited pong", "3"],
  ["an open packet", "0"],
  ["an upgrade packet", "5"],
  ["a noop packet", "6"],
];

describe("malformed polling payloads that close the session", () => {
  for (const [label, body] of FATAL_PAYLOADS) {
    it(`answers 200 ok to ${label} and closes the session`, async () => {
      const { sid } = await t.handshake();
      await t.sendOk(sid, body);
      assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
      await t.assertHealthy();
    });
  }

  it("closes the session and answers the held GET with 1 on a parse error", async () => {
    const { sid } = await t.handshake();
    const held = t.poll(sid);
    await sleep(50);
    await t.sendOk(sid, "abc");
    const res = await held;
    assert.equal(res.status, 200);
    assert.equal(res.text, "1");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
    await t.assertHealthy();
  });
});

describe("malformed polling payloads the reference tolerates", () => {
  for (const [label, body, echoed] of TOLERATED_PAYLOADS) {
    it(`echoes ${label} as ${JSON.stringify(echoed)} and keeps the session`, async () => {
      const { sid } = await t.handshake();
      await t.sendOk(sid, body);
      const res = await t.poll(sid);
      assert.equal(res.status, 200);
      assert.equal(res.text, echoed);
      await t.sendOk(sid, "4next");
      assert.equal((await t.poll(sid)).text, "4next");
      await t.sendOk(sid, "1");
      await t.assertHealthy();
    });
  }

  for (const [label, bytes, echoed] of INVALID_UTF8) {
    it(`replaces invalid UTF-8 (${label}) with U+FFFD and keeps the session`, async () => {
      const { sid } = await t.handshake();
      await t.sendOk(sid, Buffer.from(bytes));
      const res = await t.poll(sid);
      assert.equal(res.status, 200);
      assert.equal(res.text, echoed);
      assert.equal(res.headers["content-length"], String(Buffer.byteLength(echoed)));
      await t.sendOk(sid, "1");
      await t.assertHealthy();
    });
  }

  for (const [label, body] of IGNORED_PACKETS) {
    it(`ignores ${label} from the client and keeps the session`, async () => {
      const { sid } = await t.handshake();
      await t.sendOk(sid, body);
      const start = Date.now();
      const res = await t.poll(sid);
      assert.equal(res.text, "2", "the next packet is the regular ping");
      assert.ok(Date.now() - start >= PING_INTERVAL - 100);
      await t.sendOk(sid, "3");
      await t.sendOk(sid, "4alive");
      assert.equal((await t.poll(sid)).text, "4alive");
      await t.sendOk(sid, "1");
      await t.assertHealthy();
    });
  }

  it("reassembles a UTF-8 character split across chunks of a chunked POST", async () => {
    const { sid } = await t.handshake();
    const res = await new Promise((resolve) => {
      const req = http.request(
        { host: "127.0.0.1", port: t.port, method: "POST", path: t.pollingPath(sid), agent: false, headers: { "transfer-encoding": "chunked" } },
        (r) => {
          let b = "";
          r.on("data", (c) => (b += c));
          r.on("end", () => resolve({ status: r.statusCode, text: b }));
        },
      );
      req.on("error", (error) => resolve({ error }));
      req.write("4ab");
      req.write(Buffer.from([0xe2, 0x82]));
      req.end(Buffer.from([0xac]));
    });
    assert.equal(res.status, 200);
    assert.equal(res.text, "ok");
    assert.equal((await t.poll(sid)).text, "4ab€");
    await t.sendOk(sid, "1");
  });
});

describe("malformed HTTP requests", () => {
  for (const eio of ["EIO=3", "EIO=5", "EIO=abc", "EIO=", "EIO=4.0", "EIO=%00", "EIO=" + "4".repeat(1000)]) {
    it(`rejects ${eio.slice(0, 12)} with 400 code 5`, async () => {
      assertEngineError(await t.get(t.path(`${eio}&transport=polling`)), ...UNSUPPORTED_PROTOCOL);
      await t.assertHealthy();
    });
  }

  it("decodes percent-encoded query parameters", async () => {
    const res = await t.get("/engine.io/?EIO=%34&transport=poll%69ng");
    assert.equal(res.status, 200);
    assert.equal(res.text[0], "0");
  });

  it("rejects a transport name with a trailing NUL with 400 code 0", async () => {
    assertEngineError(await t.get(t.path("EIO=4&transport=polling%00")), ...TRANSPORT_UNKNOWN);
    await t.assertHealthy();
  });

  it("rejects a 5000-character sid with 400 code 1", async () => {
    assertEngineError(await t.get(t.pollingPath("a".repeat(5000))), ...UNKNOWN_SID);
    assertEngineError(await t.post(t.pollingPath("b".repeat(5000)), "4x"), ...UNKNOWN_SID);
    await t.assertHealthy();
  });

  it("rejects sids with control, non-ASCII and prototype-property names with 400 code 1", async () => {
    for (const sid of ["%00%ff", "%E2%82%AC", "__proto__", "constructor", "toString", "hasOwnProperty"]) {
      assertEngineError(await t.get(t.pollingPath(sid)), ...UNKNOWN_SID);
    }
    await t.assertHealthy();
  });

  // The next three requests never reach the engine: the HTTP parser answers them. The
  // reference's bytes are Node's parser's ("HTTP/1.1 431 ...\r\nConnection: close\r\n\r\n");
  // another server's parser (hyper) words its answer differently (header case, a Date header,
  // Content-Length). What matters, and what is checked: a 4xx status (or the connection closed
  // without a response), the connection closed, and a healthy client still served.
  function assertBareRejection(r) {
    assert.equal(r.closed, true, "the connection is closed");
    if (r.data !== "") assert.match(r.data, /^HTTP\/1\.[01] 4\d\d /, r.data);
  }

  it("answers a request line over 16 KiB with a 4xx and closes the connection", async () => {
    const r = await t.raw(`GET ${t.pollingPath("a".repeat(20000))} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assertBareRejection(r);
    await t.assertHealthy();
  });

  it("answers a request that is not HTTP with a 4xx and closes the connection", async () => {
    const r = await t.raw("HELLO\r\n\r\n");
    assertBareRejection(r);
    await t.assertHealthy();
  });

  it("answers an invalid Content-Length with a 4xx and closes the connection", async () => {
    const r = await t.raw(`POST ${t.path()} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`);
    assertBareRejection(r);
    await t.assertHealthy();
  });

  it("rejects a chunked POST body over maxPayload with an empty 413 and closes the session", async () => {
    const { sid } = await t.handshake();
    const res = await new Promise((resolve) => {
      const req = http.request(
        { host: "127.0.0.1", port: t.port, method: "POST", path: t.pollingPath(sid), agent: false, headers: { "transfer-encoding": "chunked" } },
        (r) => {
          let b = "";
          r.on("data", (c) => (b += c));
          r.on("end", () => resolve({ status: r.statusCode, text: b }));
        },
      );
      req.on("error", (error) => resolve({ error }));
      for (let i = 0; i < 11; i++) req.write("4" + "a".repeat(99_999));
      req.end();
    });
    assert.equal(res.status, 413);
    assert.equal(res.text, "");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
    await t.assertHealthy();
  });

  it("closes the session when a POST connection drops before its body is complete", async () => {
    const { sid } = await t.handshake();
    const req = http.request({
      host: "127.0.0.1",
      port: t.port,
      method: "POST",
      path: t.pollingPath(sid),
      agent: false,
      headers: { "content-length": "2000000" },
    });
    req.on("error", () => {});
    req.write("4abc");
    await sleep(100);
    req.destroy();
    await sleep(100);
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
    await t.assertHealthy();
  });
});

describe("malformed websocket frames", () => {
  it("closes with 1002 on a frame with a reserved opcode", async () => {
    const ws = await t.wsSession();
    ws.writeRaw(maskedFrame(0x3, Buffer.from("4x")));
    const { code } = await ws.waitClose();
    assert.equal(code, 1002);
    await t.assertHealthy();
  });

  it("closes with 1002 on an unmasked client frame", async () => {
    const ws = await t.wsSession();
    ws.writeRaw(Buffer.from([0x81, 0x02, 0x34, 0x78]));
    const { code } = await ws.waitClose();
    assert.equal(code, 1002);
    await t.assertHealthy();
  });

  it("closes with 1009 on a frame header announcing more than maxPayload", async () => {
    const ws = await t.wsSession();
    const header = Buffer.alloc(14);
    header[0] = 0x81;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(2_000_000n, 2);
    ws.writeRaw(header);
    const { code } = await ws.waitClose();
    assert.equal(code, 1009);
    await t.assertHealthy();
  });

  it("closes without a close code on a message that is a parse error", async () => {
    for (const frame of ["abc", "", "7", "x1"]) {
      const ws = await t.wsSession();
      ws.send(frame);
      const { code } = await ws.waitClose();
      assert.equal(code, 1005, JSON.stringify(frame));
    }
    await t.assertHealthy();
  });

  it("tolerates malformed base64 in a b text frame like polling does", async () => {
    const ws = await t.wsSession();
    for (const [frame, bytes] of [["bAQIDB", [1, 2, 3]], ["b!!!!", []], ["b-_8", [0xfb, 0xff]]]) {
      ws.send(frame);
      assert.deepEqual(await ws.nextBinary(), Buffer.from(bytes), frame);
    }
    ws.close();
    await ws.waitClose();
    await t.assertHealthy();
  });
});
