"""The base consumer, driven through the gate with WebsocketCommunicator.

The JSON routes here are the tiny test consumers of `consumers.py` (chat and notify are their
apps' own); every behaviour they show lives in `SocketConsumer`.
"""

from __future__ import annotations

import asyncio
import logging
import time

import jwt
import orjson
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from prometheus_client import REGISTRY

from realtime.fanout.hub import Event, hub
from realtime.fanout.topics import user_topic
from realtime.registry.models import Connection
from realtime.socket.closecodes import CloseCode
from realtime.socket.frames import FRAME_WRITER, QUEUED_BYTES, system_frame, text_frame
from realtime.socket.tests import tokens

pytestmark = pytest.mark.django_db(transaction=True)

T = 10  # seconds: a generous deadline on a busy shared machine, never a sleep


async def opened(comm) -> dict:
    """Connect, expect acceptance, return the welcome frame."""
    connected, _ = await comm.connect(timeout=T)
    assert connected
    return await comm.receive_json_from(timeout=T)


async def next_frame(comm) -> dict:
    return await comm.receive_json_from(timeout=T)


async def close_code(comm, deadline: float = T) -> tuple[int, list[dict]]:
    """Read until the server closes; (close code, the frames that came before it)."""
    seen: list[dict] = []
    deadline = time.monotonic() + deadline
    while True:
        message = await comm.receive_output(
            timeout=max(0.01, deadline - time.monotonic())
        )
        if message["type"] == "websocket.close":
            return message.get("code", 1000), seen
        seen.append(orjson.loads(message["text"]) if "text" in message else message)


async def send_raw(comm, text: str | None = None, data: bytes | None = None) -> None:
    message = {"type": "websocket.receive"}
    if text is not None:
        message["text"] = text
    if data is not None:
        message["bytes"] = data
    await comm.send_input(message)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def socket_for(communicator, alice):
    def make(user=None, path="/ws/test/"):
        user = user or alice
        sep = "&" if "?" in path else "?"
        return communicator(f"{path}{sep}token={user.token}")

    return make


# --- the handshake ---------------------------------------------------------------------------


async def test_the_first_frame_is_the_welcome(socket_for, alice):
    welcome = await opened(socket_for())
    assert welcome["type"] == "welcome"
    assert welcome["user"] == {"id": alice.pk, "username": "alice"}
    assert welcome["connection_id"]


async def test_an_authenticated_socket_has_a_registry_row_while_open(socket_for, alice):
    comm = socket_for()
    welcome = await opened(comm)
    row = await database_sync_to_async(Connection.objects.get)(
        id=welcome["connection_id"]
    )
    assert (row.user_id, row.route) == (alice.pk, "test")
    await comm.disconnect()
    gone = await database_sync_to_async(Connection.objects.filter(id=row.id).exists)()
    assert not gone


async def test_a_refusal_in_authorize_is_a_close_after_accept(socket_for):
    comm = socket_for(path="/ws/test/?forbid=1")
    connected, _ = await comm.connect(timeout=T)
    assert connected  # accepted first, so a browser can read the code
    code, frames = await close_code(comm)
    assert code == CloseCode.FORBIDDEN
    assert frames == []


