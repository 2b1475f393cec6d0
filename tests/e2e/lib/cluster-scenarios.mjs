// The cluster scenarios, run on several cluster layouts and adapters (tests/e2e/cluster/*.test.mjs).
//
// Layout: servers 0, 1, 2; clients a (server 0), b (server 1), c (server 2), d (server 1).
// a, b and c are in the room; d is not. `origin` names the client that starts each scenario,
// so the same scenarios run from a Ferrio server and from a Node one in a mixed cluster.
// `start(kinds)` starts the cluster (the classic adapter's `startCluster` by default; the
// sharded and streams tests pass theirs) and `ready(room)` waits for what the adapter needs
// once the clients joined (the sharded adapter's room channels).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCluster, join, silent } from "./cluster.mjs";
import { sleep, until, normalizeBinary } from "./sio-util.mjs";

let roomSeq = 0;

/** Registers the scenarios for a cluster of `kinds`, started from client `origin`. */
export function clusterScenarios(
  title,
  kinds,
  { origin = "a", skip = false, start = startCluster, ready = async () => {} } = {},
) {
  describe(title, { skip }, () => {
    let cluster;
    const c = {};
    const room = `room-${process.pid}-${++roomSeq}`;

    before(async () => {
      cluster = await start(kinds);
      for (const [name, server] of [["a", 0], ["b", 1], ["c", 2], ["d", 1]]) {
        c[name] = await cluster.connect(server);
        c[name].name = name;
        c[name].on("ping-ev", (cb) => cb(`pong-${name}`));
      }
      for (const n of ["a", "b", "c"]) await join(c[n], room);
      await ready(room);
    });

    after(async () => {
      await cluster?.stop();
    });

    const others = () => ["a", "b", "c", "d"].filter((n) => n !== origin);

    test("a room broadcast (with binary) reaches the room on every server, once", async () => {
      const bin = Buffer.from([1, 2, 3]);
      c[origin].emit("to-room", room, "room-ev", 1, { x: "y" }, bin);
      for (const n of ["a", "b", "c"]) {
        const args = await c[n].inbox.next("room-ev");
        assert.deepEqual(normalizeBinary(args), [1, { x: "y" }, bin], `client ${n}`);
      }
      await silent(c.d, "room-ev");
      for (const n of ["a", "b", "c"]) assert.equal(c[n].inbox.seen("room-ev").length, 1, `client ${n}`);
    });

    test("broadcast (except the sender's room) reaches every other client, not the sender", async () => {
      c[origin].emit("broadcast", "bc-ev", "hi");
      for (const n of others()) assert.deepEqual(await c[n].inbox.next("bc-ev"), ["hi"], `client ${n}`);
      await silent(c[origin], "bc-ev");
      for (const n of others()) assert.equal(c[n].inbox.seen("bc-ev").length, 1, `client ${n}`);
    });

    test("a broadcast with acks counts and collects every client of the room", async () => {
      const res = await c[origin].timeout(5000).emitWithAck("ask-room", room, "ping-ev");
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.deepEqual([...res.responses].sort(), ["pong-a", "pong-b", "pong-c"]);
    });

    test("a broadcast with acks to an empty room ends at once with no answer", async () => {
      const started = Date.now();
      const res = await c[origin].timeout(5000).emitWithAck("ask-room", `${room}-empty`, "ping-ev");
      assert.deepEqual(res, { ok: true, responses: [] });
      assert.ok(Date.now() - started < 900, `took ${Date.now() - started} ms`);
    });

    test("fetchSockets counts the clients of every server, from every server", async () => {
      for (const n of ["a", "b", "c"]) {
        assert.equal(await c[n].timeout(6000).emitWithAck("count"), 4, `count from ${n}`);
      }
    });

    test("a client that leaves the room stops getting its broadcasts", async () => {
      const e = await cluster.connect(2);
      await join(e, room);
      await e.timeout(3000).emitWithAck("leave", room);
      c[origin].emit("to-room", room, "after-room-leave", 1);
      for (const n of ["a", "b", "c"]) await c[n].inbox.next("after-room-leave");
      await silent(e, "after-room-leave", 200);
      e.disconnect();
      await until(async () => (await c[origin].timeout(6000).emitWithAck("count")) === 4, 4000, "count 4");
    });

    test("a client that disconnects is gone from the whole cluster", async () => {
      const e = await cluster.connect(2);
      await join(e, room);
      assert.equal(await c[origin].timeout(6000).emitWithAck("count"), 5);
      e.emit("disconnect-me");
      await until(async () => (await c[origin].timeout(6000).emitWithAck("count")) === 4, 4000, "count 4");
      c[origin].emit("to-room", room, "after-leave", 1);
      for (const n of ["a", "b", "c"]) await c[n].inbox.next("after-leave");
      await sleep(100);
      assert.equal(e.inbox.seen("after-leave").length, 0);
    });
  });
}
