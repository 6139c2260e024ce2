"""Property-based tests (hypothesis): arbitrary text and bytes at the parser and the consumer.

- the envelope parser lets only the project's own FrameError escape, whatever it is given;
- the base consumer never closes with 1011 (server error) on any input, and a socket it does
  not close still answers a heartbeat afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging

import orjson
import pytest
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import BaseModel

from realtime.fanout.hub import hub
from realtime.socket.closecodes import CloseCode
from realtime.socket.consumer import AuthIn, HeartbeatIn
from realtime.socket.errors import FrameError
from realtime.socket.frames import parse_frame
from realtime.socket.tests import consumers
from realtime.socket.tests.consumers import SayIn

TABLE: dict[str, type[BaseModel]] = {
    "say": SayIn,
    "heartbeat": HeartbeatIn,
    "auth": AuthIn,
}
TYPES = [
    "say",
    "heartbeat",
    "auth",
    "read",
    "message",
    "crash",
    "__class__",
    "",
    "websocket.close",
]

any_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=())
)  # surrogates too
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
frames_like = st.builds(
    lambda kind, fields: {**fields, "type": kind},
    st.sampled_from(TYPES) | st.text(max_size=20) | json_values,
    st.dictionaries(
        st.sampled_from(["body", "token", "id", "all", "client_id", "extra"])
        | st.text(max_size=8),
        json_values,
        max_size=4,
    ),
)
# the stdlib encoder: it writes what orjson would refuse to (huge integers, Infinity)
json_text = st.one_of(json_values, frames_like).map(
    lambda v: json.dumps(v, ensure_ascii=False)
)


# --- the parser ------------------------------------------------------------------------------


def _only_frame_errors(text: str | bytes, limit: int | None) -> None:
    try:
        frame = parse_frame(text, TABLE, max_body_chars=limit)  # type: ignore[arg-type]
    except FrameError as exc:
        assert exc.code in {"bad_json", "unknown_type", "invalid", "too_large"}
        assert isinstance(exc.detail, str)
        orjson.dumps(exc.errors)  # the field errors go out in a frame: they must encode
    else:
        assert isinstance(frame, tuple(TABLE.values()))
        assert frame.type in TABLE


@given(any_text, st.none() | st.integers(min_value=0, max_value=100))
@hsettings(max_examples=400, deadline=None)
def test_arbitrary_text_raises_only_frame_errors(text, limit):
    _only_frame_errors(text, limit)


@given(st.binary(), st.none() | st.integers(min_value=0, max_value=100))
@hsettings(max_examples=300, deadline=None)
def test_arbitrary_bytes_raise_only_frame_errors(data, limit):
    _only_frame_errors(data, limit)
    _only_frame_errors(data.decode("utf-8", errors="surrogateescape"), limit)


@given(json_text, st.none() | st.integers(min_value=0, max_value=100))
@hsettings(max_examples=600, deadline=None)
def test_arbitrary_json_raises_only_frame_errors(text, limit):
    _only_frame_errors(text, limit)


# --- the base consumer ----------------------------------------------------------------------------

inbound = st.one_of(
    json_text.map(lambda t: {"text": t}),
    st.text().map(lambda t: {"text": t}),
    st.binary(max_size=64).map(lambda b: {"bytes": b}),
    st.text(min_size=2500, max_size=3000).map(
        lambda t: {"text": t}
    ),  # over the frame limit
)

ALLOWED_CLOSES = {CloseCode.UNSUPPORTED_DATA, CloseCode.MESSAGE_TOO_BIG}


def _is_heartbeat(message: dict) -> bool:
    """Whether the consumer answers this inbound message with a heartbeat frame."""
    text = message.get("text")
    if text is None or len(text.encode()) > 2048:
        return False
    try:
        frame = parse_frame(text, {"heartbeat": HeartbeatIn})
    except FrameError:
        return False
    return frame.type == "heartbeat"


async def _drive(app, path: str, messages: list[dict]) -> tuple[int | None, list]:
    """Send `messages`, then a heartbeat; (close code or None, frames received).

    The socket counts as still open once every heartbeat it was sent has been answered
    (frames are handled in order, so the last answer comes after everything else).
    """
    comm = WebsocketCommunicator(app, path)
    connected, _ = await comm.connect(timeout=10)
    assert connected
    for message in messages:
        await comm.send_input({"type": "websocket.receive", **message})
    await comm.send_input({"type": "websocket.receive", "text": '{"type":"heartbeat"}'})
    answers_due = 1 + sum(_is_heartbeat(m) for m in messages)
    received: list = []
    while True:
        output = await comm.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            await comm.wait(timeout=10)
            return output.get("code"), received
        received.append(output.get("text", output.get("bytes")))
        if isinstance(received[-1], str) and received[-1].startswith(
            '{"type":"heartbeat"'
        ):
            answers_due -= 1
            if answers_due == 0:
                await comm.disconnect(timeout=10)
                return None, received


@pytest.fixture
def fuzz_loop(settings):
    settings.WS_MESSAGE_RATE = 0  # unlimited: the limits have their own tests
    settings.WS_MAX_INVALID_FRAMES = 10_000
    settings.WS_MAX_FRAME_BYTES = 2048
    settings.WS_MAX_BODY_CHARS = 100
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(hub.stop())
    hub.sockets.clear()
    loop.close()


@pytest.mark.django_db(transaction=True)
@given(st.lists(inbound, max_size=12))
@hsettings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_the_consumer_never_closes_1011_on_any_input(fuzz_loop, caplog, messages):
    app = consumers.app()
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        code, received = fuzz_loop.run_until_complete(
            _drive(app, "/ws/test-fuzz/", messages)
        )
    assert code != CloseCode.INTERNAL_ERROR
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    if code is None:  # still open: every text frame was answered, the heartbeat last
        assert not any("bytes" in m for m in messages)
    else:
        assert code in ALLOWED_CLOSES
    for frame in received:
        assert orjson.loads(frame)["type"] in {"said", "heartbeat", "error"}


@pytest.mark.django_db(transaction=True)
@given(
    st.lists(
        st.text(max_size=200).map(lambda t: {"text": t})
        | st.binary(max_size=200).map(lambda b: {"bytes": b}),
        max_size=10,
    )
)
@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_echo_returns_any_input_unchanged(fuzz_loop, messages):
    async def run() -> list:
        comm = WebsocketCommunicator(consumers.app(), "/ws/echo/")
        assert (await comm.connect(timeout=10))[0]
        for message in messages:
            await comm.send_input({"type": "websocket.receive", **message})
        back = []
        for _ in messages:
            output = await comm.receive_output(timeout=10)
            assert output["type"] == "websocket.send"
            back.append(
                {"text": output["text"]}
                if "text" in output
                else {"bytes": output["bytes"]}
            )
        await comm.disconnect(timeout=10)
        return back

    assert fuzz_loop.run_until_complete(run()) == messages
