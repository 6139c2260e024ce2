"""The sans-I/O session's rules, each proven in a millisecond: data and time in, actions out.

No socket, no event loop, no clock: `now` is passed in. The in-process consumer tests
(test_consumer.py) keep one case per rule to prove the shell carries the actions out.
"""

from __future__ import annotations

from typing import Literal

import orjson
import pytest
from pydantic import BaseModel, ConfigDict

from realtime.socket.closecodes import CloseCode
from realtime.socket.session import (
    IDLE_INTERVALS,
    Close,
    Error,
    Handle,
    Limits,
    Passthrough,
    Reply,
    Session,
)


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["heartbeat"]


class Say(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["say"]
    body: str


SCHEMAS = {"heartbeat": Heartbeat, "say": Say}


def session(now: float = 0.0, **limits: object) -> Session:
    return Session(limits=Limits(**limits), schemas=SCHEMAS, now=now)  # type: ignore[arg-type]


def say(body: str = "hi") -> str:
    return orjson.dumps({"type": "say", "body": body}).decode()


def error_code(action: object) -> str:
    assert isinstance(action, Error), action
    return action.code


# --- dispatch -------------------------------------------------------------------------------


def test_a_known_frame_is_dispatched_typed_to_its_handler():
    (action,) = session().receive_text(say("hello"), now=0.1)
    assert isinstance(action, Handle)
    assert action.kind == "say"
    assert isinstance(action.frame, Say) and action.frame.body == "hello"


def test_a_heartbeat_is_answered_by_the_session_itself():
    (action,) = session().receive_text('{"type":"heartbeat"}', now=0.1)
    assert isinstance(action, Reply) and action.kind == "heartbeat"
    assert orjson.loads(action.text)["type"] == "heartbeat"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{", "bad_json"),
        ("[1]", "bad_json"),
        ('{"type":"__init__"}', "unknown_type"),
        ('{"type":"say"}', "invalid"),
        ('{"type":"say","body":"x","extra":1}', "invalid"),
        ('{"type":"say","body":5}', "invalid"),
    ],
)
def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays(text, code):
    s = session()
    (action,) = s.receive_text(text, now=0.1)
    assert error_code(action) == code
    assert not s.closed


def test_a_type_is_only_ever_a_key_of_the_table_never_a_method_name():
    for kind in ("receive", "close", "__class__", "push"):
        (action,) = session().receive_text(f'{{"type":"{kind}"}}', now=0.1)
        assert error_code(action) == "unknown_type"


# --- limits ---------------------------------------------------------------------------------


def test_a_frame_over_the_byte_limit_closes_1009():
    s = session(max_frame_bytes=100)
    (action,) = s.receive_text(say("x" * 200), now=0.1)
    assert action == Close(CloseCode.MESSAGE_TOO_BIG, "too_large")
    assert s.closed and s.receive_text(say(), now=0.2) == ()


def test_the_byte_limit_counts_utf8_bytes_not_characters():
    s = session(max_frame_bytes=100)
    (action,) = s.receive_text(say("é" * 45), now=0.1)  # 90 bytes of body, 45 chars
    assert isinstance(action, Close)


def test_a_body_over_the_character_limit_is_an_error_frame_not_a_close():
    s = session(max_body_chars=10)
    (action,) = s.receive_text(say("x" * 11), now=0.1)
    assert error_code(action) == "too_large"
    (action,) = s.receive_text(say("x" * 10), now=0.2)
    assert isinstance(action, Handle)


def test_a_binary_frame_on_a_json_route_closes_1003():
    (action,) = session().receive_bytes(b'{"type":"say","body":"x"}', now=0.1)
    assert action == Close(CloseCode.UNSUPPORTED_DATA, "binary")


def test_a_raw_route_passes_frames_through_within_the_same_limits():
    s = Session(limits=Limits(max_frame_bytes=10), schemas={}, now=0, json_only=False)
    assert s.receive_bytes(b"\x00\x01", now=0.1) == (Passthrough(b"\x00\x01"),)
    assert s.receive_text("x" * 11, now=0.2)[0] == Close(
        CloseCode.MESSAGE_TOO_BIG, "too_large"
    )


def test_too_many_invalid_frames_close_4400():
    s = session(max_invalid_frames=3)
    assert len(s.receive_text("{", now=0.1)) == 1
    assert len(s.receive_text("{", now=0.2)) == 1
    error, close = s.receive_text("{", now=0.3)
    assert error_code(error) == "bad_json"
    assert close == Close(CloseCode.INVALID_FRAMES, "invalid_frames")


def test_declined_frames_are_answered_but_never_close_4400():
    from realtime.socket.errors import Declined

    s = session(max_invalid_frames=2)
    for _ in range(5):
        (error,) = s.refused(Declined("permission_denied", "not yours"))
        assert error_code(error) == "permission_denied"
    assert len(s.receive_text("{", now=0.1)) == 1  # the first invalid frame counts


# --- the token bucket -----------------------------------------------------------------------


