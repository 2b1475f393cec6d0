// The conformance contract (shared/conformance/CONTRACT.md, as reference-server.mjs) on the
// Node.js reference with the *sharded* Redis adapter (`createShardedAdapter` of
// @socket.io/redis-adapter 8.3: SPUBLISH/SSUBSCRIBE), for the mixed sharded cluster tests.
//
//   PORT                  TCP port on 127.0.0.1
//   REDIS_URL             Redis (required)
//   SUBSCRIPTION_MODE     static | dynamic (default) | dynamic-private
//   CHANNEL_PREFIX        channelPrefix (default socket.io)
//   FERRIO_REFERENCE_DIR  where socket.io, @socket.io/redis-adapter and redis are installed
//                         (an `npm ci`'d copy of shared/conformance; default /tmp/conformance)
//
// Besides the contract's events, namespace `/` has the server-wide operations, so that a test
// can start them from a Node server:
//   sockets-join (room, newRoom, ack)     io.in(room).socketsJoin(newRoom), then ack()
//   sockets-leave (room, oldRoom, ack)    io.in(room).socketsLeave(oldRoom), then ack()
//   disconnect-room (room, ack)           io.in(room).disconnectSockets(), then ack()
//   sse (ack)                             io.serverSideEmitWithAck("sse-q", "from-node") (5 s),
//                                         ack({ ok, responses })
// and it answers serverSideEmit("sse-q", arg, cb) with cb(`node:${arg}`).
//
// Prints "listening on <PORT>" once subscribed and accepting connections.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { installContract } from "./node-contract.mjs";

const referenceDir = process.env.FERRIO_REFERENCE_DIR || "/tmp/conformance";
const require = createRequire(path.join(referenceDir, "package.json"));
const load = async (name) => {
  const mod = await import(pathToFileURL(require.resolve(name)).href);
  return mod.default ?? mod;
};
const { Server } = await load("socket.io");
const { createShardedAdapter } = await load("@socket.io/redis-adapter");
const { createClient } = await load("redis");

const PORT = Number(process.env.PORT || 3000);
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";

const pubClient = createClient({ url: REDIS_URL });
const subClient = pubClient.duplicate();
for (const client of [pubClient, subClient]) {
  client.on("error", (err) => console.error("redis error:", err.message));
}
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: Number(process.env.PING_INTERVAL_MS || 300),
  pingTimeout: Number(process.env.PING_TIMEOUT_MS || 200),
  maxHttpBufferSize: 1_000_000,
  connectTimeout: 1_000,
  cors: { origin: "*" },
  serveClient: false,
  adapter: createShardedAdapter(pubClient, subClient, {
    channelPrefix: process.env.CHANNEL_PREFIX || "socket.io",
    subscriptionMode: process.env.SUBSCRIPTION_MODE || "dynamic",
  }),
});

installContract(io);

httpServer.listen(PORT, "127.0.0.1", () => console.log(`listening on ${PORT}`));

async function shutdown() {
  setTimeout(() => process.exit(0), 1000).unref();
  io.close();
  await Promise.allSettled([pubClient.quit(), subClient.quit()]);
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
