"""Inbound frame parsing: text -> validated schema object, or a FrameError. Nothing else escapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from realtime.ws.errors import BadJson, Invalid, TooLarge, UnknownType

#: field errors an error frame lists; the rest are only counted (a frame with thousands of
#: unknown keys would otherwise be answered with an error frame larger than itself)
MAX_LISTED_ERRORS = 5
#: characters of a field name or an error message kept in an error frame
MAX_ERROR_CHARS = 64


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
            raise TooLarge(f"body is over {max_body_chars} characters")
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
        raise Invalid(detail, errors=errors) from None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def dumps(frame: Mapping[str, Any]) -> str:
    """Encode an outbound frame once (orjson; datetimes come out as ISO 8601)."""
    return orjson.dumps(frame).decode()
