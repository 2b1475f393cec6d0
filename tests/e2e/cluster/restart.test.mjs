// Redis restarted under a running cluster: a private redis-server (never the machine's one on
// 6379) is killed with SIGKILL while two Ferrio servers use it, then started again on the same
// port. The servers must not crash, keep delivering to their own clients while Redis is away,
// and deliver across servers again within a few seconds of its return (reconnection and
// resubscription), with the classic and the sharded adapter.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, describe, test } from "node:test";
import { createClient } from "redis";
import { freePort, startServer } from "../lib/server.mjs";
import { join, silent } from "../lib/cluster.mjs";
import { ClientPool, sleep, until } from "../lib/sio-util.mjs";

const haveRedisServer = spawnSync("redis-server", ["--version"]).status === 0;
const skip = !haveRedisServer && !process.env.CI && "redis-server not installed";

/** A redis-server on `port` in the foreground (no persistence), once it answers. */
async function startRedis(port) {
  const proc = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  proc.stdout.on("data", (d) => (output += d));
  proc.stderr.on("data", (d) => (output += d));
  await until(async () => (await command(port, "PING").catch(() => null)) === "PONG", 5000, `redis-server on ${port}:\n${output}`);
  return proc;
}

function killRedis(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once("exit", () => resolve());
    proc.kill("SIGKILL");
  });
}

/** One command on a fresh connection to the Redis on `port` (fails at once if it is down). */
async function command(port, ...args) {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false, connectTimeout: 500 } });
  client.on("error", () => {});
  await client.connect();
  try {
    return await client.sendCommand(args);
  } finally {
    await client.disconnect().catch(() => {});
  }
}

const adapters = [
  { name: "classic", env: {}, count: ["PUBSUB", "NUMSUB", "socket.io-request#/#"] },
  { name: "sharded", env: { REDIS_ADAPTER: "sharded" }, count: ["PUBSUB", "SHARDNUMSUB", "socket.io#/#"] },
];

for (const adapter of adapters) {
  describe(`Redis restarted (${adapter.name} adapter)`, { skip }, () => {
    let redis, servers = [], pool = [];
    after(async () => {
      for (const p of pool) p.closeAll();
      await Promise.all(servers.map((s) => s.stop()));
      if (redis) await killRedis(redis);
    });

    test("no crash, local delivery while Redis is away, cross-server delivery resumes", async (t) => {
      const port = await freePort();
      redis = await startRedis(port);
      const env = { REDIS_URL: `redis://127.0.0.1:${port}`, ...adapter.env };
      servers = [await startServer("socketio", env), await startServer("socketio", env)];
      const counted = async () => Number((await command(port, ...adapter.count))[1]);
      await until(async () => (await counted()) === 2, 5000, "both servers subscribed");
      pool = servers.map((s) => new ClientPool(() => s.url));
      const a = await pool[0].connect();
      const a2 = await pool[0].connect();
      const b = await pool[1].connect();
      for (const s of [a, a2, b]) await join(s, "restart-room");

      a.emit("to-room", "restart-room", "before", 1);
      for (const s of [a, a2, b]) assert.deepEqual(await s.inbox.next("before"), [1]);

      // Redis dies.
      await killRedis(redis);
      redis = null;
      await sleep(300);
      a.emit("to-room", "restart-room", "while-down", 2);
      assert.deepEqual(await a.inbox.next("while-down"), [2]);
      assert.deepEqual(await a2.inbox.next("while-down"), [2]);
      await silent(b, "while-down", 300);
      // Counting the cluster needs Redis: it fails (reported as 0) instead of hanging.
      assert.equal(await a.timeout(8000).emitWithAck("count"), 0);
      for (const s of servers) assert.equal(s.proc.exitCode, null, `server alive:\n${s.output}`);
      assert.ok(a.connected && a2.connected && b.connected, "clients still connected");

      // Redis is back on the same port (empty: the subscriptions must be made again).
      await sleep(700);
      redis = await startRedis(port);
      const back = Date.now();
      await until(async () => (await counted()) === 2, 5000, "both servers subscribed again");
      let n = 0;
      await until(
        async () => {
          a.emit("to-room", "restart-room", "after", ++n);
          await sleep(100);
          return b.inbox.seen("after").length > 0;
        },
        6000,
        "a broadcast across servers after Redis came back",
      );
      const resumedMs = Date.now() - back;
      assert.ok(resumedMs < 5000, `resumed after ${resumedMs} ms`);
      // And the other way, and requests: every later message gets through.
      b.emit("to-room", "restart-room", "reverse", "x");
      assert.deepEqual(await a.inbox.next("reverse"), ["x"]);
      assert.equal(await a.timeout(8000).emitWithAck("count"), 3);
      for (const s of servers) assert.equal(s.proc.exitCode, null, `server alive:\n${s.output}`);
      t.diagnostic(`cross-server delivery resumed ${resumedMs} ms after Redis restarted`);
    });
  });
}
