// Connection state recovery (RECOVERY_MS), with socket.io-client over the three transport
// setups and with raw WebSocket sessions for the exact bytes.
//
// The transport is killed from the client side with `socket.io.engine.close()` (reconnection is
// off), the server is observed until it has dropped the socket, another client sends events into
// a room of the dead one, then `socket.connect()` sends the restore CONNECT ({pid, offset}).
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { SETUPS, ClientPool, RawPool, once, until, sleep, roundTrip } from "../lib/sio-util.mjs";

const uniq = (p) => `${p}-${Math.random().toString(36).slice(2, 10)}`;

/** Waits until nobody in `room` answers `presence` (i.e. the server dropped the member). */
async function untilRoomEmpty(observer, room) {
  await until(
    async () => {
      const r = await observer.timeout(3000).emitWithAck("ask-room", room, "presence");
      return r.ok && r.responses.length === 0;
    },
    4000,
    `room ${room} to be empty on the server`,
  );
}

/** Kills the transport of `socket` from the client side and waits for its disconnect event. */
async function killTransport(socket) {
  const disconnected = once(socket, "disconnect");
  socket.io.engine.close();
  await disconnected;
}

describe("connection state recovery (RECOVERY_MS=5000)", () => {
  let server;
  const pool = new ClientPool(() => server.url);
  const raws = new RawPool(() => server.url);
  before(async () => {
    server = await startServer("socketio", { RECOVERY_MS: "5000" });
  });
  after(async () => {
    pool.closeAll();
    raws.closeAll();
    await server?.stop();
  });
  afterEach(() => {
    pool.closeAll();
    raws.closeAll();
  });

  for (const setup of SETUPS) {
    describe(`with socket.io-client over ${setup.name}`, () => {
      it("a first connection is not recovered and gets a pid; events carry a string offset, acks do not", async () => {
        const s = await pool.connect("/", setup);
        assert.equal(s.recovered, false);
        assert.equal(typeof s._pid, "string", "the CONNECT reply must carry a pid");
        const [auth, authOffset] = await s.inbox.next("auth");
        assert.deepEqual(auth, {});
        assert.equal(typeof authOffset, "string");
        s.emit("message", 1, "x");
        const back = await s.inbox.next("message-back");
        assert.equal(back.length, 3);
        assert.deepEqual(back.slice(0, 2), [1, "x"]);
        assert.equal(typeof back[2], "string");
        assert.ok(back[2].length > 0);
        assert.notEqual(back[2], authOffset, "each stored event gets its own offset");
        // an ack is not stored, so it carries no offset
        const ack = await new Promise((resolve) => s.emit("message-with-ack", 1, "x", (...a) => resolve(a)));
        assert.deepEqual(ack, [1, "x"]);
      });

      it("after a transport kill, reconnecting recovers the id, the rooms and the missed events in order", async () => {
        const room = uniq("room");
        const a = await pool.connect("/", setup);
        const b = await pool.connect("/", setup);
        a.on("presence", (cb) => cb("a"));
        assert.deepEqual(await a.timeout(3000).emitWithAck("join", room), [a.id, room].sort());
        // a's offset is up to date with everything sent so far
        await roundTrip(a);
        const id = a.id;

        await killTransport(a);
        assert.equal(a.connected, false);
        await untilRoomEmpty(b, room);

        for (let i = 1; i <= 5; i++) b.emit("to-room", room, "missed", i, { i });
        // per-socket order: once this ack is back, the five to-room events were handled
        await b.timeout(3000).emitWithAck("message-with-ack", "sync");

        a.connect();
        await once(a, "connect", 4000);
        if (setup.upgrade) await until(() => a.io.engine.transport.name === "websocket", 4000, "the upgrade");
        assert.equal(a.recovered, true);
        assert.equal(a.id, id);

        const missed = await a.inbox.take("missed", 5);
        assert.deepEqual(
          missed.map((args) => args.slice(0, 2)),
          [1, 2, 3, 4, 5].map((i) => [i, { i }]),
        );
        const offsets = missed.map((args) => args[2]);
        for (const o of offsets) assert.equal(typeof o, "string");
        assert.equal(new Set(offsets).size, 5, "offsets are distinct");

        // the rooms were restored: the socket is still in `room` without joining again
        b.emit("to-room", room, "after", "live");
        assert.deepEqual((await a.inbox.next("after")).slice(0, 1), ["live"]);
        assert.deepEqual(await a.timeout(3000).emitWithAck("leave", "none"), [a.id, room].sort());
        // and it is served normally
        const res = await a.timeout(3000).emitWithAck("message-with-ack", "ok");
        assert.equal(res, "ok");
      });

      it("a client-side namespace disconnect is not recoverable: the next connect is a fresh session", async () => {
        const a = await pool.connect("/", setup);
        const id = a.id;
        a.disconnect();
        a.connect();
        await once(a, "connect", 4000);
        assert.equal(a.recovered, false);
        assert.notEqual(a.id, id);
      });
    });
  }

  describe("on the wire (raw WebSocket)", () => {
    const connectReply = /^40\{"sid":"([^"]+)","pid":"([^"]+)"\}$/;

    it("the CONNECT reply carries sid and pid, and stored events end with an offset", async () => {
      const raw = await raws.open("websocket");
      raw.send("40");
      const m = connectReply.exec(await raw.next());
      assert.ok(m, "CONNECT reply must be exactly {sid, pid}");
      const [, sid, pid] = m;
      assert.equal(sid.length, 20);
      assert.notEqual(sid, pid);
      assert.notEqual(sid, raw.sid);
      assert.match(await raw.next(), /^42\["auth",\{\},"[^"]+"\]$/);
      raw.send('42["message",1]');
      assert.match(await raw.next(), /^42\["message-back",1,"[^"]+"\]$/);
      raw.send('425["message-with-ack",1]');
      assert.equal(await raw.next(), "435[1]");
    });

    it("a restore CONNECT {pid, offset} replays the missed events and answers with the same sid and pid", async () => {
      const room = uniq("room");
      const a = await raws.open("websocket");
      a.send("40");
      const [, sid, pid] = connectReply.exec(await a.next());
      let offset = JSON.parse((await a.next()).slice(2)).at(-1);
      a.send(`421["join","${room}"]`);
      assert.equal(await a.next(), `431${JSON.stringify([[sid, room].sort()])}`);
      a.send('42["message","last"]');
      offset = JSON.parse((await a.next()).slice(2)).at(-1);
      a.close();
      await a.waitClosed();

      const b = await raws.open("websocket");
      b.send("40");
      await b.take(2);
      let n = 10;
      await until(
        async () => {
          b.send(`42${++n}["ask-room","${room}","presence"]`);
          for (;;) {
            const p = await b.next(3000);
            if (p.startsWith(`43${n}[`)) return p === `43${n}[{"ok":true,"responses":[]}]`;
          }
        },
        4000,
        "the server to drop the socket",
      );
      b.send(`42["to-room","${room}","missed",1]`, `42["to-room","${room}","missed",2]`, '421["message-with-ack"]');
      assert.equal(await b.next(), "431[]");

      const c = await raws.open("websocket");
      c.send(`40${JSON.stringify({ pid, offset })}`);
      // collect until the CONNECT reply and both missed events are in (the reference writes the
      // missed events first, then the CONNECT reply, then the "auth" event of its connection handler)
      const got = [];
      while (!(got.some((p) => p.startsWith("40")) && got.filter((p) => p.includes('"missed"')).length === 2)) {
        got.push(await c.next());
      }
      const reply = got.find((p) => p.startsWith("40"));
      assert.equal(reply, `40{"sid":"${sid}","pid":"${pid}"}`, "same sid and pid on a successful restore");
      const events = got.filter((p) => p.includes('"missed"'));
      assert.match(events[0], /^42\["missed",1,"[^"]+"\]$/);
      assert.match(events[1], /^42\["missed",2,"[^"]+"\]$/);
      // the connection handler runs again: handshake.auth is the restore CONNECT payload
      let p = got.find((x) => x.startsWith('42["auth"'));
      while (!p) {
        const x = await c.next();
        if (x.startsWith('42["auth"')) p = x;
      }
      assert.deepEqual(JSON.parse(p.slice(2)).slice(0, 2), ["auth", { pid, offset }]);
      // the restored socket is still in the room
      c.send(`421["leave","none"]`);
      assert.equal(await c.next(), `431${JSON.stringify([[sid, room].sort()])}`);
    });

    it("a restore CONNECT with an unknown pid gets a fresh sid and pid", async () => {
      const raw = await raws.open("websocket");
      raw.send('40{"pid":"unknown-pid-000000000","offset":"x"}');
      const m = connectReply.exec(await raw.next());
      assert.ok(m);
      assert.notEqual(m[2], "unknown-pid-000000000");
      assert.equal(m[1].length, 20);
    });
  });
});

describe("connection state recovery expiry (RECOVERY_MS=300)", () => {
  let server;
  const pool = new ClientPool(() => server.url);
  before(async () => {
    server = await startServer("socketio", { RECOVERY_MS: "300" });
  });
  after(async () => {
    pool.closeAll();
    await server?.stop();
  });

  it("a session disconnected for longer than maxDisconnectionDuration is not recovered", async () => {
    const a = await pool.connect("/", SETUPS[1]);
    const id = a.id;
    await killTransport(a);
    await sleep(600); // the expiry is a duration: nothing to await but time
    a.connect();
    await once(a, "connect", 4000);
    assert.equal(a.recovered, false);
    assert.notEqual(a.id, id);
  });
});

describe("without RECOVERY_MS", () => {
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

  for (const setup of SETUPS) {
    it(`over ${setup.name}: no pid, no offsets, and a reconnect after a transport kill is a fresh session`, async () => {
      const room = uniq("room");
      const a = await pool.connect("/", setup);
      const b = await pool.connect("/", setup);
      a.on("presence", (cb) => cb("a"));
      assert.ok(!a.recovered); // socket.io-client leaves it undefined when the server sends no pid
      assert.equal(a._pid, undefined);
      assert.deepEqual(await a.inbox.next("auth"), [{}]);
      a.emit("message", 1);
      assert.deepEqual(await a.inbox.next("message-back"), [1]);
      await a.timeout(3000).emitWithAck("join", room);
      const id = a.id;

      await killTransport(a);
      await untilRoomEmpty(b, room);
      b.emit("to-room", room, "missed", 1);
      await b.timeout(3000).emitWithAck("message-with-ack", "sync");

      a.connect();
      await once(a, "connect", 4000);
      assert.ok(!a.recovered);
      assert.notEqual(a.id, id);
      // rooms are lost and nothing is replayed
      assert.deepEqual(await a.timeout(3000).emitWithAck("leave", "none"), [a.id]);
      await roundTrip(a);
      assert.deepEqual(a.inbox.seen("missed"), []);
    });
  }
});
