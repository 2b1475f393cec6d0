// Captures the real wire traffic of @socket.io/redis-adapter 8.3.0 (classic and sharded) and
// @socket.io/redis-emitter 5.1.0 on the local Redis (127.0.0.1:6379) and writes it as JSON
// fixtures into ../fixtures/<scenario>.json, one file per scenario.
//
// Usage (from this folder):  npm ci && node capture.mjs
//
// Each fixture holds every message published during the scenario, in order:
//   { "channel": "...", "kind": "pubsub" | "sharded", "hex": "<payload>", "node": <decoded> }
// where "node" is what Node itself decodes (JSON.parse or notepack.io decode), rendered as JSON
// with tags: {"$bin":"hex"} for Buffer/ArrayBuffer, {"$date":ms} for Date,
// {"$undefined":true} for undefined and {"$float":"NaN"|"Infinity"|"-Infinity"}.

import { createServer } from "node:http";
import { writeFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { Server } from "socket.io";
import { io as ioc } from "socket.io-client";
import { createClient } from "redis";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";

const require = createRequire(import.meta.url);
const notepack = require("notepack.io");

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "..", "fixtures");
mkdirSync(outDir, { recursive: true });

const REDIS_URL = "redis://127.0.0.1:6379";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tag(v) {
  if (v === undefined) return { $undefined: true };
  if (v === null) return null;
  if (Buffer.isBuffer(v)) return { $bin: v.toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("hex") };
  if (v instanceof Date) return { $date: v.getTime() };
  if (Array.isArray(v)) return v.map(tag);
  if (typeof v === "number" && !Number.isFinite(v)) return { $float: String(v) };
  if (typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = tag(v[k]);
    return o;
  }
  return v;
}

function decodeLikeNode(buf) {
  if (buf[0] === 0x7b) return { encoding: "json", node: tag(JSON.parse(buf.toString())) };
  return { encoding: "msgpack", node: tag(notepack.decode(buf)) };
}

// ---------------------------------------------------------------------------------------------
// Logger: PSUBSCRIBE * (classic + emitter) and SSUBSCRIBE on the sharded channels.

let current = [];
const logger = createClient({ url: REDIS_URL });
await logger.connect();
await logger.pSubscribe(
  "*",
  (message, channel) => {
    const ch = channel.toString();
    if (!ch.startsWith("socket.io")) return;
    current.push({ channel: ch, kind: "pubsub", hex: message.toString("hex"), ...decodeLikeNode(message) });
  },
  true,
);
const shardLogger = createClient({ url: REDIS_URL });
await shardLogger.connect();
const shardListener = (message, channel) => {
  const ch = channel.toString();
  current.push({ channel: ch, kind: "sharded", hex: message.toString("hex"), ...decodeLikeNode(message) });
};

const written = [];
async function scenario(name, description, action, extra = {}) {
  await sleep(150);
  current = [];
  await action();
  await sleep(400);
  const messages = current;
  current = [];
  const fixture = { scenario: name, description, ...extra, ...context(), messages };
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(fixture, null, 2) + "\n");
  written.push(`${name} (${messages.length})`);
}

// ---------------------------------------------------------------------------------------------
// Two classic-adapter servers A and B, each with clients.

