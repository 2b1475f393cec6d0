"""The threaded python-socketio Client (requests + websocket-client) against the conformance server.

Its HTTP and WebSocket stacks differ from the asyncio client's (aiohttp), so the basics are
checked with it too. It runs each incoming packet's handler on a thread of its own, so these
tests never depend on the order of two events.
"""

import queue
import threading

import pytest
import socketio

from conftest import TIMEOUT


class SyncClient:
    def __init__(self):
        self.sio = socketio.Client(reconnection=False)
        self.events = {}
        self.lock = threading.Lock()
        self.connect_errors = queue.Queue()
        self.disconnected = threading.Event()
        self.disconnect_reasons = []
        self.sio.on("*", self._on_event)
        self.sio.on("connect_error", self._on_connect_error, namespace="*")

        @self.sio.event
        def disconnect(reason):
            self.disconnect_reasons.append(reason)
            self.disconnected.set()

    def _queue(self, event):
        with self.lock:
            return self.events.setdefault(event, queue.Queue())

    def _on_event(self, event, *args):
        self._queue(event).put(list(args))
        if event == "question":
            return "answer", args[0] + 1

    def _on_connect_error(self, namespace, *data):
        self.connect_errors.put((namespace, list(data)))

    def next(self, event):
        try:
            return self._queue(event).get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no {event!r} event within {TIMEOUT}s") from None


@pytest.fixture
def sync_client():
    client = SyncClient()
    yield client
    if client.sio.connected:
        client.sio.disconnect()


def test_sync_client_connects_and_receives_auth_echo(server_url, sync_client, transports):
    sync_client.sio.connect(server_url, transports=transports, auth={"sync": [1, 2]},
                            wait_timeout=TIMEOUT)
    assert sync_client.next("auth") == [{"sync": [1, 2]}]
    assert sync_client.sio.transport() == (transports[0] if transports else "websocket")


def test_sync_client_message_echo_with_binary_and_nested_args(server_url, sync_client, transports):
    sync_client.sio.connect(server_url, transports=transports, wait_timeout=TIMEOUT)
    args = ["s", 1, b"\x00\x01\xfe", {"deep": {"bin": b"xyz", "list": [None, True]}}]
    sync_client.sio.emit("message", tuple(args))
    assert sync_client.next("message-back") == args


def test_sync_client_call_returns_ack_args(server_url, sync_client, transports):
    sync_client.sio.connect(server_url, transports=transports, wait_timeout=TIMEOUT)
    assert sync_client.sio.call("message-with-ack", ("a", b"\x02"), timeout=TIMEOUT) == ("a", b"\x02")
    sid = sync_client.sio.get_sid("/")
    assert sync_client.sio.call("join", "sync-room", timeout=TIMEOUT) == sorted([sid, "sync-room"])


def test_sync_client_handler_return_value_answers_ask(server_url, sync_client, transports):
    sync_client.sio.connect(server_url, transports=transports, wait_timeout=TIMEOUT)
    reply = sync_client.sio.call("ask", ("question", 41), timeout=TIMEOUT)
    assert reply == {"ok": True, "res": ["answer", 42]}


def test_sync_client_bad_token_gets_unauthorized_connect_error(server_url, sync_client, transports):
    with pytest.raises(socketio.exceptions.ConnectionError):
        sync_client.sio.connect(server_url, transports=transports, namespaces=["/private"],
                                auth={"token": "bad"}, wait_timeout=TIMEOUT)
    namespace, [data] = sync_client.connect_errors.get(timeout=TIMEOUT)
    assert namespace == "/private"
    assert data == {"message": "unauthorized", "data": {"reason": "bad token"}}


def test_sync_client_disconnect_me_fires_disconnect_handler(server_url, sync_client, transports):
    sync_client.sio.connect(server_url, transports=transports, wait_timeout=TIMEOUT)
    sync_client.sio.emit("disconnect-me")
    assert sync_client.disconnected.wait(TIMEOUT)
    assert sync_client.disconnect_reasons == [sync_client.sio.reason.SERVER_DISCONNECT]
    assert not sync_client.sio.connected
