// Socket.IO protocol v5 over raw Engine.IO sessions: the cases of the official
// socket.io-protocol test suite (written anew from the spec), plus CONNECT_ERROR with data,
// dynamic namespaces, server-to-client acks and the strict decoder.
// Every test runs over raw WebSocket, raw HTTP long-polling, and polling upgraded to WebSocket.
//
// Note: the client always waits for the CONNECT reply before sending anything else on that
// namespace (the reference runs namespace middlewares asynchronously, so an EVENT that arrives
// before the namespace is joined closes the connection).
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { RAW_MODES, RawPool } from "../lib/sio-util.mjs";

let server;
const pool = new RawPool(() => server.url);

before(async () => {
  server = await startServer("socketio");
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});
afterEach(() => pool.closeAll());

/** Checks a CONNECT reply "40[<nsp>,]{...}" and returns the parsed payload. */
function assertConnectReply(packet, nsp, engineSid) {
  const prefix = nsp === "/" ? "40" : `40${nsp},`;
  assert.equal(typeof packet, "string");
  assert.ok(packet.startsWith(prefix + "{"), `CONNECT reply ${JSON.stringify(packet)} should start with ${prefix}{`);
  const payload = JSON.parse(packet.slice(prefix.length));
  assert.deepEqual(Object.keys(payload), ["sid"]);
  assert.equal(typeof payload.sid, "string");
  assert.equal(payload.sid.length, 20, `sid ${payload.sid} should have 20 characters`);
  assert.notEqual(payload.sid, engineSid, "the Socket.IO sid must differ from the Engine.IO sid");
  return payload;
}

/** Opens a session and joins "/" (CONNECT reply and the "auth" event consumed). */
async function connected(mode, auth) {
  const raw = await pool.open(mode);
  raw.send(auth === undefined ? "40" : "40" + JSON.stringify(auth));
  const reply = await raw.next();
  raw.nspSid = assertConnectReply(reply, "/", raw.sid).sid;
  assert.equal(await raw.next(), `42["auth",${auth === undefined ? "{}" : JSON.stringify(auth)}]`);
  return raw;
}

