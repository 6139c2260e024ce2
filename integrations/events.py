"""Webhook bodies and their signature (PROTOCOL.md section 11)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from realtime.socket.frames import dumps, now_iso

SIGNATURE_HEADER = "X-Realtime-Signature"


def event_body(event: str, data: dict[str, Any]) -> tuple[str, str]:
    """`(id, body)`: `{"id","event","ts","data"}` as the JSON text every attempt sends."""
    event_id = uuid.uuid4().hex
    return event_id, dumps(
        {"id": event_id, "event": event, "ts": now_iso(), "data": data}
    )


def signature(secret: str, body: bytes) -> str:
    """The header's value: `sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: compare in constant time (here for tests and the README)."""
    return hmac.compare_digest(signature(secret, body), header or "")
