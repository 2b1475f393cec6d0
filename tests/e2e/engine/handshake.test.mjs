// Engine.IO v4 handshake and request validation (engine_echo server, CONTRACT.md).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startEngine,
  EngineTarget,
  assertEngineError,
  UNKNOWN_SID,
  BAD_REQUEST,
  TRANSPORT_UNKNOWN,
  BAD_HANDSHAKE_METHOD,
  UNSUPPORTED_PROTOCOL,
  PING_INTERVAL,
  PING_TIMEOUT,
  MAX_PAYLOAD,
} from "../lib/engine-util.mjs";

const SID_RE = /^[A-Za-z0-9_-]{20}$/;

let t;
before(async () => {
  t = await startEngine();
});
after(async () => {
  await t?.stop();
});

describe("polling handshake", () => {
  it("answers 200 with an open packet whose JSON keys come in the reference order", async () => {
    const res = await t.get(t.path("EIO=4&transport=polling"));
    assert.equal(res.status, 200);
    assert.equal(res.text[0], "0");
    const hs = JSON.parse(res.text.slice(1));
    assert.deepEqual(Object.keys(hs), ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]);
    assert.match(hs.sid, SID_RE);
    assert.deepEqual(hs.upgrades, ["websocket"]);
    assert.equal(hs.pingInterval, PING_INTERVAL);
    assert.equal(hs.pingTimeout, PING_TIMEOUT);
    assert.equal(hs.maxPayload, MAX_PAYLOAD);
    // Byte-exact apart from the random sid.
    assert.equal(
      res.text,
      `0{"sid":"${hs.sid}","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`,
    );
  });

  it("sends text/plain UTF-8, Content-Length, no-store and the CORS origin on the handshake", async () => {
    const res = await t.get(t.path("EIO=4&transport=polling"), { headers: { origin: "http://example.com" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "text/plain; charset=UTF-8");
    assert.equal(res.headers["content-length"], String(res.body.length));
    assert.equal(res.headers["cache-control"], "no-store");
    assert.equal(res.headers["access-control-allow-origin"], "*");
  });

  it("gives every session a distinct 20-character sid", async () => {
    const sids = new Set();
    for (let i = 0; i < 20; i++) {
      const { sid } = await t.handshake();
      assert.match(sid, SID_RE);
      sids.add(sid);
    }
    assert.equal(sids.size, 20);
  });

  it("ignores the t cache-buster and matches the path by prefix", async () => {
    const a = await t.get("/engine.io/?EIO=4&transport=polling&t=Nx1abc");
    assert.equal(a.status, 200);
    assert.equal(a.text[0], "0");
    const b = await t.get("/engine.io/anything/below?EIO=4&transport=polling");
    assert.equal(b.status, 200);
    assert.equal(b.text[0], "0");
  });

  it("treats an empty sid parameter as a new handshake", async () => {
    const res = await t.get(t.path("EIO=4&transport=polling&sid="));
    assert.equal(res.status, 200);
    assert.match(JSON.parse(res.text.slice(1)).sid, SID_RE);
  });

  it("uses the last value of a repeated query parameter", async () => {
    // transport=polling&transport=websocket is a websocket request without Upgrade header.
    assertEngineError(await t.get(t.path("EIO=4&transport=polling&transport=websocket")), ...BAD_REQUEST);
    const res = await t.get(t.path("EIO=4&transport=websocket&transport=polling"));
    assert.equal(res.status, 200);
    assert.equal(res.text[0], "0");
  });
});

describe("handshake errors", () => {
  for (const [label, query] of [
    ["missing", "transport=polling"],
    ["abc", "EIO=abc&transport=polling"],
    ["3", "EIO=3&transport=polling"],
    ["5", "EIO=5&transport=polling"],
    ["empty", "EIO=&transport=polling"],
    ["04", "EIO=04&transport=polling"],
  ]) {
    it(`rejects EIO ${label} with 400 code 5 Unsupported protocol version`, async () => {
      assertEngineError(await t.get(t.path(query)), ...UNSUPPORTED_PROTOCOL);
    });
  }

  it("rejects a missing transport with 400 code 0 Transport unknown", async () => {
    assertEngineError(await t.get(t.path("EIO=4")), ...TRANSPORT_UNKNOWN);
  });

  it("rejects an unknown transport (also wrong case) with 400 code 0", async () => {
    assertEngineError(await t.get(t.path("EIO=4&transport=abc")), ...TRANSPORT_UNKNOWN);
    assertEngineError(await t.get(t.path("EIO=4&transport=POLLING")), ...TRANSPORT_UNKNOWN);
    assertEngineError(await t.get(t.path("EIO=4&transport=webtransport")), ...TRANSPORT_UNKNOWN);
  });

  it("rejects a handshake with POST or PUT with 400 code 2 Bad handshake method", async () => {
    assertEngineError(await t.post(t.path(), "4hello"), ...BAD_HANDSHAKE_METHOD);
    assertEngineError(await t.request("PUT", t.path(), { body: "" }), ...BAD_HANDSHAKE_METHOD);
  });

  it("rejects a HEAD handshake with 400 and a JSON content type", async () => {
    const res = await t.request("HEAD", t.path());
    assert.equal(res.status, 400);
    assert.equal(res.headers["content-type"], "application/json");
    assert.equal(res.body.length, 0);
  });

  it("rejects an unknown sid with 400 code 1 Session ID unknown, for GET and POST", async () => {
    assertEngineError(await t.get(t.pollingPath("abc")), ...UNKNOWN_SID);
    assertEngineError(await t.post(t.pollingPath("abcdefghijklmnopqrst"), "4x"), ...UNKNOWN_SID);
  });

  it("rejects transport=websocket without an Upgrade header with 400 code 3 Bad request", async () => {
    assertEngineError(await t.get(t.path("EIO=4&transport=websocket")), ...BAD_REQUEST);
  });

  it("checks transport, then sid, then method, then the protocol version", async () => {
    // An unknown transport wins over a bad EIO.
    assertEngineError(await t.get(t.path("EIO=3&transport=abc")), ...TRANSPORT_UNKNOWN);
    // An unknown sid wins over a bad EIO.
    assertEngineError(await t.get(t.path("EIO=3&transport=polling&sid=nope")), ...UNKNOWN_SID);
    // A non-GET handshake wins over a bad EIO.
    assertEngineError(await t.post(t.path("EIO=3&transport=polling"), ""), ...BAD_HANDSHAKE_METHOD);
  });

  it("rejects a request on an existing session whose EIO differs with 400 code 3", async () => {
    const { sid } = await t.handshake();
    for (const eio of ["EIO=3&", "EIO=5&", "EIO=abc&", ""]) {
      assertEngineError(await t.get(t.path(`${eio}transport=polling&sid=${sid}`)), ...BAD_REQUEST);
    }
    // The session itself is untouched.
    await t.sendOk(sid, "4still-here");
    const res = await t.poll(sid);
    assert.equal(res.text, "4still-here");
    await t.sendOk(sid, "1");
  });
});

describe("websocket handshake", () => {
  it("sends the open packet as the first text frame, with upgrades []", async () => {
    const ws = t.ws("EIO=4&transport=websocket");
    const first = await ws.next();
    assert.equal(first.binary, false);
    const text = first.data.toString();
    const hs = JSON.parse(text.slice(1));
    assert.deepEqual(Object.keys(hs), ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]);
    assert.match(hs.sid, SID_RE);
    assert.equal(
      text,
      `0{"sid":"${hs.sid}","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`,
    );
    ws.close();
    await ws.waitClose();
  });

  it("answers an upgrade request with an unknown transport with a raw 400 Transport unknown and closes", async () => {
    for (const q of ["EIO=4&transport=abc", "EIO=4"]) {
      const r = await t.raw(EngineTarget.upgradeRequest(t.path(q)));
      assert.equal(r.closed, true);
      assert.equal(
        r.data,
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 17\r\n\r\nTransport unknown",
      );
    }
  });

  it("answers an upgrade request with an unknown sid with a raw 400 Session ID unknown and closes", async () => {
    const r = await t.raw(EngineTarget.upgradeRequest(t.path("EIO=4&transport=websocket&sid=abc")));
    assert.equal(r.closed, true);
    assert.equal(
      r.data,
      "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 18\r\n\r\nSession ID unknown",
    );
  });

  it("never opens a session for a websocket with a missing or invalid EIO", async () => {
    for (const q of ["transport=websocket", "EIO=abc&transport=websocket", "EIO=3&transport=websocket"]) {
      const ws = t.ws(q);
      await ws.waitClose();
      assert.equal(ws.queue.length, 0, `no Engine.IO packet may arrive for ${q}`);
    }
  });

  it("never opens a session for a websocket upgrade with transport=polling", async () => {
    const ws = t.ws("EIO=4&transport=polling");
    const { code } = await ws.waitClose();
    assert.equal(ws.queue.length, 0);
    assert.equal(code, 1005);
  });

  it("still serves healthy clients after the rejected requests", async () => {
    await t.assertHealthy();
  });
});
