"""Structured logs: JSON lines or text, a trace context on every line, no token ever written."""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
import secrets
from typing import Any

import orjson

#: The socket or request a log line belongs to; set by the HTTP middleware and the consumer.
connection_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "connection_id", default=None
)
trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trace_id", default=None
)
user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "user_id", default=None
)

_TOKEN_PATTERNS = [
    # ?token=... or &token=... in any URL or query string
    (
        re.compile(r"(?i)([?&;]|\b)(token|access|refresh|access_token)=([^&\s\"'#]+)"),
        r"\1\2=[redacted]",
    ),
    # Authorization: Bearer ...
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    # Authorization: Api-Key ... (the server API)
    (re.compile(r"(?i)(api-key\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    # a bare server API key (its public prefix kept) or webhook signing secret
    (re.compile(r"\b(rtk_[0-9a-f]{12})[A-Za-z0-9_-]+"), r"\1[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9_-]+"), "whsec_[redacted]"),
    # "token": "..." in a logged JSON body or dict repr
    (
        re.compile(
            r"(?i)([\"'](?:token|access|refresh|password)[\"']\s*:\s*[\"'])[^\"']*"
        ),
        r"\1[redacted]",
    ),
    # a bare JWT anywhere (header.payload.signature, base64url)
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
        "[redacted-jwt]",
    ),
]


#: a word every pattern above needs (case aside): a text without one has nothing to
#: redact, and is passed in one scan instead of seven (every socket's open and close
#: lines, with their extras, go through here)
_MIGHT_HOLD = re.compile(
    r"(?i)token|access|refresh|password|bearer|api-key|rtk_|whsec_|eyJ"
)


def redact(text: str) -> str:
    """Remove every credential-looking substring from `text`."""
    if _MIGHT_HOLD.search(text) is None:
        return text
    for pattern, repl in _TOKEN_PATTERNS:
        text = pattern.sub(repl, text)
    return text


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def trace_from_headers(headers: dict[bytes, bytes] | list[tuple[bytes, bytes]]) -> str:
    """The trace id of an incoming `traceparent` or `X-Request-ID` header, else a new one."""
    items = headers.items() if isinstance(headers, dict) else headers
    request_id = None
    for name, value in items:
        lname = name.lower()
        if lname == b"traceparent":
            match = _TRACEPARENT.match(value.decode("latin-1").strip())
            if match:
                return match.group(1)
        elif lname == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _REQUEST_ID.match(candidate):
                request_id = candidate
    return request_id or secrets.token_hex(16)


class RedactFilter(logging.Filter):
    """Formats the message once, then strips credentials from it (args included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        # Extras too: django.request logs the request, whose repr holds the query.
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, _redact_value(value))
        return True


def _redact_value(value: Any) -> Any:
    """An extra without credentials: containers keep their shape, objects turn text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return redact(str(value))


class ServerChatterFilter(logging.Filter):
    """Drops uvicorn's own line per accepted socket: the consumer writes a richer one.

    Refusals ("... 403") stay: they are the only access line a refused handshake gets.
    """

    _DROP = frozenset(
        {'%s - "WebSocket %s" [accepted]', "connection open", "connection closed"}
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and record.msg in self._DROP)


class ContextFilter(logging.Filter):
    """Adds the current connection id, trace id and user id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "connection_id"):
            record.connection_id = connection_id.get()
        if not hasattr(record, "trace_id"):
            record.trace_id = trace_id.get()
        if not hasattr(record, "user_id"):
            record.user_id = user_id.get()
        return True


_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in vars(record).items() if k not in _STANDARD and v is not None
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_extras(record))
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """Readable lines for `make run`, the context fields appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        text = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            text = f"{text}  [{extras}]"
        if record.exc_info:
            text = f"{text}\n{redact(self.formatException(record.exc_info))}"
        return text
