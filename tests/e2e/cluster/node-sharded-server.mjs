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

// Splits the trailing acknowledgement callback (if any) from the arguments; a handler never
// brings the process down.
function on(socket, event, fn) {
  socket.on(event, async (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : () => {};
    try {
      await fn(ack, ...args);
    } catch (err) {
      console.error("handler error:", err.message);
    }
  });
}

io.on("connection", (socket) => {
  socket.on("error", () => {});
  socket.emit("auth", socket.handshake.auth);
  on(socket, "message", (_ack, ...args) => socket.emit("message-back", ...args));
  on(socket, "message-with-ack", (ack, ...args) => ack(...args));
  on(socket, "join", async (ack, room) => {
    await socket.join(room);
    ack([...socket.rooms].sort());
  });
  on(socket, "leave", async (ack, room) => {
    await socket.leave(room);
    ack([...socket.rooms].sort());
  });
  on(socket, "to-room", (_ack, room, event, ...args) => io.to(room).emit(event, ...args));
  on(socket, "broadcast", (_ack, event, ...args) => socket.broadcast.emit(event, ...args));
  on(socket, "ask", (ack, event, ...args) =>
    socket.timeout(1000).emit(event, ...args, (err, ...res) => ack({ ok: !err, res })),
  );
  on(socket, "ask-room", (ack, room, event) =>
    io.to(room).timeout(1000).emit(event, (err, responses) => ack({ ok: !err, responses })),
  );
  on(socket, "count", async (ack) => ack((await io.fetchSockets()).length));
  on(socket, "handshake", (ack) => ack({ query: socket.handshake.query, auth: socket.handshake.auth }));
  on(socket, "disconnect-me", () => socket.disconnect());
  on(socket, "close-me", () => socket.disconnect(true));

  on(socket, "sockets-join", async (ack, room, newRoom) => {
    await io.in(room).socketsJoin(newRoom);
    ack();
  });
  on(socket, "sockets-leave", async (ack, room, oldRoom) => {
    await io.in(room).socketsLeave(oldRoom);
    ack();
  });
  on(socket, "disconnect-room", async (ack, room) => {
    await io.in(room).disconnectSockets();
    ack();
  });
  on(socket, "sse", async (ack) => {
    try {
      ack({ ok: true, responses: await io.serverSideEmitWithAck("sse-q", "from-node") });
    } catch (err) {
      ack({ ok: false, error: err.message });
    }
  });
});

io.on("sse-q", (arg, cb) => cb(`node:${arg}`));

httpServer.listen(PORT, "127.0.0.1", () => console.log(`listening on ${PORT}`));

async function shutdown() {
  setTimeout(() => process.exit(0), 1000).unref();
  io.close();
  await Promise.allSettled([pubClient.quit(), subClient.quit()]);
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
