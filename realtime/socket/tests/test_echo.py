"""`/ws/echo/` through the project's real ASGI application: frames back unchanged, limits on."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from prometheus_client import REGISTRY

from realtime.asgi import application
from realtime.fanout.hub import hub
from realtime.socket.closecodes import CloseCode

pytestmark = pytest.mark.django_db(transaction=True)

T = 10


@pytest.fixture
async def echo(serving):
    made = []

    def make(path="/ws/echo/", headers=None):
        comm = WebsocketCommunicator(application, path, headers=headers)
        made.append(comm)
        return comm

    yield make
    for comm in made:
        if comm.future is not None and not comm.future.done():
            await comm.disconnect(timeout=5)


async def open_echo(make, **kw):
    comm = make(**kw)
    connected, _ = await comm.connect(timeout=T)
    assert connected
    return comm


async def close_code(comm) -> int:
    while True:
        message = await comm.receive_output(timeout=T)
        if message["type"] == "websocket.close":
            return message["code"]


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        '{"type":"not parsed"}',
        "not json at all",
        "ünï©ødé 🎉",
        " ",
        "x" * 60_000,
    ],
)
async def test_text_comes_back_unchanged(echo, text):
    comm = await open_echo(echo)
    await comm.send_input({"type": "websocket.receive", "text": text})
    assert await comm.receive_from(timeout=T) == text


@pytest.mark.parametrize("data", [b"\x00", bytes(range(256)), b"\xff" * 60_000])
async def test_binary_comes_back_unchanged(echo, data):
    comm = await open_echo(echo)
    await comm.send_to(bytes_data=data)
    assert await comm.receive_from(timeout=T) == data


async def test_interleaved_text_and_binary_come_back_in_order(echo, settings):
    settings.WS_MESSAGE_BURST = 100
    comm = await open_echo(echo)
    sent = [f"t{i}" if i % 2 else f"b{i}".encode() for i in range(40)]
    for item in sent:
        if isinstance(item, bytes):
            await comm.send_to(bytes_data=item)
        else:
            await comm.send_to(text_data=item)
    assert [await comm.receive_from(timeout=T) for _ in sent] == sent


async def test_echo_needs_no_credentials(echo):
    await open_echo(echo)


async def test_a_frame_over_the_byte_limit_closes_1009(echo, settings):
    settings.WS_MAX_FRAME_BYTES = 1000
    comm = await open_echo(echo)
    await comm.send_to(bytes_data=b"x" * 1001)
    assert await close_code(comm) == CloseCode.MESSAGE_TOO_BIG


async def test_a_text_frame_over_the_byte_limit_closes_1009(echo, settings):
    settings.WS_MAX_FRAME_BYTES = 1000
    comm = await open_echo(echo)
    await comm.send_to(text_data="é" * 501)  # 1002 bytes
    assert await close_code(comm) == CloseCode.MESSAGE_TOO_BIG


async def test_the_rate_limit_applies(echo, settings):
    settings.WS_MESSAGE_RATE = 0.001
    settings.WS_MESSAGE_BURST = 2
    settings.WS_RATE_ABUSE_LIMIT = 3
    comm = await open_echo(echo)
    for i in range(5):
        await comm.send_to(text_data=f"m{i}")
    frames = []
    while True:
        message = await comm.receive_output(timeout=T)
        if message["type"] == "websocket.close":
            break
        frames.append(message.get("text") or message.get("bytes"))
    assert message["code"] == CloseCode.RATE_LIMITED
    assert frames[:2] == ["m0", "m1"]
    assert all('"rate_limited"' in f for f in frames[2:]) and len(frames) == 4


async def test_binary_frames_count_against_the_rate_limit(echo, settings):
    settings.WS_MESSAGE_RATE = 0.001
    settings.WS_MESSAGE_BURST = 1
    comm = await open_echo(echo)
    await comm.send_to(bytes_data=b"one")
    await comm.send_to(bytes_data=b"two")
    assert await comm.receive_from(timeout=T) == b"one"
    assert '"rate_limited"' in await comm.receive_from(timeout=T)


async def test_an_echo_socket_counts_as_open_while_it_lives(echo):
    def gauge():
        return (
            REGISTRY.get_sample_value("realtime_sockets_open", {"route": "echo"}) or 0.0
        )

    before = gauge()
    comm = await open_echo(echo)
    assert gauge() == before + 1
    assert any(getattr(s, "route", None) == "echo" for s in hub.sockets)
    await comm.disconnect()
    assert gauge() == before


async def test_a_foreign_origin_is_refused_through_the_real_application(echo):
    comm = echo(headers=[(b"origin", b"https://evil.example")])
    assert await comm.connect(timeout=T) == (False, 1008)


@pytest.mark.parametrize("path", ["/ws/nope/", "/ws/echo", "/", "/ws/echo/extra/"])
async def test_an_unknown_socket_path_is_refused_before_accept(echo, path):
    comm = echo(path=path)
    assert await comm.connect(timeout=T) == (False, 1008)
