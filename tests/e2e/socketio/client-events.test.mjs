// Every event of the conformance contract, driven by the official socket.io-client 4.8,
// over HTTP long-polling, WebSocket, and the default polling -> WebSocket upgrade.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { SETUPS, ClientPool, normalizeBinary, roundTrip, once, until } from "../lib/sio-util.mjs";

let server;
const pool = new ClientPool(() => server.url);

before(async () => {
  server = await startServer("socketio");
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});
afterEach(() => pool.closeAll());

const uniq = (p) => `${p}-${Math.random().toString(36).slice(2, 10)}`;

for (const setup of SETUPS) {
  describe(`contract events with socket.io-client over ${setup.name}`, () => {
    it("runs on the expected transport", async () => {
      const s = await pool.connect("/", setup);
      assert.equal(s.io.engine.transport.name, setup.transport);
    });

    it("receives the auth event carrying handshake.auth ({} when none)", async () => {
      const bare = await pool.connect("/", setup);
      assert.deepEqual(await bare.inbox.next("auth"), [{}]);
      const withAuth = await pool.connect("/", setup, { auth: { token: "abc", n: 1 } });
      assert.deepEqual(await withAuth.inbox.next("auth"), [{ token: "abc", n: 1 }]);
    });

    it("message -> message-back with several arguments, binary nested in objects", async () => {
      const s = await pool.connect("/", setup);
      const args = [
        1,
        "two",
        { a: Buffer.from([1, 2, 3]), nested: { b: [Buffer.from([4])], c: null, d: "é€😀" } },
        Buffer.from([5, 6]),
        true,
        [1, [2, { x: false }]],
      ];
      s.emit("message", ...args);
      const back = await s.inbox.next("message-back");
      assert.deepEqual(normalizeBinary(back), args);
    });

    it("message -> message-back with a large text payload", async () => {
      const s = await pool.connect("/", setup);
      const big = "x".repeat(200_000);
      s.emit("message", big);
      assert.deepEqual(await s.inbox.next("message-back"), [big]);
    });

    it("message-with-ack acknowledges with every argument, binary included", async () => {
      const s = await pool.connect("/", setup);
      const args = ["a", 2, { bin: Buffer.from([7, 8, 9]), list: [Buffer.from([])] }, null];
      const got = await new Promise((resolve, reject) => {
        s.timeout(3000).emit("message-with-ack", ...args, (err, ...ackArgs) => (err ? reject(err) : resolve(ackArgs)));
      });
      assert.deepEqual(normalizeBinary(got), args);
    });

    it("message-with-ack with no arguments is acknowledged with no arguments", async () => {
      const s = await pool.connect("/", setup);
      const got = await new Promise((resolve, reject) => {
        s.timeout(3000).emit("message-with-ack", (err, ...ackArgs) => (err ? reject(err) : resolve(ackArgs)));
      });
      assert.deepEqual(got, []);
    });

    it("acks resolve in emission order", async () => {
      const s = await pool.connect("/", setup);
      const order = [];
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          s.timeout(3000).emitWithAck("message-with-ack", i).then((v) => order.push(v)),
        ),
      );
      assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
    });

    it("join and leave acknowledge the sorted rooms, which include the socket's own id", async () => {
      const s = await pool.connect("/", setup);
      const r1 = uniq("zeta");
      const r2 = uniq("alpha");
      assert.deepEqual(await s.timeout(3000).emitWithAck("join", r1), [s.id, r1].sort());
      assert.deepEqual(await s.timeout(3000).emitWithAck("join", r2), [s.id, r1, r2].sort());
      assert.deepEqual(await s.timeout(3000).emitWithAck("leave", r1), [s.id, r2].sort());
      assert.deepEqual(await s.timeout(3000).emitWithAck("leave", r2), [s.id]);
      // leaving a room one is not in changes nothing
      assert.deepEqual(await s.timeout(3000).emitWithAck("leave", "never-joined"), [s.id]);
    });

    it("to-room reaches every member, the sender included, and nobody else", async () => {
      const room = uniq("room");
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => pool.connect("/", setup)));
      await a.timeout(3000).emitWithAck("join", room);
      await b.timeout(3000).emitWithAck("join", room);
      a.emit("to-room", room, "hello", 1, { x: Buffer.from([2]) });
      const expected = [1, { x: Buffer.from([2]) }];
      assert.deepEqual(normalizeBinary(await a.inbox.next("hello")), expected);
      assert.deepEqual(normalizeBinary(await b.inbox.next("hello")), expected);
      // anything sent to c before its echo would have arrived first
      await roundTrip(c);
      assert.deepEqual(c.inbox.seen("hello"), []);
    });

    it("to-room from a non-member reaches the members but not the sender", async () => {
      const room = uniq("room");
      const [a, b] = await Promise.all([1, 2].map(() => pool.connect("/", setup)));
      await b.timeout(3000).emitWithAck("join", room);
      a.emit("to-room", room, "news", "extra");
      assert.deepEqual(await b.inbox.next("news"), ["extra"]);
      await roundTrip(a);
      assert.deepEqual(a.inbox.seen("news"), []);
    });

    it("to-room can address a socket by its own id", async () => {
      const [a, b] = await Promise.all([1, 2].map(() => pool.connect("/", setup)));
      a.emit("to-room", b.id, "direct", 42);
      assert.deepEqual(await b.inbox.next("direct"), [42]);
      await roundTrip(a);
      assert.deepEqual(a.inbox.seen("direct"), []);
    });

    it("broadcast reaches every other client but not the sender", async () => {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => pool.connect("/", setup)));
      const tag = uniq("tag");
      a.emit("broadcast", "shout", tag, Buffer.from([1, 2]));
      assert.deepEqual(normalizeBinary(await b.inbox.next("shout")), [tag, Buffer.from([1, 2])]);
      assert.deepEqual(normalizeBinary(await c.inbox.next("shout")), [tag, Buffer.from([1, 2])]);
      await roundTrip(a);
      assert.deepEqual(a.inbox.seen("shout"), []);
    });

    it("ask: the server emits with an ack, the client answers, the answer comes back {ok:true,res}", async () => {
      const s = await pool.connect("/", setup);
      s.on("add", (x, y, cb) => cb(x + y, "sum"));
      assert.deepEqual(await s.timeout(3000).emitWithAck("ask", "add", 1, 2), { ok: true, res: [3, "sum"] });
    });

    it("ask: a binary answer from the client is relayed", async () => {
      const s = await pool.connect("/", setup);
      s.on("bytes", (cb) => cb(Buffer.from([3, 2, 1])));
      const res = await s.timeout(3000).emitWithAck("ask", "bytes");
      assert.deepEqual(normalizeBinary(res), { ok: true, res: [Buffer.from([3, 2, 1])] });
    });

    it("ask: when the client never answers the server acks {ok:false,res:[]} after about 1 s", async () => {
      const s = await pool.connect("/", setup);
      let asked = false;
      s.on("silent", () => {
        asked = true; // receives the question but never calls the ack
      });
      const t0 = Date.now();
      const res = await s.timeout(4000).emitWithAck("ask", "silent");
      const elapsed = Date.now() - t0;
      assert.equal(asked, true);
      assert.deepEqual(res, { ok: false, res: [] });
      assert.ok(elapsed >= 900 && elapsed < 2000, `timeout after ${elapsed} ms, expected about 1000`);
    });

    it("ask-room collects one response from every member", async () => {
      const room = uniq("room");
      const members = await Promise.all([1, 2, 3].map(() => pool.connect("/", setup)));
      const asker = await pool.connect("/", setup);
      for (const [i, m] of members.entries()) {
        m.on("poll", (cb) => cb({ who: i }));
        await m.timeout(3000).emitWithAck("join", room);
      }
      const res = await asker.timeout(4000).emitWithAck("ask-room", room, "poll");
      assert.equal(res.ok, true);
      assert.deepEqual(res.responses.sort((x, y) => x.who - y.who), [{ who: 0 }, { who: 1 }, { who: 2 }]);
    });

    it("ask-room on an empty room answers at once with no responses", async () => {
      const asker = await pool.connect("/", setup);
      const t0 = Date.now();
      const res = await asker.timeout(3000).emitWithAck("ask-room", uniq("empty"), "poll");
      assert.deepEqual(res, { ok: true, responses: [] });
      assert.ok(Date.now() - t0 < 900, "an empty room must not wait for the timeout");
    });

    it("ask-room returns the partial responses with ok:false when a member stays silent", async () => {
      const room = uniq("room");
      const [a, b, silent] = await Promise.all([1, 2, 3].map(() => pool.connect("/", setup)));
      a.on("poll", (cb) => cb("a"));
      b.on("poll", (cb) => cb("b"));
      silent.on("poll", () => {});
      for (const s of [a, b, silent]) await s.timeout(3000).emitWithAck("join", room);
      const t0 = Date.now();
      const res = await a.timeout(4000).emitWithAck("ask-room", room, "poll");
      const elapsed = Date.now() - t0;
      assert.equal(res.ok, false);
      assert.deepEqual(res.responses.sort(), ["a", "b"]);
      assert.ok(elapsed >= 900 && elapsed < 2000, `partial result after ${elapsed} ms, expected about 1000`);
    });

    it("handshake returns the connection query and the auth payload", async () => {
      const s = await pool.connect("/", setup, { query: { foo: "bar", n: "1" }, auth: { token: "t0k" } });
      const hs = await s.timeout(3000).emitWithAck("handshake");
      assert.deepEqual(hs.auth, { token: "t0k" });
      assert.equal(hs.query.foo, "bar");
      assert.equal(hs.query.n, "1");
      assert.equal(hs.query.EIO, "4");
      // the query of the request that opened the session
      assert.equal(hs.query.transport, setup.opts.transports?.[0] ?? "polling");
    });

    it("disconnect-me: the client gets disconnect with reason 'io server disconnect'", async () => {
      const s = await pool.connect("/", setup, { reconnection: true, reconnectionDelay: 50 });
      s.emit("disconnect-me");
      const [reason] = await once(s, "disconnect");
      assert.equal(reason, "io server disconnect");
      assert.equal(s.connected, false);
      // a server-side disconnect is final: the client does not reconnect by itself
      assert.equal(s.active, false);
    });

    it("disconnect-me leaves the other namespaces of the same connection connected", async () => {
      const m = pool.manager(setup);
      const main = m.socket("/");
      const custom = m.socket("/custom");
      main.connect();
      custom.connect();
      await Promise.all([once(main, "connect"), once(custom, "connect")]);
      const reason = once(main, "disconnect");
      main.emit("disconnect-me");
      assert.equal((await reason)[0], "io server disconnect");
      assert.equal(custom.connected, true);
      assert.equal(m.engine.readyState, "open");
    });

    it("close-me: every namespace of the connection is disconnected and the transport closes", async () => {
      const m = pool.manager(setup);
      const main = m.socket("/");
      const custom = m.socket("/custom");
      main.connect();
      custom.connect();
      await Promise.all([once(main, "connect"), once(custom, "connect")]);
      const engineClosed = once(m.engine, "close");
      const reasons = Promise.all([once(main, "disconnect"), once(custom, "disconnect")]);
      main.emit("close-me");
      assert.deepEqual((await reasons).map((args) => args[0]), ["io server disconnect", "io server disconnect"]);
      await engineClosed;
      assert.equal(m.engine.readyState, "closed");
    });
  });

  describe(`namespaces with socket.io-client over ${setup.name}`, () => {
    it("/custom echoes the auth payload", async () => {
      const s = await pool.connect("/custom", setup, { auth: { user: "u1" } });
      assert.deepEqual(await s.inbox.next("auth"), [{ user: "u1" }]);
      assert.equal(s.id.length, 20);
    });

    it("/private admits the right token and echoes auth", async () => {
      const s = await pool.connect("/private", setup, { auth: { token: "secret" } });
      assert.deepEqual(await s.inbox.next("auth"), [{ token: "secret" }]);
    });

    it("/private refuses a bad token: connect_error 'unauthorized' with data {reason:'bad token'}", async () => {
      for (const auth of [{ token: "nope" }, undefined]) {
        const s = pool.create("/private", setup, auth ? { auth } : {});
        const err = once(s, "connect_error");
        s.connect();
        const [e] = await err;
        assert.equal(e.message, "unauthorized");
        assert.deepEqual(e.data, { reason: "bad token" });
        assert.equal(s.connected, false);
      }
    });

    it("a dynamic namespace /dyn-abc123 is created on demand and emits nsp with its name", async () => {
      const s = await pool.connect("/dyn-abc123", setup);
      assert.deepEqual(await s.inbox.next("nsp"), ["/dyn-abc123"]);
      const t = await pool.connect("/dyn-z9", setup);
      assert.deepEqual(await t.inbox.next("nsp"), ["/dyn-z9"]);
    });

    it("an unknown namespace gets connect_error 'Invalid namespace'", async () => {
      for (const nsp of ["/nope", "/dyn-UPPER", "/dyn-"]) {
        const s = pool.create(nsp, setup);
        const err = once(s, "connect_error");
        s.connect();
        const [e] = await err;
        assert.equal(e.message, "Invalid namespace", `for ${nsp}`);
      }
    });

    it("several namespaces are multiplexed over one connection, each with its own id", async () => {
      const m = pool.manager(setup);
      const nsps = ["/", "/custom", "/private", "/dyn-mux1"];
      const sockets = nsps.map((n) => m.socket(n, n === "/private" ? { auth: { token: "secret" } } : {}));
      const received = sockets.map((s) => {
        const got = [];
        s.onAny((...a) => got.push(a));
        return got;
      });
      for (const s of sockets) s.connect();
      await Promise.all(sockets.map((s) => once(s, "connect")));
      if (setup.upgrade) await until(() => m.engine.transport.name === "websocket", 4000, "the upgrade");
      const engineId = m.engine.id;
      const ids = sockets.map((s) => s.id);
      assert.equal(new Set([...ids, engineId]).size, ids.length + 1, "ids must be distinct from each other and from the engine sid");
      for (const id of ids) assert.equal(id.length, 20);
      // every namespace received its own connection event
      await until(() => received.every((r) => r.length >= 1), 3000, "the per-namespace events");
      assert.deepEqual(received[0][0], ["auth", {}]);
      assert.deepEqual(received[1][0], ["auth", {}]);
      assert.deepEqual(received[2][0], ["auth", { token: "secret" }]);
      assert.deepEqual(received[3][0], ["nsp", "/dyn-mux1"]);
      // an event on "/" is answered on "/" only
      sockets[0].emit("message", "only-main");
      await until(() => received[0].some(([e, v]) => e === "message-back" && v === "only-main"), 3000, "message-back");
      assert.equal(received.slice(1).flat().filter(([e]) => e === "message-back").length, 0);
      assert.equal(m.engine.id, engineId, "still one engine connection");
    });
  });
}

describe("count with socket.io-client (own server)", () => {
  let countServer;
  const countPool = new ClientPool(() => countServer.url);
  before(async () => {
    countServer = await startServer("socketio");
  });
  after(async () => {
    countPool.closeAll();
    await countServer?.stop();
  });

  it("count returns the number of sockets on / across all transports, and drops on disconnect", async () => {
    const clients = [];
    for (const setup of SETUPS) clients.push(await countPool.connect("/", setup));
    // sockets of other namespaces are not counted
    await countPool.connect("/custom", SETUPS[1]);
    assert.equal(await clients[0].timeout(3000).emitWithAck("count"), 3);
    clients[2].disconnect();
    await until(async () => (await clients[0].timeout(3000).emitWithAck("count")) === 2, 3000, "count 2");
    clients[1].disconnect();
    await until(async () => (await clients[0].timeout(3000).emitWithAck("count")) === 1, 3000, "count 1");
  });
});
