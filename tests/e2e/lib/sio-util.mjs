// Helpers for the Socket.IO black-box tests (tests/e2e/socketio/).
//
// - SETUPS: the three transport setups every client-level test runs under.
// - Inbox / ClientPool: socket.io-client sockets whose incoming events are recorded from the
//   very start, so a test can await an event that may already have arrived (e.g. "auth").
// - openRaw(): raw Engine.IO sessions (WebSocket, HTTP long-polling, or polling upgraded to
//   WebSocket by hand) for byte-exact protocol checks.
import { io, Manager } from "socket.io-client";
import WebSocket from "ws";

export { io, Manager };

/** Transport setups for socket.io-client. */
export const SETUPS = [
  { name: "polling", opts: { transports: ["polling"] }, transport: "polling" },
  { name: "websocket", opts: { transports: ["websocket"] }, transport: "websocket" },
  // the client's default: HTTP long-polling first, then upgrade to WebSocket
  { name: "polling->websocket upgrade", opts: {}, transport: "websocket", upgrade: true },
];

/** Raw Engine.IO setups. */
export const RAW_MODES = ["websocket", "polling", "upgrade"];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects with a readable message if `promise` does not settle within `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** Resolves with the argument list of the next `event` on an EventEmitter-like object. */
export function once(emitter, event, ms = 3000) {
  let handler;
  const p = new Promise((resolve) => {
    handler = (...args) => resolve(args);
    emitter.once(event, handler);
  });
  return withTimeout(p, ms, `event "${event}"`).catch((err) => {
    emitter.off?.(event, handler);
    throw err;
  });
}

/** Polls `cond` (async allowed) every `every` ms until it is truthy. */
export async function until(cond, ms = 3000, what = "condition", every = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Converts Buffer / ArrayBuffer / typed arrays (recursively) to Buffer, for deepEqual. */
export function normalizeBinary(v) {
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(normalizeBinary);
  if (v && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = normalizeBinary(x);
    return o;
  }
  return v;
}

/** Records every incoming event of a socket.io-client socket (ack callbacks included as last arg). */
export class Inbox {
  constructor(socket) {
    this.socket = socket;
    this.queues = new Map(); // event -> unconsumed arg lists
    this.log = []; // [event, ...args] in arrival order (never consumed)
    this.waiters = [];
    socket.onAny((event, ...args) => {
      this.log.push([event, ...args]);
      const w = this.waiters.findIndex((x) => x.event === event);
      if (w >= 0) {
        const [waiter] = this.waiters.splice(w, 1);
        waiter.resolve(args);
      } else {
        if (!this.queues.has(event)) this.queues.set(event, []);
        this.queues.get(event).push(args);
      }
    });
  }

  /** Arguments of the next (unconsumed) `event`. */
  next(event, ms = 3000) {
    const q = this.queues.get(event);
    if (q && q.length) return Promise.resolve(q.shift());
    let waiter;
    const p = new Promise((resolve) => {
      waiter = { event, resolve };
      this.waiters.push(waiter);
    });
    return withTimeout(p, ms, `event "${event}" on ${this.socket.nsp}`).catch((err) => {
      this.waiters = this.waiters.filter((x) => x !== waiter);
      throw err;
    });
  }

  /** Argument lists of the next `n` `event`s. */
  async take(event, n, ms = 5000) {
    const out = [];
    const deadline = Date.now() + ms;
    while (out.length < n) out.push(await this.next(event, Math.max(1, deadline - Date.now())));
    return out;
  }

  /** Every `event` seen so far (consumed or not). */
  seen(event) {
    return this.log.filter(([e]) => e === event).map(([, ...args]) => args);
  }
}

/** Waits for "connect" (or rejects with the connect_error). */
export function awaitConnect(socket, ms = 4000) {
  if (socket.connected) return Promise.resolve();
  let onConnect, onError;
  const p = new Promise((resolve, reject) => {
    onConnect = () => resolve();
    onError = (err) => reject(err);
    socket.once("connect", onConnect);
    socket.once("connect_error", onError);
  });
  return withTimeout(p, ms, `connect of ${socket.nsp}`).finally(() => {
    socket.off("connect", onConnect);
    socket.off("connect_error", onError);
  });
}

/** Waits until the engine of `socket` runs on WebSocket (after a polling->websocket upgrade). */
export async function awaitUpgrade(socket, ms = 4000) {
  const engine = socket.io.engine;
  if (engine.transport && engine.transport.name === "websocket") return;
  await once(engine, "upgrade", ms);
}

/** Creates and tracks socket.io-client sockets; `closeAll()` in an after/afterEach hook. */
export class ClientPool {
  constructor(getUrl) {
    this.getUrl = getUrl; // () => base url, read lazily (the server starts in before())
    this.sockets = new Set();
    this.managers = new Set();
  }

  /** A socket that is not connected yet (autoConnect false) plus its inbox. */
  create(nsp = "/", setup = SETUPS[1], opts = {}) {
    const socket = io(this.getUrl() + nsp, {
      forceNew: true,
      reconnection: false,
      autoConnect: false,
      ...setup.opts,
      ...opts,
    });
    this.sockets.add(socket);
    socket.inbox = new Inbox(socket);
    return socket;
  }

  /** A connected socket (and upgraded, for the upgrade setup) with `socket.inbox`. */
  async connect(nsp = "/", setup = SETUPS[1], opts = {}) {
    const socket = this.create(nsp, setup, opts);
    socket.connect();
    await awaitConnect(socket);
    if (setup.upgrade) await awaitUpgrade(socket);
    return socket;
  }

  manager(setup = SETUPS[1], opts = {}) {
    const m = new Manager(this.getUrl(), { reconnection: false, autoConnect: false, ...setup.opts, ...opts });
    this.managers.add(m);
    return m;
  }

  closeAll() {
    for (const s of this.sockets) {
      s.io.opts.reconnection = false;
      s.io.reconnection(false);
      s.disconnect();
    }
    for (const m of this.managers) {
      m.reconnection(false);
      m._close?.();
      m.engine?.close();
    }
    this.sockets.clear();
    this.managers.clear();
  }
}

/** A round trip through `message` → `message-back`: all earlier server output has been delivered. */
export async function roundTrip(socket, tag = "marker-" + Math.random().toString(36).slice(2)) {
  socket.emit("message", tag);
  for (;;) {
    const args = await socket.inbox.next("message-back", 3000);
    if (args[0] === tag) return;
  }
}

// ---------------------------------------------------------------------------------------------
// Raw Engine.IO sessions

function decodeWsData(data, isBinary) {
  return isBinary ? Buffer.from(data) : data.toString();
}

/** Splits a long-polling payload into packets (binary `b<base64>` packets become Buffers). */
export function decodePayload(body) {
  if (body === "") return [];
  return body.split("\x1e").map((p) => (p[0] === "b" ? Buffer.from(p.slice(1), "base64") : p));
}

export function encodePayload(packets) {
  return packets.map((p) => (typeof p === "string" ? p : "b" + Buffer.from(p).toString("base64"))).join("\x1e");
}

/**
 * Common interface of the raw sessions:
 *   handshake             the parsed open packet
 *   sid                   Engine.IO sid
 *   send(...packets)      Engine.IO packets: strings with their type digit ("40", "42[...]") or
 *                         Buffers (binary messages). Over polling they go in one POST body.
 *   next(ms, {pings})     next received packet (string or Buffer); pings are answered with "3"
 *                         automatically (if autoPong) and skipped unless pings: true
 *   nextMessage(ms)       next Engine.IO message packet without the "4" prefix (Buffers as is)
 *   closed                promise resolved when the server closes the connection
 *   close()               closes it from the client side
 */
class RawBase {
  constructor({ autoPong = true } = {}) {
    this.autoPong = autoPong;
    this.queue = [];
    this.waiters = [];
    this.isClosed = false;
    this.closed = new Promise((r) => (this._resolveClosed = r));
  }

  _push(pkt) {
    if (pkt === "2" && this.autoPong) this._pong();
    const i = this.waiters.findIndex((w) => w.pings || pkt !== "2");
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w.resolve(pkt);
    } else {
      this.queue.push(pkt);
    }
  }

  _markClosed(why) {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = why;
    this._resolveClosed(why);
    for (const w of this.waiters) w.reject(new Error(`connection closed (${why}) while waiting for a packet`));
    this.waiters = [];
  }

  next(ms = 3000, { pings = false } = {}) {
    const i = this.queue.findIndex((p) => pings || p !== "2");
    if (i >= 0) {
      const [p] = this.queue.splice(i, 1);
      if (!pings) this.queue = this.queue.filter((x) => x !== "2");
      return Promise.resolve(p);
    }
    if (!pings) this.queue = [];
    if (this.isClosed) return Promise.reject(new Error(`connection closed (${this.closeReason})`));
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = { pings, resolve, reject };
      this.waiters.push(waiter);
    });
    return withTimeout(p, ms, "a packet").catch((err) => {
      this.waiters = this.waiters.filter((x) => x !== waiter);
      throw err;
    });
  }

  /** Next Engine.IO "message" packet: strings lose their "4" prefix, binary messages as Buffers. */
  async nextMessage(ms = 3000) {
    const p = await this.next(ms);
    if (typeof p === "string") {
      if (p[0] !== "4") throw new Error(`expected an Engine.IO message, got ${JSON.stringify(p)}`);
      return p.slice(1);
    }
    return p;
  }

  /** The next `n` packets (pings skipped). */
  async take(n, ms = 3000) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await this.next(ms));
    return out;
  }

  waitClosed(ms = 3000) {
    return withTimeout(this.closed, ms, "the server to close the connection");
  }

  /** Opens a namespace: sends the CONNECT, returns the reply (without the "4" prefix). */
  async connectNsp(nsp = "/", auth) {
    const prefix = nsp === "/" ? "0" : `0${nsp},`;
    this.send("4" + prefix + (auth === undefined ? "" : JSON.stringify(auth)));
    return this.nextMessage();
  }
}

export class RawWs extends RawBase {
  /** `ws` an open-or-opening WebSocket. */
  constructor(ws, opts) {
    super(opts);
    this.ws = ws;
    ws.on("message", (data, isBinary) => this._push(decodeWsData(data, isBinary)));
    ws.on("close", () => this._markClosed("websocket closed"));
    ws.on("error", () => this._markClosed("websocket error"));
  }

  static async open(base, opts = {}) {
    const url = base.replace(/^http/, "ws") + `/socket.io/?EIO=4&transport=websocket${opts.query ?? ""}`;
    const raw = new RawWs(new WebSocket(url), opts);
    const open = await raw.next(3000, { pings: true });
    if (typeof open !== "string" || open[0] !== "0") throw new Error(`bad open packet ${open}`);
    raw.handshake = JSON.parse(open.slice(1));
    raw.sid = raw.handshake.sid;
    return raw;
  }

  _pong() {
    this.send("3");
  }

  send(...packets) {
    for (const p of packets) if (this.ws.readyState === WebSocket.OPEN) this.ws.send(p, { binary: typeof p !== "string" });
  }

  close() {
    this.ws.close();
  }
}

export class RawPolling extends RawBase {
  constructor(base, opts) {
    super(opts);
    this.base = base;
    this.posting = Promise.resolve();
    this.abort = new AbortController();
  }

  url() {
    return `${this.base}/socket.io/?EIO=4&transport=polling&sid=${this.sid}`;
  }

  static async open(base, opts = {}) {
    const raw = new RawPolling(base, opts);
    const res = await fetch(`${base}/socket.io/?EIO=4&transport=polling${opts.query ?? ""}`);
    const body = await res.text();
    if (res.status !== 200 || body[0] !== "0") throw new Error(`handshake failed: ${res.status} ${body}`);
    raw.handshake = JSON.parse(body.slice(1));
    raw.sid = raw.handshake.sid;
    if (opts.poll !== false) raw._pollLoop();
    return raw;
  }

  async _pollLoop() {
    while (!this.isClosed) {
      let res, body;
      try {
        res = await fetch(this.url(), { signal: this.abort.signal });
        body = await res.text();
      } catch (err) {
        this._markClosed("poll failed: " + err.message);
        return;
      }
      if (res.status !== 200) {
        this._markClosed(`poll answered ${res.status} ${body}`);
        return;
      }
      for (const pkt of decodePayload(body)) {
        if (pkt === "1") {
          this._markClosed("close packet");
          return;
        }
        if (pkt === "6") continue; // noop
        this._push(pkt);
      }
    }
  }

  _pong() {
    this.send("3");
  }

  /** POSTs the packets in one body; returns the response {status, body}. Posts are serialized. */
  post(...packets) {
    const p = this.posting.then(async () => {
      try {
        const res = await fetch(this.url(), {
          method: "POST",
          body: encodePayload(packets),
          headers: { "content-type": "text/plain;charset=UTF-8" },
        });
        return { status: res.status, body: await res.text() };
      } catch (err) {
        return { status: 0, body: err.message };
      }
    });
    this.posting = p;
    return p;
  }

  send(...packets) {
    if (!this.isClosed) this.post(...packets);
  }

  close() {
    if (!this.isClosed) this.post("1");
    this._markClosed("closed by client");
    setTimeout(() => this.abort.abort(), 50);
  }
}

/** Opens a polling session and upgrades it to WebSocket by hand (2probe / 3probe / 5). */
export async function openUpgraded(base, opts = {}) {
  const polling = await RawPolling.open(base, { ...opts, poll: false });
  const url = base.replace(/^http/, "ws") + `/socket.io/?EIO=4&transport=websocket&sid=${polling.sid}`;
  const ws = new WebSocket(url);
  const raw = new RawWs(ws, opts);
  await once(ws, "open");
  raw.send("2probe");
  const probe = await raw.next(3000, { pings: true });
  if (probe !== "3probe") throw new Error(`expected 3probe, got ${probe}`);
  raw.send("5");
  raw.handshake = polling.handshake;
  raw.sid = polling.sid;
  return raw;
}

/** Opens a raw session in one of RAW_MODES. */
export function openRaw(mode, base, opts = {}) {
  if (mode === "websocket") return RawWs.open(base, opts);
  if (mode === "polling") return RawPolling.open(base, opts);
  if (mode === "upgrade") return openUpgraded(base, opts);
  throw new Error(`unknown raw mode ${mode}`);
}

/** Tracks raw sessions for cleanup. */
export class RawPool {
  constructor(getUrl) {
    this.getUrl = getUrl;
    this.sessions = new Set();
  }
  async open(mode, opts) {
    const s = await openRaw(mode, this.getUrl(), opts);
    this.sessions.add(s);
    return s;
  }
  closeAll() {
    for (const s of this.sessions) s.close();
    this.sessions.clear();
  }
}
