// The two emitters — Node's @socket.io/redis-emitter 5.1 and Ferrio's RedisEmitter (through
// crates/redis/examples/emit.rs) — each driving a cluster of two Ferrio servers and a Node one.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join, nodeEmitter, referenceAvailable, rustEmit, silent, startCluster } from "../lib/cluster.mjs";
import { normalizeBinary, until } from "../lib/sio-util.mjs";

const withNode = referenceAvailable() || !!process.env.CI;
const kinds = withNode ? ["ferrio", "ferrio", "node"] : ["ferrio", "ferrio", "ferrio"];

// The same operations through either emitter.
const drivers = {
  "Node @socket.io/redis-emitter": async () => {
    const { emitter, close } = await nodeEmitter();
    const sel = (spec) => {
      let e = spec.nsp ? emitter.of(spec.nsp) : emitter;
      for (const r of spec.to ?? []) e = e.to(r);
      for (const r of spec.except ?? []) e = e.except(r);
      return e;
    };
    return {
      close,
      emit: async (spec) => sel(spec).emit(spec.event, ...spec.args),
      socketsJoin: async (spec) => sel(spec).socketsJoin(spec.rooms),
      socketsLeave: async (spec) => sel(spec).socketsLeave(spec.rooms),
      disconnectSockets: async (spec) => sel(spec).disconnectSockets(spec.close),
    };
  },
  "Ferrio RedisEmitter": async () => ({
    close: async () => {},
    emit: (spec) => rustEmit({ op: "emit", ...spec }),
    socketsJoin: (spec) => rustEmit({ op: "sockets_join", ...spec }),
    socketsLeave: (spec) => rustEmit({ op: "sockets_leave", ...spec }),
    disconnectSockets: (spec) => rustEmit({ op: "disconnect_sockets", ...spec }),
  }),
};

for (const [name, make] of Object.entries(drivers)) {
  describe(`${name} drives ${kinds.join(" + ")} servers`, () => {
    let cluster, em;
    const c = {};
    const tag = name.startsWith("Node") ? "n" : "r";
    const room = `em-${tag}-${process.pid}`;
    const vip = `${room}-vip`;

    before(async () => {
      cluster = await startCluster(kinds);
      for (const [n, server] of [["a", 0], ["b", 1], ["c", 2], ["d", 1]]) c[n] = await cluster.connect(server);
      for (const n of ["a", "b", "c"]) await join(c[n], room);
      await join(c.b, vip);
      em = await make();
    });

    after(async () => {
      await em?.close();
      await cluster?.stop();
    });

    test("emit to every socket of the namespace", async () => {
      await em.emit({ event: "em-all", args: ["x", 1, { k: [true, null] }] });
      for (const n of ["a", "b", "c", "d"]) {
        assert.deepEqual(await c[n].inbox.next("em-all"), ["x", 1, { k: [true, null] }], `client ${n}`);
      }
    });

    test("emit to a room except another room", async () => {
      await em.emit({ to: [room], except: [vip], event: "em-room", args: ["y"] });
      for (const n of ["a", "c"]) assert.deepEqual(await c[n].inbox.next("em-room"), ["y"], `client ${n}`);
      await silent(c.b, "em-room");
      await silent(c.d, "em-room", 0);
    });

    test("emit to a single room (the room channel)", async () => {
      await em.emit({ to: [vip], event: "em-vip", args: [] });
      assert.deepEqual(await c.b.inbox.next("em-vip"), []);
      for (const n of ["a", "c", "d"]) await silent(c[n], "em-vip", n === "a" ? 300 : 0);
    });

    test("socketsJoin and socketsLeave reach the sockets of every server", async () => {
      const extra = `${room}-extra`;
      await em.socketsJoin({ to: [room], except: [vip], rooms: [extra] });
      for (const n of ["a", "c"]) {
        await until(async () => (await join(c[n], "probe")).includes(extra), 3000, `${n} in ${extra}`);
      }
      assert.ok(!(await join(c.b, "probe")).includes(extra));
      assert.ok(!(await join(c.d, "probe")).includes(extra));
      await em.socketsLeave({ to: [extra], rooms: [extra] });
      for (const n of ["a", "c"]) {
        await until(async () => !(await join(c[n], "probe")).includes(extra), 3000, `${n} left ${extra}`);
      }
    });

    test("disconnectSockets disconnects the selected sockets of every server", async () => {
      const doomed = `${room}-doomed`;
      const e = await cluster.connect(0);
      const f = await cluster.connect(2);
      await join(e, doomed);
      await join(f, doomed);
      const reasons = Promise.all([e, f].map((s) => new Promise((r) => s.once("disconnect", r))));
      await em.disconnectSockets({ to: [doomed], close: false });
      assert.deepEqual(await reasons, ["io server disconnect", "io server disconnect"]);
      assert.ok(c.a.connected && c.b.connected && c.c.connected && c.d.connected);
    });
  });
}

describe("Node emitter binary payloads reach Ferrio clients", () => {
  let cluster, em;
  before(async () => {
    cluster = await startCluster(["ferrio", "ferrio"]);
    em = await nodeEmitter();
  });
  after(async () => {
    await em?.close();
    await cluster?.stop();
  });

  test("a Buffer arrives as binary", async () => {
    const a = await cluster.connect(0);
    const b = await cluster.connect(1);
    em.emitter.emit("em-bin", Buffer.from([1, 2, 3]), { nested: Buffer.from([4]) });
    for (const s of [a, b]) {
      assert.deepEqual(normalizeBinary(await s.inbox.next("em-bin")), [Buffer.from([1, 2, 3]), { nested: Buffer.from([4]) }]);
    }
  });
});
