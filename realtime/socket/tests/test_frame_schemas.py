"""The outbound schemas and the WS_CHECK_FRAMES check, without a socket.

Each frame the plumbing sends, built by its real builder, keeps its schema; a frame with
a field too many or too few, of the wrong type, or of a type the route does not send,
breaks it. The check on a live socket is in test_consumer.py and test_e2e.py.
"""

from __future__ import annotations

import re
from typing import Literal

import orjson
import pytest

from realtime.socket.frames import (
    auth_frame,
    dumps,
    error_frame,
    heartbeat_frame,
    outbound_problem,
    system_frame,
)
from realtime.socket.schemas import PLUMBING_OUTBOUND, OutFrame, by_type
from realtime.socket.tests.consumers import FuzzConsumer, JsonTestConsumer
from tests import harness

TABLE = by_type(PLUMBING_OUTBOUND)


def _stable_id(value: object) -> str | None:
    """A test id without the frame's timestamp (xdist workers must collect the same ids)."""
    return (
        re.sub(r'"ts":"[^"]*"', '"ts":"…"', value) if isinstance(value, str) else None
    )


@pytest.mark.parametrize(
    "text",
    [
        error_frame("bad_json", "frame is not valid JSON"),
        error_frame("invalid", "frame fields are invalid", {"body": "required"}),
        error_frame("unavailable", "storage is unavailable; resend later"),
        heartbeat_frame(),
        auth_frame(1_900_000_000.0),
        system_frame("maintenance at noon"),
        system_frame("delivery is interrupted", degraded=True),
        system_frame("delivery is back", degraded=False),
    ],
    ids=_stable_id,
)
def test_every_plumbing_frame_keeps_its_schema(text):
    assert outbound_problem(text, TABLE) is None


def _heartbeat(**changes: object) -> str:
    frame = {**orjson.loads(heartbeat_frame()), **changes}
    return dumps({k: v for k, v in frame.items() if v is not None})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (_heartbeat(extra=1), "extra: Extra inputs are not permitted"),
        (_heartbeat(ts=None), "ts: Field required"),
        (_heartbeat(ts=1700000000), "ts: Input should be a valid string"),
        (_heartbeat(ts="2026-01-02 03:04:05"), "ts: String should match pattern"),
        (_heartbeat(type="nope"), "type 'nope' is not one this route sends"),
        ('{"body":"x"}', "type None is not one this route sends"),
        (
            dumps({"type": "error", "code": "invalid", "detail": "x", "errors": None}),
            "errors: Input should be a valid dictionary",
        ),
        (
            dumps({"type": "error", "code": "oops", "detail": "x"}),
            "code: Input should be 'bad_json'",
        ),
        (
            error_frame("invalid", "x", {"body": ["a list, as Django gives"]}),
            "errors.body: Input should be a valid string",
        ),
        (
            system_frame("x", degraded="yes"),
            "degraded: Input should be a valid boolean",
        ),
        ("[1]", "not a JSON object"),
        ("{", "not JSON"),
        (b'{"type":"heartbeat"}', "a binary frame on a JSON route"),
    ],
    ids=_stable_id,
)
def test_a_frame_off_its_schema_is_named_with_the_reason(text, problem):
    found = outbound_problem(text, TABLE)
    assert found is not None and problem in found, found


def test_a_route_sends_the_plumbings_frames_and_its_own():
    assert set(JsonTestConsumer.outbound_schemas()) == {
        "error",
        "heartbeat",
        "auth",
        "system",
        "welcome",
        "said",
    }
    assert "welcome" not in FuzzConsumer.outbound_schemas()  # only what it declares


def test_a_type_declared_twice_on_one_route_is_refused():
    class OtherSystemOut(OutFrame):
        type: Literal["system"]

    with pytest.raises(TypeError, match="'system' is declared by both"):
        by_type((*PLUMBING_OUTBOUND, OtherSystemOut))


def test_an_outbound_model_needs_one_literal_type():
    class Vague(OutFrame):
        type: str

    with pytest.raises(TypeError, match="Vague needs"):
        by_type((Vague,))


def test_the_harness_reads_each_whole_log_line_once(tmp_path):
    server = harness.Server(env={}, workdir=tmp_path)
    server.log_path = tmp_path / "server.log"
    broken = '{"level":"ERROR","msg":"frame breaks its schema: ts: Field required"}'
    server.log_path.write_text('{"msg":"socket open"}\n' + broken)
    assert server.broken_frames() == []  # the line is still being written
    with server.log_path.open("a") as log:
        log.write("\n")
    assert server.broken_frames() == [broken]
    assert server.broken_frames() == []
