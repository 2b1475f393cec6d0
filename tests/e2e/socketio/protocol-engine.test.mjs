// The Engine.IO part of the official socket.io-protocol test suite, run against the Socket.IO
// conformance server on its path /socket.io/ (handshake, heartbeat, close, upgrade), written
// anew from the spec.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer } from "../lib/server.mjs";
import { RawWs, once, sleep } from "../lib/sio-util.mjs";

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;

let server;
let wsUrl;
const opened = new Set();

before(async () => {
  server = await startServer("socketio");
  wsUrl = server.url.replace(/^http/, "ws");
});
after(async () => {
  closeAll();
  await server?.stop();
});
afterEach(() => closeAll());

function closeAll() {
  for (const s of opened) s.close();
  opened.clear();
}

function ws(query) {
  const sock = new WebSocket(`${wsUrl}/socket.io/?${query}`);
  sock.on("error", () => {});
  opened.add(sock);
  return sock;
}

/** A raw WebSocket session that does NOT answer pings. */
async function wsSession() {
  const s = await RawWs.open(server.url, { autoPong: false });
  opened.add(s);
  return s;
}

async function pollingSid() {
  const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  const body = await res.text();
  return JSON.parse(body.slice(1)).sid;
}

const pollUrl = (sid) => `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;

describe("Engine.IO layer of the Socket.IO server", () => {
  describe("handshake over HTTP long-polling", () => {
    it("opens a session with sid, upgrades [websocket], pingInterval 300, pingTimeout 200, maxPayload 1e6", async () => {
      const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
      assert.equal(res.status, 200);
      const body = await res.text();
      assert.equal(body[0], "0");
      const open = JSON.parse(body.slice(1));
      assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
      assert.equal(typeof open.sid, "string");
      assert.deepEqual(open.upgrades, ["websocket"]);
      assert.equal(open.pingInterval, PING_INTERVAL);
      assert.equal(open.pingTimeout, PING_TIMEOUT);
      assert.equal(open.maxPayload, 1000000);
    });

    it("answers 400 to a missing or invalid EIO query parameter", async () => {
      assert.equal((await fetch(`${server.url}/socket.io/?transport=polling`)).status, 400);
      assert.equal((await fetch(`${server.url}/socket.io/?EIO=abc&transport=polling`)).status, 400);
    });

    it("answers 400 to a missing or invalid transport query parameter", async () => {
      assert.equal((await fetch(`${server.url}/socket.io/?EIO=4`)).status, 400);
      assert.equal((await fetch(`${server.url}/socket.io/?EIO=4&transport=abc`)).status, 400);
    });

    it("answers 400 to a handshake with POST or PUT", async () => {
      const url = `${server.url}/socket.io/?EIO=4&transport=polling`;
      assert.equal((await fetch(url, { method: "POST" })).status, 400);
      assert.equal((await fetch(url, { method: "PUT" })).status, 400);
    });
  });

  describe("handshake over WebSocket", () => {
    it("opens a session with upgrades [] and the configured heartbeat", async () => {
      const s = await wsSession();
      assert.deepEqual(Object.keys(s.handshake).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
      assert.equal(typeof s.sid, "string");
      assert.deepEqual(s.handshake.upgrades, []);
      assert.equal(s.handshake.pingInterval, PING_INTERVAL);
      assert.equal(s.handshake.pingTimeout, PING_TIMEOUT);
      assert.equal(s.handshake.maxPayload, 1000000);
    });

    it("refuses a WebSocket with a missing or invalid EIO query parameter", async () => {
      await Promise.all([once(ws("transport=websocket"), "close"), once(ws("EIO=abc&transport=websocket"), "close")]);
    });

    it("refuses a WebSocket with a missing or invalid transport query parameter", async () => {
      await Promise.all([once(ws("EIO=4"), "close"), once(ws("EIO=4&transport=abc"), "close")]);
    });
  });

  describe("heartbeat", () => {
    it("polling: the server pings after pingInterval and accepts pongs, three times", async () => {
      const sid = await pollingSid();
      for (let i = 0; i < 3; i++) {
        const poll = await fetch(pollUrl(sid));
        assert.equal(poll.status, 200);
        assert.equal(await poll.text(), "2");
        const push = await fetch(pollUrl(sid), { method: "POST", body: "3" });
        assert.equal(push.status, 200);
        assert.equal(await push.text(), "ok");
      }
    });

    it("polling: the session is closed upon ping timeout", async () => {
      const sid = await pollingSid();
      await sleep(PING_INTERVAL + PING_TIMEOUT + 100);
      const poll = await fetch(pollUrl(sid));
      assert.equal(poll.status, 400);
    });

    it("websocket: the server pings after pingInterval and accepts pongs, three times", async () => {
      const s = await wsSession();
      const t0 = Date.now();
      for (let i = 0; i < 3; i++) {
        assert.equal(await s.next(2000, { pings: true }), "2");
        s.send("3");
      }
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 2 * PING_INTERVAL, `three pings took only ${elapsed} ms`);
    });

    it("websocket: the session is closed upon ping timeout", async () => {
      const s = await wsSession();
      await s.waitClosed(PING_INTERVAL + PING_TIMEOUT + 1000);
    });
  });

  describe("close", () => {
    it("polling: a close packet ends the session; the pending poll gets a noop, then 400", async () => {
      const sid = await pollingSid();
      const [poll, push] = await Promise.all([
        fetch(pollUrl(sid)),
        sleep(20).then(() => fetch(pollUrl(sid), { method: "POST", body: "1" })),
      ]);
      assert.equal(push.status, 200);
      assert.equal(poll.status, 200);
      assert.equal(await poll.text(), "6");
      assert.equal((await fetch(pollUrl(sid))).status, 400);
    });

    // The reference ignores a "1" packet over WebSocket; the session is then closed by the
    // heartbeat, as this client sends no pongs (same as the official suite).
    it("websocket: a session that sends a close packet and no pongs is closed", async () => {
      const s = await wsSession();
      s.send("1");
      await s.waitClosed();
    });
  });

  describe("upgrade", () => {
    async function upgradedSocket() {
      const sid = await pollingSid();
      const sock = ws(`EIO=4&transport=websocket&sid=${sid}`);
      await once(sock, "open");
      const reply = once(sock, "message");
      sock.send("2probe");
      const [data] = await reply;
      assert.equal(data.toString(), "3probe");
      sock.send("5");
      return { sid, sock };
    }

    it("upgrades from long-polling to WebSocket with 2probe / 3probe / 5", async () => {
      const { sock } = await upgradedSocket();
      // the upgraded transport carries the session: its heartbeat arrives over WebSocket
      const [ping] = await once(sock, "message", 2000);
      assert.equal(ping.toString(), "2");
    });

    it("answers 400 to HTTP requests with the same sid after the upgrade", async () => {
      const { sid, sock } = await upgradedSocket();
      // a heartbeat over WebSocket proves the upgrade is complete
      const [ping] = await once(sock, "message", 2000);
      assert.equal(ping.toString(), "2");
      const res = await fetch(pollUrl(sid));
      assert.equal(res.status, 400);
    });

    it("refuses a second WebSocket with the same sid after the upgrade", async () => {
      const { sid } = await upgradedSocket();
      await once(ws(`EIO=4&transport=websocket&sid=${sid}`), "close");
    });
  });
});
