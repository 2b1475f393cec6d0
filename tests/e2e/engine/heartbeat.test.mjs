// Engine.IO v4 heartbeat (server pings every pingInterval=300 ms, expects a pong within
// pingTimeout=200 ms) and client-initiated close over polling.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEngine, assertEngineError, sleep, withTimeout, UNKNOWN_SID, PING_INTERVAL, PING_TIMEOUT } from "../lib/engine-util.mjs";

// Timer slack allowed on the early side (timers never fire early, but the handshake response
// reaches us a little after the server started its timer).
const EARLY_SLACK = 50;

let t;
before(async () => {
  t = await startEngine();
});
after(async () => {
  await t?.stop();
});

describe("heartbeat over polling", () => {
  it("sends the first ping only after pingInterval", async () => {
    const { sid } = await t.handshake();
    const start = Date.now();
    const res = await t.poll(sid);
    const elapsed = Date.now() - start;
    assert.equal(res.status, 200);
    assert.equal(res.text, "2");
    assert.ok(elapsed >= PING_INTERVAL - EARLY_SLACK, `first ping after ${elapsed} ms`);
    assert.ok(elapsed < PING_INTERVAL + 300, `first ping after ${elapsed} ms`);
    await t.sendOk(sid, "3");
    await t.sendOk(sid, "1");
  });

  it("keeps the session alive while every ping is answered with a pong", async () => {
    const { sid } = await t.handshake();
    for (let i = 0; i < 3; i++) {
      const res = await t.poll(sid);
      assert.equal(res.status, 200);
      assert.equal(res.text, "2");
      await t.sendOk(sid, "3");
    }
    await t.sendOk(sid, "4still-open");
    assert.equal((await t.poll(sid)).text, "4still-open");
    await t.sendOk(sid, "1");
  });

  it("schedules the next ping pingInterval after the pong", async () => {
    const { sid } = await t.handshake();
    assert.equal((await t.poll(sid)).text, "2");
    await t.sendOk(sid, "3");
    const start = Date.now();
    const res = await t.poll(sid);
    const elapsed = Date.now() - start;
    assert.equal(res.text, "2");
    assert.ok(elapsed >= PING_INTERVAL - EARLY_SLACK, `second ping after ${elapsed} ms`);
    await t.sendOk(sid, "3");
    await t.sendOk(sid, "1");
  });

  it("answers the pending GET with a close packet when the pong is missing", async () => {
    const { sid } = await t.handshake();
    assert.equal((await t.poll(sid)).text, "2");
    const start = Date.now();
    const res = await t.poll(sid);
    const elapsed = Date.now() - start;
    assert.equal(res.status, 200);
    assert.equal(res.text, "1");
    assert.ok(elapsed >= PING_TIMEOUT - EARLY_SLACK, `closed after ${elapsed} ms`);
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
  });

  it("forgets a session that never polls after pingInterval + pingTimeout", async () => {
    const { sid } = await t.handshake();
    await sleep(PING_INTERVAL + PING_TIMEOUT + 150);
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
    assertEngineError(await t.send(sid, "3"), ...UNKNOWN_SID);
  });

  it("does not let a message count as a pong", async () => {
    const { sid } = await t.handshake();
    assert.equal((await t.poll(sid)).text, "2");
    await t.sendOk(sid, "4not-a-pong");
    assert.equal((await t.poll(sid)).text, "4not-a-pong");
    const res = await t.poll(sid);
    assert.equal(res.text, "1");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
  });
});

describe("heartbeat over websocket", () => {
  it("pings after pingInterval and keeps the socket open while pongs come back", async () => {
    const ws = await t.wsSession();
    for (let i = 0; i < 3; i++) {
      const start = Date.now();
      assert.equal(await ws.nextText(1000), "2");
      const elapsed = Date.now() - start;
      assert.ok(elapsed >= PING_INTERVAL - EARLY_SLACK, `ping ${i} after ${elapsed} ms`);
      ws.send("3");
    }
    ws.send("4alive");
    assert.equal(await ws.nextText(), "4alive");
    ws.close();
    await ws.waitClose();
  });

  it("closes the socket without a close code when the pong is missing", async () => {
    const ws = await t.wsSession();
    assert.equal(await ws.nextText(1000), "2");
    const start = Date.now();
    const { code } = await ws.waitClose(1000);
    const elapsed = Date.now() - start;
    assert.equal(code, 1005);
    assert.ok(elapsed >= PING_TIMEOUT - EARLY_SLACK, `closed after ${elapsed} ms`);
    assert.equal(ws.queue.length, 0, "no packet (not even 1) is sent before the close");
  });
});

describe("client close over polling", () => {
  it("answers the pending GET with a noop when the client posts a close packet", async () => {
    const { sid } = await t.handshake();
    const pending = t.poll(sid);
    await sleep(50);
    await t.sendOk(sid, "1");
    const res = await withTimeout(pending, 1000, "the pending GET");
    assert.equal(res.status, 200);
    assert.equal(res.text, "6");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
  });

  it("forgets the session at once when the client closes with no GET pending", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, "1");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
    assertEngineError(await t.send(sid, "4x"), ...UNKNOWN_SID);
  });

  it("closes the session when a close packet follows messages in one payload", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, "4a\x1e1");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
  });

  it("ignores packets after a close packet in the same payload", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, "1\x1e4a");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
  });
});