for (const mode of RAW_MODES) {
  describe(`Socket.IO protocol over raw ${mode}`, () => {
    describe("connect", () => {
      it("connects to the main namespace: reply carries a 20-char sid, then the auth event {}", async () => {
        const raw = await pool.open(mode);
        raw.send("40");
        assertConnectReply(await raw.next(), "/", raw.sid);
        assert.equal(await raw.next(), '42["auth",{}]');
      });

      it("connects to the main namespace with an auth payload that is echoed back", async () => {
        const raw = await pool.open(mode);
        raw.send('40{"token":"123"}');
        assertConnectReply(await raw.next(), "/", raw.sid);
        assert.equal(await raw.next(), '42["auth",{"token":"123"}]');
      });

      it("connects to a custom namespace", async () => {
        const raw = await pool.open(mode);
        raw.send("40/custom,");
        assertConnectReply(await raw.next(), "/custom", raw.sid);
        assert.equal(await raw.next(), '42/custom,["auth",{}]');
      });

      it("connects to a custom namespace with an auth payload", async () => {
        const raw = await pool.open(mode);
        raw.send('40/custom,{"token":"abc"}');
        assertConnectReply(await raw.next(), "/custom", raw.sid);
        assert.equal(await raw.next(), '42/custom,["auth",{"token":"abc"}]');
      });

      it("gives each namespace of one connection its own sid", async () => {
        const raw = await connected(mode);
        raw.send("40/custom,");
        const custom = assertConnectReply(await raw.next(), "/custom", raw.sid);
        assert.equal(await raw.next(), '42/custom,["auth",{}]');
        assert.notEqual(custom.sid, raw.nspSid);
      });

      it("refuses an unknown namespace with CONNECT_ERROR Invalid namespace and keeps the connection", async () => {
        const raw = await pool.open(mode);
        raw.send("40/random");
        assert.equal(await raw.next(), '44/random,{"message":"Invalid namespace"}');
        // the connection is still usable
        raw.send("40");
        assertConnectReply(await raw.next(), "/", raw.sid);
        assert.equal(await raw.next(), '42["auth",{}]');
      });

      it("creates a dynamic namespace /dyn-<x> on demand and emits nsp with its name", async () => {
        const raw = await pool.open(mode);
        raw.send("40/dyn-abc123,");
        assertConnectReply(await raw.next(), "/dyn-abc123", raw.sid);
        assert.equal(await raw.next(), '42/dyn-abc123,["nsp","/dyn-abc123"]');
      });

      it("refuses a name that does not match the dynamic pattern (/dyn-ABC)", async () => {
        const raw = await pool.open(mode);
        raw.send("40/dyn-ABC,");
        assert.equal(await raw.next(), '44/dyn-ABC,{"message":"Invalid namespace"}');
      });

      it("middleware refusal: /private without the token gets CONNECT_ERROR with message and data", async () => {
        const raw = await pool.open(mode);
        raw.send('40/private,{"token":"wrong"}');
        assert.equal(await raw.next(), '44/private,{"message":"unauthorized","data":{"reason":"bad token"}}');
        raw.send("40/private,");
        assert.equal(await raw.next(), '44/private,{"message":"unauthorized","data":{"reason":"bad token"}}');
      });

      it("middleware admission: /private with the right token connects and echoes auth", async () => {
        const raw = await pool.open(mode);
        raw.send('40/private,{"token":"secret"}');
        assertConnectReply(await raw.next(), "/private", raw.sid);
        assert.equal(await raw.next(), '42/private,["auth",{"token":"secret"}]');
      });

      it("closes the connection on an invalid handshake packet (4abc)", async () => {
        const raw = await pool.open(mode);
        raw.send("4abc");
        await raw.waitClosed();
      });

      it("closes the connection on a CONNECT whose payload is not an object", async () => {
        for (const bad of ['40"abc"', "40[]", "40{bad json", '40/custom,"x"']) {
          const raw = await pool.open(mode);
          raw.send(bad);
          await raw.waitClosed();
        }
      });

      it("closes the connection when the first packet is not a CONNECT", async () => {
        const raw = await pool.open(mode);
        raw.send('42["message","hello"]');
        await raw.waitClosed();
      });

      it("closes the connection on a second CONNECT for an already joined namespace", async () => {
        const raw = await connected(mode);
        raw.send("40");
        await raw.waitClosed();
      });

      it("closes the connection when no CONNECT is received within connectTimeout (1 s)", async () => {
        const t0 = Date.now();
        const raw = await pool.open(mode);
        await raw.waitClosed(3000);
        const elapsed = Date.now() - t0;
        assert.ok(elapsed >= 800, `closed after ${elapsed} ms, expected about 1000 ms`);
      });
    });

    describe("disconnect", () => {
      it("disconnects from the main namespace: nothing but pings follow, the session stays open", async () => {
        const raw = await connected(mode);
        raw.send("41");
        assert.equal(await raw.next(2000, { pings: true }), "2");
        assert.equal(raw.isClosed, false);
      });

      it("an EVENT for a namespace the client left closes the connection", async () => {
        const raw = await connected(mode);
        raw.send("41");
        // a ping/pong round proves the DISCONNECT has been processed
        assert.equal(await raw.next(2000, { pings: true }), "2");
        raw.send('42["message","late"]');
        await raw.waitClosed();
      });

      it("connects then disconnects from a custom namespace; the main namespace still works", async () => {
        const raw = await connected(mode);
        raw.send("40/custom,");
        assertConnectReply(await raw.next(), "/custom", raw.sid);
        assert.equal(await raw.next(), '42/custom,["auth",{}]');
        raw.send("41/custom,");
        raw.send('42["message","message to main namespace"]');
        assert.equal(await raw.next(), '42["message-back","message to main namespace"]');
      });

      it("can reconnect to the main namespace after leaving it, with a new sid", async () => {
        const raw = await connected(mode);
        raw.send("41");
        // a ping/pong round lets the DISCONNECT be processed (the reference handles it on the next tick)
        assert.equal(await raw.next(2000, { pings: true }), "2");
        raw.send("40");
        const again = assertConnectReply(await raw.next(), "/", raw.sid);
        assert.notEqual(again.sid, raw.nspSid);
        assert.equal(await raw.next(), '42["auth",{}]');
      });
      it("disconnect-me: the server sends DISCONNECT for / only and keeps the session", async () => {
        const raw = await connected(mode);
        raw.send("40/custom,");
        assertConnectReply(await raw.next(), "/custom", raw.sid);
        assert.equal(await raw.next(), '42/custom,["auth",{}]');
        raw.send('42["disconnect-me"]');
        assert.equal(await raw.next(), "41");
        // /custom is still joined: an event for it is accepted (an event for a namespace that is
        // not joined would close the connection)
        raw.send('42/custom,["anything"]');
        assert.equal(await raw.next(2000, { pings: true }), "2");
        assert.equal(raw.isClosed, false);
      });

      it("close-me: the server sends DISCONNECT for every joined namespace, then closes the connection", async () => {
        const raw = await connected(mode);
        raw.send("40/custom,");
        assertConnectReply(await raw.next(), "/custom", raw.sid);
        assert.equal(await raw.next(), '42/custom,["auth",{}]');
        raw.send('42["close-me"]');
        const got = [await raw.next(), await raw.next()];
        assert.deepEqual(got.sort(), ["41", "41/custom,"]);
        await raw.waitClosed();
      });
    });

    describe("message", () => {
      it("echoes a plain-text event (message -> message-back)", async () => {
        const raw = await connected(mode);
        raw.send('42["message",1,"2",{"3":[true]}]');
        assert.equal(await raw.next(), '42["message-back",1,"2",{"3":[true]}]');
      });

      it("echoes non-ASCII text unchanged", async () => {
        const raw = await connected(mode);
        raw.send('42["message","é€😀",null,{"k":"\\u0000\\n"}]');
        assert.equal(await raw.next(), '42["message-back","é€😀",null,{"k":"\\u0000\\n"}]');
      });

      it("keeps the order of several events sent in one batch", async () => {
        const raw = await connected(mode);
        raw.send('42["message",1]', '42["message",2]', '42["message",3]');
        assert.deepEqual(await raw.take(3), [
          '42["message-back",1]',
          '42["message-back",2]',
          '42["message-back",3]',
        ]);
      });

      it("echoes an event with binary attachments (placeholders, then the raw buffers)", async () => {
        const raw = await connected(mode);
        raw.send(
          '452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
          Buffer.from([1, 2, 3]),
          Buffer.from([4, 5, 6]),
        );
        const [head, b0, b1] = await raw.take(3);
        assert.equal(head, '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
        assert.deepEqual(b0, Buffer.from([1, 2, 3]));
        assert.deepEqual(b1, Buffer.from([4, 5, 6]));
      });

      it("echoes a binary attachment nested inside objects", async () => {
        const raw = await connected(mode);
        raw.send('451-["message","x",{"a":{"b":[{"_placeholder":true,"num":0}]}}]', Buffer.from([0, 255, 7]));
        const [head, b0] = await raw.take(2);
        assert.equal(head, '451-["message-back","x",{"a":{"b":[{"_placeholder":true,"num":0}]}}]');
        assert.deepEqual(b0, Buffer.from([0, 255, 7]));
      });

      it("answers an event with an ack id (message-with-ack)", async () => {
        const raw = await connected(mode);
        raw.send('42456["message-with-ack",1,"2",{"3":[false]}]');
        assert.equal(await raw.next(), '43456[1,"2",{"3":[false]}]');
      });

      it("answers an ack with no arguments with an empty array", async () => {
        const raw = await connected(mode);
        raw.send('4212["message-with-ack"]');
        assert.equal(await raw.next(), "4312[]");
      });

      it("answers an event with binary attachments and an ack id with a BINARY_ACK", async () => {
        const raw = await connected(mode);
        raw.send(
          '452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
          Buffer.from([1, 2, 3]),
          Buffer.from([4, 5, 6]),
        );
        const [head, b0, b1] = await raw.take(3);
        assert.equal(head, '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
        assert.deepEqual(b0, Buffer.from([1, 2, 3]));
        assert.deepEqual(b1, Buffer.from([4, 5, 6]));
      });

      it("server-to-client ack: the server's EVENT carries an ack id and the client's ACK is relayed", async () => {
        const raw = await connected(mode);
        raw.send('427["ask","question",{"n":1}]');
        const ev = await raw.next();
        const m = /^42(\d+)\["question",\{"n":1\}\]$/.exec(ev);
        assert.ok(m, `expected an EVENT with an ack id, got ${ev}`);
        raw.send(`43${m[1]}["answer",42]`);
        assert.equal(await raw.next(), '437[{"ok":true,"res":["answer",42]}]');
      });

      it("server-to-client ack with binary: the client's BINARY_ACK is relayed as a BINARY_ACK", async () => {
        const raw = await connected(mode);
        raw.send('428["ask","give-bytes"]');
        const ev = await raw.next();
        const m = /^42(\d+)\["give-bytes"\]$/.exec(ev);
        assert.ok(m, `expected an EVENT with an ack id, got ${ev}`);
        raw.send(`461-${m[1]}[{"_placeholder":true,"num":0}]`, Buffer.from([9, 8, 7]));
        const [head, b0] = await raw.take(2);
        assert.equal(head, '461-8[{"ok":true,"res":[{"_placeholder":true,"num":0}]}]');
        assert.deepEqual(b0, Buffer.from([9, 8, 7]));
      });

      it("server-to-client ack timeout: no answer gives {ok:false,res:[]} after about 1 s", async () => {
        const raw = await connected(mode);
        const t0 = Date.now();
        raw.send('429["ask","ignored"]');
        assert.match(await raw.next(), /^42\d+\["ignored"\]$/);
        assert.equal(await raw.next(3000), '439[{"ok":false,"res":[]}]');
        const elapsed = Date.now() - t0;
        assert.ok(elapsed >= 900 && elapsed < 2000, `ack timeout fired after ${elapsed} ms, expected about 1000 ms`);
      });

      it("an ACK for an unknown id is ignored (connection stays usable)", async () => {
        const raw = await connected(mode);
        raw.send("4399[]");
        raw.send('42["message","still here"]');
        assert.equal(await raw.next(), '42["message-back","still here"]');
      });
    });

    describe("malformed packets close the connection (parse error)", () => {
      const cases = [
        ["unknown packet type", ["4abc"]],
        ["packet type 7", ["47"]],
        ["EVENT payload that is an object", ["42{}"]],
        ["EVENT payload that is an empty array", ["42[]"]],
        ["invalid ack id", ['42abc["message-with-ack",1,"2",{"3":[false]}]']],
        ["reserved event name", ['42["connect"]']],
        ["trailing garbage after the JSON", ['42["message"]xx']],
        ["ACK payload that is not an array", ["431{}"]],
        ["DISCONNECT with a payload", ["41{}"]],
        ["CONNECT_ERROR sent by a client", ['44{"message":"x"}']],
        ["EVENT for a namespace never joined", ['42/custom,["message"]']],
        ["placeholder index out of range", ['451-["message",{"_placeholder":true,"num":3}]', Buffer.from([1])]],
        ["binary message with no pending packet", [Buffer.from([1, 2])]],
      ];
      for (const [label, packets] of cases) {
        it(`closes on ${label}`, async () => {
          const raw = await connected(mode);
          raw.send(...packets);
          await raw.waitClosed();
        });
      }

      it("a healthy client is still served after another one sent garbage", async () => {
        const healthy = await connected(mode);
        const bad = await connected(mode);
        bad.send("42{}");
        await bad.waitClosed();
        healthy.send('42["message","ok"]');
        assert.equal(await healthy.next(), '42["message-back","ok"]');
        const fresh = await connected(mode);
        fresh.send('421["message-with-ack","fresh"]');
        assert.equal(await fresh.next(), '431["fresh"]');
      });
    });
  });
}