async def test_the_per_user_cap_closes_the_extra_socket_with_4429(socket_for, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 2
    first, second = socket_for(), socket_for()
    await opened(first)
    await opened(second)
    third = socket_for()
    assert (await third.connect(timeout=T))[0]
    code, frames = await close_code(third)
    assert code == CloseCode.RATE_LIMITED
    assert frames == []
    await second.disconnect()
    assert (await opened(socket_for()))["type"] == "welcome"  # a place came free


# --- frames in and out -------------------------------------------------------------------------


async def test_a_valid_frame_reaches_its_handler(socket_for):
    comm = socket_for()
    await opened(comm)
    await comm.send_json_to({"type": "say", "body": "hello"})
    assert await next_frame(comm) == {"type": "said", "body": "hello"}


async def test_a_heartbeat_is_answered(socket_for):
    comm = socket_for()
    await opened(comm)
    await comm.send_json_to({"type": "heartbeat"})
    frame = await next_frame(comm)
    assert frame["type"] == "heartbeat"
    assert frame["ts"].endswith("Z")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_json"),
        ("[1,2]", "bad_json"),
        ('{"no":"type"}', "invalid"),
        ('{"type":"shout"}', "unknown_type"),
        ('{"type":"on_say","body":"x"}', "unknown_type"),
        ('{"type":"websocket.disconnect"}', "unknown_type"),
        ('{"type":"say"}', "invalid"),
        ('{"type":"say","body":""}', "invalid"),
        ('{"type":"say","body":"x","extra":1}', "invalid"),
        ('{"type":"heartbeat","x":1}', "invalid"),
    ],
)
async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(
    socket_for, frame, code
):
    comm = socket_for()
    await opened(comm)
    before = metric("realtime_errors_total", route="test", code=code)
    await send_raw(comm, text=frame)
    error = await next_frame(comm)
    assert error["type"] == "error"
    assert error["code"] == code
    assert isinstance(error["detail"], str) and error["detail"]
    assert metric("realtime_errors_total", route="test", code=code) == before + 1
    await comm.send_json_to({"type": "say", "body": "still here"})
    assert await next_frame(comm) == {"type": "said", "body": "still here"}


async def test_an_invalid_frame_names_the_bad_fields(socket_for):
    comm = socket_for()
    await opened(comm)
    await comm.send_json_to({"type": "say", "body": 3, "x": 1})
    error = await next_frame(comm)
    assert error["code"] == "invalid"
    assert set(error["errors"]) == {"body", "x"}


async def test_a_body_over_the_limit_is_too_large_and_the_socket_stays_open(
    socket_for, settings
):
    settings.WS_MAX_BODY_CHARS = 10
    comm = socket_for()
    await opened(comm)
    await comm.send_json_to({"type": "say", "body": "x" * 11})
    assert (await next_frame(comm))["code"] == "too_large"
    await comm.send_json_to({"type": "say", "body": "  " + "y" * 10 + "  "})
    assert (await next_frame(comm))["type"] == "said"


async def test_frames_in_and_out_are_counted_by_type(socket_for):
    comm = socket_for()
    await opened(comm)
    in_before = metric("realtime_frames_in_total", route="test", type="say")
    out_before = metric("realtime_frames_out_total", route="test", type="said")
    await comm.send_json_to({"type": "say", "body": "x"})
    await next_frame(comm)
    assert metric("realtime_frames_in_total", route="test", type="say") == in_before + 1
    assert (
        metric("realtime_frames_out_total", route="test", type="said") == out_before + 1
    )


async def test_unknown_types_are_never_counted_under_the_clients_label(socket_for):
    comm = socket_for()
    await opened(comm)
    await comm.send_json_to({"type": "made-up-type-label"})
    await next_frame(comm)
    assert (
        metric("realtime_frames_in_total", route="test", type="made-up-type-label") == 0
    )


# --- closes ----------------------------------------------------------------------------------------


async def test_a_binary_frame_on_a_json_route_closes_1003(socket_for):
    comm = socket_for()
    await opened(comm)
    await comm.send_to(bytes_data=b'{"type":"heartbeat"}')
    assert (await close_code(comm))[0] == CloseCode.UNSUPPORTED_DATA


async def test_a_frame_over_the_byte_limit_closes_1009(socket_for, settings):
    settings.WS_MAX_FRAME_BYTES = 100
    comm = socket_for()
    await opened(comm)
    # 40 characters but 120 bytes: the limit is on bytes
    await comm.send_json_to({"type": "say", "body": "€" * 40})
    assert (await close_code(comm))[0] == CloseCode.MESSAGE_TOO_BIG


