// The conformance contract (shared/conformance/CONTRACT.md, as reference-server.mjs) on the
// Node.js reference with @socket.io/redis-streams-adapter 0.3.1 (installed in tests/e2e), for
// the mixed streams cluster tests (streams.test.mjs).
//
//   PORT                  TCP port on 127.0.0.1
//   REDIS_URL             Redis (default redis://127.0.0.1:6379)
//   RECOVERY_MS           when set, connection state recovery (maxDisconnectionDuration)
//   FERRIO_REFERENCE_DIR  where socket.io is installed (an `npm ci`'d copy of
//                         shared/conformance; default /tmp/conformance)
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
// Prints "listening on <PORT>" once accepting connections.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createClient } from "redis";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { installContract } from "./node-contract.mjs";

const referenceDir = process.env.FERRIO_REFERENCE_DIR || "/tmp/conformance";
const require = createRequire(path.join(referenceDir, "package.json"));
const { Server } = await import(pathToFileURL(require.resolve("socket.io")).href).then((m) => m.default ?? m);

const PORT = Number(process.env.PORT || 3000);
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const RECOVERY_MS = process.env.RECOVERY_MS;

const redisClient = createClient({ url: REDIS_URL });
redisClient.on("error", (err) => console.error("redis error:", err.message));
await redisClient.connect();

const options = {
  pingInterval: Number(process.env.PING_INTERVAL_MS || 300),
  pingTimeout: Number(process.env.PING_TIMEOUT_MS || 200),
  maxHttpBufferSize: 1_000_000,
  connectTimeout: 1_000,
  cors: { origin: "*" },
  serveClient: false,
  adapter: createAdapter(redisClient),
};
if (RECOVERY_MS) {
  options.connectionStateRecovery = { maxDisconnectionDuration: Number(RECOVERY_MS) };
}
const httpServer = createServer();
const io = new Server(httpServer, options);

installContract(io);

httpServer.listen(PORT, "127.0.0.1", () => console.log(`listening on ${PORT}`));

async function shutdown() {
  setTimeout(() => process.exit(0), 1000).unref();
  io.close();
  await Promise.allSettled([redisClient.quit()]);
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
