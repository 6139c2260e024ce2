"""Inbound frame parsing: text -> validated schema object, or a FrameError. Nothing else escapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from realtime.ws.errors import BadJson, Invalid, TooLarge, UnknownType


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
        errors = {
            ".".join(str(p) for p in err["loc"]) or "frame": err["msg"]
            for err in exc.errors()
        }
        raise Invalid("frame fields are invalid", errors=errors) from None


def dumps(frame: Mapping[str, Any]) -> str:
    """Encode an outbound frame once (orjson; datetimes come out as ISO 8601)."""
    return orjson.dumps(frame).decode()