async def test_a_frame_at_the_byte_limit_passes(socket_for, settings):
    frame = orjson.dumps({"type": "say", "body": "x" * 50}).decode()
    settings.WS_MAX_FRAME_BYTES = len(frame)
    comm = socket_for()
    await opened(comm)
    await send_raw(comm, text=frame)
    assert (await next_frame(comm))["type"] == "said"


async def test_too_many_invalid_frames_close_4400_after_their_error_frames(
    socket_for, settings
):
    settings.WS_MAX_INVALID_FRAMES = 3
    comm = socket_for()
    await opened(comm)
    for _ in range(3):
        await send_raw(comm, text="nope")
    code, frames = await close_code(comm)
    assert code == CloseCode.INVALID_FRAMES
    assert [f["code"] for f in frames] == ["bad_json"] * 3


async def test_too_large_bodies_do_not_count_as_invalid_frames(socket_for, settings):
    settings.WS_MAX_INVALID_FRAMES = 2
    settings.WS_MAX_BODY_CHARS = 1
    comm = socket_for()
    await opened(comm)
    for _ in range(4):
        await comm.send_json_to({"type": "say", "body": "xx"})
        assert (await next_frame(comm))["code"] == "too_large"


async def test_a_flood_gets_rate_limited_error_frames_then_4429(socket_for, settings):
    settings.WS_MESSAGE_RATE = 0.001
    settings.WS_MESSAGE_BURST = 3
    settings.WS_RATE_ABUSE_LIMIT = 5
    comm = socket_for()
    await opened(comm)
    before = metric("realtime_rate_limited_total", route="test")
    for _ in range(3 + 5):
        await comm.send_json_to({"type": "heartbeat"})
    code, frames = await close_code(comm)
    assert code == CloseCode.RATE_LIMITED
    kinds = [f["type"] if f["type"] != "error" else f["code"] for f in frames]
    assert kinds == ["heartbeat"] * 3 + ["rate_limited"] * 4
    assert metric("realtime_rate_limited_total", route="test") == before + 5


async def test_a_client_that_slows_down_after_a_burst_is_not_closed(
    socket_for, settings
):
    settings.WS_MESSAGE_RATE = 50
    settings.WS_MESSAGE_BURST = 2
    settings.WS_RATE_ABUSE_LIMIT = 3
    comm = socket_for()
    await opened(comm)
    for _ in range(4):  # each round: a burst of 3, the last one refused, then a pause
        for _ in range(3):
            await comm.send_json_to({"type": "heartbeat"})
        kinds = [(await next_frame(comm)).get("code", "ok") for _ in range(3)]
        assert kinds == ["ok", "ok", "rate_limited"]
        await asyncio.sleep(
            0.1
        )  # the client's pause (5 tokens' worth): the bucket is full
    await comm.send_json_to({"type": "heartbeat"})
    assert (await next_frame(comm))["type"] == "heartbeat"


async def test_silence_past_two_and_a_half_heartbeats_closes_4408(socket_for, settings):
    settings.WS_HEARTBEAT_INTERVAL = 0.2
    comm = socket_for()
    await opened(comm)
    started = time.monotonic()
    assert (await close_code(comm))[0] == CloseCode.HEARTBEAT_TIMEOUT
    assert time.monotonic() - started >= 0.45


async def test_heartbeats_keep_a_socket_open(socket_for, settings):
    settings.WS_HEARTBEAT_INTERVAL = 0.4
    comm = socket_for()
    await opened(comm)
    deadline = time.monotonic() + 3.0  # three idle timeouts
    while time.monotonic() < deadline:
        await comm.send_json_to({"type": "heartbeat"})
        assert (await next_frame(comm))["type"] == "heartbeat"
        await asyncio.sleep(0.1)  # the client's own heartbeat period


async def test_an_expiring_token_closes_4401(communicator, alice):
    # exp is whole seconds: 3 s leaves at least 2 for the handshake on a busy machine
    raw = tokens.access(alice.pk, settings.SECRET_KEY, lifetime=3)
    comm = communicator(f"/ws/test/?token={raw}")
    await opened(comm)
    assert (await close_code(comm))[0] == CloseCode.AUTH_EXPIRED


