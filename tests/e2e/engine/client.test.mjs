// The official Node engine.io-client (6.6.x) against the echo server: polling only, websocket
// only, and the default polling -> websocket upgrade.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Socket } from "engine.io-client";
import { startEngine, withTimeout, sleep, assertEngineError, UNKNOWN_SID, PING_INTERVAL, PING_TIMEOUT } from "../lib/engine-util.mjs";

let t;
const sockets = new Set();

before(async () => {
  t = await startEngine();
});
afterEach(() => {
  for (const s of sockets) s.close();
  sockets.clear();
});
after(async () => {
  await t?.stop();
});

function connect(opts = {}) {
  const socket = new Socket(t.url, { path: "/engine.io/", ...opts });
  sockets.add(socket);
  socket.received = [];
  socket.on("message", (m) => {
    socket.received.push(m);
    socket.emit("test:message");
  });
  socket.closeEvents = [];
  socket.on("close", (reason, desc) => socket.closeEvents.push(reason));
  return socket;
}

function once(socket, event, ms = 3000) {
  return withTimeout(new Promise((resolve) => socket.once(event, (...args) => resolve(args))), ms, `${event} event`);
}

/** Wait until `socket.received` has at least `n` messages. */
async function receivedAtLeast(socket, n, ms = 5000) {
  const deadline = Date.now() + ms;
  while (socket.received.length < n) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`only ${socket.received.length} of ${n} messages arrived`);
    await withTimeout(new Promise((r) => socket.once("test:message", r)), left, `message ${socket.received.length + 1}`);
  }
  return socket.received;
}

function assertBytes(actual, expected) {
  assert.ok(Buffer.isBuffer(actual), `expected a Buffer, got ${typeof actual}`);
  assert.deepEqual([...actual], expected);
}

async function echoTextAndBinary(socket) {
  socket.send("héllo €");
  socket.send(Uint8Array.from([1, 2, 3, 255]));
  socket.send(Buffer.from([]));
  const [text, bin, empty] = await receivedAtLeast(socket, 3);
  assert.equal(text, "héllo €");
  assertBytes(bin, [1, 2, 3, 255]);
  assertBytes(empty, []);
}

/** Retry until a polling request on `sid` says the session is unknown. */
async function assertSessionGone(sid) {
  const deadline = Date.now() + 1500;
  let res;
  while (Date.now() < deadline) {
    res = await t.poll(sid, { timeout: 1000 });
    if (res.status === 400 && res.text.includes('"code":1')) break;
    await sleep(50);
  }
  assertEngineError(res, ...UNKNOWN_SID);
}

describe("engine.io-client over polling only", () => {
  it("opens over polling with the server's handshake values and no upgrades", async () => {
    const socket = connect({ transports: ["polling"] });
    const opened = once(socket, "open");
    const [hs] = await once(socket, "handshake");
    await opened;
    assert.equal(socket.transport.name, "polling");
    assert.match(socket.id, /^[A-Za-z0-9_-]{20}$/);
    assert.equal(hs.sid, socket.id);
    assert.deepEqual(hs.upgrades, ["websocket"]);
    assert.equal(hs.pingInterval, PING_INTERVAL);
    assert.equal(hs.pingTimeout, PING_TIMEOUT);
    assert.equal(hs.maxPayload, 1_000_000);
    // No websocket in `transports`: the client never tries to upgrade.
    await sleep(PING_INTERVAL);
    assert.equal(socket.transport.name, "polling");
  });

  it("echoes text and binary both ways", async () => {
    const socket = connect({ transports: ["polling"] });
    await once(socket, "open");
    await echoTextAndBinary(socket);
  });

  it("echoes a 500 kB message", async () => {
    const socket = connect({ transports: ["polling"] });
    await once(socket, "open");
    const big = "x".repeat(500_000);
    socket.send(big);
    const [m] = await receivedAtLeast(socket, 1);
    assert.equal(m, big);
  });

  it("stays connected across several heartbeats", async () => {
    const socket = connect({ transports: ["polling"] });
    await once(socket, "open");
    let pings = 0;
    socket.on("ping", () => pings++);
    await sleep(3 * PING_INTERVAL + PING_TIMEOUT);
    assert.ok(pings >= 2, `only ${pings} pings`);
    assert.deepEqual(socket.closeEvents, []);
    socket.send("after-heartbeats");
    assert.deepEqual(await receivedAtLeast(socket, 1), ["after-heartbeats"]);
  });

  it("ends the server session when the client closes", async () => {
    const socket = connect({ transports: ["polling"] });
    await once(socket, "open");
    const sid = socket.id;
    socket.close();
    assert.deepEqual(socket.closeEvents, ["forced close"]);
    await assertSessionGone(sid);
  });
});

