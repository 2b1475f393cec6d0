// The conformance contract (shared/conformance/CONTRACT.md) plus the cluster events of the
// mixed-cluster tests (sockets-join/leave, disconnect-room, sse), installed on a Node
// socket.io server: shared by node-sharded-server.mjs and node-streams-server.mjs.

/** Installs the contract's handlers on `io`. */
export function installContract(io) {
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
}