async def test_an_in_band_refresh_keeps_the_socket_past_the_old_expiry(
    communicator, alice
):
    raw = tokens.access(alice.pk, settings.SECRET_KEY, lifetime=3)
    comm = communicator(f"/ws/test/?token={raw}")
    await opened(comm)
    fresh = tokens.access(alice.pk, settings.SECRET_KEY, lifetime=60)
    await comm.send_json_to({"type": "auth", "token": fresh})
    reply = await next_frame(comm)
    assert reply["type"] == "auth"
    # epoch seconds, exactly the new token's own `exp` claim
    assert reply["exp"] == jwt.decode(fresh, options={"verify_signature": False})["exp"]
    assert await comm.receive_nothing(timeout=4)  # past the first token's expiry
    await comm.send_json_to({"type": "say", "body": "alive"})
    assert (await next_frame(comm))["body"] == "alive"


@pytest.mark.parametrize(
    "kind", ["expired", "forged_signature", "refresh_as_access", "alg_none"]
)
async def test_a_bad_in_band_token_is_an_error_frame(socket_for, alice, kind):
    comm = socket_for()
    await opened(comm)
    bad = tokens.bad_tokens(alice.pk, settings.SECRET_KEY)[kind]
    await comm.send_json_to({"type": "auth", "token": bad})
    assert (await next_frame(comm))["code"] == "invalid"


async def test_an_in_band_token_of_another_user_is_refused(socket_for, bob):
    comm = socket_for()
    await opened(comm)
    await comm.send_json_to({"type": "auth", "token": bob.token})
    error = await next_frame(comm)
    assert error["code"] == "invalid"
    assert "another user" in error["detail"]


async def test_an_in_band_token_from_an_older_credential_version_is_refused(
    socket_for, alice
):
    comm = socket_for()
    await opened(comm)
    stale = tokens.sign(
        tokens.claims(alice.pk, ver=1),
        settings.SECRET_KEY,  # the user is at 0
    )
    await comm.send_json_to({"type": "auth", "token": stale})
    error = await next_frame(comm)
    assert error["code"] == "invalid"
    assert "revoked" in error["detail"]


async def test_a_session_socket_does_not_expire_and_refuses_in_band_tokens(
    communicator, alice
):
    cookie = await database_sync_to_async(alice.session_cookie)()
    comm = communicator("/ws/test/", headers=[cookie])
    await opened(comm)
    await comm.send_json_to({"type": "auth", "token": alice.token})
    assert (await next_frame(comm))["code"] == "invalid"


async def test_a_kick_to_the_users_topic_closes_their_sockets_only(
    socket_for, alice, bob
):
    mine, theirs = socket_for(alice), socket_for(bob)
    await opened(mine)
    await opened(theirs)
    hub.publish_nowait(user_topic(alice.pk), Event(close_code=4401, user_id=alice.pk))
    assert (await close_code(mine))[0] == CloseCode.AUTH_EXPIRED
    await theirs.send_json_to({"type": "heartbeat"})
    assert (await next_frame(theirs))["type"] == "heartbeat"


async def test_a_socket_opening_while_degraded_hears_so_once_after_its_welcome(
    socket_for, monkeypatch
):
    comm = socket_for()
    monkeypatch.setattr(type(hub), "degraded", property(lambda hub: True))
    welcome = await opened(comm)
    notice = await next_frame(comm)
    assert notice["type"] == "system" and notice["degraded"] is True
    assert welcome["type"] != "system"
    assert await comm.receive_nothing(0.2)


