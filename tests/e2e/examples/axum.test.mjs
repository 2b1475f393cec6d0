// The axum example (crates/ferrio/examples/axum.rs): ordinary HTTP routes and Socket.IO on one
// axum Router, sharing the application state.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startServer } from "../lib/server.mjs";

let server;
const clients = [];
before(async () => {
  server = await startServer("axum");
});
after(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

function connect() {
  const socket = io(server.url, { transports: ["websocket"], forceNew: true, reconnection: false });
  clients.push(socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

const json = async (path, init) => {
  const res = await fetch(`${server.url}${path}`, init);
  assert.equal(res.headers.get("content-type"), "application/json");
  return res.json();
};

const next = (socket, event) => new Promise((resolve) => socket.once(event, resolve));

test("HTTP routes and Socket.IO share the state", async () => {
  let health = await json("/health");
  assert.equal(health.status, "ok");
  assert.equal(health.sockets, 0);
  assert.deepEqual(await json("/api/rooms"), []);

  const a = await connect();
  const b = await connect();
  assert.equal(await a.emitWithAck("join", "lobby"), "lobby");
  assert.equal(await b.emitWithAck("join", "lobby"), "lobby");
  health = await json("/health");
  assert.equal(health.sockets, 2);
  let rooms = await json("/api/rooms");
  assert.deepEqual(rooms, [{ name: "lobby", members: 2, messages: 0, last: null }]);

  // A message from a socket reaches the room, and shows in the HTTP API.
  const got = next(b, "message");
  a.emit("message", { room: "lobby", text: "hello" });
  assert.deepEqual(await got, { room: "lobby", from: a.id, text: "hello" });

  // A message posted over HTTP reaches the sockets of the room.
  const both = Promise.all([next(a, "message"), next(b, "message")]);
  const res = await fetch(`${server.url}/api/rooms/lobby/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text: "from http" }),
  });
  assert.equal(res.status, 202);
  for (const m of await both) assert.deepEqual(m, { room: "lobby", from: "http", text: "from http" });

  rooms = await json("/api/rooms");
  assert.equal(rooms[0].messages, 2);
  assert.deepEqual(rooms[0].last, { room: "lobby", from: "http", text: "from http" });

  a.disconnect();
  b.disconnect();
  // The adapter forgets them at once; the HTTP side sees it.
  for (let i = 0; i < 50 && (await json("/health")).sockets !== 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await json("/health")).sockets, 0);
  assert.equal((await fetch(`${server.url}/nope`)).status, 404);
});
