// The client bundle route (`serveClient`) with the real socket.io-client dist/ files, through
// the chat example: content, ETag and 304, compression, content types, fall-through.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import zlib from "node:zlib";
import { startServer, clientDist } from "../lib/server.mjs";

const FILES = [
  "socket.io.js",
  "socket.io.min.js",
  "socket.io.esm.min.js",
  "socket.io.msgpack.min.js",
];
const VERSION = JSON.parse(fs.readFileSync(path.join(clientDist, "..", "package.json"), "utf8")).version;

let server;
before(async () => {
  server = await startServer("chat", { FERRIO_CLIENT_DIR: clientDist });
});
after(() => server?.stop());

/** A raw GET (no automatic decompression): `{ status, headers, body }`. */
function get(pathname, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.url}${pathname}`, { headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
  });
}

test("every file of the bundle and its source map is served as in dist/", async () => {
  for (const file of FILES.flatMap((f) => [f, `${f}.map`])) {
    const res = await get(`/socket.io/${file}`);
    assert.equal(res.status, 200, file);
    assert.deepEqual(res.body, fs.readFileSync(path.join(clientDist, file)), file);
    assert.equal(res.headers["etag"], `"${VERSION}"`, file);
    assert.equal(res.headers["cache-control"], "public, max-age=0", file);
    const type = file.endsWith(".map") ? "application/json" : "application/javascript";
    assert.equal(res.headers["content-type"], `${type}; charset=utf-8`, file);
    assert.equal(res.headers["content-encoding"], undefined, file);
  }
});

test("If-None-Match with the version, strong or weak, gives 304", async () => {
  for (const tag of [`"${VERSION}"`, `W/"${VERSION}"`]) {
    const res = await get("/socket.io/socket.io.min.js", { "if-none-match": tag });
    assert.equal(res.status, 304, tag);
    assert.equal(res.body.length, 0);
  }
  const res = await get("/socket.io/socket.io.min.js", { "if-none-match": '"0.0.1"' });
  assert.equal(res.status, 200);
});

test("br, gzip and deflate as Accept-Encoding asks", async () => {
  const original = fs.readFileSync(path.join(clientDist, "socket.io.min.js"));
  const cases = [
    ["gzip, deflate, br", "br", zlib.brotliDecompressSync],
    ["gzip, deflate", "gzip", zlib.gunzipSync],
    ["deflate", "deflate", zlib.inflateSync],
    ["br;q=0.1, gzip;q=0.9", "gzip", zlib.gunzipSync],
  ];
  for (const [accept, coding, decode] of cases) {
    const res = await get("/socket.io/socket.io.min.js", { "accept-encoding": accept });
    assert.equal(res.status, 200, accept);
    assert.equal(res.headers["content-encoding"], coding, accept);
    assert.ok(res.body.length < original.length / 2, `${accept}: ${res.body.length} bytes`);
    assert.deepEqual(decode(res.body), original, accept);
  }
});

test("other paths fall through: the engine under /socket.io/, the page elsewhere", async () => {
  let res = await get("/socket.io/socket.io.foo.js");
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.body), { code: 0, message: "Transport unknown" });
  res = await get("/socket.io/?EIO=4&transport=polling");
  assert.equal(res.status, 200);
  assert.match(res.body.toString(), /^0\{"sid":/);
  res = await get("/");
  assert.equal(res.status, 200);
  assert.match(res.body.toString(), /<script src="\/socket\.io\/socket\.io\.js"><\/script>/);
  res = await get("/nope");
  assert.equal(res.status, 404);
});