async def test_an_outbound_backlog_over_its_bound_closes_4503(
    socket_for, alice, settings
):
    settings.WS_MAX_OUTBOUND_BACKLOG = 5
    comm = socket_for()
    await opened(comm)
    (consumer,) = hub.sockets
    real_send = consumer.base_send
    never = asyncio.Event()

    async def peer_reads_nothing(message):
        # The transport refuses more data (flow control): frames wait; a close still goes.
        if message["type"] == "websocket.send":
            await never.wait()
        await real_send(message)

    consumer.base_send = peer_reads_nothing
    frame = system_frame("x")
    for _ in range(20):
        hub.publish_nowait(user_topic(alice.pk), Event(text=frame, kind="system"))
    code, _frames = await close_code(comm)
    assert code == CloseCode.TOO_SLOW


async def _stall(consumer) -> None:
    """The peer reads nothing: every frame send waits (flow control); a close still goes."""
    real_send = consumer.base_send
    never = asyncio.Event()

    async def peer_reads_nothing(message):
        if message["type"] == "websocket.send":
            await never.wait()
        await real_send(message)

    consumer.base_send = peer_reads_nothing


async def test_an_outbound_backlog_over_its_byte_bound_closes_4503(
    socket_for, alice, settings
):
    settings.WS_MAX_OUTBOUND_BACKLOG = 1000  # frames: not what closes it
    settings.WS_MAX_OUTBOUND_BYTES = 100_000
    comm = socket_for()
    await opened(comm)
    (consumer,) = hub.sockets
    await _stall(consumer)
    frame = system_frame("x" * 20_000)
    before = metric("realtime_outbound_backlog_closed_total", route="test")
    queued = []
    for _ in range(8):
        consumer.send_text(frame)
        queued.append(consumer.session.backlog)
    # One in flight, four queued (80 KB); the next passes 100 KB: the backlog is
    # dropped, and nothing more is queued while the close goes out.
    assert queued == [0, 1, 2, 3, 4, 0, 0, 0]
    code, _frames = await close_code(comm)
    assert code == CloseCode.TOO_SLOW
    assert metric("realtime_outbound_backlog_closed_total", route="test") == before + 1


async def test_the_byte_bound_counts_what_the_transport_holds(
    communicator, alice, settings
):
    settings.WS_MAX_OUTBOUND_BYTES = 100_000
    held = [0]
    comm = communicator(f"/ws/test/?token={alice.token}")
    comm.scope["extensions"] = {QUEUED_BYTES: lambda: held[0]}
    await opened(comm)
    (consumer,) = hub.sockets
    await _stall(consumer)
    frame = system_frame("small")
    consumer.send_text(frame)  # in flight
    consumer.send_text(frame)  # queued behind it: well under the bound
    assert not consumer.closed
    held[0] = 99_999  # the peer stopped reading what the transport already took
    consumer.send_text(frame)
    code, _frames = await close_code(comm)
    assert code == CloseCode.TOO_SLOW


def writer_for(comm) -> tuple[list[bytes], list[bool]]:
    """Offer the consumer our server's fast path (FRAME_WRITER): (what it wrote, a
    switch: off, the transport refuses and frames go through the ASGI send)."""
    writes: list[bytes] = []
    takes = [False]

    def write_frame(data: bytes) -> bool:
        if takes[0]:
            writes.append(data)
        return takes[0]

    comm.scope["extensions"] = {FRAME_WRITER: write_frame}
    return writes, takes


async def test_a_run_of_frames_reaches_the_transport_as_one_write(communicator, alice):
    comm = communicator(f"/ws/test/?token={alice.token}")
    writes, takes = writer_for(comm)
    await opened(comm)
    takes[0] = True
    texts = [system_frame("one"), system_frame("two")]
    before = metric("realtime_frames_out_total", route="test", type="system")
    hub.deliver_run(user_topic(alice.pk), [Event(text=t, kind="system") for t in texts])
    assert writes == [b"".join(text_frame(t) for t in texts)]
    assert (
        metric("realtime_frames_out_total", route="test", type="system") == before + 2
    )


