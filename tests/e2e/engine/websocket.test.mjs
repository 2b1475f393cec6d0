// Engine.IO v4 over a WebSocket-only session: framing, echo, protocol violations and limits.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEngine, assertEngineError, maskedFrame, BAD_REQUEST, MAX_PAYLOAD } from "../lib/engine-util.mjs";

let t;
before(async () => {
  t = await startEngine();
});
after(async () => {
  await t?.stop();
});

async function closeCleanly(ws) {
  ws.close();
  await ws.waitClose();
}

describe("websocket echo", () => {
  it("echoes a text message packet as one text frame", async () => {
    const ws = await t.wsSession();
    ws.send("4hello");
    assert.equal(await ws.nextText(), "4hello");
    await closeCleanly(ws);
  });

  it("echoes a binary frame as a binary frame of the same raw bytes", async () => {
    const ws = await t.wsSession();
    ws.send(Buffer.from([1, 2, 3, 4]));
    assert.deepEqual(await ws.nextBinary(), Buffer.from([1, 2, 3, 4]));
    ws.send(Buffer.from([0x34, 0x00, 0xff]));
    assert.deepEqual(await ws.nextBinary(), Buffer.from([0x34, 0x00, 0xff]));
    await closeCleanly(ws);
  });

  it("echoes an empty binary frame and an empty message packet", async () => {
    const ws = await t.wsSession();
    ws.send(Buffer.alloc(0));
    assert.deepEqual(await ws.nextBinary(), Buffer.alloc(0));
    ws.send("4");
    assert.equal(await ws.nextText(), "4");
    await closeCleanly(ws);
  });

  it("decodes a b<base64> text frame as binary and echoes it as a binary frame", async () => {
    const ws = await t.wsSession();
    ws.send("bAQID");
    assert.deepEqual(await ws.nextBinary(), Buffer.from([1, 2, 3]));
    await closeCleanly(ws);
  });

  it("sends binary as b<base64> text frames when the client asked for b64", async () => {
    const ws = await t.wsSession("&b64=1");
    ws.send(Buffer.from([1, 2, 3]));
    assert.equal(await ws.nextText(), "bAQID");
    await closeCleanly(ws);
  });

  it("echoes multi-byte UTF-8 text unchanged", async () => {
    const ws = await t.wsSession();
    ws.send("4é€😀\u2028");
    assert.equal(await ws.nextText(), "4é€😀\u2028");
    await closeCleanly(ws);
  });

  it("echoes a burst of mixed frames in order", async () => {
    const ws = await t.wsSession();
    for (let i = 0; i < 50; i++) ws.send(i % 5 === 0 ? Buffer.from([i]) : `4m${i}`);
    for (let i = 0; i < 50; i++) {
      if (i % 5 === 0) assert.deepEqual(await ws.nextBinary(), Buffer.from([i]));
      else assert.equal(await ws.nextText(), `4m${i}`);
    }
    await closeCleanly(ws);
  });

  it("echoes a text frame of exactly maxPayload bytes", async () => {
    const ws = await t.wsSession();
    const msg = "4" + "x".repeat(MAX_PAYLOAD - 1);
    ws.send(msg);
    assert.equal(await ws.nextText(), msg);
    await closeCleanly(ws);
  });
});

describe("websocket packets that are ignored", () => {
  it("ignores a close packet from the client: the session keeps echoing", async () => {
    const ws = await t.wsSession();
    ws.send("1");
    ws.send("4after-close");
    assert.equal(await ws.nextText(), "4after-close");
    await closeCleanly(ws);
  });

  it("ignores unsolicited pong, noop, upgrade and open packets", async () => {
    const ws = await t.wsSession();
    for (const p of ["3", "6", "5", "0", "3probe"]) ws.send(p);
    ws.send("4x");
    assert.equal(await ws.nextText(), "4x");
    await closeCleanly(ws);
  });
});

describe("websocket protocol violations", () => {
  for (const [label, frame] of [
    ["a v4 client ping 2", "2"],
    ["a 2probe on a session that is not upgrading", "2probe"],
    ["an unknown packet type", "9hello"],
    ["garbage text", "abc"],
    ["an empty text frame", ""],
  ]) {
    it(`closes the socket without a close code on ${label}`, async () => {
      const ws = await t.wsSession();
      ws.send(frame);
      const { code } = await ws.waitClose();
      assert.equal(code, 1005);
      assert.equal(ws.queue.length, 0, "nothing is sent back");
    });
  }

  it("closes with 1009 on a text frame over maxPayload", async () => {
    const ws = await t.wsSession();
    ws.send("4" + "x".repeat(MAX_PAYLOAD));
    const { code } = await ws.waitClose(3000);
    assert.equal(code, 1009);
  });

  it("closes with 1009 on a binary frame over maxPayload", async () => {
    const ws = await t.wsSession();
    ws.send(Buffer.alloc(MAX_PAYLOAD + 1));
    const { code } = await ws.waitClose(3000);
    assert.equal(code, 1009);
  });

  it("closes with 1007 on a text frame that is not valid UTF-8", async () => {
    const ws = await t.wsSession();
    ws.writeRaw(maskedFrame(0x1, Buffer.from([0x34, 0xff, 0xfe])));
    const { code } = await ws.waitClose();
    assert.equal(code, 1007);
    assert.equal(ws.queue.length, 0);
  });

  it("rejects polling requests on a websocket session with 400 code 3 and leaves it open", async () => {
    const ws = await t.wsSession();
    assertEngineError(await t.poll(ws.sid), ...BAD_REQUEST);
    assertEngineError(await t.send(ws.sid, "4x"), ...BAD_REQUEST);
    ws.send("4still-open");
    assert.equal(await ws.nextText(), "4still-open");
    await closeCleanly(ws);
  });

  it("still serves healthy clients afterwards", async () => {
    await t.assertHealthy();
  });
});
