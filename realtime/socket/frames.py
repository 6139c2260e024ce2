"""Frames: parsing what clients send, encoding what the server sends, once.

The one home of "a frame" on the wire:
- inbound: `parse_frame(text, table)` turns text into a validated schema object or a
  FrameError (answered with an error frame), through an explicit table of `type`s;
- outbound: `dumps(frame)` encodes a frame once (orjson), and the builders of the frames
  every route shares (error, system, heartbeat, auth); `outbound_problem(text, table)`
  says why a frame breaks its route's schemas (the WS_CHECK_FRAMES hook);
- bytes: `wire_frame(text)` is the unmasked WebSocket frame of a text, encoded once for
  every member of a room (the server writes those bytes to each socket).

No Django and no asyncio here: the server imports this before the app is loaded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from realtime.socket.errors import BadJson, Invalid, TooLarge, UnknownType

# --- inbound --------------------------------------------------------------------------------
#: field errors an error frame lists; the rest are only counted (a frame with thousands of
#: unknown keys would otherwise be answered with an error frame larger than itself)
MAX_LISTED_ERRORS = 5
#: characters of a field name or an error message kept in an error frame
MAX_ERROR_CHARS = 64
#: the longest client_id an error frame echoes (the chat route allows 64 characters)
MAX_ECHOED_ID = 64


def parse_object(text: str) -> dict[str, Any]:
    """Decode `text` as a JSON object with a string `type`, or raise BadJson/Invalid."""
    try:
        data = orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise BadJson("frame is not valid JSON") from exc
    if not isinstance(data, dict):
        raise BadJson("frame must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise Invalid("frame needs a string 'type'", errors={"type": "required"})
    return data


def parse_frame(
    text: str,
    table: Mapping[str, type[BaseModel]],
    *,
    max_body_chars: int | None = None,
) -> BaseModel:
    """Parse one inbound frame against an explicit table of `type` -> schema."""
    data = parse_object(text)
    schema = table.get(data["type"])
    if schema is None:
        raise UnknownType(f"unknown type {data['type'][:64]!r}")
    body = data.get("body")
    if max_body_chars is not None and isinstance(body, str):
        if len(body.strip()) > max_body_chars:
            raise TooLarge(
                f"body is over {max_body_chars} characters",
                client_id=echoed_client_id(data),
            )
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors(include_url=False, include_input=False):
            if len(errors) == MAX_LISTED_ERRORS:
                break
            field = ".".join(str(p) for p in err["loc"]) or "frame"
            errors[_clip(field)] = _clip(err["msg"])
        detail = "frame fields are invalid"
        unlisted = exc.error_count() - len(errors)
        if unlisted > 0:
            detail += f" ({unlisted} more not listed)"
        raise Invalid(detail, errors=errors, client_id=echoed_client_id(data)) from None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def dumps(frame: Mapping[str, Any]) -> str:
    """Encode an outbound frame once (orjson; datetimes come out as ISO 8601)."""
    return orjson.dumps(frame).decode()


# --- outbound -------------------------------------------------------------------------------


def iso(when: dt.datetime) -> str:
    """ISO 8601 UTC with a `Z`, as every frame carries times."""
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def now_iso() -> str:
    """The current time, as iso() writes it."""
    return iso(dt.datetime.now(dt.UTC))


def error_frame(
    code: str, detail: str, errors: Any = None, client_id: str | None = None
) -> str:
    """`{"type":"error","code","detail"}`; `errors` adds field errors for `invalid`, and
    `client_id` names the refused frame's own id (a protocol addition)."""
    frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    if errors:
        frame["errors"] = errors
    if client_id is not None:
        frame["client_id"] = client_id
    return dumps(frame)


def echoed_client_id(data: Any) -> str | None:
    """A frame's `client_id` when it is one a client could have meant (a short string)."""
    value = data.get("client_id") if isinstance(data, dict) else None
    if isinstance(value, str) and 0 < len(value) <= MAX_ECHOED_ID:
        return value
    return None


def system_frame(body: str, **extra: Any) -> str:
    """`{"type":"system","body","ts"}`, plus flags such as `degraded`."""
    return dumps({"type": "system", "body": body, "ts": now_iso(), **extra})


def heartbeat_frame() -> str:
    """The answer to a client heartbeat."""
    return dumps({"type": "heartbeat", "ts": now_iso()})


def auth_frame(exp: float) -> str:
    """The answer to an in-band token refresh: the new token's expiry.

    Epoch seconds, as the JWT's own `exp` claim (a client compares the two directly).
    """
    return dumps({"type": "auth", "exp": int(exp)})


def outbound_problem(
    item: str | bytes, table: Mapping[str, type[BaseModel]]
) -> str | None:
    """Why a frame the server sends breaks the route's outbound schemas; None if it keeps them.

    `table` maps each `type` the route sends to its model (realtime/socket/schemas.py).
    """
    if not isinstance(item, str):
        return "a binary frame on a JSON route"
    try:
        data = orjson.loads(item)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    kind = data.get("type")
    schema = table.get(kind) if isinstance(kind, str) else None
    if schema is None:
        return f"type {kind!r} is not one this route sends"
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'frame'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
    return None


# --- bytes on the wire ---------------------------------------------------------------------

#: The scope extension under which the server offers `write_frame(bytes) -> bool`.
FRAME_WRITER = "realtime.frame_writer"
#: The scope extension under which the server offers `queued_bytes() -> int`: what the
#: socket's transport holds that the kernel has not taken (the outbound byte bound).
QUEUED_BYTES = "realtime.queued_bytes"

_last: tuple[str, bytes] | None = None
_last_run: tuple[Sequence[Any], bytes] | None = None


def text_frame(text: str) -> bytes:
    """An unmasked, final text frame (RFC 6455 5.2) carrying `text`."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def wire_frame(text: str) -> bytes:
    """text_frame(), remembered for the text last encoded.

    A fan-out hands the very same str to every member's socket in turn, so an identity
    check on the last one encodes each message once, with no cache to bound or expire.
    """
    global _last
    last = _last
    if last is not None and last[0] is text:
        return last[1]
    frame = text_frame(text)
    _last = (text, frame)
    return frame


def wire_frames(run: Sequence[Any], texts: Sequence[str]) -> bytes:
    """The text frames of `texts`, back to back: one write for several frames.

    `run` is what the hub handed every member (realtime.fanout.hub.Hub.deliver_run):
    a member that takes all of it gets the bytes the first member built, by the same
    identity check as wire_frame(); a member that skips some builds its own.
    """
    global _last_run
    last = _last_run
    if last is not None and last[0] is run and len(texts) == len(run):
        return last[1]
    data = b"".join([wire_frame(text) for text in texts])
    if len(texts) == len(run):
        _last_run = (run, data)
    return data
