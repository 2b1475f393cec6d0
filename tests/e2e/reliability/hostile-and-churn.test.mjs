// Reliability, black-box (issue 7), against the conformance server:
// - hostile packets close only their own connection, as the reference does, and a healthy
//   socket.io-client keeps being served;
// - a 413 for an oversized polling body before it is read;
// - a short churn of every kind of connection (WebSocket, polling, upgrades abandoned half way,
//   polling sessions never polled again, WebSockets that never send CONNECT) leaves the server's
//   RSS (VmRSS of /proc/<pid>/status) within 5 % of its plateau. The live counts (sessions,
//   sockets, rooms, tasks) are asserted by crates/ferrio/tests/reliability_churn.rs.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import WebSocket from "ws";
import { startServer } from "../lib/server.mjs";
import { ClientPool, SETUPS, withTimeout, sleep } from "../lib/sio-util.mjs";

const CHURN_MS = Number(process.env.CHURN_MS ?? 15000);

let server;
const pool = new ClientPool(() => server.url);

before(async () => {
  server = await startServer("socketio");
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

/** A raw WebSocket session; resolves once the open packet arrived. */
function rawWs(query = "") {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket${query}`);
  ws.received = [];
  ws.closed = new Promise((resolve) => {
    ws.on("close", resolve);
    ws.on("error", resolve);
  });
  ws.on("message", (d) => ws.received.push(d.toString()));
  return withTimeout(
    new Promise((resolve, reject) => {
      ws.once("message", () => resolve(ws));
      ws.once("error", reject);
    }),
    3000,
    "the open packet",
  );
}

async function echo(socket, value) {
  return withTimeout(
    new Promise((resolve) => socket.emit("message-with-ack", value, (...args) => resolve(args))),
    3000,
    "an echo",
  );
}

describe("hostile input", () => {
  const cases = [
    ["JSON nested 100,000 deep", `42["message",${"[".repeat(100000)}1${"]".repeat(100000)}]`],
    ["11 binary attachments (limit 10)", `451-["message",${Array.from({ length: 11 }, (_, i) => `{"_placeholder":true,"num":${i}}`).join(",")}]`],
    ["ack id 2^53", `429007199254740992["message",1]`],
    ["a 900 kB namespace name", `40/${"n".repeat(900000)},`],
    ["a message over maxHttpBufferSize", `42["message","${"x".repeat(1000001)}"]`],
  ];
  for (const [what, packet] of cases) {
    it(`${what}: the connection is closed, a healthy client is still served`, async () => {
      const healthy = await pool.connect("/", SETUPS[1]);
      const ws = await rawWs();
      if (!packet.startsWith("40")) {
        ws.send("40");
        await withTimeout(
          (async () => {
            while (!ws.received.some((m) => m.startsWith("40{"))) await sleep(10);
          })(),
          3000,
          "the CONNECT reply",
        );
      }
      ws.send(packet);
      await withTimeout(ws.closed, 3000, "the connection to close");
      assert.ok(ws.received.every((m) => m.length < 1024), "nothing long echoed back");
      assert.deepEqual(await echo(healthy, { ok: true }), [{ ok: true }]);
      healthy.disconnect();
    });
  }

  it("an oversized polling body gets 413 before it is sent", async () => {
    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
    const sid = JSON.parse((await res.text()).slice(1)).sid;
    const answer = await withTimeout(
      new Promise((resolve, reject) => {
        const s = net.connect(server.port, "127.0.0.1", () => {
          s.write(
            `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n`,
          );
        });
        s.once("data", (d) => {
          resolve(d.toString());
          s.destroy();
        });
        s.once("error", reject);
      }),
      3000,
      "the 413",
    );
    assert.match(answer, /^HTTP\/1\.1 413/);
  });
});

describe("churn", () => {
  it(`${CHURN_MS / 1000} s of churn: the server's RSS returns within 5 % of its plateau`, async () => {
    const pid = server.proc.pid;
    const start = Date.now();
    let plateau = 0;
    let n = 0;
    const kinds = [
      // socket.io-client over each transport setup: connect, join a room, an ack, disconnect.
      async (i) => {
        const s = await pool.connect("/", SETUPS[i % SETUPS.length]);
        await withTimeout(new Promise((r) => s.emit("join", `room-${i % 7}`, r)), 3000, "join");
        assert.deepEqual(await echo(s, i), [i]);
        s.disconnect();
        pool.sockets.delete(s);
      },
      // A polling session never polled again.
      async () => {
        await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text();
      },
      // An upgrade abandoned after the probe.
      async () => {
        const body = await (await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`)).text();
        const sid = JSON.parse(body.slice(1)).sid;
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
        await withTimeout(new Promise((r, j) => (ws.once("open", r), ws.once("error", j))), 3000, "ws open");
        ws.send("2probe");
        await withTimeout(new Promise((r) => ws.once("message", r)), 3000, "3probe");
        ws.terminate();
      },
      // A WebSocket that never sends CONNECT, dropped.
      async () => {
        const ws = await rawWs();
        ws.terminate();
      },
    ];
    while (Date.now() - start < CHURN_MS) {
      await Promise.all(Array.from({ length: 24 }, (_, k) => kinds[k % kinds.length](n + k)));
      n += 24;
      const t = Date.now() - start;
      if (t >= CHURN_MS / 4) plateau = Math.max(plateau, rssKiB(pid));
    }
    // Abandoned sessions end by the heartbeat (300 + 200 ms here).
    await sleep(1500);
    const rss = rssKiB(pid);
    console.log(`churn: ${n} connections in ${Date.now() - start} ms; server RSS plateau ${plateau} KiB, after ${rss} KiB`);
    assert.ok(rss <= plateau * 1.05, `RSS ${rss} KiB vs plateau ${plateau} KiB`);
    // Still serving.
    const s = await pool.connect("/", SETUPS[1]);
    assert.deepEqual(await echo(s, "end"), ["end"]);
  });
});
