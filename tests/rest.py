"""What every REST test checks of an error answer: the one shape (PROTOCOL.md s. 11)."""

from __future__ import annotations

import json
from typing import Any


def api_error(response: Any, status: int, code: str) -> dict[str, list[str]]:
    """Check a REST answer is the one error shape with this status and code (PROTOCOL.md
    section 11); its field errors (`{}` when no field is at fault)."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) <= {"detail", "code", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert body["code"] == code, body
    errors = body.get("errors", {})
    assert "errors" not in body or errors, body  # never an empty `errors`
    for name, messages in errors.items():
        assert isinstance(name, str) and messages, body
        assert all(isinstance(m, str) for m in messages), body
    return errors