def test_a_burst_past_the_bucket_is_refused_with_rate_limited_error_frames():
    s = session(message_rate=1, message_burst=3, rate_abuse_limit=100)
    actions = [s.receive_text(say(), now=0.0)[0] for _ in range(5)]
    assert [isinstance(a, Handle) for a in actions] == [True, True, True, False, False]
    assert error_code(actions[3]) == "rate_limited"


def test_the_bucket_refills_at_the_rate():
    s = session(message_rate=2, message_burst=1, rate_abuse_limit=100)
    assert isinstance(s.receive_text(say(), now=0.0)[0], Handle)
    assert isinstance(s.receive_text(say(), now=0.1)[0], Error)
    assert isinstance(s.receive_text(say(), now=0.7)[0], Handle)  # 0.5 s per token


def test_a_sustained_flood_closes_4429():
    s = session(message_rate=1, message_burst=1, rate_abuse_limit=3)
    s.receive_text(say(), now=0.0)
    actions = [s.receive_text(say(), now=0.0)[0] for _ in range(3)]
    assert actions[-1] == Close(CloseCode.RATE_LIMITED, "rate_limited")


def test_a_client_that_pauses_until_its_bucket_is_full_is_forgiven_earlier_abuse():
    s = session(message_rate=10, message_burst=2, rate_abuse_limit=3)
    for _ in range(
        2
    ):  # two bursts, each two over the bucket: 4 abuses, never 3 in a row
        start = s._last_frame + 1.0
        s.receive_text(say(), now=start)
        s.receive_text(say(), now=start)
        s.receive_text(say(), now=start)
        s.receive_text(say(), now=start)
    assert not s.closed


# --- deadlines ------------------------------------------------------------------------------


def test_silence_past_two_and_a_half_heartbeats_closes_4408():
    s = session(heartbeat_interval=10)
    assert s.deadline() == 10 * IDLE_INTERVALS
    assert s.check(now=24.9) is None
    assert s.check(now=25.0) == Close(CloseCode.HEARTBEAT_TIMEOUT, "idle")


def test_any_frame_pushes_the_silence_deadline_back():
    s = session(heartbeat_interval=10)
    s.receive_text('{"type":"heartbeat"}', now=20.0)
    assert s.check(now=30.0) is None
    assert s.deadline() == 45.0


def test_a_zero_heartbeat_interval_never_closes_for_silence():
    s = session(heartbeat_interval=0)
    assert s.deadline() is None and s.check(now=1e9) is None


def test_an_expiring_token_closes_4401_at_its_expiry():
    s = session(heartbeat_interval=100)
    s.expire_at(5.0)
    assert s.deadline() == 5.0
    assert s.check(now=4.99) is None
    assert s.check(now=5.0) == Close(CloseCode.AUTH_EXPIRED, "expired")


def test_an_in_band_refresh_moves_the_expiry():
    s = session(heartbeat_interval=100)
    s.expire_at(5.0)
    s.expire_at(50.0)  # the consumer does this on a valid `auth` frame
    assert s.check(now=6.0) is None
    assert s.deadline() == 50.0


# --- the outbound backlog -------------------------------------------------------------------


def test_the_backlog_is_bounded_by_frame_count():
    s = session(max_backlog_frames=2, max_backlog_bytes=10**9)
    assert s.push("a", 1) is None and s.push("b", 1) is None
    assert s.push("c", 1) == Close(CloseCode.TOO_SLOW, "backlog")
    assert s.backlog == 0 and s.closed


def test_the_backlog_is_bounded_by_bytes_with_what_the_transport_holds():
    s = session(max_backlog_frames=1000, max_backlog_bytes=100)
    assert s.push("x" * 40, 40) is None
    assert s.push("x" * 40, 40, buffered=30) == Close(CloseCode.TOO_SLOW, "backlog")


def test_after_the_4503_every_later_frame_is_dropped_quietly():
    s = session(max_backlog_frames=1)
    s.push("a", 1)
    assert isinstance(s.push("b", 1), Close)
    assert s.push("c", 1) is None and s.backlog == 0


def test_frames_leave_the_backlog_in_order_and_free_their_bytes():
    s = session()
    s.push("one", 3)
    s.push("two", 3)
    assert (s.pop(), s.outbox_bytes) == ("one", 3)
    assert (s.pop(), s.outbox_bytes) == ("two", 0)
    assert s.pop() is None


def test_an_idle_socket_holds_no_backlog_container():
    assert session().outbox == ()


def test_an_error_frame_names_the_refused_frames_client_id():
    s = session(max_body_chars=3)
    (too_long,) = s.receive_text(
        '{"type":"say","body":"long","client_id":"c-1"}', now=0.1
    )
    (invalid,) = s.receive_text('{"type":"say","body":5,"client_id":"c-2"}', now=0.2)
    assert orjson.loads(too_long.text)["client_id"] == "c-1"
    assert orjson.loads(invalid.text)["client_id"] == "c-2"


@pytest.mark.parametrize("client_id", [5, "", "x" * 65, None])
def test_an_error_frame_echoes_only_a_client_id_a_client_could_have_sent(client_id):
    text = orjson.dumps({"type": "say", "body": 5, "client_id": client_id}).decode()
    (action,) = session().receive_text(text, now=0.1)
    assert "client_id" not in orjson.loads(action.text)
