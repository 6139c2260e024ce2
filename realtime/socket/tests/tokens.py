"""Hand-made JWTs for the tests: valid ones and every kind the gate must refuse."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt


def claims(
    user_id: int, *, kind: str = "access", lifetime: float = 300, **extra: Any
) -> dict:
    """simplejwt's claims: token_type, exp, iat, jti, user_id (a string, as simplejwt writes)."""
    now = int(time.time())
    return {
        "token_type": kind,
        "exp": int(now + lifetime),
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": str(user_id),
        **extra,
    }


def sign(payload: dict, key: str, alg: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=alg)


def access(user_id: int, key: str, *, lifetime: float = 300) -> str:
    """A valid access token for `user_id`, signed with `key` (the server's secret)."""
    return sign(claims(user_id, lifetime=lifetime), key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def alg_none(user_id: int) -> str:
    """An unsigned token (`alg: none`) with otherwise valid access claims."""
    import orjson

    header = _b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    return f"{header}.{_b64(orjson.dumps(claims(user_id)))}."


def bad_tokens(user_id: int, key: str) -> dict[str, str]:
    """Every token kind the gate refuses that needs no database change, by name."""
    return {
        "malformed": "not-a-jwt",
        "garbage_segments": "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
        "expired": sign(claims(user_id, lifetime=-60), key),
        "forged_signature": sign(claims(user_id), key + "-but-not-the-servers"),
        "tampered_payload": _tamper(sign(claims(user_id), key), user_id + 1),
        "alg_none": alg_none(user_id),
        "other_alg": sign(claims(user_id), key, alg="HS512"),
        "refresh_as_access": sign(claims(user_id, kind="refresh"), key),
        "no_token_type": sign(
            {k: v for k, v in claims(user_id).items() if k != "token_type"}, key
        ),
        "no_user_claim": sign(
            {k: v for k, v in claims(user_id).items() if k != "user_id"}, key
        ),
        "oversized": sign(claims(user_id, pad="x" * 5000), key),
    }


def _tamper(token: str, other_user: int) -> str:
    """Swap the payload for another user's, keeping the original signature."""
    import orjson

    header, _payload, signature = token.split(".")
    return f"{header}.{_b64(orjson.dumps(claims(other_user)))}.{signature}"
