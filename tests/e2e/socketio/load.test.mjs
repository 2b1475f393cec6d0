// Load: 50 concurrent socket.io-client clients each send 100 numbered `message` events and 100
// numbered `message-with-ack` events, interleaved; nothing may be lost and every client must see
// its own echoes and acks in the order it sent them. Run once per transport setup.
//
// The server runs with the benchmark heartbeat (PING_INTERVAL_MS=25000, PING_TIMEOUT_MS=20000):
// with the default 300/200 ms, a saturated single-threaded reference server sends its pings late
// and the clients give up with "ping timeout" — heartbeat is tested in heartbeat.test.mjs.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { SETUPS, ClientPool, withTimeout, normalizeBinary } from "../lib/sio-util.mjs";

const CLIENTS = 50;
const MESSAGES = 100;

let server;
const pool = new ClientPool(() => server.url);

before(async () => {
  server = await startServer("socketio", { PING_INTERVAL_MS: "25000", PING_TIMEOUT_MS: "20000" });
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});
afterEach(() => pool.closeAll());

/** The i-th payload of client c: a binary value every 10th message. */
const payload = (c, i) => (i % 10 === 0 ? { c, i, bin: Buffer.from([c, i]) } : { c, i, s: `m${i}` });

describe("load", () => {
  for (const setup of SETUPS) {
    it(`${CLIENTS} clients x ${MESSAGES} message + ${MESSAGES} message-with-ack over ${setup.name}: no loss, per-client order kept`, async () => {
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => pool.connect("/", setup)));
      const runs = clients.map(async (s, c) => {
        const acks = [];
        let allAcked;
        const ackDone = new Promise((resolve) => (allAcked = resolve));
        for (let i = 0; i < MESSAGES; i++) {
          s.emit("message", c, i, payload(c, i));
          s.emit("message-with-ack", c, i, payload(c, i), (...args) => {
            acks.push(args);
            if (acks.length === MESSAGES) allAcked();
          });
          // yield now and then so that the 50 clients really send concurrently
          if (i % 10 === 9) await new Promise((r) => setImmediate(r));
        }
        const echoes = await s.inbox.take("message-back", MESSAGES, 30000);
        await withTimeout(ackDone, 30000, `acks of client ${c}`);
        return { echoes, acks };
      });
      const disconnects = [];
      clients.forEach((s, c) => s.on("disconnect", (reason) => disconnects.push(`client ${c}: ${reason}`)));
      const results = await withTimeout(Promise.all(runs), 45000, "all clients");
      assert.deepEqual(disconnects, []);
      for (const [c, { echoes, acks }] of results.entries()) {
        const expected = Array.from({ length: MESSAGES }, (_, i) => [c, i, payload(c, i)]);
        assert.deepEqual(normalizeBinary(echoes), expected, `echoes of client ${c}`);
        assert.deepEqual(normalizeBinary(acks), expected, `acks of client ${c}`);
      }
      // nothing was delivered to the wrong client
      for (const s of clients) assert.equal(s.inbox.seen("message-back").length, MESSAGES);
    });
  }
});
