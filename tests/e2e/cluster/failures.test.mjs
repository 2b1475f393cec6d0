// Failures: a server killed or hung mid-run, Redis connections dropped, Redis unreachable at
// start. The other servers keep serving; requests end with a timeout instead of hanging.
import assert from "node:assert/strict";
import { after, afterEach, describe, test } from "node:test";
import { freePort } from "../lib/server.mjs";
import { join, redisCommand, serverCount, silent, startCluster, startFerrio } from "../lib/cluster.mjs";
import { sleep, until } from "../lib/sio-util.mjs";

async function roomOf(cluster, room) {
  const c = {};
  for (const [n, server] of [["a", 0], ["b", 1], ["c", 2]]) {
    c[n] = await cluster.connect(server);
    c[n].on("ping-ev", (cb) => cb(`pong-${n}`));
    await join(c[n], room);
  }
  return c;
}

describe("a server dies or hangs mid-run", () => {
  let cluster;
  afterEach(async () => {
    for (const s of cluster?.servers ?? []) if (s.proc.exitCode === null) s.proc.kill("SIGCONT");
    await cluster?.stop();
  });

  test("killed: the others keep serving and stop counting it", async () => {
    cluster = await startCluster(["ferrio", "ferrio", "ferrio"]);
    const c = await roomOf(cluster, "f-kill");
    assert.equal(await c.a.timeout(6000).emitWithAck("count"), 3);
    await cluster.servers[1].stop(); // SIGKILL
    await until(async () => (await serverCount()) === 2, 3000, "2 servers");
    c.a.emit("to-room", "f-kill", "still-here", 1);
    assert.deepEqual(await c.c.inbox.next("still-here"), [1]);
    assert.deepEqual(await c.a.inbox.next("still-here"), [1]);
    assert.equal(await c.a.timeout(6000).emitWithAck("count"), 2);
    const res = await c.c.timeout(5000).emitWithAck("ask-room", "f-kill", "ping-ev");
    assert.deepEqual({ ok: res.ok, responses: [...res.responses].sort() }, { ok: true, responses: ["pong-a", "pong-c"] });
  });

  test("hung: requests time out cleanly, broadcasts still flow", async () => {
    cluster = await startCluster(["ferrio", "ferrio", "ferrio"]);
    const c = await roomOf(cluster, "f-hang");
    cluster.servers[2].proc.kill("SIGSTOP"); // still subscribed (counted), never answers
    try {
      // fetchSockets: the requests timeout (5 s) ends the request; the server answers the
      // client (the conformance server reports 0 on error).
      const started = Date.now();
      const n = await c.a.timeout(9000).emitWithAck("count");
      const took = Date.now() - started;
      assert.equal(n, 0);
      assert.ok(took >= 4500 && took < 8000, `count took ${took} ms`);
      // A broadcast with acks ends at its timeout (1 s) with the answers that came.
      const res = await c.a.timeout(5000).emitWithAck("ask-room", "f-hang", "ping-ev");
      assert.equal(res.ok, false);
      assert.deepEqual([...res.responses].sort(), ["pong-a", "pong-b"]);
      // Broadcasts between the live servers are unaffected.
      c.b.emit("to-room", "f-hang", "during-hang");
      await c.a.inbox.next("during-hang");
      await c.b.inbox.next("during-hang");
    } finally {
      cluster.servers[2].proc.kill("SIGCONT");
    }
  });
});

describe("Redis trouble", () => {
  let cluster, lone;
  after(async () => {
    await cluster?.stop();
    await lone?.stop();
  });

  test("connections dropped by Redis: the servers reconnect and resubscribe", async () => {
    cluster = await startCluster(["ferrio", "ferrio"]);
    const a = await cluster.connect(0);
    const b = await cluster.connect(1);
    await join(a, "f-redis");
    await join(b, "f-redis");
    await redisCommand("CLIENT", "KILL", "TYPE", "pubsub");
    await redisCommand("CLIENT", "KILL", "TYPE", "normal");
    await until(async () => (await serverCount()) === 2, 5000, "both servers subscribed again");
    // The first publish after the loss may fail (the publisher notices it then): retry.
    await until(
      async () => {
        a.emit("to-room", "f-redis", "back");
        await sleep(150);
        return b.inbox.seen("back").length > 0;
      },
      5000,
      "a broadcast across servers after the reconnection",
    );
    assert.equal(await a.timeout(6000).emitWithAck("count"), 2);
    await cluster.stop();
    cluster = null;
  });

  test("Redis unreachable at start: the server starts and serves its own clients", async () => {
    const deadPort = await freePort();
    lone = await startFerrio({ REDIS_URL: `redis://127.0.0.1:${deadPort}` });
    assert.match(lone.output, /not reachable|cannot reach/);
    const { ClientPool } = await import("../lib/sio-util.mjs");
    const pool = new ClientPool(() => lone.url);
    try {
      const a = await pool.connect();
      const b = await pool.connect();
      await join(a, "solo");
      await join(b, "solo");
      a.emit("to-room", "solo", "local-only", 7);
      assert.deepEqual(await a.inbox.next("local-only"), [7]);
      assert.deepEqual(await b.inbox.next("local-only"), [7]);
      a.emit("broadcast", "bc-local");
      await b.inbox.next("bc-local");
      await silent(a, "bc-local", 100);
      // Counting the cluster needs Redis: it fails at once (reported as 0), it does not hang.
      assert.equal(await a.timeout(3000).emitWithAck("count"), 0);
    } finally {
      pool.closeAll();
    }
  });
});