async def test_a_run_longer_than_one_write_may_be_goes_frame_by_frame(
    communicator, alice
):
    comm = communicator(f"/ws/test/?token={alice.token}")
    writes, takes = writer_for(comm)
    await opened(comm)
    takes[0] = True
    # Past RUN_WRITE_MAX, one write could leave the socket's byte bound behind.
    texts = [system_frame("x" * 40_000), system_frame("y" * 40_000)]
    hub.deliver_run(user_topic(alice.pk), [Event(text=t, kind="system") for t in texts])
    assert writes == [text_frame(t) for t in texts]


async def test_a_run_the_transport_will_not_take_now_goes_frame_by_frame_in_order(
    communicator, alice
):
    comm = communicator(f"/ws/test/?token={alice.token}")
    writes, _takes = writer_for(comm)
    await opened(comm)
    texts = [system_frame("one"), system_frame("two"), system_frame("three")]
    hub.deliver_run(user_topic(alice.pk), [Event(text=t, kind="system") for t in texts])
    assert [(await next_frame(comm))["body"] for _ in texts] == ["one", "two", "three"]
    assert writes == []


# --- crashes ------------------------------------------------------------------------------------------


async def test_a_crash_closes_that_socket_1011_logs_the_traceback_and_spares_the_others(
    socket_for, alice, bob, caplog
):
    victim, bystander = socket_for(), socket_for(bob)
    await opened(victim)
    await opened(bystander)
    before = metric("realtime_errors_total", route="test", code="internal")
    with caplog.at_level(logging.ERROR, logger="realtime.socket"):
        await victim.send_json_to({"type": "crash"})
        assert (await close_code(victim))[0] == CloseCode.INTERNAL_ERROR
    crash = [r for r in caplog.records if r.getMessage() == "consumer crashed"]
    assert len(crash) == 1
    assert crash[0].exc_info and "a bug in a handler" in str(crash[0].exc_info[1])
    assert metric("realtime_errors_total", route="test", code="internal") == before + 1
    await bystander.send_json_to({"type": "say", "body": "fine"})
    assert await next_frame(bystander) == {"type": "said", "body": "fine"}
    row_left = await database_sync_to_async(
        Connection.objects.filter(user_id=alice.pk).exists
    )()
    assert not row_left  # the crashed socket's registry row is gone too


# --- outbound frames and their schemas (WS_CHECK_FRAMES, on in every test) ----------------------


async def test_a_frame_that_breaks_its_schema_is_not_sent_logged_counted_and_closes_1011(
    socket_for, caplog
):
    comm = socket_for()
    await opened(comm)
    before = metric("realtime_frames_broken_schema_total", route="test")
    with caplog.at_level(logging.ERROR, logger="realtime.socket"):
        await comm.send_json_to({"type": "misbehave"})  # answered {"said",...,"extra"}
        code, frames = await close_code(comm)
    assert code == CloseCode.INTERNAL_ERROR
    assert frames == []
    (line,) = [r for r in caplog.records if "frame breaks its schema" in r.getMessage()]
    assert line.levelno == logging.ERROR
    assert "extra: Extra inputs are not permitted" in line.getMessage()
    assert metric("realtime_frames_broken_schema_total", route="test") == before + 1


async def test_a_frame_of_a_type_its_route_does_not_send_closes_1011(socket_for):
    comm = socket_for()
    await opened(comm)
    (consumer,) = hub.sockets
    consumer.send_frame({"type": "presence", "joins": [], "leaves": [], "count": 0})
    assert (await close_code(comm)) == (CloseCode.INTERNAL_ERROR, [])


async def test_with_the_check_off_frames_go_out_unchecked(socket_for, settings):
    settings.WS_CHECK_FRAMES = False
    comm = socket_for()
    await opened(comm)
    (consumer,) = hub.sockets
    assert consumer._checked is None  # the one attribute the send path reads
    await comm.send_json_to({"type": "misbehave"})
    assert await next_frame(comm) == {"type": "said", "body": "x", "extra": 1}


def test_connection_ids_are_distinct_random_and_url_safe():
    import re

    from realtime.socket.consumer import new_connection_id

    ids = [new_connection_id() for _ in range(1000)]  # several reads of the source
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16}", i) for i in ids)
