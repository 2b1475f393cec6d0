// The perMessageDeflate option: off by default; when on, the permessage-deflate extension
// (RFC 7692) is negotiated with `ws` and engine.io-client, large messages are compressed both
// ways, and a compression bomb is refused with 1009 without harming other clients.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Socket } from "engine.io-client";
import { startEngine, withTimeout, maskedFrame } from "../lib/engine-util.mjs";

const THRESHOLD = 1024;

/** Records the first byte and length of every frame the server sends from now on (raw TCP). */
function sniffFrames(ws) {
  const firstBytes = [];
  let pending = Buffer.alloc(0);
  const onData = (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (pending.length < 2) return;
      let len = pending[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (pending.length < 4) return;
        len = pending.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (pending.length < 10) return;
        len = Number(pending.readBigUInt64BE(2));
        at = 10;
      }
      if (pending.length < at + len) return;
      firstBytes.push({ b0: pending[0], len });
      pending = pending.subarray(at + len);
    }
  };
  ws.socket._socket.prependListener("data", onData);
  return firstBytes;
}

/** A WebSocket session (open packet consumed) and the server's Sec-WebSocket-Extensions answer. */
async function session(t, extra, opts) {
  const ws = t.ws(`EIO=4&transport=websocket${extra}`, opts);
  const answer = new Promise((resolve) => ws.socket.once("upgrade", (res) => resolve(res.headers["sec-websocket-extensions"])));
  assert.equal((await ws.nextText())[0], "0");
  ws.extensionsAnswer = await answer;
  return ws;
}

describe("perMessageDeflate off (the default)", () => {
  let t;
  before(async () => {
    t = await startEngine();
  });
  after(async () => {
    await t?.stop();
  });

  it("does not negotiate the extension a client offers", async () => {
    const ws = await session(t, "", { perMessageDeflate: true });
    assert.equal(ws.extensionsAnswer, undefined);
    const big = "4" + "x".repeat(5000);
    ws.send(big);
    assert.equal(await ws.nextText(), big);
    ws.close();
    await ws.waitClose();
  });

  it("closes with 1002 a frame with RSV1 set", async () => {
    const ws = await t.wsSession();
    const frame = maskedFrame(0x1, Buffer.from("4hi"));
    frame[0] |= 0x40;
    ws.writeRaw(frame);
    assert.equal((await ws.waitClose()).code, 1002);
  });
});

describe("perMessageDeflate on", () => {
  let t;
  before(async () => {
    t = await startEngine({ PER_MESSAGE_DEFLATE: String(THRESHOLD) });
  });
  after(async () => {
    await t?.stop();
  });

  // A deliberate difference from the reference (which lets `ws` keep a ~300 KB deflate context
  // per connection): each message is compressed on its own, so the answer always carries
  // server_no_context_takeover, and, as `ws` does in that mode, only messages from the
  // threshold up are compressed.
  it("answers the offer of ws with server_no_context_takeover", async () => {
    const ws = await session(t, "", { perMessageDeflate: true });
    assert.equal(ws.extensionsAnswer, "permessage-deflate; server_no_context_takeover");
    assert.equal(ws.socket.extensions, "permessage-deflate");
    ws.close();
    await ws.waitClose();
  });

  it("compresses messages from the threshold up, and not below it", async () => {
    const ws = await session(t, "", { perMessageDeflate: { threshold: 1e9 } });
    const frames = sniffFrames(ws);
    const big = "4" + "compressible ".repeat(400);
    const small = "4" + "y".repeat(THRESHOLD - 2);
    ws.send(big);
    assert.equal(await ws.nextText(), big);
    ws.send(small);
    assert.equal(await ws.nextText(), small);
    // frames: the big echo, the small echo (pings may come between).
    const echoes = frames.filter((f) => f.len > 1);
    assert.equal(echoes.length, 2, JSON.stringify(frames));
    assert.equal(echoes[0].b0, 0xc1, "the large echo has RSV1 (compressed)");
    assert.ok(echoes[0].len < big.length / 10, `compressed to ${echoes[0].len} bytes`);
    assert.equal(echoes[1].b0, 0x81, "below the threshold: uncompressed");
    assert.equal(echoes[1].len, small.length);
    ws.close();
    await ws.waitClose();
  });

  it("inflates what the client compresses, across messages (context takeover)", async () => {
    const ws = await t.wsSession("", { perMessageDeflate: { threshold: 0 } });
    for (let i = 0; i < 20; i++) {
      const text = `4message ${i} ` + "abc".repeat(i * 50);
      ws.send(text);
      assert.equal(await ws.nextText(), text);
    }
    const bin = Buffer.alloc(50_000, 7);
    ws.send(bin);
    assert.deepEqual(await ws.nextBinary(), bin);
    ws.close();
    await ws.waitClose();
  });

  it("compresses binary sent as b<base64> text to a b64 client", async () => {
    const ws = await t.wsSession("&b64=1", { perMessageDeflate: true });
    const bin = Buffer.alloc(4000, 1);
    ws.send(bin);
    assert.equal(await ws.nextText(), "b" + bin.toString("base64"));
    ws.close();
    await ws.waitClose();
  });

  it("inflates fragmented compressed messages", async () => {
    const ws = await t.wsSession("", { perMessageDeflate: { threshold: 0 } });
    const text = "4" + "fragment ".repeat(3000);
    // ws compresses the whole message and splits it over frames with fin=false.
    ws.socket.send(text.slice(0, 10_000), { fin: false });
    ws.socket.send(text.slice(10_000), { fin: true });
    assert.equal(await ws.nextText(), text);
    ws.close();
    await ws.waitClose();
  });

  it("closes with 1009 a message that inflates past maxHttpBufferSize, and serves others", async () => {
    const healthy = await t.wsSession("", { perMessageDeflate: true });
    const ws = await t.wsSession("", { perMessageDeflate: { threshold: 0 } });
    // 2 MB of zeros compress to about 2 KB: within the frame limit, over it once inflated.
    ws.send(Buffer.alloc(2_000_000));
    assert.equal((await ws.waitClose(5000)).code, 1009);
    const text = "4" + "still fine ".repeat(200);
    healthy.send(text);
    assert.equal(await healthy.nextText(), text);
    healthy.close();
    await healthy.waitClose();
  });

  it("closes with 1007 a compressed message that does not inflate", async () => {
    const ws = await t.wsSession("", { perMessageDeflate: true });
    const frame = maskedFrame(0x2, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    frame[0] |= 0x40;
    ws.writeRaw(frame);
    assert.equal((await ws.waitClose()).code, 1007);
  });

  it("negotiates on a WebSocket that upgrades a polling session (engine.io-client)", async () => {
    const socket = new Socket(t.url, { path: "/engine.io/" });
    try {
      await withTimeout(new Promise((resolve) => socket.once("upgrade", resolve)), 5000, "upgrade");
      assert.equal(socket.transport.name, "websocket");
      assert.equal(socket.transport.ws.extensions, "permessage-deflate");
      const text = "x".repeat(10_000);
      const bin = new Uint8Array(20_000).fill(9);
      const got = [];
      const done = new Promise((resolve) => socket.on("message", (m) => got.push(m) === 2 && resolve()));
      socket.send(text);
      socket.send(bin);
      await withTimeout(done, 5000, "echoes");
      assert.equal(got[0], text);
      assert.deepEqual(new Uint8Array(got[1]), bin);
    } finally {
      socket.close();
    }
  });
});
