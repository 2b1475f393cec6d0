"""The conformance server (shared/conformance/CONTRACT.md) driven by python-socketio's AsyncClient."""

import asyncio

import engineio
import pytest
import socketio

from conftest import TIMEOUT

AUTH = {"user": "alice", "n": 7, "nested": {"list": [1, "two", None, True], "empty": {}}}

# Arguments with binary attachments at several depths, nested objects and every JSON type.
RICH_ARGS = [
    "hello",
    42,
    -1.5,
    True,
    None,
    b"\x00\x01\x02\xff",
    {"nested": {"bin": b"abc", "list": [1, {"deep": b"\x7f" * 3}], "text": "é ✓"}},
    [1, [2, [3, b""]]],
]


# --- connecting to "/" ---------------------------------------------------------------------


async def test_connect_receives_auth_echo(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports, auth=AUTH)
    assert await client.next("auth") == [AUTH]
    assert client.sio.connected
    assert client.sio.get_sid("/")
    assert client.sio.get_sid("/") != client.sio.eio.sid  # Socket.IO v5: sid per namespace


async def test_connect_without_auth_echoes_empty_object(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    assert await client.next("auth") == [{}]


async def test_transport_is_the_requested_one_or_upgraded_to_websocket(
        server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    await client.sync()
    expected = transports[0] if transports else "websocket"
    assert client.sio.transport() == expected


async def test_heartbeat_pings_are_answered_and_connection_stays_open(
        server_url, make_client, transports):
    client = make_client()
    pings = asyncio.Queue()
    receive = client.sio.eio._receive_packet

    async def counting_receive(pkt):
        if pkt.packet_type == engineio.packet.PING:
            pings.put_nowait(pkt)
        return await receive(pkt)

    client.sio.eio._receive_packet = counting_receive
    await client.connect(server_url, transports)
    for _ in range(4):  # pingInterval is 300 ms: over a second of heartbeats
        await asyncio.wait_for(pings.get(), TIMEOUT)
    await client.sync()
    assert client.sio.connected
    assert client.disconnects["/"].empty()


# --- messages and acks ---------------------------------------------------------------------


async def test_message_is_echoed_with_binary_and_nested_args(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    await client.emit("message", *RICH_ARGS)
    assert await client.next("message-back") == RICH_ARGS


async def test_message_with_single_binary_arg_is_echoed(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    payload = bytes(range(256)) * 64
    await client.emit("message", payload)
    assert await client.next("message-back") == [payload]


async def test_message_with_ack_returns_all_args(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    assert await client.call("message-with-ack", *RICH_ARGS) == RICH_ARGS


async def test_call_returns_ack_value_like_python_socketio_does(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    sio = client.sio
    assert await sio.call("message-with-ack", "one", timeout=TIMEOUT) == "one"
    assert await sio.call("message-with-ack", ("a", 1, b"\x01"), timeout=TIMEOUT) == ("a", 1, b"\x01")
    assert await sio.call("message-with-ack", {"k": [b"\x02"]}, timeout=TIMEOUT) == {"k": [b"\x02"]}
    assert await sio.call("message-with-ack", timeout=TIMEOUT) is None  # ack() with no args


# --- rooms ---------------------------------------------------------------------------------


async def test_join_and_leave_ack_sorted_rooms_including_own_sid(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    sid = client.sio.get_sid("/")
    assert await client.call("join", "zeta") == [sorted([sid, "zeta"])]
    assert await client.call("join", "alpha") == [sorted([sid, "alpha", "zeta"])]
    assert await client.call("join", "alpha") == [sorted([sid, "alpha", "zeta"])]
    assert await client.call("leave", "zeta") == [sorted([sid, "alpha"])]
    assert await client.call("leave", "not-joined") == [sorted([sid, "alpha"])]
    assert await client.call("leave", "alpha") == [[sid]]


async def test_to_room_reaches_members_including_sender_only_if_member(
        server_url, make_client, transports):
    member = await make_client().connect(server_url, transports)
    outsider = await make_client().connect(server_url, transports)
    room = f"room-{member.sio.get_sid('/')}"
    await member.call("join", room)

    await outsider.emit("to-room", room, "room-event", "from outsider", b"\x01\x02", {"n": 1})
    assert await member.next("room-event") == ["from outsider", b"\x01\x02", {"n": 1}]
    await outsider.sync()
    assert outsider.pending("room-event") == []

    await member.emit("to-room", room, "room-event", "from member")
    assert await member.next("room-event") == ["from member"]
    await outsider.sync()
    assert outsider.pending("room-event") == []

    await outsider.call("join", room)
    await outsider.emit("to-room", room, "room-event", "both")
    assert await member.next("room-event") == ["both"]
    assert await outsider.next("room-event") == ["both"]

    await member.call("leave", room)
    await outsider.emit("to-room", room, "room-event", "after leave")
    assert await outsider.next("room-event") == ["after leave"]
    await member.sync()
    assert member.pending("room-event") == []


async def test_broadcast_reaches_other_clients_but_not_sender(server_url, make_client, transports):
    sender = await make_client().connect(server_url, transports)
    receivers = [await make_client().connect(server_url, transports) for _ in range(2)]
    await sender.emit("broadcast", "bc-event", {"from": "sender"}, b"\x09\x08")
    for receiver in receivers:
        assert await receiver.next("bc-event") == [{"from": "sender"}, b"\x09\x08"]
    await sender.sync()
    assert sender.pending("bc-event") == []


# --- server-to-client acks ------------------------------------------------------------------


async def test_ask_returns_client_handler_results_in_ack(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    client.responders["question"] = lambda n, blob: ("answer", n * 2, blob[::-1])
    reply = await client.call("ask", "question", 21, b"\x01\x02\x03")
    assert reply == [{"ok": True, "res": ["answer", 42, b"\x03\x02\x01"]}]
    assert await client.next("question") == [21, b"\x01\x02\x03"]


async def test_ask_with_single_return_value_gives_one_element_res(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    client.responders["single"] = lambda: {"nested": [1, 2]}
    assert await client.call("ask", "single") == [{"ok": True, "res": [{"nested": [1, 2]}]}]


async def test_ask_with_handler_returning_none_acks_without_args(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    client.responders["nothing"] = lambda *args: None
    assert await client.call("ask", "nothing", "x") == [{"ok": True, "res": []}]
    assert await client.next("nothing") == ["x"]


# --- count and handshake -------------------------------------------------------------------


async def test_count_reports_every_connected_socket(fresh_server_url, make_client, transports):
    first = await make_client().connect(fresh_server_url, transports)
    assert await first.call("count") == [1]
    others = [await make_client().connect(fresh_server_url, transports) for _ in range(3)]
    assert await first.call("count") == [4]
    assert await others[0].call("count") == [4]
    # A socket connected only to /custom is not in "/": fetchSockets() counts "/" only.
    await make_client().connect(fresh_server_url, transports, namespaces=["/custom"])
    assert await first.call("count") == [4]

    await others[2].close()
    # The server learns of the disconnection asynchronously: wait for it, bounded.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (count := (await first.call("count"))[0]) != 3 and loop.time() < deadline:
        await asyncio.sleep(0.02)
    assert count == 3


async def test_handshake_returns_query_and_auth(server_url, make_client, transports):
    client = await make_client().connect(
        f"{server_url}/?room=lobby&lang=fr&empty=", transports, auth={"token": "abc", "n": 1})
    [reply] = await client.call("handshake")
    assert reply["auth"] == {"token": "abc", "n": 1}
    query = reply["query"]
    assert query["room"] == "lobby"
    assert query["lang"] == "fr"
    assert query["empty"] == ""
    assert query["EIO"] == "4"
    assert query["transport"] == (transports[0] if transports else "polling")


# --- namespaces ----------------------------------------------------------------------------


async def test_custom_namespace_connects_and_echoes_auth(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports, namespaces=["/custom"],
                                         auth={"ns": "custom"})
    assert await client.next("auth", namespace="/custom") == [{"ns": "custom"}]
    assert client.sio.get_sid("/custom")
    assert client.sio.get_sid("/") is None


async def test_root_and_custom_namespaces_share_one_connection(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports, namespaces=["/", "/custom"],
                                         auth={"both": True})
    assert await client.next("auth") == [{"both": True}]
    assert await client.next("auth", namespace="/custom") == [{"both": True}]
    assert client.sio.get_sid("/") != client.sio.get_sid("/custom")
    await client.emit("message", "only in /")
    assert await client.next("message-back") == ["only in /"]


async def test_private_namespace_admits_good_token(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports, namespaces=["/private"],
                                         auth={"token": "secret", "extra": [1]})
    assert await client.next("auth", namespace="/private") == [{"token": "secret", "extra": [1]}]
    assert client.sio.get_sid("/private")


@pytest.mark.parametrize("auth", [{"token": "wrong"}, None], ids=["wrong-token", "no-auth"])
async def test_private_namespace_refuses_bad_token_with_unauthorized(
        server_url, make_client, transports, auth):
    client = make_client()
    with pytest.raises(socketio.exceptions.ConnectionError) as excinfo:
        await client.connect(server_url, transports, namespaces=["/private"], auth=auth)
    # python-socketio's exception names the namespaces; the server's error reaches the
    # connect_error handler: message and data, as the middleware's Error carried them.
    assert "/private" in str(excinfo.value)
    [data] = await asyncio.wait_for(client.connect_errors["/private"].get(), TIMEOUT)
    assert data == {"message": "unauthorized", "data": {"reason": "bad token"}}
    assert not client.sio.connected


async def test_refused_private_namespace_does_not_prevent_root_connect(server_url, make_client, transports):
    client = make_client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server_url, transports, namespaces=["/", "/private"],
                             auth={"token": "nope"})
    [data] = await asyncio.wait_for(client.connect_errors["/private"].get(), TIMEOUT)
    assert data["message"] == "unauthorized"
    # "/" was admitted before the client gave up (and disconnected, as python-socketio does).
    assert await client.next("auth") == [{"token": "nope"}]


async def test_dynamic_namespace_is_created_on_demand(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports, namespaces=["/dyn-abc", "/dyn-42"])
    assert await client.next("nsp", namespace="/dyn-abc") == ["/dyn-abc"]
    assert await client.next("nsp", namespace="/dyn-42") == ["/dyn-42"]


@pytest.mark.parametrize("namespace", ["/unknown", "/dyn-ABC", "/dyn-"])
async def test_unknown_namespace_is_refused(server_url, make_client, transports, namespace):
    client = make_client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server_url, transports, namespaces=[namespace])
    [data] = await asyncio.wait_for(client.connect_errors[namespace].get(), TIMEOUT)
    assert data == {"message": "Invalid namespace"}


# --- server-initiated disconnection -------------------------------------------------------


async def test_disconnect_me_fires_client_disconnect_handler(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports)
    await client.emit("disconnect-me")
    reason = await asyncio.wait_for(client.disconnects["/"].get(), TIMEOUT)
    assert reason == [client.sio.reason.SERVER_DISCONNECT]
    assert not client.sio.connected


async def test_disconnect_me_leaves_other_namespaces_connected(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports, namespaces=["/", "/custom"])
    await client.emit("disconnect-me")
    reason = await asyncio.wait_for(client.disconnects["/"].get(), TIMEOUT)
    assert reason == [client.sio.reason.SERVER_DISCONNECT]
    assert client.sio.get_sid("/") is None
    assert client.sio.get_sid("/custom")
    assert client.disconnects["/custom"].empty()


async def test_close_me_closes_the_whole_connection(server_url, make_client, transports):
    client = await make_client().connect(server_url, transports, namespaces=["/", "/custom"])
    await client.emit("close-me")
    await asyncio.wait_for(client.disconnects["/"].get(), TIMEOUT)
    await asyncio.wait_for(client.disconnects["/custom"].get(), TIMEOUT)
    assert not client.sio.connected


# --- load ----------------------------------------------------------------------------------


async def test_concurrent_clients_get_each_event_echoed_once_in_order(
        load_server_url, make_client, transports):
    n_clients, n_events = 20, 50
    # python-engineio's client rejects a polling response of more than 16 packets
    # (engineio.payload.Payload.max_decode_packets) and drops the connection, and the server
    # sends all it has queued in one response; so over polling keep at most 8 echoes in flight.
    window = 8 if transports == ["polling"] else n_events
    clients = await asyncio.gather(
        *(make_client().connect(load_server_url, transports) for _ in range(n_clients)))

    def args(index, seq):
        return [index, seq, {"pad": "x" * (seq % 7)}]

    async def run(index, client):
        got = []
        for start in range(0, n_events, window):
            seqs = range(start, min(start + window, n_events))
            for seq in seqs:
                await client.emit("message", *args(index, seq))
            got += [await client.next("message-back", timeout=15) for _ in seqs]
        assert got == [args(index, seq) for seq in range(n_events)]
        await client.sync()  # anything duplicated would have arrived before this ack
        assert client.pending("message-back") == []

    await asyncio.gather(*(run(i, c) for i, c in enumerate(clients)))
