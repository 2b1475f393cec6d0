// Engine.IO v4 upgrade from HTTP long-polling to WebSocket (2probe / 3probe / 6 / 5).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEngine, EngineTarget, assertEngineError, sleep, withTimeout, BAD_REQUEST } from "../lib/engine-util.mjs";

let t;
before(async () => {
  t = await startEngine();
});
after(async () => {
  await t?.stop();
});

/** Open the upgrade WebSocket for `sid` and wait until it is open. */
async function openUpgradeSocket(sid) {
  const ws = t.ws(`EIO=4&transport=websocket&sid=${sid}`);
  await ws.open;
  return ws;
}

describe("upgrade", () => {
  it("upgrades: 2probe gets 3probe, the held GET gets 6, and after 5 traffic flows over the WebSocket", async () => {
    const { sid } = await t.handshake();
    const held = t.poll(sid);
    await sleep(50);
    const ws = await openUpgradeSocket(sid);
    assert.equal(ws.queue.length, 0, "no open packet on an upgrade socket");
    ws.send("2probe");
    assert.equal(await ws.nextText(), "3probe");
    const res = await withTimeout(held, 1000, "the held GET");
    assert.equal(res.status, 200);
    assert.equal(res.text, "6");
    ws.send("5");
    ws.send("4hello");
    assert.equal(await ws.nextText(), "4hello");
    ws.send(Buffer.from([9, 8, 7]));
    assert.deepEqual(await ws.nextBinary(), Buffer.from([9, 8, 7]));
    ws.close();
    await ws.waitClose();
  });

  it("answers every GET during the probe with a noop", async () => {
    const { sid } = await t.handshake();
    const ws = await openUpgradeSocket(sid);
    ws.send("2probe");
    assert.equal(await ws.nextText(), "3probe");
    for (let i = 0; i < 2; i++) {
      const res = await withTimeout(t.poll(sid), 1000, `GET ${i} during the probe`);
      assert.equal(res.status, 200);
      assert.equal(res.text, "6");
    }
    ws.send("5");
    ws.send("4done");
    assert.equal(await ws.nextText(), "4done");
    ws.close();
    await ws.waitClose();
  });

  it("rejects polling GET and POST on the session after the upgrade with 400 code 3", async () => {
    const { sid } = await t.handshake();
    const ws = await openUpgradeSocket(sid);
    ws.send("2probe");
    assert.equal(await ws.nextText(), "3probe");
    ws.send("5");
    await sleep(50);
    assertEngineError(await t.poll(sid), ...BAD_REQUEST);
    assertEngineError(await t.send(sid, "4x"), ...BAD_REQUEST);
    ws.send("4hello");
    assert.equal(await ws.nextText(), "4hello");
    ws.close();
    await ws.waitClose();
  });

  it("flushes messages queued on polling over the WebSocket once the upgrade completes", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, `4before-1\x1ebAQI=\x1e4before-2`);
    const ws = await openUpgradeSocket(sid);
    ws.send("2probe");
    assert.equal(await ws.nextText(), "3probe");
    ws.send("5");
    assert.equal(await ws.nextText(), "4before-1");
    assert.deepEqual(await ws.nextBinary(), Buffer.from([1, 2]));
    assert.equal(await ws.nextText(), "4before-2");
    ws.close();
    await ws.waitClose();
  });

  it("still accepts polling POSTs during the probe and delivers their echo over the WebSocket", async () => {
    const { sid } = await t.handshake();
    const ws = await openUpgradeSocket(sid);
    ws.send("2probe");
    assert.equal(await ws.nextText(), "3probe");
    await t.sendOk(sid, "4via-polling");
    ws.send("5");
    assert.equal(await ws.nextText(), "4via-polling");
    ws.close();
    await ws.waitClose();
  });

  it("keeps the heartbeat going over the WebSocket after the upgrade", async () => {
    const { sid } = await t.handshake();
    const ws = await openUpgradeSocket(sid);
    ws.send("2probe");
    assert.equal(await ws.nextText(), "3probe");
    ws.send("5");
    assert.equal(await ws.nextText(1000), "2");
    ws.send("3");
    assert.equal(await ws.nextText(1000), "2");
    ws.send("3");
    ws.send("4alive");
    assert.equal(await ws.nextText(), "4alive");
    ws.close();
    await ws.waitClose();
  });

  it("closes a second WebSocket for an already upgraded sid and keeps the first", async () => {
    const { sid } = await t.handshake();
    const ws = await openUpgradeSocket(sid);
    ws.send("2probe");
    assert.equal(await ws.nextText(), "3probe");
    ws.send("5");
    await sleep(50);
    const ws2 = t.ws(`EIO=4&transport=websocket&sid=${sid}`);
    const { code } = await ws2.waitClose();
    assert.equal(code, 1005);
    assert.equal(ws2.queue.length, 0);
    ws.send("4first");
    assert.equal(await ws.nextText(), "4first");
    ws.close();
    await ws.waitClose();
  });

  it("closes a second WebSocket for a sid whose upgrade is in progress and lets the first finish", async () => {
    const { sid } = await t.handshake();
    const ws = await openUpgradeSocket(sid);
    ws.send("2probe");
    assert.equal(await ws.nextText(), "3probe");
    const ws2 = t.ws(`EIO=4&transport=websocket&sid=${sid}`);
    const { code } = await ws2.waitClose();
    assert.equal(code, 1005);
    ws.send("5");
    ws.send("4first");
    assert.equal(await ws.nextText(), "4first");
    ws.close();
    await ws.waitClose();
  });

  it("aborts the upgrade when the probing socket sends anything but 2probe or 5; polling goes on", async () => {
    const { sid } = await t.handshake();
    const ws = await openUpgradeSocket(sid);
    ws.send("4hello");
    const { code } = await ws.waitClose();
    assert.equal(code, 1005);
    assert.equal(ws.queue.length, 0);
    await t.sendOk(sid, "4still-polling");
    const res = await t.poll(sid);
    assert.equal(res.status, 200);
    assert.equal(res.text, "4still-polling");
    await t.sendOk(sid, "1");
  });

  it("completes the upgrade on 5 even without a probe", async () => {
    const { sid } = await t.handshake();
    const ws = await openUpgradeSocket(sid);
    ws.send("5");
    ws.send("4no-probe");
    assert.equal(await ws.nextText(), "4no-probe");
    assertEngineError(await t.poll(sid), ...BAD_REQUEST);
    ws.close();
    await ws.waitClose();
  });

  it("refuses an upgrade whose EIO differs from the session's with a raw 400 Bad request", async () => {
    const { sid } = await t.handshake();
    const r = await t.raw(EngineTarget.upgradeRequest(t.path(`EIO=3&transport=websocket&sid=${sid}`)));
    assert.equal(r.closed, true);
    assert.equal(
      r.data,
      "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 11\r\n\r\nBad request",
    );
    await t.sendOk(sid, "4untouched");
    assert.equal((await t.poll(sid)).text, "4untouched");
    await t.sendOk(sid, "1");
  });

  it("refuses an upgrade for a session that was closed with a raw 400 Session ID unknown", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, "1");
    const r = await t.raw(EngineTarget.upgradeRequest(t.path(`EIO=4&transport=websocket&sid=${sid}`)));
    assert.equal(r.closed, true);
    assert.match(r.data, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\r\n\r\nSession ID unknown$/);
  });
});
