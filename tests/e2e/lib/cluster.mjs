// Helpers for the cluster tests (tests/e2e/cluster/): Ferrio and Node.js conformance servers
// joined by the Redis adapter over the real Redis at 127.0.0.1:6379, clients on each, and the
// two emitters (the Node @socket.io/redis-emitter and Ferrio's RedisEmitter).
//
//   FERRIO_REFERENCE_DIR  a copy of shared/conformance with its npm packages installed
//                         (`npm ci`); .ci/run makes one. Default /tmp/conformance.
//   FERRIO_EMIT_CMD       Ferrio's emitter CLI (default target/release/examples/emit).
//
// Every server of the contract uses the key prefix `socket.io`, so the test files must not run
// in parallel (node --test --test-concurrency=1) and every test stops its servers.
import { spawn, execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";
import { freePort, repoRoot, startServer } from "./server.mjs";
import { ClientPool, sleep, until } from "./sio-util.mjs";

export const REDIS_URL = "redis://127.0.0.1:6379";
export const referenceDir = process.env.FERRIO_REFERENCE_DIR || "/tmp/conformance";
const emitCmd =
  process.env.FERRIO_EMIT_CMD || path.join(repoRoot, "target", "release", "examples", "emit");

/** Whether the Node reference server is installed (it must be in CI). */
export function referenceAvailable() {
  return fs.existsSync(path.join(referenceDir, "node_modules", "@socket.io", "redis-adapter"));
}

/** Sends one command to Redis and resolves to the decoded RESP2 reply. */
export function redisCommand(...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(6379, "127.0.0.1");
    let buf = Buffer.alloc(0);
    sock.on("error", reject);
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parseResp(buf, 0);
      if (r) {
        sock.end();
        r.value instanceof Error ? reject(r.value) : resolve(r.value);
      }
    });
    let cmd = `*${args.length}\r\n`;
    for (const a of args) cmd += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
    sock.write(cmd);
  });
}

function parseResp(buf, i) {
  const nl = buf.indexOf("\r\n", i);
  if (nl < 0) return null;
  const type = String.fromCharCode(buf[i]);
  const line = buf.toString("utf8", i + 1, nl);
  const next = nl + 2;
  if (type === "+") return { value: line, end: next };
  if (type === "-") return { value: new Error(line), end: next };
  if (type === ":") return { value: Number(line), end: next };
  if (type === "$") {
    const n = Number(line);
    if (n < 0) return { value: null, end: next };
    if (buf.length < next + n + 2) return null;
    return { value: buf.toString("utf8", next, next + n), end: next + n + 2 };
  }
  if (type === "*") {
    const n = Number(line);
    const out = [];
    let j = next;
    for (let k = 0; k < n; k++) {
      const r = parseResp(buf, j);
      if (!r) return null;
      out.push(r.value);
      j = r.end;
    }
    return { value: out, end: j };
  }
  throw new Error(`unexpected RESP type ${type}`);
}

/** `PUBSUB NUMSUB socket.io-request#<nsp>#`: how many servers the cluster counts. */
export async function serverCount(nsp = "/") {
  const [, n] = await redisCommand("PUBSUB", "NUMSUB", `socket.io-request#${nsp}#`);
  return n;
}

/** Starts the Node.js reference conformance server with the Redis adapter. */
export async function startReference(env = {}) {
  const port = await freePort();
  const script = path.join(referenceDir, "reference-server.mjs");
  const proc = spawn(process.execPath, [script], {
    cwd: referenceDir,
    env: { ...process.env, REDIS_URL, ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  proc.stderr.on("data", (d) => (output += d));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reference server did not start:\n${output}`)), 20000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`reference server exited with ${code}:\n${output}`));
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
  return { kind: "node", port, url: `http://127.0.0.1:${port}`, proc, get output() { return output; }, stop };
}

/** Starts a Ferrio conformance server with the Redis adapter. */
export async function startFerrio(env = {}) {
  const s = await startServer("socketio", { REDIS_URL, ...env });
  s.kind = "ferrio";
  return s;
}

/**
 * A cluster of servers of the given kinds ("ferrio" or "node"), up once every one is counted
 * by PUBSUB NUMSUB. `cluster.clients` makes and tracks socket.io-client sockets.
 */
export async function startCluster(kinds) {
  const before = await serverCount();
  if (before !== 0) {
    // A server of an earlier test may still be closing; wait for Redis to see it gone.
    await until(async () => (await serverCount()) === 0, 5000, "no other server on socket.io-request#/#");
  }
  const servers = [];
  try {
    for (const k of kinds) servers.push(k === "node" ? await startReference() : await startFerrio());
    await until(async () => (await serverCount()) === kinds.length, 5000, `${kinds.length} servers subscribed`);
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  const pools = servers.map((s) => new ClientPool(() => s.url));
  return {
    servers,
    /** A connected WebSocket client of server `i`, with `socket.inbox`. */
    connect: (i, nsp = "/") => pools[i].connect(nsp),
    async stop() {
      for (const p of pools) p.closeAll();
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

/** Joins `room` through the conformance `join` event. */
export async function join(socket, room) {
  return socket.timeout(3000).emitWithAck("join", room);
}

/** Asserts that `socket` receives nothing named `event` within `ms`. */
export async function silent(socket, event, ms = 300) {
  await sleep(ms);
  const seen = socket.inbox.seen(event);
  if (seen.length) throw new Error(`unexpected "${event}" on ${socket.id}: ${JSON.stringify(seen)}`);
}

/** The Node.js @socket.io/redis-emitter, with its own Redis client; `close()` when done. */
export async function nodeEmitter() {
  const client = createClient({ url: REDIS_URL });
  client.on("error", () => {});
  await client.connect();
  const emitter = new Emitter(client, { key: "socket.io" });
  return { emitter, close: () => client.quit() };
}

/** Runs Ferrio's emitter CLI (crates/redis/examples/emit.rs) with operation specs. */
export function rustEmit(...specs) {
  return new Promise((resolve, reject) => {
    execFile(
      emitCmd,
      specs.map((s) => JSON.stringify(s)),
      { env: { ...process.env, REDIS_URL }, timeout: 10000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}
