// The Redis Streams adapter (@socket.io/redis-streams-adapter 0.3.1: durable operations XADDed
// to the stream `socket.io`, requests and responses over Pub/Sub on `socket.io#/#...`) over the
// real Redis at 127.0.0.1:6379: three Ferrio servers (REDIS_ADAPTER=streams), mixed clusters
// with the Node.js reference running node-streams-server.mjs, server-wide operations started on
// Node reaching Ferrio's sockets, and connection state recovery across servers (a client leaves
// one server and is restored by another, Ferrio or Node, with its id, rooms and missed events).
//
// The scenarios are those of lib/cluster-scenarios.mjs.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { freePort, startServer } from "../lib/server.mjs";
import { REDIS_URL, join, redisCommand, referenceAvailable, referenceDir, silent } from "../lib/cluster.mjs";
import { ClientPool, once, sleep, until } from "../lib/sio-util.mjs";
import { clusterScenarios } from "../lib/cluster-scenarios.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const skipMixed = !referenceAvailable() && !process.env.CI && "Node reference server not installed (FERRIO_REFERENCE_DIR)";

/** `PUBSUB NUMSUB socket.io#/#`: the servers of the streams cluster. */
async function numSub() {
  const [, n] = await redisCommand("PUBSUB", "NUMSUB", "socket.io#/#");
  return n;
}

