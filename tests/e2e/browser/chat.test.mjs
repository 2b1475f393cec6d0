// The chat example (crates/ferrio/examples/chat) in a real browser: Debian's Chromium, headless,
// driven by playwright-core. Two pages join with nicknames, exchange messages, see the typing
// indicator and the leave notice; the page loads the official client bundle from Ferrio.
// A screenshot is saved to tests/e2e/artifacts/chat.png.
//
// CHROMIUM overrides the browser (default /usr/bin/chromium, installed by .ci/run).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { startServer, clientDist, repoRoot } from "../lib/server.mjs";

const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const args = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const artifacts = path.join(repoRoot, "tests", "e2e", "artifacts");
const TIMEOUT = 10_000;

let server;
let context;
let userDataDir;

before(async () => {
  server = await startServer("chat", { FERRIO_CLIENT_DIR: clientDist });
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ferrio-chromium-"));
  // playwright refuses `--user-data-dir` in `args`: a persistent context is the same flag.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    args,
    headless: true,
    viewport: { width: 900, height: 640 },
    timeout: 30_000,
  });
  context.setDefaultTimeout(TIMEOUT);
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

/** Waits until `selector`'s text content satisfies `want` (a string it contains, or a regexp). */
async function waitText(page, selector, want) {
  const spec = want instanceof RegExp ? { re: want.source } : { s: want };
  try {
    await page.waitForFunction(
      ([sel, { re, s }]) => {
        const text = document.querySelector(sel)?.textContent ?? "";
        return re !== undefined ? new RegExp(re).test(text) : text.includes(s);
      },
      [selector, spec],
      { timeout: TIMEOUT },
    );
  } catch (e) {
    const text = await page.locator(selector).textContent().catch(() => "?");
    throw new Error(`${selector} never showed ${want}; it shows ${JSON.stringify(text)}\n${e.message}`);
  }
}

/** Opens the chat in a new page and joins as `nickname`; resolves to the page. */
async function join(nickname, bundleResponses) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  page.on("response", (res) => {
    if (new URL(res.url()).pathname === "/socket.io/socket.io.js") bundleResponses.push(res);
  });
  page.errors = errors;
  await page.goto(server.url.replace("127.0.0.1", "localhost") + "/");
  await waitText(page, "#status", "connected");
  await page.fill("#nickname", nickname);
  await page.press("#nickname", "Enter");
  await waitText(page, "#messages", "Welcome to Ferrio chat");
  return page;
}

test("two people chat in the browser: join, messages, typing, leave", async () => {
  const bundle = [];
  const alice = await join("alice", bundle);
  await waitText(alice, "#online", "1 online");
  await waitText(alice, "#messages", "you are the only one here");

  // The official client came from Ferrio, compressed (Chromium accepts br).
  assert.ok(bundle.length >= 1, "the page did not load /socket.io/socket.io.js");
  assert.equal(bundle[0].status(), 200);
  const headers = await bundle[0].allHeaders();
  assert.equal(headers["etag"], '"4.8.4"');
  assert.equal(headers["content-encoding"], "br");
  assert.match(headers["content-type"], /^application\/javascript/);

  const bob = await join("bob", bundle);
  await waitText(bob, "#online", "2 online");
  await waitText(bob, "#messages", "there are 2 participants");
  await waitText(alice, "#messages", "bob joined");
  await waitText(alice, "#online", "2 online");

  // Typing shows on the other page, and goes away with the message.
  await alice.fill("#input", "hello bob");
  await waitText(bob, "#typing", "alice is typing…");
  await alice.press("#input", "Enter");
  await waitText(bob, "#messages", "alicehello bob");
  await waitText(bob, "#typing", /^$/);
  await waitText(alice, "#messages", "alicehello bob"); // your own message, shown locally

  await bob.fill("#input", "hi alice, Ferrio here too?");
  await bob.press("#input", "Enter");
  await waitText(alice, "#messages", "bobhi alice, Ferrio here too?");

  // The message is broadcast to everyone else: bob saw alice's once, and his own once.
  const bobMessages = await bob.locator("#messages .msg").allTextContents();
  assert.deepEqual(bobMessages, ["alicehello bob", "bobhi alice, Ferrio here too?"]);

  // Typing without sending stops after a pause. The indicator shows for ~600 ms, which a
  // loaded machine can render and clear between two polls: record every text it takes.
  await alice.evaluate(() => {
    const el = document.querySelector("#typing");
    window.typingShown = [];
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) window.typingShown.push(n.textContent);
    }).observe(el, { childList: true, characterData: true, subtree: true });
  });
  await bob.fill("#input", "brb");
  try {
    await alice.waitForFunction(() => window.typingShown.includes("bob is typing…"), null, { timeout: TIMEOUT });
  } catch (e) {
    const shown = await alice.evaluate(() => window.typingShown);
    throw new Error(`#typing never showed "bob is typing…"; it showed ${JSON.stringify(shown)}\n${e.message}`);
  }
  await waitText(alice, "#typing", /^$/);

  await alice.fill("#input", "see you");
  await alice.press("#input", "Enter");
  await waitText(bob, "#messages", "alicesee you");

  // Bob leaves: alice gets the notice and the count.
  await bob.close();
  await waitText(alice, "#messages", "bob left");
  await waitText(alice, "#online", "1 online");

  await alice.fill("#input", "anyone?");
  fs.mkdirSync(artifacts, { recursive: true });
  await alice.screenshot({ path: path.join(artifacts, "chat.png") });

  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
  await alice.close();
});
