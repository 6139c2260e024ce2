"""Unit tests of structured logs: redaction, trace ids, the context and JSON formatting."""

from __future__ import annotations

import io
import logging

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.web import logs
from realtime.web.logs import (
    ContextFilter,
    JsonFormatter,
    RedactFilter,
    TextFormatter,
    redact,
    trace_from_headers,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwidXNlcl9pZCI6IjEifQ."
    "c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
)


@pytest.mark.parametrize(
    "text",
    [
        f"GET /ws/chat/x/?token={JWT} 403",
        f"GET /ws/chat/x/?a=1&token={JWT}&b=2",
        f'"WebSocket /ws/echo/?token={JWT}" [accepted]',
        f"/api/?access_token={JWT}",
        f"/api/?refresh={JWT}",
        f"Authorization: Bearer {JWT}",
        f"authorization: bearer {JWT}",
        f"{{'token': '{JWT}'}}",
        f'{{"refresh": "{JWT}"}}',
        f"a bare jwt {JWT} in prose",
    ],
)
def test_redact_removes_every_token_form(text):
    out = redact(text)
    assert JWT not in out
    assert JWT.split(".")[2] not in out


def test_redact_removes_an_opaque_token_in_a_query_string():
    assert (
        redact("/ws/echo/?token=opaque-secret-123&x=1")
        == "/ws/echo/?token=[redacted]&x=1"
    )


def test_redact_leaves_ordinary_text_alone():
    text = "GET /api/rooms/?page=2 200 tokenizer=ok"
    assert redact(text) == text


def test_redact_removes_passwords_in_logged_bodies():
    assert "hunter2" not in redact("{'username': 'a', 'password': 'hunter2'}")


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_the_trace_id_comes_from_traceparent():
    headers = [(b"traceparent", f"00-{TRACE}-00f067aa0ba902b7-01".encode())]
    assert trace_from_headers(headers) == TRACE


def test_traceparent_beats_x_request_id():
    headers = [
        (b"x-request-id", b"req-1"),
        (b"Traceparent", f"00-{TRACE}-00f067aa0ba902b7-01".encode()),
    ]
    assert trace_from_headers(headers) == TRACE


def test_the_trace_id_comes_from_x_request_id():
    assert trace_from_headers([(b"X-Request-ID", b"req-abc.1:2")]) == "req-abc.1:2"


def test_a_dict_of_headers_works_too():
    assert trace_from_headers({b"x-request-id": b"req-2"}) == "req-2"


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"traceparent", b"garbage")],
        [(b"x-request-id", b"has spaces and\nnewlines")],
        [(b"x-request-id", b"x" * 500)],
        [(b"x-request-id", b'"><script>')],
    ],
)
def test_a_missing_or_unsafe_trace_header_gets_a_fresh_id(headers):
    trace = trace_from_headers(headers)
    assert len(trace) == 32 and int(trace, 16) >= 0
    assert trace != trace_from_headers(headers)


def _handler(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactFilter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_a_json_line_carries_the_context_and_extras():
    logger, stream = _handler(JsonFormatter())
    tokens = [
        logs.connection_id.set("conn-1"),
        logs.trace_id.set(TRACE),
        logs.user_id.set(7),
    ]
    try:
        logger.info("socket %s", "open", extra={"route": "chat", "duration": 1.5})
    finally:
        for var, token in zip(
            (logs.connection_id, logs.trace_id, logs.user_id), tokens, strict=True
        ):
            var.reset(token)
    line = orjson.loads(stream.getvalue())
    assert line["msg"] == "socket open"
    assert line["level"] == "INFO"
    assert (line["connection_id"], line["trace_id"], line["user_id"]) == (
        "conn-1",
        TRACE,
        7,
    )
    assert (line["route"], line["duration"]) == ("chat", 1.5)
    assert line["ts"].endswith("+00:00")


def test_an_explicit_extra_beats_the_context():
    logger, stream = _handler(JsonFormatter())
    logger.info("x", extra={"trace_id": "mine"})
    assert orjson.loads(stream.getvalue())["trace_id"] == "mine"


def test_format_arguments_are_redacted():
    logger, stream = _handler(JsonFormatter())
    logger.info("GET %s", f"/ws/echo/?token={JWT}")
    assert JWT not in stream.getvalue()
    assert "token=[redacted]" in orjson.loads(stream.getvalue())["msg"]


class _Request:
    """Like Django's request objects, whose repr holds the full path with its query."""

    def __repr__(self) -> str:
        return f"<ASGIRequest: GET '/api/nope/?token={JWT}'>"


def test_extras_are_redacted_in_json_lines():
    # django.request logs `extra={"request": request}`: its repr carries the query string.
    logger, stream = _handler(JsonFormatter())
    logger.warning(
        "Not Found: /api/nope/", extra={"request": _Request(), "url": f"/x?token={JWT}"}
    )
    assert JWT not in stream.getvalue()
    orjson.loads(stream.getvalue())  # still one valid JSON line


def test_extras_are_redacted_in_text_lines():
    logger, stream = _handler(TextFormatter())
    logger.warning("Not Found", extra={"request": _Request()})
    assert JWT not in stream.getvalue()


def test_tracebacks_are_redacted():
    for formatter in (JsonFormatter(), TextFormatter()):
        logger, stream = _handler(formatter)
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            logger.exception("crash")
        assert JWT not in stream.getvalue()
        assert "ValueError" in stream.getvalue()


def test_a_bad_format_string_does_not_lose_the_line():
    logger, stream = _handler(JsonFormatter())
    logger.info("%d items", "not a number")
    assert orjson.loads(stream.getvalue())["msg"] == "%d items"


def test_text_lines_are_readable_with_the_context_appended():
    logger, stream = _handler(TextFormatter())
    logger.info("socket open", extra={"route": "echo"})
    out = stream.getvalue()
    assert "INFO" in out and "socket open" in out and "route=echo" in out
    with pytest.raises(ValueError):
        orjson.loads(out)


def test_container_extras_keep_their_shape_and_lose_their_tokens():
    logger, stream = _handler(JsonFormatter())
    logger.info("x", extra={"ctx": {"url": f"/?token={JWT}", "n": 1, "ids": [1, JWT]}})
    line = orjson.loads(stream.getvalue())
    assert line["ctx"]["n"] == 1
    assert line["ctx"]["ids"][0] == 1
    assert JWT not in stream.getvalue()


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "token=",
                "?Token=",
                "&access=",
                "refresh=",
                "access_token=",
                "Bearer ",
                "API-KEY ",
                "rtk_0123456789ab",
                "whsec_",
                '"password": "',
                "'TOKEN': '",
                "eyJhbGciOi",
                ".",
                "abcDEF123_-",
                " ",
                "/ws/chat/room/",
                "é",
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_the_quick_scan_never_lets_through_what_the_patterns_would_redact(text):
    # redact() skips the seven patterns when no word they need is in the text.
    full = text
    for pattern, repl in logs._TOKEN_PATTERNS:
        full = pattern.sub(repl, full)
    assert logs.redact(text) == full