describe("engine.io-client over websocket only", () => {
  it("opens over websocket", async () => {
    const socket = connect({ transports: ["websocket"] });
    const [hs] = await once(socket, "handshake");
    assert.deepEqual(hs.upgrades, []);
    assert.equal(socket.transport.name, "websocket");
    assert.match(socket.id, /^[A-Za-z0-9_-]{20}$/);
  });

  it("echoes text and binary both ways", async () => {
    const socket = connect({ transports: ["websocket"] });
    await once(socket, "open");
    await echoTextAndBinary(socket);
  });

  it("stays connected across several heartbeats", async () => {
    const socket = connect({ transports: ["websocket"] });
    await once(socket, "open");
    let pings = 0;
    socket.on("ping", () => pings++);
    await sleep(3 * PING_INTERVAL + PING_TIMEOUT);
    assert.ok(pings >= 2, `only ${pings} pings`);
    assert.deepEqual(socket.closeEvents, []);
    socket.send("after-heartbeats");
    assert.deepEqual(await receivedAtLeast(socket, 1), ["after-heartbeats"]);
  });

  it("ends the server session when the client closes", async () => {
    const socket = connect({ transports: ["websocket"] });
    await once(socket, "open");
    const sid = socket.id;
    socket.close();
    await assertSessionGone(sid);
  });
});

describe("engine.io-client with the default transports", () => {
  it("opens over polling and upgrades to websocket", async () => {
    const socket = connect();
    const upgraded = once(socket, "upgrade");
    const [hs] = await once(socket, "handshake");
    assert.deepEqual(hs.upgrades, ["websocket"]);
    assert.equal(socket.transport.name, "polling");
    await upgraded;
    assert.equal(socket.transport.name, "websocket");
    // Polling on the upgraded sid is now refused.
    assertEngineError(await t.poll(socket.id), 400, 3, "Bad request");
  });

  it("echoes text and binary both ways after the upgrade", async () => {
    const socket = connect();
    await once(socket, "upgrade");
    assert.equal(socket.transport.name, "websocket");
    await echoTextAndBinary(socket);
  });

  it("delivers a stream of numbered messages sent across the upgrade once each, in order", async () => {
    const socket = connect();
    const expected = [];
    let i = 0;
    let upgradedAt = -1;
    let sentBeforeOpen = 0;
    const sendOne = () => {
      const n = i++;
      // Every seventh message is binary (4 bytes, big-endian n).
      if (n % 7 === 3) {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(n);
        socket.send(b);
      } else {
        socket.send(`msg-${n}`);
      }
      expected.push(n);
    };
    // Some messages are queued even before the session opens.
    for (; sentBeforeOpen < 5; sentBeforeOpen++) sendOne();
    const done = new Promise((resolve, reject) => {
      socket.once("upgrade", () => (upgradedAt = i));
      socket.once("close", (reason) => reject(new Error(`closed: ${reason}`)));
      const timer = setInterval(() => {
        for (let k = 0; k < 3; k++) sendOne();
        // Keep going for a while after the upgrade.
        if (upgradedAt >= 0 && i >= upgradedAt + 60) {
          clearInterval(timer);
          resolve();
        }
      }, 1);
      setTimeout(() => {
        clearInterval(timer);
        reject(new Error("the upgrade did not happen"));
      }, 4000);
    });
    await done;
    assert.equal(socket.transport.name, "websocket");
    assert.ok(upgradedAt > 10, `messages were sent before the upgrade (${upgradedAt})`);
    const got = await receivedAtLeast(socket, expected.length);
    await sleep(100);
    assert.equal(socket.received.length, expected.length, "no message is duplicated");
    const decoded = got.map((m) => (typeof m === "string" ? Number(m.slice(4)) : m.readUInt32BE(0)));
    assert.deepEqual(decoded, expected);
    for (const [idx, m] of got.entries()) {
      if (expected[idx] % 7 === 3) assert.ok(Buffer.isBuffer(m), `message ${idx} should be binary`);
      else assert.equal(typeof m, "string");
    }
  });

  it("keeps the session alive over the upgraded websocket across heartbeats", async () => {
    const socket = connect();
    await once(socket, "upgrade");
    await sleep(3 * PING_INTERVAL + PING_TIMEOUT);
    assert.deepEqual(socket.closeEvents, []);
    socket.send("still-here");
    assert.deepEqual(await receivedAtLeast(socket, 1), ["still-here"]);
  });
});
