"""Connection state recovery (RECOVERY_MS set) seen from python-socketio's AsyncClient.

python-socketio does not implement recovery itself, but the protocol is open to it: the
server's CONNECT reply carries a `pid`, every broadcast event carries an offset as its last
argument, and a client that sends `{pid, offset}` in its auth on reconnection gets its sid,
its rooms and the broadcasts it missed back. The tests do exactly what socket.io-client does.
"""

import asyncio

from conftest import TIMEOUT


def track_recovery(client):
    """Records the CONNECT reply data of "/" and sends {pid, offset} once they are known."""
    state = {"connects": [], "pid": None, "offset": None}
    original = client.sio._handle_connect

    async def handle_connect(namespace, data):
        if (namespace or "/") == "/":
            state["connects"].append(data)
            state["pid"] = (data or {}).get("pid")
        return await original(namespace, data)

    client.sio._handle_connect = handle_connect

    def auth():
        if state["pid"] and state["offset"]:
            return {"pid": state["pid"], "offset": state["offset"]}
        return {}

    return state, auth


async def drop_transport(client):
    """Closes the Engine.IO connection without a Socket.IO DISCONNECT (a recoverable loss)."""
    await client.sio.eio.disconnect()
    await asyncio.wait_for(client.disconnects["/"].get(), TIMEOUT)


async def wait_for_count(client, expected):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (count := (await client.call("count"))[0]) != expected and loop.time() < deadline:
        await asyncio.sleep(0.02)
    assert count == expected


async def test_connect_reply_carries_pid_and_every_event_carries_an_offset(
        recovery_server_url, make_client, transports):
    client = make_client()
    state, auth = track_recovery(client)
    await client.connect(recovery_server_url, transports, auth=auth)
    [data] = state["connects"]
    assert data["sid"] == client.sio.get_sid("/")
    assert isinstance(data["pid"], str) and data["pid"]
    # With recovery on, the reference appends an offset to every event it sends without an
    # ack: the connection-time emit, direct emits and room broadcasts alike.
    auth_event = await client.next("auth")
    await client.emit("message", "direct", b"\x01")
    direct = await client.next("message-back")
    await client.call("join", "offsets")
    await client.emit("to-room", "offsets", "room-event", "x")
    room_event = await client.next("room-event")
    assert auth_event[:-1] == [{}]
    assert direct[:-1] == ["direct", b"\x01"]
    assert room_event[:-1] == ["x"]
    offsets = [auth_event[-1], direct[-1], room_event[-1]]
    assert all(isinstance(o, str) and o for o in offsets)
    assert len(set(offsets)) == 3
    # acks carry no offset
    assert await client.call("message-with-ack", "a", 1) == ["a", 1]


async def test_reconnecting_with_pid_and_offset_restores_sid_rooms_and_missed_events(
        recovery_server_url, make_client, transports):
    client = make_client()
    state, auth = track_recovery(client)
    await client.connect(recovery_server_url, transports, auth=auth)
    sid = client.sio.get_sid("/")
    room = f"recover-{sid}"
    await client.call("join", room)
    other = await make_client().connect(recovery_server_url, transports)
    await other.emit("to-room", room, "room-event", "before")
    before, state["offset"] = await client.next("room-event")
    assert before == "before"

    await drop_transport(client)
    await wait_for_count(other, 1)
    await other.emit("to-room", room, "room-event", "missed-1")
    await other.emit("to-room", room, "room-event", "missed-2", b"\x00\xff")
    await other.emit("to-room", "some-other-room", "room-event", "not for us")

    await client.connect(recovery_server_url, transports, auth=auth)
    assert client.sio.get_sid("/") == sid
    assert state["connects"][-1]["pid"] == state["pid"]
    missed = [await client.next("room-event") for _ in range(2)]
    assert [m[:-1] for m in missed] == [["missed-1"], ["missed-2", b"\x00\xff"]]
    assert await client.call("join", "probe") == [sorted([sid, room, "probe"])]
    await client.sync()
    assert client.pending("room-event") == []


async def test_reconnecting_with_unknown_pid_starts_a_new_session(
        recovery_server_url, make_client, transports):
    client = await make_client().connect(
        recovery_server_url, transports, auth={"pid": "no-such-pid", "offset": "no-such-offset"})
    [auth, offset] = await client.next("auth")
    assert auth == {"pid": "no-such-pid", "offset": "no-such-offset"}
    assert isinstance(offset, str)
    sid = client.sio.get_sid("/")
    assert sid
    assert await client.call("join", "fresh") == [sorted([sid, "fresh"])]
