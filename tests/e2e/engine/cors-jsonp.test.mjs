// CORS (origin "*") on every polling response, and the JSONP polling transport (j=<n>).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEngine, assertEngineError, UNKNOWN_SID, UNSUPPORTED_PROTOCOL } from "../lib/engine-util.mjs";

const ORIGIN = { origin: "http://example.com" };

let t;
before(async () => {
  t = await startEngine();
});
after(async () => {
  await t?.stop();
});

describe("CORS", () => {
  it("answers a preflight with 204 and the allowed origin, methods and requested headers", async () => {
    const res = await t.request("OPTIONS", t.path(), {
      headers: { ...ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type,x-foo" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers["access-control-allow-origin"], "*");
    assert.equal(res.headers["access-control-allow-methods"], "GET,HEAD,PUT,PATCH,POST,DELETE");
    assert.equal(res.headers["access-control-allow-headers"], "content-type,x-foo");
    assert.equal(res.headers.vary, "Access-Control-Request-Headers");
    assert.equal(res.headers["content-length"], "0");
    assert.equal(res.headers["access-control-allow-credentials"], undefined);
  });

  it("answers a preflight on an existing session with 204 and leaves the session alone", async () => {
    const { sid } = await t.handshake();
    const res = await t.request("OPTIONS", t.pollingPath(sid), { headers: { ...ORIGIN, "access-control-request-method": "POST" } });
    assert.equal(res.status, 204);
    assert.equal(res.headers["access-control-allow-origin"], "*");
    assert.equal(res.headers["access-control-allow-headers"], undefined);
    await t.sendOk(sid, "4after-preflight");
    assert.equal((await t.poll(sid)).text, "4after-preflight");
    await t.sendOk(sid, "1");
  });

  it("puts the CORS origin on handshake, GET and POST responses", async () => {
    const { sid, response } = await t.handshake();
    assert.equal(response.headers["access-control-allow-origin"], "*");
    const post = await t.send(sid, "4x", { headers: ORIGIN });
    assert.equal(post.headers["access-control-allow-origin"], "*");
    const get = await t.get(t.pollingPath(sid), { headers: ORIGIN });
    assert.equal(get.headers["access-control-allow-origin"], "*");
    assert.equal(get.headers["cache-control"], "no-store");
    await t.sendOk(sid, "1");
  });

  it("puts the CORS origin on JSON error responses, without cache-control", async () => {
    const bad = await t.get(t.path("EIO=3&transport=polling"), { headers: ORIGIN });
    assertEngineError(bad, ...UNSUPPORTED_PROTOCOL);
    assert.equal(bad.headers["access-control-allow-origin"], "*");
    assert.equal(bad.headers["cache-control"], undefined);
    const unknown = await t.get(t.pollingPath("nope"), { headers: ORIGIN });
    assertEngineError(unknown, ...UNKNOWN_SID);
    assert.equal(unknown.headers["access-control-allow-origin"], "*");
  });

  it("puts the CORS origin on 413 and octet-stream 400 responses", async () => {
    let { sid } = await t.handshake();
    const big = await t.send(sid, "4" + "x".repeat(1_000_000), { headers: ORIGIN });
    assert.equal(big.status, 413);
    assert.equal(big.headers["access-control-allow-origin"], "*");
    ({ sid } = await t.handshake());
    const octet = await t.send(sid, "4x", { headers: { ...ORIGIN, "content-type": "application/octet-stream" } });
    assert.equal(octet.status, 400);
    assert.equal(octet.headers["access-control-allow-origin"], "*");
  });
});

/** Decode `___eio[<n>]("<js string>");` into `{ index, payload }`. */
function parseJsonp(text) {
  const m = /^___eio\[(\d*)\]\((".*")\);$/s.exec(text);
  assert.ok(m, `not a JSONP response: ${text}`);
  return { index: m[1], payload: JSON.parse(m[2]) };
}

async function jsonpHandshake(j = "0") {
  const res = await t.get(t.path(`EIO=4&transport=polling&j=${j}`));
  assert.equal(res.status, 200);
  const { payload } = parseJsonp(res.text);
  return { sid: JSON.parse(payload.slice(1)).sid, res };
}

function jsonpPost(sid, form, j = "0") {
  return t.post(t.path(`EIO=4&transport=polling&j=${j}&sid=${sid}`), form, {
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
}

describe("JSONP polling", () => {
  it("wraps the handshake in ___eio[0](...) as a JavaScript string literal", async () => {
    const { sid, res } = await jsonpHandshake("0");
    assert.equal(res.headers["content-type"], "text/plain; charset=UTF-8");
    assert.equal(res.headers["cache-control"], "no-store");
    assert.equal(
      res.text,
      `___eio[0]("0{\\"sid\\":\\"${sid}\\",\\"upgrades\\":[\\"websocket\\"],\\"pingInterval\\":300,\\"pingTimeout\\":200,\\"maxPayload\\":1000000}");`,
    );
  });

  it("uses the digits of j as the callback index and drops anything else", async () => {
    let r = await t.get(t.path("EIO=4&transport=polling&j=42"));
    assert.equal(parseJsonp(r.text).index, "42");
    r = await t.get(t.path("EIO=4&transport=polling&j=a1b2"));
    assert.equal(parseJsonp(r.text).index, "12");
    r = await t.get(t.path("EIO=4&transport=polling&j=abc"));
    assert.ok(r.text.startsWith('___eio[]("0{'), r.text);
  });

  it("accepts a form-encoded d= POST and answers the GET with the escaped batch", async () => {
    const { sid } = await jsonpHandshake();
    const post = await jsonpPost(sid, "d=" + encodeURIComponent("4hello\x1e4a\"b\x1ebAQID"));
    assert.equal(post.status, 200);
    assert.equal(post.text, "ok");
    assert.equal(post.headers["content-type"], "text/html");
    const get = await t.get(t.path(`EIO=4&transport=polling&j=0&sid=${sid}`));
    assert.equal(get.status, 200);
    assert.equal(get.text, '___eio[0]("4hello\\u001e4a\\"b\\u001ebAQID");');
    await jsonpPost(sid, "d=1");
  });

  it("turns an escaped \\n into a newline and an escaped \\\\n into \\n", async () => {
    const { sid } = await jsonpHandshake("3");
    // The client escapes newlines as \n and literal "\n" as \\n.
    await jsonpPost(sid, "d=" + encodeURIComponent("4line1\\nline2\x1e4esc\\\\nkept"), "3");
    const get = await t.get(t.path(`EIO=4&transport=polling&j=3&sid=${sid}`));
    assert.equal(get.text, '___eio[3]("4line1\\nline2\\u001e4esc\\\\nkept");');
    const { payload } = parseJsonp(get.text);
    assert.deepEqual(payload.split("\x1e"), ["4line1\nline2", "4esc\\nkept"]);
    await jsonpPost(sid, "d=1", "3");
  });

  it("escapes U+2028 and U+2029 in the response", async () => {
    const { sid } = await jsonpHandshake();
    await jsonpPost(sid, "d=" + encodeURIComponent("4a\u2028b\u2029c"));
    const get = await t.get(t.path(`EIO=4&transport=polling&j=0&sid=${sid}`));
    assert.equal(get.text, '___eio[0]("4a\\u2028b\\u2029c");');
    await jsonpPost(sid, "d=1");
  });

  it("answers 200 ok and ignores a POST without a d field; the session stays open", async () => {
    const { sid } = await jsonpHandshake();
    for (const body of ["x=4ignored", "4ignored"]) {
      const res = await jsonpPost(sid, body);
      assert.equal(res.status, 200);
      assert.equal(res.text, "ok");
    }
    // Nothing was echoed: the next thing the session sends is the heartbeat ping.
    const get = await t.get(t.path(`EIO=4&transport=polling&j=0&sid=${sid}`));
    assert.equal(get.text, '___eio[0]("2");');
    await jsonpPost(sid, "d=1");
  });

  it("closes the session on a d=1 close packet", async () => {
    const { sid } = await jsonpHandshake();
    await jsonpPost(sid, "d=1");
    assertEngineError(await t.get(t.path(`EIO=4&transport=polling&j=0&sid=${sid}`)), ...UNKNOWN_SID);
  });
});
