"""Outbound frames every route shares (PROTOCOL.md section 4), encoded once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from realtime.ws.envelope import dumps


def iso(when: dt.datetime) -> str:
    """ISO 8601 UTC with a `Z`, as every frame carries times."""
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def now_iso() -> str:
    """The current time, as iso() writes it."""
    return iso(dt.datetime.now(dt.UTC))


def error_frame(code: str, detail: str, errors: Any = None) -> str:
    """`{"type":"error","code","detail"}`; `errors` adds field errors for `invalid`."""
    frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    if errors:
        frame["errors"] = errors
    return dumps(frame)


def system_frame(body: str, **extra: Any) -> str:
    """`{"type":"system","body","ts"}`, plus flags such as `degraded`."""
    return dumps({"type": "system", "body": body, "ts": now_iso(), **extra})


def heartbeat_frame() -> str:
    """The answer to a client heartbeat."""
    return dumps({"type": "heartbeat", "ts": now_iso()})


def auth_frame(exp: float) -> str:
    """The answer to an in-band token refresh: the new expiry, ISO 8601."""
    return dumps({"type": "auth", "exp": iso(dt.datetime.fromtimestamp(exp, dt.UTC))})
