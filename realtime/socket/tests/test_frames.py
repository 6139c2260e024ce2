"""Unit tests of the envelope parser: text -> schema object, or one of the project's FrameErrors."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from pydantic import BaseModel, ConfigDict, Field

from realtime.socket import frames
from realtime.socket.errors import BadJson, FrameError, Invalid, TooLarge, UnknownType
from realtime.socket.frames import dumps, parse_frame, parse_object


class Say(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    body: str = Field(min_length=1)
    client_id: str | None = Field(default=None, max_length=64)


class Ping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str


TABLE = {"say": Say, "ping": Ping}


def test_a_valid_frame_becomes_its_schema_object():
    frame = parse_frame('{"type":"say","body":"hi","client_id":"c1"}', TABLE)
    assert isinstance(frame, Say)
    assert (frame.body, frame.client_id) == ("hi", "c1")


def test_the_table_picks_the_schema_by_type():
    assert isinstance(parse_frame('{"type":"ping"}', TABLE), Ping)


@pytest.mark.parametrize("text", ["", "not json", "{", '{"type":', "\ud800", "nul\x00"])
def test_text_that_is_not_json_is_bad_json(text):
    with pytest.raises(BadJson) as info:
        parse_frame(text, TABLE)
    assert info.value.code == "bad_json"


@pytest.mark.parametrize(
    "text", ["[]", '"say"', "1", "null", "true", '[{"type":"say"}]']
)
def test_json_that_is_not_an_object_is_bad_json(text):
    with pytest.raises(BadJson):
        parse_frame(text, TABLE)


@pytest.mark.parametrize(
    "text", ["{}", '{"type":1}', '{"type":null}', '{"type":["say"]}']
)
def test_an_object_without_a_string_type_is_invalid(text):
    with pytest.raises(Invalid) as info:
        parse_frame(text, TABLE)
    assert info.value.code == "invalid"
    assert info.value.errors == {"type": "required"}


@pytest.mark.parametrize(
    "kind",
    [
        "shout",
        "__init__",
        "receive",
        "_on_auth",
        "websocket.receive",
        "chat.message",
        "",
    ],
)
def test_a_type_outside_the_table_is_unknown_and_never_looked_up_as_a_method(kind):
    with pytest.raises(UnknownType) as info:
        parse_frame(orjson.dumps({"type": kind}).decode(), TABLE)
    assert info.value.code == "unknown_type"


def test_an_unknown_type_detail_is_bounded():
    with pytest.raises(UnknownType) as info:
        parse_frame(orjson.dumps({"type": "x" * 10_000}).decode(), TABLE)
    assert len(info.value.detail) < 100


def test_unknown_fields_are_invalid_with_field_errors():
    with pytest.raises(Invalid) as info:
        parse_frame('{"type":"ping","extra":1}', TABLE)
    assert "extra" in info.value.errors


def test_an_invalid_frame_lists_a_few_field_errors_and_counts_the_rest():
    keys = {f"k{i}": 1 for i in range(3000)}
    text = orjson.dumps({"type": "ping", **keys}).decode()
    with pytest.raises(Invalid) as info:
        parse_frame(text, TABLE)
    assert len(info.value.errors) == 5
    assert "2995 more not listed" in info.value.detail
    answer = frames.error_frame("invalid", info.value.detail, info.value.errors)
    assert len(answer) < 500 < len(text)


def test_long_field_names_in_an_error_frame_are_truncated():
    text = orjson.dumps({"type": "ping", "x" * 10_000: 1}).decode()
    with pytest.raises(Invalid) as info:
        parse_frame(text, TABLE)
    ((field, message),) = info.value.errors.items()
    assert field.startswith("xxx") and len(field) <= 64
    assert len(message) <= 64
    assert info.value.detail == "frame fields are invalid"


def test_a_wrongly_typed_field_is_invalid_and_named():
    with pytest.raises(Invalid) as info:
        parse_frame('{"type":"say","body":5}', TABLE)
    assert set(info.value.errors) == {"body"}


def test_a_missing_field_is_invalid_and_named():
    with pytest.raises(Invalid) as info:
        parse_frame('{"type":"say"}', TABLE)
    assert set(info.value.errors) == {"body"}


def test_a_body_over_the_limit_is_too_large():
    with pytest.raises(TooLarge) as info:
        parse_frame(
            orjson.dumps({"type": "say", "body": "x" * 11}).decode(),
            TABLE,
            max_body_chars=10,
        )
    assert info.value.code == "too_large"


def test_the_body_limit_counts_characters_after_trimming():
    text = orjson.dumps({"type": "say", "body": "  " + "é" * 10 + "\n\n"}).decode()
    assert parse_frame(text, TABLE, max_body_chars=10).body.strip() == "é" * 10


def test_without_a_limit_a_long_body_passes():
    assert parse_frame(
        orjson.dumps({"type": "say", "body": "x" * 5000}).decode(), TABLE
    )


def test_every_parser_error_is_a_frame_error():
    for cls in (BadJson, Invalid, TooLarge, UnknownType):
        assert issubclass(cls, FrameError)


def test_parse_object_returns_the_dict():
    assert parse_object('{"type":"x","a":[1]}') == {"type": "x", "a": [1]}


def test_dumps_writes_compact_json_with_iso_datetimes():
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert orjson.loads(dumps({"type": "x", "ts": when})) == {
        "type": "x",
        "ts": "2024-01-02T03:04:05+00:00",
    }


def test_the_error_frame_has_type_code_detail_and_field_errors():
    assert orjson.loads(frames.error_frame("invalid", "bad", {"body": "required"})) == {
        "type": "error",
        "code": "invalid",
        "detail": "bad",
        "errors": {"body": "required"},
    }
    assert orjson.loads(frames.error_frame("bad_json", "no")) == {
        "type": "error",
        "code": "bad_json",
        "detail": "no",
    }


def test_the_auth_frame_carries_the_expiry_in_epoch_seconds_as_the_jwt_does():
    frame = orjson.loads(frames.auth_frame(1_900_000_000.7))
    assert frame == {"type": "auth", "exp": 1_900_000_000}
