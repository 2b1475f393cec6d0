// Engine.IO v4 HTTP long-polling: payload format, echo, batching, limits and request overlap.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import zlib from "node:zlib";
import { startEngine, assertEngineError, sleep, withTimeout, UNKNOWN_SID, SEP, MAX_PAYLOAD } from "../lib/engine-util.mjs";

let t;
before(async () => {
  t = await startEngine();
});
after(async () => {
  await t?.stop();
});

describe("polling echo", () => {
  it("answers a POST with 200 ok as text/html with no-store", async () => {
    const { sid } = await t.handshake();
    const res = await t.send(sid, "4hello");
    assert.equal(res.status, 200);
    assert.equal(res.text, "ok");
    assert.equal(res.headers["content-type"], "text/html");
    assert.equal(res.headers["content-length"], "2");
    assert.equal(res.headers["cache-control"], "no-store");
    await t.sendOk(sid, "1");
  });

  it("echoes one text packet in the next GET", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, "4hello");
    const res = await t.poll(sid);
    assert.equal(res.status, 200);
    assert.equal(res.text, "4hello");
    assert.equal(res.headers["content-type"], "text/plain; charset=UTF-8");
    assert.equal(res.headers["content-length"], "6");
    assert.equal(res.headers["cache-control"], "no-store");
    await t.sendOk(sid, "1");
  });

  it("echoes several text packets batched with the record separator", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, `4test1${SEP}4test2${SEP}4test3`);
    const res = await t.poll(sid);
    assert.equal(res.text, `4test1${SEP}4test2${SEP}4test3`);
    await t.sendOk(sid, "1");
  });

  it("echoes binary as b<base64> next to text packets", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, `4hello${SEP}bAQIDBA==`);
    const res = await t.poll(sid);
    assert.equal(res.text, `4hello${SEP}bAQIDBA==`);
    await t.sendOk(sid, "1");
  });

  it("batches packets of several POSTs into one GET, in order", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, "4one");
    await t.sendOk(sid, `4two${SEP}bAA==`);
    await t.sendOk(sid, "4three");
    const res = await t.poll(sid);
    assert.equal(res.text, `4one${SEP}4two${SEP}bAA==${SEP}4three`);
    await t.sendOk(sid, "1");
  });

  it("holds a GET until a message is available, then answers it", async () => {
    const { sid } = await t.handshake();
    let answered = false;
    const pending = t.poll(sid).then((r) => {
      answered = true;
      return r;
    });
    await sleep(50);
    assert.equal(answered, false, "the long poll must be held while nothing is queued");
    await t.sendOk(sid, "4late");
    const res = await withTimeout(pending, 1000, "the held GET");
    assert.equal(res.status, 200);
    assert.equal(res.text, "4late");
    await t.sendOk(sid, "1");
  });

  it("echoes multi-byte UTF-8 text unchanged and counts Content-Length in bytes", async () => {
    const { sid } = await t.handshake();
    const msg = "4é€😀\u2028";
    await t.sendOk(sid, msg);
    const res = await t.poll(sid);
    assert.equal(res.text, msg);
    assert.equal(res.headers["content-length"], String(Buffer.byteLength(msg)));
    await t.sendOk(sid, "1");
  });

  it("echoes an empty message packet and an empty binary packet", async () => {
    const { sid } = await t.handshake();
    await t.sendOk(sid, `4${SEP}b`);
    const res = await t.poll(sid);
    assert.equal(res.text, `4${SEP}b`);
    await t.sendOk(sid, "1");
  });

  it("accepts a body of exactly maxPayload bytes", async () => {
    const { sid } = await t.handshake();
    const body = "4" + "x".repeat(MAX_PAYLOAD - 1);
    await t.sendOk(sid, body);
    const res = await t.poll(sid);
    assert.equal(res.status, 200);
    assert.equal(res.text.length, MAX_PAYLOAD);
    assert.equal(res.text, body);
    await t.sendOk(sid, "1");
  });
});

