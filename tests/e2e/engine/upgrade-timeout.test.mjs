// Engine.IO upgradeTimeout: an upgrade that is probed (2probe / 3probe) but never completed
// (no `5`) is abandoned after upgradeTimeout (10 s, the reference's default; the echo servers of
// CONTRACT.md do not let it be shortened): the WebSocket is closed and the session goes on over
// polling, heartbeat and messages included, and can still be upgraded afterwards.
//
// Checked against the Node reference:
//   FERRIO_ENGINE_CMD="node /tmp/conformance/reference-engine-echo.mjs" node --test engine/upgrade-timeout.test.mjs
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEngine, sleep, withTimeout, SEP } from "../lib/engine-util.mjs";

const UPGRADE_TIMEOUT = 10_000;

let t;
before(async () => {
  t = await startEngine();
});
after(async () => {
  await t?.stop();
});

/**
 * Keeps a polling session alive the way a client does: one GET at a time, a pong POSTed for
 * every ping. `packets` collects every other packet received (noops included), `failure` is
 * set if a GET fails or the session is closed.
 */
function keepPolling(sid) {
  const state = { packets: [], pings: 0, failure: null, stopped: false };
  state.done = (async () => {
    while (!state.stopped) {
      const res = await t.poll(sid, { timeout: 5000 });
      if (res.error || res.status !== 200) {
        state.failure = res.error ? String(res.error) : `GET ${res.status} ${res.text}`;
        return;
      }
      for (const packet of res.text.split(SEP)) {
        if (packet === "2") {
          state.pings++;
          const pong = await t.send(sid, "3");
          if (pong.status !== 200) {
            state.failure = `pong POST ${pong.status} ${pong.text}`;
            return;
          }
        } else if (packet === "1") {
          if (!state.stopped) state.failure = "the session was closed";
          return;
        } else {
          state.packets.push(packet);
        }
      }
    }
  })();
  return state;
}

/** Waits until `state.packets` holds `packet`, then removes it. */
async function receive(state, packet, ms = 2000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const i = state.packets.indexOf(packet);
    if (i >= 0) {
      state.packets.splice(i, 1);
      return;
    }
    assert.equal(state.failure, null);
    await sleep(20);
  }
  assert.fail(`no ${JSON.stringify(packet)} over polling within ${ms} ms (got ${JSON.stringify(state.packets)})`);
}

describe("upgradeTimeout", () => {
  it("closes a probed WebSocket that never sends 5 after upgradeTimeout; the session keeps working over polling", async () => {
    const { sid, handshake } = await t.handshake();
    assert.deepEqual(handshake.upgrades, ["websocket"]);
    const polling = keepPolling(sid);

    const ws = t.ws(`EIO=4&transport=websocket&sid=${sid}`);
    await ws.open;
    const opened = Date.now();
    ws.send("2probe");
    assert.equal(await ws.nextText(), "3probe");

    // Halfway through, the session is still upgrading: polling carries the messages.
    await sleep(UPGRADE_TIMEOUT / 2);
    assert.equal(ws.closeInfo, undefined, "the WebSocket is still open before upgradeTimeout");
    await t.sendOk(sid, "4during");
    await receive(polling, "4during");

    const close = await withTimeout(ws.closed, UPGRADE_TIMEOUT + 3000, "the server closing the WebSocket");
    const elapsed = Date.now() - opened;
    assert.ok(elapsed >= UPGRADE_TIMEOUT - 250, `closed after ${elapsed} ms, before upgradeTimeout`);
    assert.ok(elapsed <= UPGRADE_TIMEOUT + 2000, `closed after ${elapsed} ms`);
    // The server closes the WebSocket with a close frame (ws' close() without a code: 1005 on
    // the client side), not by dropping the TCP connection (1006).
    assert.equal(close.code, 1005, `close code ${close.code} ${close.reason}`);
    assert.deepEqual(ws.queue, [], "nothing but 3probe came over the WebSocket");

    // The session is still open, on polling: messages and the heartbeat (pingInterval 300 ms,
    // pingTimeout 200 ms) go on.
    const pingsBefore = polling.pings;
    await t.sendOk(sid, "4after");
    await receive(polling, "4after");
    await sleep(1000);
    assert.equal(polling.failure, null);
    assert.ok(polling.pings >= pingsBefore + 2, `pings kept coming over polling (${pingsBefore} -> ${polling.pings})`);
    // One ping every 300 ms over ~11 s: about 37 (at least half of them, for a loaded machine).
    assert.ok(polling.pings >= 18, `${polling.pings} pings over ~11 s`);

    // The abandoned upgrade left no state behind: a new one completes.
    const again = t.ws(`EIO=4&transport=websocket&sid=${sid}`);
    await again.open;
    again.send("2probe");
    assert.equal(await again.nextText(), "3probe");
    // The pending GET is answered with a noop during the probe; poll no more, then upgrade.
    polling.stopped = true;
    await withTimeout(polling.done, 2000, "the pending GET to be answered during the probe");
    assert.equal(polling.failure, null);
    again.send("5");
    again.send("4upgraded");
    assert.equal(await again.nextText(), "4upgraded");

    again.close();
    await again.waitClose();
  });
});
