// Helpers for the black-box Engine.IO tests in ../engine/. They talk to the `engine_echo` server
// of ../../../shared/conformance/CONTRACT.md (path `/engine.io/`, pingInterval 300 ms,
// pingTimeout 200 ms, maxPayload 1e6, CORS `*`, every message echoed back).
//
// Everything here uses raw `node:http` / `node:net` / `ws` so that the tests see exactly what the
// server puts on the wire (status, headers, body bytes, WebSocket close codes).
import http from "node:http";
import net from "node:net";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer } from "./server.mjs";

export const PING_INTERVAL = 300;
export const PING_TIMEOUT = 200;
export const MAX_PAYLOAD = 1_000_000;
export const SEP = "\x1e";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reject with a readable message when `promise` does not settle within `ms`. */
export function withTimeout(promise, ms, what = "operation") {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Start the Engine.IO echo server for one test file and return a context object with
 * `url`, `port`, `wsUrl`, `path(query)` and the request helpers bound to it.
 */
export async function startEngine(env = {}) {
  const server = await startServer("engine", env);
  return new EngineTarget(server);
}

export class EngineTarget {
  constructor(server) {
    this.server = server;
    this.port = server.port;
    this.url = server.url;
    this.wsUrl = server.url.replace(/^http/, "ws");
    this.openSockets = new Set();
  }

  /** `/engine.io/?<query>`. */
  path(query = "EIO=4&transport=polling") {
    return `/engine.io/?${query}`;
  }

  pollingPath(sid, extra = "") {
    return this.path(`EIO=4&transport=polling${sid ? `&sid=${sid}` : ""}${extra}`);
  }

  /**
   * One HTTP request on a fresh connection. Resolves to
   * `{ status, headers, body (Buffer), text (UTF-8 string) }` or `{ error }` when the connection
   * fails before a complete response is read.
   */
  request(method, path, { body, headers = {}, timeout = 5000 } = {}) {
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-length")) {
      headers = { ...headers, "content-length": String(Buffer.byteLength(body)) };
    }
    return new Promise((resolve) => {
      const req = http.request(
        { host: "127.0.0.1", port: this.port, method, path, headers, agent: false },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const buf = Buffer.concat(chunks);
            resolve({ status: res.statusCode, headers: res.headers, body: buf, text: buf.toString("utf8") });
          });
          res.on("error", (error) => resolve({ error }));
        },
      );
      req.setTimeout(timeout, () => req.destroy(new Error(`request timed out after ${timeout} ms`)));
      req.on("error", (error) => resolve({ error }));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  get(path, opts) {
    return this.request("GET", path, opts);
  }

  post(path, body, opts = {}) {
    return this.request("POST", path, { ...opts, body });
  }

  /** Open a polling session; resolves to `{ sid, handshake, response }`. */
  async handshake(extra = "") {
    const response = await this.get(this.path(`EIO=4&transport=polling${extra}`));
    assert.equal(response.status, 200, `handshake failed: ${response.status} ${response.text}`);
    assert.equal(response.text[0], "0", `handshake body should start with 0: ${response.text}`);
    const handshake = JSON.parse(response.text.slice(1));
    return { sid: handshake.sid, handshake, response };
  }

  /** Long-poll GET for `sid`. */
  poll(sid, opts) {
    return this.get(this.pollingPath(sid), opts);
  }

  /** POST `body` for `sid`. */
  send(sid, body, opts) {
    return this.post(this.pollingPath(sid), body, opts);
  }

  /** POST `body` and assert the reference answer `200 ok`. */
  async sendOk(sid, body) {
    const res = await this.send(sid, body);
    assert.equal(res.status, 200, `POST ${JSON.stringify(body)} -> ${res.status} ${res.text}`);
    assert.equal(res.text, "ok");
    return res;
  }

  /** Open a WebSocket (the `ws` client) to `/engine.io/?<query>`, tracked for cleanup. */
  ws(query = "EIO=4&transport=websocket", opts = {}) {
    const sock = new WsClient(`${this.wsUrl}${this.path(query)}`, opts);
    this.openSockets.add(sock);
    sock.closed.then(() => this.openSockets.delete(sock));
    return sock;
  }

  /** Open a new WebSocket-only session and consume its open packet. */
  async wsSession(extra = "", opts = {}) {
    const sock = this.ws(`EIO=4&transport=websocket${extra}`, opts);
    const open = await sock.nextText();
    assert.equal(open[0], "0", `first frame should be the open packet: ${open}`);
    sock.handshake = JSON.parse(open.slice(1));
    sock.sid = sock.handshake.sid;
    return sock;
  }

  /**
   * Send raw bytes on a fresh TCP connection and collect everything the server writes until it
   * closes the connection or `waitMs` passes. Resolves to `{ data (latin1 string), closed }`.
   */
  raw(bytes, waitMs = 1000) {
    return new Promise((resolve) => {
      const sock = net.connect(this.port, "127.0.0.1");
      let data = "";
      let done = false;
      const finish = (closed) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        resolve({ data, closed });
      };
      const timer = setTimeout(() => finish(false), waitMs);
      sock.on("data", (d) => (data += d.toString("latin1")));
      sock.on("close", () => finish(true));
      sock.on("error", () => {});
      sock.write(bytes);
    });
  }

  /** A raw HTTP/1.1 WebSocket upgrade request for `path`. */
  static upgradeRequest(path) {
    return (
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`
    );
  }

  /**
   * The server still serves new clients: a fresh polling session echoes a message and a fresh
   * WebSocket session echoes a message.
   */
  async assertHealthy() {
    const { sid } = await this.handshake();
    await this.sendOk(sid, "4still-alive");
    const res = await this.poll(sid);
    assert.equal(res.status, 200);
    assert.equal(res.text, "4still-alive");
    await this.sendOk(sid, "1");

    const sock = await this.wsSession();
    sock.send("4ws-still-alive");
    assert.equal(await sock.nextText(), "4ws-still-alive");
    sock.close();
    await sock.closed;
  }

  /** Close every WebSocket still open and stop the server. */
  async stop() {
    for (const s of this.openSockets) s.terminate();
    await this.server.stop();
  }
}

/**
 * A `ws` client that queues every frame so tests can await them one by one.
 * Frames are `{ binary: boolean, data: Buffer }`; `closed` resolves to `{ code, reason }`.
 */
export class WsClient {
  constructor(url, opts = {}) {
    this.url = url;
    this.queue = [];
    this.waiters = [];
    this.errors = [];
    this.unexpectedResponse = null;
    this.opened = false;
    this.socket = new WebSocket(url, { perMessageDeflate: false, ...opts });
    this.open = new Promise((resolve, reject) => {
      this.socket.once("open", () => {
        this.opened = true;
        resolve();
      });
      this.socket.once("close", () => reject(new Error(`WebSocket ${url} closed before opening`)));
    });
    this.open.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.socket.once("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.reject(new Error(`WebSocket closed (${code}) while waiting for a frame`));
      });
    });
    this.socket.on("error", (e) => this.errors.push(e));
    this.socket.on("unexpected-response", (req, res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        this.unexpectedResponse = { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() };
      });
      req.destroy();
    });
    this.socket.on("message", (data, isBinary) => {
      const frame = { binary: isBinary, data: Buffer.isBuffer(data) ? data : Buffer.concat(data) };
      const w = this.waiters.shift();
      if (w) w.resolve(frame);
      else this.queue.push(frame);
    });
  }

  /** The next frame, or reject after `ms`. */
  next(ms = 2000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closeInfo) return Promise.reject(new Error(`WebSocket already closed (${this.closeInfo.code})`));
    let entry;
    const p = new Promise((resolve, reject) => {
      entry = { resolve, reject };
      this.waiters.push(entry);
    });
    return withTimeout(p, ms, `a frame on ${this.url}`).catch((e) => {
      const i = this.waiters.indexOf(entry);
      if (i >= 0) this.waiters.splice(i, 1);
      throw e;
    });
  }

  async nextText(ms) {
    const f = await this.next(ms);
    assert.equal(f.binary, false, `expected a text frame, got binary ${f.data.toString("hex")}`);
    return f.data.toString("utf8");
  }

  async nextBinary(ms) {
    const f = await this.next(ms);
    assert.equal(f.binary, true, `expected a binary frame, got text ${f.data.toString()}`);
    return f.data;
  }

  /** Resolves to the close info, or rejects after `ms`. */
  waitClose(ms = 2000) {
    return withTimeout(this.closed, ms, `close of ${this.url}`);
  }

  send(data, opts) {
    this.socket.send(data, opts);
  }

  /** Write raw bytes on the underlying TCP socket (for hand-made frames). */
  writeRaw(bytes) {
    this.socket._socket.write(bytes);
  }

  close() {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close();
    }
  }

  terminate() {
    this.socket.terminate();
  }
}

/** A masked client WebSocket frame (FIN set) with the given opcode and payload. */
export function maskedFrame(opcode, payload) {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const len = payload.length;
  let header;
  if (len < 126) {
    header = Buffer.from([0x80 | opcode, 0x80 | len]);
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i] ^ mask[i % 4];
  return Buffer.concat([header, mask, masked]);
}

/** Parse a polling body (`\x1e`-separated packets). */
export function splitPayload(text) {
  return text.split(SEP);
}

/** Assert an Engine.IO JSON error response. */
export function assertEngineError(res, status, code, message) {
  assert.ok(!res.error, `request failed: ${res.error}`);
  assert.equal(res.status, status, `expected ${status}, got ${res.status} ${res.text}`);
  assert.equal(res.headers["content-type"], "application/json");
  assert.equal(res.text, JSON.stringify({ code, message }));
}

export const UNKNOWN_SID = [400, 1, "Session ID unknown"];
export const BAD_REQUEST = [400, 3, "Bad request"];
export const TRANSPORT_UNKNOWN = [400, 0, "Transport unknown"];
export const BAD_HANDSHAKE_METHOD = [400, 2, "Bad handshake method"];
export const UNSUPPORTED_PROTOCOL = [400, 5, "Unsupported protocol version"];