describe("polling compression", () => {
  it("gzips a GET body of 1024 bytes or more when the client accepts gzip", async () => {
    const { sid } = await t.handshake();
    const msg = "4" + "a".repeat(1023);
    await t.sendOk(sid, msg);
    const res = await t.get(t.pollingPath(sid), { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], "gzip");
    assert.equal(res.headers["content-type"], "text/plain; charset=UTF-8");
    assert.equal(zlib.gunzipSync(res.body).toString(), msg);
    await t.sendOk(sid, "1");
  });

  it("deflates a large GET body when the client accepts only deflate", async () => {
    const { sid } = await t.handshake();
    const msg = "4" + "b".repeat(2000);
    await t.sendOk(sid, msg);
    const res = await t.get(t.pollingPath(sid), { headers: { "accept-encoding": "deflate" } });
    assert.equal(res.headers["content-encoding"], "deflate");
    assert.equal(zlib.inflateSync(res.body).toString(), msg);
    await t.sendOk(sid, "1");
  });

  it("does not compress a body under 1024 bytes", async () => {
    const { sid } = await t.handshake();
    const msg = "4" + "a".repeat(1022);
    await t.sendOk(sid, msg);
    const res = await t.get(t.pollingPath(sid), { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.headers["content-encoding"], undefined);
    assert.equal(res.text, msg);
    await t.sendOk(sid, "1");
  });

  it("does not compress the handshake", async () => {
    const res = await t.get(t.path(), { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], undefined);
    assert.equal(res.text[0], "0");
  });
});

describe("polling errors", () => {
  it("answers a second concurrent GET with an empty 400, sends 1 to the first and closes the session", async () => {
    const { sid } = await t.handshake();
    const first = t.poll(sid);
    await sleep(50);
    const second = await t.poll(sid);
    assert.equal(second.status, 400);
    assert.equal(second.text, "");
    const res1 = await withTimeout(first, 1000, "the first GET");
    assert.equal(res1.status, 200);
    assert.equal(res1.text, "1");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
  });

  it("answers a second concurrent POST with an empty 400, drops the first and closes the session", async () => {
    const { sid } = await t.handshake();
    // A slow first POST: headers and half of the body, the rest later.
    const first = new Promise((resolve) => {
      const req = http.request(
        { host: "127.0.0.1", port: t.port, method: "POST", path: t.pollingPath(sid), agent: false, headers: { "content-length": "6" } },
        (res) => {
          let body = "";
          res.on("data", (c) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode, text: body }));
        },
      );
      req.on("error", (error) => resolve({ error }));
      req.write("4he");
      setTimeout(() => req.end("llo"), 300);
    });
    await sleep(50);
    const second = await t.send(sid, "4x");
    assert.equal(second.status, 400);
    assert.equal(second.text, "");
    const res1 = await withTimeout(first, 2000, "the first POST");
    assert.ok(res1.error, `the first POST should be dropped, got ${res1.status} ${res1.text}`);
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
  });

  it("rejects an application/octet-stream POST under v4 with an empty 400 and closes the session", async () => {
    const { sid } = await t.handshake();
    const res = await t.send(sid, "4hello", { headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.status, 400);
    assert.equal(res.text, "");
    assert.equal(res.headers["access-control-allow-origin"], "*");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
  });

  it("rejects a body over maxPayload with an empty 413 and closes the session", async () => {
    const { sid } = await t.handshake();
    const res = await t.send(sid, "4" + "x".repeat(MAX_PAYLOAD));
    assert.equal(res.status, 413);
    assert.equal(res.text, "");
    assert.equal(res.headers.connection, "close");
    assertEngineError(await t.poll(sid), ...UNKNOWN_SID);
  });

  it("answers other methods on an existing session with an empty 500 and keeps the session", async () => {
    const { sid } = await t.handshake();
    for (const method of ["PUT", "DELETE", "PATCH"]) {
      const res = await t.request(method, t.pollingPath(sid), { body: "4x" });
      assert.equal(res.status, 500, method);
      assert.equal(res.text, "");
    }
    await t.sendOk(sid, "4alive");
    assert.equal((await t.poll(sid)).text, "4alive");
    await t.sendOk(sid, "1");
  });

  it("still serves healthy clients afterwards", async () => {
    await t.assertHealthy();
  });
});
