// Starts a server that implements ../../shared/conformance/CONTRACT.md and waits until it
// prints `listening on <PORT>`.
//
// Which program runs is chosen by environment variables, so the same tests can be pointed at the
// Node reference to check the tests themselves:
//   FERRIO_ENGINE_CMD  the Engine.IO echo server   (default: target/release/examples/engine_echo)
//   FERRIO_SIO_CMD     the Socket.IO conformance server (default: target/release/examples/conformance)
// e.g. FERRIO_ENGINE_CMD="node /tmp/conformance/reference-engine-echo.mjs".
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "..", "..", "..");

const defaults = {
  engine: path.join(repoRoot, "target", "release", "examples", "engine_echo"),
  socketio: path.join(repoRoot, "target", "release", "examples", "conformance"),
  // The examples of crates/ferrio/examples (no Node equivalent).
  chat: path.join(repoRoot, "target", "release", "examples", "chat"),
  axum: path.join(repoRoot, "target", "release", "examples", "axum"),
};
const overrides = { engine: "FERRIO_ENGINE_CMD", socketio: "FERRIO_SIO_CMD" };

/** The dist/ folder of the socket.io-client installed for these tests (the browser bundle). */
export const clientDist = path.join(repoRoot, "tests", "e2e", "node_modules", "socket.io-client", "dist");

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start a server of `kind` ("engine", "socketio", "chat" or "axum") with extra environment `env`.
 * Resolves to `{ port, url, proc, output, stop }` once the server prints `listening on`.
 */
export async function startServer(kind, env = {}) {
  const override = overrides[kind] && process.env[overrides[kind]];
  const cmd = override ? override.split(" ").filter(Boolean) : [defaults[kind]];
  const port = env.PORT ?? (await freePort());
  const proc = spawn(cmd[0], cmd.slice(1), {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn", ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  proc.stderr.on("data", (d) => (output += d));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd.join(" ")} did not start:\n${output}`)), 20000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd.join(" ")} exited with ${code}:\n${output}`));
    });
    proc.stdout.on("data", (d) => {
      output += d;
      if (output.includes("listening on")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const stop = () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once("exit", () => resolve());
      proc.kill("SIGKILL");
    });
  return { port, url: `http://127.0.0.1:${port}`, proc, get output() { return output; }, stop };
}
