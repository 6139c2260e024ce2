"""The plumbing's frames, in and out: heartbeat and auth both ways, error and system out.

Every JSON route answers these besides its own, so they live here, once; an app's frames
are in `<app>/schemas.py`. An outbound model describes a frame (checked against every
frame sent when WS_CHECK_FRAMES is on, and the source of the published contract); it is
never built on the send path, where frames are plain dicts encoded once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

#: ISO 8601 UTC with a `Z`, as frames.iso() writes every time a frame carries
ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
Timestamp = Annotated[str, Field(pattern=ISO_UTC)]

#: the codes an error frame carries (PROTOCOL.md section 4, plus `unavailable`;
#: `permission_denied` and `not_found` for a frame naming a message, PROTOCOL.md 10;
#: `forbidden` for a send to an archived room)
ErrorCode = Literal[
    "bad_json",
    "unknown_type",
    "invalid",
    "too_large",
    "rate_limited",
    "unavailable",
    "permission_denied",
    "not_found",
    "forbidden",
]


class OutFrame(BaseModel):
    """Base of every outbound model: no field beyond the named ones, no coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(**kwargs: Any) -> Any:
    """A field a frame may leave out, but never sends as null (not required, no default)."""
    return Field(default=None, json_schema_extra=_no_default, **kwargs)


# --- client to server -----------------------------------------------------------------


class HeartbeatIn(BaseModel):
    """`{"type":"heartbeat"}`: answered by the session itself."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["heartbeat"]


class AuthIn(BaseModel):
    """`{"type":"auth","token":str}`: a fresh access token for the same user."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=4096)


# --- server to client -----------------------------------------------------------------


class UserOut(OutFrame):
    """The protocol's user object, in every frame that names a user."""

    id: int = Field(ge=1)
    username: str


class ErrorOut(OutFrame):
    """`{"type":"error","code","detail"}`: a refused frame; the socket stays open.

    `errors` (field -> message, at most 5) comes with `invalid` when fields failed;
    `client_id` is the refused frame's own, when it had one (a chat `message`).
    """

    type: Literal["error"]
    code: ErrorCode
    detail: str
    errors: dict[str, str] = optional()
    client_id: str = optional()


class HeartbeatOut(OutFrame):
    """The answer to a client heartbeat."""

    type: Literal["heartbeat"]
    ts: Timestamp


class AuthOut(OutFrame):
    """The answer to an in-band token refresh: the new token's expiry.

    `exp` is epoch seconds, as the JWT's own `exp` claim (a protocol addition pins the
    unit: the first replies sent ISO text).
    """

    type: Literal["auth"]
    exp: int = Field(ge=0)


class SystemOut(OutFrame):
    """A notice: an admin's broadcast (chat), or cross-process delivery down or back.

    `degraded` is only on the delivery notices: true once when it stops, false once
    when it is back (then backfill by `seq`).
    """

    type: Literal["system"]
    body: str
    ts: Timestamp
    degraded: bool = optional()


#: the frames the plumbing sends on every JSON route, besides the route's own
PLUMBING_OUTBOUND: tuple[type[OutFrame], ...] = (
    ErrorOut,
    HeartbeatOut,
    AuthOut,
    SystemOut,
)


def frame_type(model: type[BaseModel]) -> str:
    """The `type` an outbound model's frames carry (its one Literal value)."""
    field = model.model_fields.get("type")
    values = get_args(field.annotation) if field is not None else ()
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{model.__name__} needs `type: Literal[<one str>]`")
    return values[0]


def by_type(models: Iterable[type[BaseModel]]) -> Mapping[str, type[BaseModel]]:
    """`{type: model}` of outbound models; a type named twice is a bug (TypeError)."""
    table: dict[str, type[BaseModel]] = {}
    for model in models:
        kind = frame_type(model)
        if kind in table:
            raise TypeError(
                f"frame type {kind!r} is declared by both "
                f"{table[kind].__name__} and {model.__name__}"
            )
        table[kind] = model
    return table
