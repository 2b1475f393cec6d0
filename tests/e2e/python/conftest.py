"""Fixtures for the end-to-end tests with the official Python client (python-socketio).

The server under test is the conformance server of shared/conformance/CONTRACT.md. Which
program runs is chosen by the environment, so the same tests can check the Node reference:

    FERRIO_SIO_CMD  command line, split on spaces
                    (default: <repo>/target/release/examples/conformance)

e.g. FERRIO_SIO_CMD="node /tmp/conformance/reference-server.mjs" python3 -m pytest -q
"""

import asyncio
import os
import socket
import subprocess
import threading
from collections import defaultdict
from pathlib import Path

import pytest
import pytest_asyncio
import socketio

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CMD = REPO_ROOT / "target" / "release" / "examples" / "conformance"

# How long any single wait for the server may take before the test fails.
TIMEOUT = 5.0

# (id, transports argument of connect()) — "upgrade" is the default: polling, then websocket.
TRANSPORTS = [("polling", ["polling"]), ("websocket", ["websocket"]), ("upgrade", None)]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """The conformance server, started with PORT set and stopped by stop()."""

    def __init__(self, env=None):
        cmd = os.environ.get("FERRIO_SIO_CMD", "").split() or [str(DEFAULT_CMD)]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = []
        full_env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn"), **(env or {})}
        full_env["PORT"] = str(self.port)
        try:
            self.proc = subprocess.Popen(
                cmd, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, errors="replace")
        except FileNotFoundError as exc:
            raise RuntimeError(
                f"cannot start {cmd!r}: build it with `cargo build --release --example "
                f"conformance` or set FERRIO_SIO_CMD") from exc
        ready = threading.Event()

        def pump():
            # Keeps draining the pipe for the whole life of the server.
            for line in self.proc.stdout:
                self.output.append(line)
                if "listening on" in line:
                    ready.set()
            ready.set()  # exited: wake the waiter, which then sees the exit code

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(20) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(
                f"{' '.join(cmd)} did not print 'listening on' (exit code "
                f"{self.proc.returncode}):\n{''.join(self.output)}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="session")
def server_url():
    """The shared conformance server (no recovery) for the whole session."""
    server = ServerProcess()
    yield server.url
    server.stop()


@pytest.fixture
def fresh_server_url():
    """A conformance server of its own, for tests that count every connected socket."""
    server = ServerProcess()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def load_server_url():
    """A conformance server with the benchmarks' heartbeat (25 s / 20 s) for the load tests.

    With the default 300 ms / 200 ms heartbeat, a Python event loop busy with a thousand
    events can answer a ping too late, and the server then rightly drops the connection.
    """
    server = ServerProcess({"PING_INTERVAL_MS": "25000", "PING_TIMEOUT_MS": "20000"})
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def recovery_server_url():
    """A conformance server with connection state recovery (RECOVERY_MS=5000)."""
    server = ServerProcess({"RECOVERY_MS": "5000"})
    yield server.url
    server.stop()


@pytest.fixture(params=[t for _, t in TRANSPORTS], ids=[i for i, _ in TRANSPORTS])
def transports(request):
    return request.param


class Client:
    """A python-socketio AsyncClient that records everything it receives.

    Every event, in every namespace, lands in a queue keyed by (namespace, event) as the list
    of its arguments; `responders[(namespace, event)]` (or `responders[event]` for "/")
    computes the value a handler returns, which the client sends back as the ack.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("reconnection", False)
        self.sio = socketio.AsyncClient(**kwargs)
        self.queues = defaultdict(asyncio.Queue)
        self.responders = {}
        self.connect_errors = defaultdict(asyncio.Queue)
        self.disconnects = defaultdict(asyncio.Queue)
        self.sio.on("*", self._on_event, namespace="*")
        self.sio.on("connect_error", self._on_connect_error, namespace="*")
        self.sio.on("disconnect", self._on_disconnect, namespace="*")

    def _on_event(self, event, namespace, *args):
        self.queues[(namespace, event)].put_nowait(list(args))
        responder = self.responders.get((namespace, event))
        if responder is None and namespace == "/":
            responder = self.responders.get(event)
        return responder(*args) if responder else None

    def _on_connect_error(self, namespace, *data):
        self.connect_errors[namespace].put_nowait(list(data))

    def _on_disconnect(self, namespace, *reason):
        self.disconnects[namespace].put_nowait(list(reason))

    async def connect(self, url, transports=None, namespaces=("/",), **kwargs):
        await self.sio.connect(url, transports=transports, namespaces=list(namespaces),
                               wait_timeout=TIMEOUT, **kwargs)
        return self

    async def next(self, event, namespace="/", timeout=TIMEOUT):
        """The arguments of the next `event` received in `namespace`."""
        try:
            return await asyncio.wait_for(self.queues[(namespace, event)].get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no {event!r} event in {namespace} within {timeout}s ({self.state()})") from None

    def state(self):
        """What the client knows of its connection, for failure messages."""
        disconnects = {ns: list(q._queue) for ns, q in self.disconnects.items() if not q.empty()}
        return (f"connected={self.sio.connected} eio={self.sio.eio.state} "
                f"transport={self.sio.eio.current_transport} disconnects={disconnects}")

    def pending(self, event, namespace="/"):
        """Events of this name received but not consumed by next()."""
        q = self.queues[(namespace, event)]
        items = []
        while not q.empty():
            items.append(q.get_nowait())
        return items

    async def call(self, event, *args, namespace="/", timeout=TIMEOUT):
        """Emits `event` with `args` and returns the ack's arguments as a list."""
        result = []

        def callback(*ack_args):
            result.append(list(ack_args))
            done.set()

        done = asyncio.Event()
        await self.sio.emit(event, tuple(args), namespace=namespace, callback=callback)
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no ack for {event!r} within {timeout}s ({self.state()})") from None
        return result[0]

    async def emit(self, event, *args, namespace="/"):
        await self.sio.emit(event, tuple(args), namespace=namespace)

    async def sync(self, namespace="/"):
        """A round trip: every packet the server sent before answering has been handled."""
        assert await self.call("message-with-ack", "sync", namespace=namespace) == ["sync"]

    async def close(self):
        if self.sio.connected or self.sio.eio.state == "connected":
            await self.sio.disconnect()
        else:
            await self.sio.shutdown()


@pytest_asyncio.fixture
async def make_client():
    """Factory of recording clients; all of them are disconnected after the test."""
    clients = []

    def factory(**kwargs):
        client = Client(**kwargs)
        clients.append(client)
        return client

    yield factory
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
