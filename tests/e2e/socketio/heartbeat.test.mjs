// Heartbeat with the contract's defaults (pingInterval 300 ms, pingTimeout 200 ms): a
// socket.io-client that answers the pings stays connected, on the same session, for 2 s.
// The three setups run concurrently to save wall time.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { SETUPS, ClientPool, sleep, roundTrip } from "../lib/sio-util.mjs";

let server;
const pool = new ClientPool(() => server.url);

before(async () => {
  server = await startServer("socketio");
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});

describe("heartbeat", { concurrency: true }, () => {
  for (const setup of SETUPS) {
    it(`over ${setup.name}: a client answering pings stays connected for 2 s`, async () => {
      const s = await pool.connect("/", setup);
      const id = s.id;
      const engineId = s.io.engine.id;
      let pings = 0;
      const disconnects = [];
      s.io.on("ping", () => pings++);
      s.on("disconnect", (reason) => disconnects.push(reason));
      await sleep(2000); // the point is to let time pass: pings arrive every 300 ms
      assert.deepEqual(disconnects, []);
      assert.equal(s.connected, true);
      assert.equal(s.id, id);
      assert.equal(s.io.engine.id, engineId, "same Engine.IO session");
      assert.equal(s.io.engine.transport.name, setup.transport);
      assert.ok(pings >= 4, `only ${pings} pings in 2 s with pingInterval 300 ms`);
      assert.ok(pings <= 8, `${pings} pings in 2 s is more than pingInterval 300 ms allows`);
      await roundTrip(s);
    });
  }
});