/** node-streams-server.mjs on a free port, once it listens. */
async function startNodeStreams(env = {}) {
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(here, "node-streams-server.mjs")], {
    env: { ...process.env, REDIS_URL, FERRIO_REFERENCE_DIR: referenceDir, ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  proc.stderr.on("data", (d) => (output += d));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node-streams-server did not start:\n${output}`)), 20000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`node-streams-server exited with ${code}:\n${output}`));
    });
    proc.stdout.on("data", (d) => {
      output += d;
      if (output.includes("listening on")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const stop = () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once("exit", () => resolve());
      proc.kill("SIGKILL");
    });
  return { kind: "node", port, url: `http://127.0.0.1:${port}`, proc, stop };
}

/**
 * Servers of `kinds` ("ferrio" or "node") with the streams adapter, once all are counted and
 * every one reads the stream (a broadcast from the first server reached a client of each).
 */
async function startStreamsCluster(kinds, env = {}) {
  await until(async () => (await numSub()) === 0, 5000, "no other streams server");
  const servers = [];
  try {
    for (const k of kinds) {
      servers.push(
        k === "node"
          ? await startNodeStreams(env)
          : await startServer("socketio", { REDIS_URL, REDIS_ADAPTER: "streams", ...env }),
      );
    }
    await until(async () => (await numSub()) === kinds.length, 5000, `${kinds.length} servers`);
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  const pools = servers.map((s) => new ClientPool(() => s.url));
  const cluster = {
    servers,
    pools,
    connect: (i, opts = {}) => pools[i].connect("/", undefined, opts),
    async stop() {
      for (const p of pools) p.closeAll();
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
  // Node starts reading the stream at `$` once its reading connection is up: warm up.
  const probes = [];
  for (let i = 0; i < servers.length; i++) probes.push(await cluster.connect(i));
  let seq = 0;
  await until(
    async () => {
      probes[0].emit("broadcast", "warm", ++seq);
      await sleep(100);
      return probes.slice(1).every((p) => p.inbox.seen("warm").some(([n]) => n === seq));
    },
    8000,
    "every server reading the stream",
  );
  for (const p of probes) p.disconnect();
  return cluster;
}

let roomSeq = 0;

/** The shared scenarios on a streams cluster. */
function streamsScenarios(title, kinds, opts = {}) {
  clusterScenarios(title, kinds, { ...opts, start: (k) => startStreamsCluster(k) });
}

streamsScenarios("streams adapter: three Ferrio servers", ["ferrio", "ferrio", "ferrio"]);
streamsScenarios("streams adapter: Node + two Ferrio servers, from the Node server", ["node", "ferrio", "ferrio"], {
  origin: "a",
  skip: skipMixed,
});
streamsScenarios("streams adapter: Node + two Ferrio servers, from a Ferrio server", ["node", "ferrio", "ferrio"], {
  origin: "b",
  skip: skipMixed,
});

describe("streams adapter: server-wide operations from a Node server reach Ferrio's sockets", { skip: skipMixed }, () => {
  let cluster;
  const c = {};
  const room = `st-ops-${process.pid}`;

  before(async () => {
    cluster = await startStreamsCluster(["node", "ferrio", "ferrio"]);
    for (const [name, server] of [["n", 0], ["f1", 1], ["f2", 2], ["out", 2]]) {
      c[name] = await cluster.connect(server);
      c[name].on("ping-ev", (cb) => cb(`pong-${name}`));
    }
    for (const n of ["n", "f1", "f2"]) await join(c[n], room);
  });

  after(async () => {
    await cluster?.stop();
  });

  test("socketsJoin and socketsLeave (XADDed by Node, applied by Ferrio)", async () => {
    const extra = `${room}-extra`;
    await c.n.timeout(5000).emitWithAck("sockets-join", room, extra);
    // Applied by each server when it reads the entry: probe until every member is in.
    await until(
      async () => {
        const r = await c.f1.timeout(3000).emitWithAck("ask-room", extra, "ping-ev");
        return r.ok && r.responses.length === 3;
      },
      3000,
      "three members in the extra room",
    );
    c.f1.emit("to-room", extra, "extra-ev");
    for (const n of ["n", "f1", "f2"]) await c[n].inbox.next("extra-ev");
    await silent(c.out, "extra-ev", 200);
    await c.n.timeout(5000).emitWithAck("sockets-leave", room, extra);
    await until(
      async () => {
        const r = await c.f2.timeout(3000).emitWithAck("ask-room", extra, "ping-ev");
        return r.ok && r.responses.length === 0;
      },
      3000,
      "the extra room empty",
    );
    c.n.emit("to-room", extra, "extra-gone");
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

/** Waits until nobody in `room` answers `presence` (i.e. its server dropped the member). */
async function untilRoomEmpty(observer, room) {
  await until(
    async () => {
      const r = await observer.timeout(3000).emitWithAck("ask-room", room, "presence");
      return r.ok && r.responses.length === 0;
    },
    4000,
    `room ${room} to be empty`,
  );
}

function recoveryAcross(title, kinds, { skip = false } = {}) {
  describe(title, { skip }, () => {
    let cluster;

    before(async () => {
      cluster = await startStreamsCluster(kinds, { RECOVERY_MS: "5000" });
    });

    after(async () => {
      await cluster?.stop();
    });

    test("a client restored by the other server gets its id, its rooms and the events it missed, in order", async () => {
      const room = `st-rec-${process.pid}-${++roomSeq}`;
      const other = `${room}-other`;
      const x = await cluster.connect(0);
      const y = await cluster.connect(1);
      x.on("presence", (cb) => cb("x"));
      assert.deepEqual(await x.timeout(3000).emitWithAck("join", room), [x.id, room].sort());
      // x's offset: the id of a stream entry it received.
      y.emit("to-room", room, "seen", 0);
      const [zero, seenOffset] = await x.inbox.next("seen");
      assert.equal(zero, 0);
      assert.match(seenOffset, /^[0-9]+-[0-9]+$/, "the offset is a stream entry id");
      const id = x.id;

      const disconnected = once(x, "disconnect");
      x.io.engine.close();
      await disconnected;
      await untilRoomEmpty(y, room);

      for (let i = 1; i <= 3; i++) y.emit("to-room", room, "missed", i, { i });
      y.emit("to-room", other, "not-mine", 1);
      y.emit("broadcast", "everyone", "all");
      await y.timeout(3000).emitWithAck("message-with-ack", "sync");
      // The entries are in the stream once a member of the room got them.
      const z = await cluster.connect(1);
      await join(z, room);
      y.emit("to-room", room, "marker");
      await z.inbox.next("marker");

      // Back, on the other server.
      x.io.uri = cluster.servers[1].url;
      x.connect();
      await once(x, "connect", 4000);
      assert.equal(x.recovered, true, "recovered");
      assert.equal(x.id, id);
      const missed = await x.inbox.take("missed", 3);
      assert.deepEqual(
        missed.map((args) => args.slice(0, 2)),
        [1, 2, 3].map((i) => [i, { i }]),
      );
      const offsets = missed.map((args) => args[2]);
      for (const o of offsets) assert.match(o, /^[0-9]+-[0-9]+$/);
      assert.equal(new Set(offsets).size, 3, "offsets are distinct");
      assert.deepEqual((await x.inbox.next("everyone")).slice(0, 1), ["all"]);
      await x.inbox.next("marker");
      assert.equal(x.inbox.seen("not-mine").length, 0);
      // The rooms came back with the session: x is still in `room`, served by server 1.
      y.emit("to-room", room, "after", "live");
      assert.deepEqual((await x.inbox.next("after")).slice(0, 1), ["live"]);
      assert.deepEqual(await x.timeout(3000).emitWithAck("leave", "none"), [x.id, room].sort());
    });

    test("a session is restored once: a second restore with the same pid gets a new session", async () => {
      const x = await cluster.connect(0);
      const y = await cluster.connect(1);
      const room = `st-once-${process.pid}-${++roomSeq}`;
      x.on("presence", (cb) => cb("x"));
      await join(x, room);
      y.emit("to-room", room, "seen", 0);
      await x.inbox.next("seen");
      const { _pid: pid, _lastOffset: offset } = x;

      const disconnected = once(x, "disconnect");
      x.io.engine.close();
      await disconnected;
      await untilRoomEmpty(y, room);
      x.io.uri = cluster.servers[1].url;
      x.connect();
      await once(x, "connect", 4000);
      assert.equal(x.recovered, true);

      // Another client presenting the same pid and offset is not restored.
      const thief = cluster.pools[0].create("/", undefined, {});
      thief._pid = pid;
      thief._lastOffset = offset;
      thief.connect();
      await once(thief, "connect", 4000);
      assert.equal(thief.recovered, false);
      assert.notEqual(thief.id, x.id);
    });
  });
}

recoveryAcross("streams adapter: recovery from one Ferrio server on another", ["ferrio", "ferrio"]);
recoveryAcross("streams adapter: recovery from a Ferrio server on a Node server", ["ferrio", "node"], {
  skip: skipMixed,
});
recoveryAcross("streams adapter: recovery from a Node server on a Ferrio server", ["node", "ferrio"], {
  skip: skipMixed,
});
