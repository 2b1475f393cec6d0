// The sharded Redis adapter (`createShardedAdapter` of @socket.io/redis-adapter 8.3: SPUBLISH /
// SSUBSCRIBE, "dynamic" subscription mode) over the real Redis at 127.0.0.1:6379: three Ferrio
// servers (REDIS_ADAPTER=sharded), then mixed clusters with the Node.js reference running
// node-sharded-server.mjs, each scenario started from a Node client and from a Ferrio client.
// The scenarios are those of lib/cluster-scenarios.mjs.
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { startServer } from "../lib/server.mjs";
import { REDIS_URL, join, redisCommand, referenceAvailable, referenceDir, silent } from "../lib/cluster.mjs";
import { ClientPool, sleep, until } from "../lib/sio-util.mjs";
import { clusterScenarios } from "../lib/cluster-scenarios.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const skipMixed = !referenceAvailable() && !process.env.CI && "Node reference server not installed (FERRIO_REFERENCE_DIR)";

/** `PUBSUB SHARDNUMSUB <channel>`. */
async function shardNumSub(channel) {
  const [, n] = await redisCommand("PUBSUB", "SHARDNUMSUB", channel);
  return n;
}

/**
 * node-sharded-server.mjs, started like a conformance server: through `startServer` with the
 * command override it documents (`FERRIO_SIO_CMD`), set for this call only.
 */
async function startNodeSharded() {
  const saved = process.env.FERRIO_SIO_CMD;
  process.env.FERRIO_SIO_CMD = `${process.execPath} ${path.join(here, "node-sharded-server.mjs")}`;
  try {
    const s = await startServer("socketio", { REDIS_URL, FERRIO_REFERENCE_DIR: referenceDir });
    s.kind = "node";
    return s;
  } finally {
    if (saved === undefined) delete process.env.FERRIO_SIO_CMD;
    else process.env.FERRIO_SIO_CMD = saved;
  }
}

/** Servers of `kinds` ("ferrio" or "node") with the sharded adapter, once all are counted. */
async function startShardedCluster(kinds) {
  await until(async () => (await shardNumSub("socket.io#/#")) === 0, 5000, "no other sharded server");
  const servers = [];
  try {
    for (const k of kinds) {
      servers.push(
        k === "node"
          ? await startNodeSharded()
          : await startServer("socketio", { REDIS_URL, REDIS_ADAPTER: "sharded" }),
      );
    }
    await until(async () => (await shardNumSub("socket.io#/#")) === kinds.length, 5000, `${kinds.length} servers`);
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  const pools = servers.map((s) => new ClientPool(() => s.url));
  return {
    servers,
    connect: (i) => pools[i].connect("/"),
    async stop() {
      for (const p of pools) p.closeAll();
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

/** The shared scenarios on a sharded cluster: "dynamic" mode, every server subscribes the room's channel. */
function shardedScenarios(title, kinds, opts = {}) {
  clusterScenarios(title, kinds, {
    ...opts,
    start: startShardedCluster,
    ready: (room) =>
      until(async () => (await shardNumSub(`socket.io#/#${room}#`)) === 3, 3000, "room channel on 3 servers"),
  });
}

shardedScenarios("sharded adapter: three Ferrio servers", ["ferrio", "ferrio", "ferrio"]);
shardedScenarios("sharded adapter: Node + two Ferrio servers, from the Node server", ["node", "ferrio", "ferrio"], {
  origin: "a",
  skip: skipMixed,
});
shardedScenarios("sharded adapter: Node + two Ferrio servers, from a Ferrio server", ["node", "ferrio", "ferrio"], {
  origin: "b",
  skip: skipMixed,
});

describe("sharded adapter: server-wide operations from a Node server reach Ferrio's sockets", { skip: skipMixed }, () => {
  let cluster;
  const c = {};
  const room = `sh-ops-${process.pid}`;

  before(async () => {
    cluster = await startShardedCluster(["node", "ferrio", "ferrio"]);
    for (const [name, server] of [["n", 0], ["f1", 1], ["f2", 2], ["out", 2]]) c[name] = await cluster.connect(server);
    for (const n of ["n", "f1", "f2"]) await join(c[n], room);
  });

  after(async () => {
    await cluster?.stop();
  });

  test("socketsJoin and socketsLeave", async () => {
    await c.n.timeout(5000).emitWithAck("sockets-join", room, `${room}-extra`);
    await until(async () => (await shardNumSub(`socket.io#/#${room}-extra#`)) === 3, 3000, "extra room on 3 servers");
    c.f1.emit("to-room", `${room}-extra`, "extra-ev");
    for (const n of ["n", "f1", "f2"]) await c[n].inbox.next("extra-ev");
    await silent(c.out, "extra-ev", 200);
    await c.n.timeout(5000).emitWithAck("sockets-leave", room, `${room}-extra`);
    await until(async () => (await shardNumSub(`socket.io#/#${room}-extra#`)) === 0, 3000, "extra room gone");
    c.n.emit("to-room", `${room}-extra`, "extra-gone");
    await sleep(200);
    for (const n of ["n", "f1", "f2"]) assert.equal(c[n].inbox.seen("extra-gone").length, 0, `client ${n}`);
  });

  test("serverSideEmit with ack: one answer per Ferrio server", async () => {
    // The conformance server has no server-side listener: each Ferrio server answers with no
    // argument (null once in JSON), at once, rather than letting Node time out.
    const started = Date.now();
    const res = await c.n.timeout(8000).emitWithAck("sse");
    assert.deepEqual(res, { ok: true, responses: [null, null] });
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  test("disconnectSockets", async () => {
    const gone = ["f1", "f2"].map((n) => new Promise((resolve) => c[n].once("disconnect", resolve)));
    await c.n.timeout(5000).emitWithAck("disconnect-room", room);
    assert.deepEqual(await Promise.all(gone), ["io server disconnect", "io server disconnect"]);
    assert.equal(c.out.connected, true);
    assert.equal(await c.out.timeout(6000).emitWithAck("count"), 1);
  });
});