async function makeServer(adapterFactory) {
  const pub = createClient({ url: REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const http = createServer();
  const io = new Server(http, { adapter: adapterFactory(pub, sub) });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  const port = http.address().port;
  const setup = (nsp) => {
    nsp.on("connection", (socket) => {
      socket.data = { user: socket.handshake.auth.user ?? null };
      for (const room of socket.handshake.auth.rooms ?? []) socket.join(room);
    });
  };
  setup(io.of("/"));
  setup(io.of("/admin"));
  return { io, http, pub, sub, port };
}

function connect(port, nsp, auth, onEvent) {
  return new Promise((resolve) => {
    const socket = ioc(`http://127.0.0.1:${port}${nsp}`, {
      auth,
      transports: ["websocket"],
      forceNew: true,
    });
    socket.onAny(onEvent ?? (() => {}));
    socket.on("connect", () => resolve(socket));
  });
}

const A = await makeServer((p, s) => createAdapter(p, s));
const B = await makeServer((p, s) => createAdapter(p, s));
const uidA = A.io.of("/").adapter.uid;
const uidB = B.io.of("/").adapter.uid;
let context = () => ({
  uids: { A: uidA, B: uidB, adminA: A.io.of("/admin").adapter.uid, adminB: B.io.of("/admin").adapter.uid },
});

const clients = [];
clients.push(await connect(A.port, "/", { user: "alice", rooms: ["room1"] }));
clients.push(await connect(B.port, "/", { user: "bob", rooms: ["room1", "room2"] }));
clients.push(await connect(B.port, "/", { user: "carol", rooms: ["r3"] }));
const kicked = await connect(B.port, "/", { user: "dave", rooms: ["kick"] });
clients.push(await connect(B.port, "/admin", { user: "erin", rooms: ["room1"] }));
// Acknowledgement behaviour for emit-with-ack scenarios.
for (const c of clients) {
  c.on("ack-ev", (...args) => {
    const cb = args.pop();
    cb("client-pong");
  });
  c.on("ack-bin", (...args) => {
    const cb = args.pop();
    cb(Buffer.from([0xde, 0xad]));
  });
  c.on("ack-none", (...args) => {
    const cb = args.pop();
    cb();
  });
}

B.io.on("sse", () => {});
B.io.on("sse-ack", (arg, cb) => cb({ ok: true, got: arg }));
B.io.on("sse-ack-none", (cb) => cb());
A.io.on("sse-ack", (arg, cb) => cb({ ok: true, got: arg }));
A.io.on("sse-ack-none", (cb) => cb());

// ---------------------------------------------------------------------------------------------
// Broadcasts (classic adapter).

await scenario("broadcast_all", 'io.emit("ev", 1, "two", {three: 3}) from A', () => {
  A.io.emit("ev", 1, "two", { three: 3 });
});
await scenario("broadcast_room", 'io.to("room1").emit("ev", "x") from A', () => {
  A.io.to("room1").emit("ev", "x");
});
await scenario(
  "broadcast_rooms_except_flags",
  'io.to(["r1","r2"]).except("r3").volatile.compress(false).emit("ev","y") and io.compress(true).volatile.to("room1").emit("ev") from A',
  () => {
    A.io.to(["r1", "r2"]).except("r3").volatile.compress(false).emit("ev", "y");
    A.io.compress(true).volatile.to("room1").emit("ev");
  },
);
await scenario("broadcast_binary", 'io.emit("bin", Buffer.from([1,2,3]), 1.5, null, true) from A', () => {
  A.io.emit("bin", Buffer.from([1, 2, 3]), 1.5, null, true);
});
await scenario("broadcast_types", "numbers, strings and containers of every size class, Date, typed arrays", () => {
  A.io.emit(
    "types",
    [0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, Number.MAX_SAFE_INTEGER],
    [-1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, Number.MIN_SAFE_INTEGER],
    [0.5, -0.25, 1e300, -0, 2.0, 3.141592653589793, NaN, Infinity],
    ["", "a".repeat(31), "b".repeat(32), "c".repeat(255), "d".repeat(256), "é€😀", "x".repeat(300)],
    Array.from({ length: 16 }, (_, i) => i),
    Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
    { nested: { deeper: [{ a: [] }, {}] }, undef: undefined, fn: () => 1 },
    [undefined, null],
    new Date(0),
    new Date(1700000000123),
    new Uint8Array([9, 8, 7]),
    new Uint8Array(300).buffer,
    Buffer.alloc(300, 7),
    { b: 1, a: 2, 10: "int-key", z: 3 },
  );
});
await scenario("broadcast_admin_nsp", 'io.of("/admin").to("room1").emit("adm", {x: [1, 2]}) from A', () => {
  A.io.of("/admin").to("room1").emit("adm", { x: [1, 2] });
});

// ---------------------------------------------------------------------------------------------
// Requests and responses (classic adapter).

await scenario("request_sockets_legacy", "crafted legacy SOCKETS (type 0) request; v8 still answers", async () => {
  await A.pub.publish("socket.io-request#/#", JSON.stringify({ uid: "legacy", requestId: "LEG000", type: 0, rooms: ["room1"] }));
}, { crafted: true });
await scenario("request_all_rooms", "adapter.allRooms() on / from A", async () => {
  await A.io.of("/").adapter.allRooms();
});
await scenario("request_remote_join", 'io.in("room1").socketsJoin("r5") from A', () => {
  A.io.in("room1").socketsJoin("r5");
});
await scenario("request_remote_leave", 'io.in("r5").socketsLeave(["r5", "r6"]) from A', () => {
  A.io.in("r5").socketsLeave(["r5", "r6"]);
});
await scenario("request_remote_disconnect", 'io.in("kick").except("room1").disconnectSockets(true) from A', () => {
  A.io.in("kick").except("room1").disconnectSockets(true);
});
const carolId = clients[2].id;
await scenario(
  "request_legacy_sid_room",
  "crafted legacy REMOTE_JOIN / REMOTE_LEAVE / REMOTE_DISCONNECT with {sid, room}; answered with {requestId}",
  async () => {
    await A.pub.publish("socket.io-request#/#", JSON.stringify({ uid: "legacy", requestId: "LEG002", type: 2, sid: carolId, room: "legacy-room" }));
    await A.pub.publish("socket.io-request#/#", JSON.stringify({ uid: "legacy", requestId: "LEG003", type: 3, sid: carolId, room: "legacy-room" }));
    await A.pub.publish("socket.io-request#/#", JSON.stringify({ uid: "legacy", requestId: "LEG004", type: 4, sid: "no-such-socket", close: false }));
  },
  { crafted: true },
);
await scenario("request_fetch_sockets", 'io.in("room1").fetchSockets() from A', async () => {
  await A.io.in("room1").fetchSockets();
});
await scenario("request_server_side_emit", 'io.serverSideEmit("sse", 1, {a: "b"}, Buffer.from([1,2]), new Date(0)) from A', () => {
  A.io.serverSideEmit("sse", 1, { a: "b" }, Buffer.from([1, 2]), new Date(0));
});
await scenario(
  "request_server_side_emit_ack",
  'await io.serverSideEmitWithAck("sse-ack", 2) and io.serverSideEmitWithAck("sse-ack-none") from A',
  async () => {
    await A.io.serverSideEmitWithAck("sse-ack", 2);
    await A.io.serverSideEmitWithAck("sse-ack-none");
  },
);
await scenario("request_broadcast_ack", 'await io.timeout(1000).emitWithAck("ack-ev", "ping") from A', async () => {
  await A.io.timeout(1000).emitWithAck("ack-ev", "ping");
});
await scenario(
  "request_broadcast_ack_variants",
  'io.to("room2").timeout(1000).emitWithAck("ack-bin", Buffer.from([5])), io.to("nobody").timeout(500).emitWithAck("ack-ev"), io.of("/admin").timeout(1000).emitWithAck("ack-none") from A',
  async () => {
    await A.io.to("room2").timeout(1000).emitWithAck("ack-bin", Buffer.from([5]));
    await A.io.to("nobody").timeout(500).emitWithAck("ack-ev");
    await A.io.of("/admin").timeout(1000).emitWithAck("ack-none");
  },
);

// ---------------------------------------------------------------------------------------------
// Emitter.

const emitterClient = createClient({ url: REDIS_URL });
await emitterClient.connect();
const emitter = new Emitter(emitterClient);
await scenario("emitter_emit", "Emitter: emit, to(room), of(admin) with rooms/except/flags, binary", () => {
  emitter.emit("ev", 1, "two");
  emitter.to("room1").emit("ev", "x");
  emitter.of("admin").to(["r1", "r2"]).except("r3").compress(true).volatile.emit("ev", { k: [true, false] });
  emitter.emit("bin", Buffer.from([1, 2, 3]), 2.5);
});
await scenario("emitter_requests", "Emitter: socketsJoin, socketsLeave, disconnectSockets, serverSideEmit", () => {
  emitter.socketsJoin("r9");
  emitter.in("room1").except("r3").socketsLeave(["r9", "r10"]);
  emitter.in("nobody").disconnectSockets(true);
  emitter.disconnectSockets();
  emitter.serverSideEmit("hello", "world");
});

// ---------------------------------------------------------------------------------------------
// Sharded adapter (ClusterAdapter format over SPUBLISH).

for (const c of [...clients, kicked]) c.disconnect();
A.io.close();
B.io.close();
await sleep(200);

const C = await makeServer((p, s) => createShardedAdapter(p, s));
const D = await makeServer((p, s) => createShardedAdapter(p, s));
const uidC = C.io.of("/").adapter.uid;
const uidD = D.io.of("/").adapter.uid;
for (const ch of ["socket.io#/#", `socket.io#/#${uidC}#`, `socket.io#/#${uidD}#`, "socket.io#/#room1#"]) {
  await shardLogger.sSubscribe(ch, shardListener, true);
}
const shardClients = [];
shardClients.push(await connect(C.port, "/", { user: "alice", rooms: ["room1"] }));
shardClients.push(await connect(D.port, "/", { user: "bob", rooms: ["room1", "room2"] }));
for (const c of shardClients) {
  c.on("ack-ev", (...args) => args.pop()("client-pong"));
}
D.io.on("sse-ack", (arg, cb) => cb({ ok: true, got: arg }));
context = () => ({ uids: { C: uidC, D: uidD } });

await scenario("sharded_broadcast", 'sharded: io.emit("ev", 1, "two", {three: 3}), io.to("room1").emit("ev", "x"), binary emit from C', () => {
  C.io.emit("ev", 1, "two", { three: 3 });
  C.io.to("room1").emit("ev", "x");
  C.io.to(["room1", "room2"]).except("r3").volatile.emit("bin", Buffer.from([1, 2]));
});
await scenario("sharded_requests", "sharded: socketsJoin, socketsLeave, disconnectSockets, fetchSockets, serverSideEmit (+ack), emitWithAck from C", async () => {
  C.io.in("room1").socketsJoin("r5");
  C.io.in("r5").socketsLeave("r5");
  C.io.in("nobody").disconnectSockets(true);
  await sleep(100);
  // The logger's SSUBSCRIBE on socket.io#/# is counted by SHARDNUMSUB, so these requests wait
  // for one response too many and time out; the traffic is complete all the same.
  await C.io.in("room1").timeout(500).fetchSockets().catch(() => {});
  C.io.serverSideEmit("sse", 1);
  await C.io.serverSideEmitWithAck("sse-ack", 2).catch(() => {});
  await C.io.timeout(500).emitWithAck("ack-ev", "ping").catch(() => {});
});

for (const c of shardClients) c.disconnect();
C.io.close();
D.io.close();
await sleep(100);
for (const client of [A.pub, A.sub, B.pub, B.sub, C.pub, C.sub, D.pub, D.sub, logger, shardLogger, emitterClient]) {
  try {
    await client.quit();
  } catch {}
}
console.log(`wrote ${written.length} fixtures to ${outDir}:`);
for (const w of written) console.log(`  ${w}`);
process.exit(0);
