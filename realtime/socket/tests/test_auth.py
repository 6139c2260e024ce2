"""Unit tests of socket credentials: simplejwt's validation, access tokens only, active users."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from hypothesis import given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.services import user_credentials_revoke
from realtime.socket.auth import (
    BadCredentials,
    TokenCache,
    credentials_from_token,
    user_for_claims,
    validate_access_token,
    validated_tokens,
)
from realtime.socket.tests import tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", password="x")


def test_a_simplejwt_access_token_is_accepted(user):
    creds = credentials_from_token(str(AccessToken.for_user(user)))
    assert creds.user == user
    assert creds.method == "token"


def test_the_credentials_carry_the_token_expiry(user):
    token = AccessToken.for_user(user)
    assert credentials_from_token(str(token)).exp == float(token["exp"])


def test_a_hand_made_access_token_with_the_servers_key_is_accepted(user):
    raw = tokens.access(user.pk, settings.SECRET_KEY)
    assert validate_access_token(raw)["user_id"] == str(user.pk)


@pytest.mark.parametrize(
    "kind",
    [
        "malformed",
        "garbage_segments",
        "expired",
        "forged_signature",
        "tampered_payload",
        "alg_none",
        "other_alg",
        "refresh_as_access",
        "no_token_type",
        "oversized",
    ],
)
def test_bad_tokens_are_refused(user, kind):
    raw = tokens.bad_tokens(user.pk, settings.SECRET_KEY)[kind]
    with pytest.raises(BadCredentials):
        credentials_from_token(raw)


def test_a_real_refresh_token_is_refused_as_access(user):
    with pytest.raises(BadCredentials):
        credentials_from_token(str(RefreshToken.for_user(user)))


def test_an_empty_token_is_refused():
    with pytest.raises(BadCredentials):
        validate_access_token("")


def test_a_token_naming_no_user_is_refused(user):
    raw = tokens.bad_tokens(user.pk, settings.SECRET_KEY)["no_user_claim"]
    with pytest.raises(BadCredentials):
        credentials_from_token(raw)


def test_an_inactive_users_token_is_refused(user):
    raw = str(AccessToken.for_user(user))
    user.is_active = False
    user.save()
    with pytest.raises(BadCredentials, match="inactive"):
        credentials_from_token(raw)


def test_a_deleted_users_token_is_refused(user):
    raw = str(AccessToken.for_user(user))
    user.delete()
    with pytest.raises(BadCredentials, match="no such user"):
        credentials_from_token(raw)


@pytest.mark.parametrize(
    "user_id", ["abc", "1.5", None, [], {"a": 1}, "99999999999999999999999"]
)
def test_a_user_claim_of_the_wrong_shape_is_refused_not_a_crash(user_id):
    with pytest.raises(BadCredentials):
        user_for_claims({"user_id": user_id})


def test_validation_errors_never_repeat_the_token(user):
    raw = tokens.bad_tokens(user.pk, settings.SECRET_KEY)["forged_signature"]
    with pytest.raises(BadCredentials) as info:
        credentials_from_token(raw)
    assert raw not in str(info.value)
    assert raw.split(".")[1] not in str(info.value)


def test_a_token_from_before_a_password_change_no_longer_opens_a_socket(user):
    raw = tokens.sign(
        tokens.claims(user.pk, ver=user.token_version), settings.SECRET_KEY
    )
    assert credentials_from_token(raw).user == user
    user.set_password("a new one entirely")
    user.save()  # accounts' receiver bumps token_version: every older token is revoked
    with pytest.raises(BadCredentials, match="revoked"):
        credentials_from_token(raw)


# --- the cache of validated tokens ---------------------------------------------------------


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens simplejwt decodes, from an empty cache (the HS256 fast path off:
    these tests are about the cache; the fast path has its own below)."""
    validated_tokens.clear()
    monkeypatch.setattr("realtime.socket.auth.hs256_access_claims", lambda raw: None)
    seen: list[str] = []

    class Counted(AccessToken):
        def __init__(self, token: str) -> None:
            seen.append(token)
            super().__init__(token)

    monkeypatch.setattr("realtime.socket.auth.AccessToken", Counted)
    yield seen
    validated_tokens.clear()


def test_a_token_validated_once_is_accepted_again_without_decoding(user, decodes):
    raw = tokens.access(user.pk, settings.SECRET_KEY)
    first = validate_access_token(raw)
    assert validate_access_token(raw) == first
    assert credentials_from_token(raw).user == user
    assert decodes == [raw]


def test_a_refused_token_is_never_cached(user, decodes):
    raw = tokens.bad_tokens(user.pk, settings.SECRET_KEY)["forged_signature"]
    for _ in range(2):
        with pytest.raises(BadCredentials):
            validate_access_token(raw)
    assert decodes == [raw, raw] and len(validated_tokens) == 0


def test_a_cached_token_past_its_exp_is_decoded_again_and_refused(
    user, decodes, monkeypatch
):
    raw = tokens.access(user.pk, settings.SECRET_KEY, lifetime=300)
    exp = validate_access_token(raw)["exp"]
    monkeypatch.setattr(validated_tokens, "clock", lambda: exp + 1)

    class Expired(AccessToken):  # simplejwt's answer at exp + 1
        def __init__(self, token: str) -> None:
            decodes.append(token)
            raise TokenError("Token is expired")

    monkeypatch.setattr("realtime.socket.auth.AccessToken", Expired)
    with pytest.raises(BadCredentials, match="expired"):
        validate_access_token(raw)
    assert decodes == [raw, raw] and len(validated_tokens) == 0


def test_the_cache_expires_a_token_by_the_decoders_rule_leeway_included(monkeypatch):
    from rest_framework_simplejwt.state import token_backend

    now = [0.0]
    cache = TokenCache(10, clock=lambda: now[0])
    cache.put("t", {"exp": 1000, "user_id": "1"})
    now[0] = 999.5
    assert cache.get("t") == {"exp": 1000, "user_id": "1"}
    monkeypatch.setattr(token_backend, "leeway", 30)
    now[0] = 1029.5
    assert cache.get("t") is not None  # within LEEWAY, as simplejwt would accept it
    now[0] = 1030.0  # exp <= now - leeway: simplejwt's "expired"
    assert cache.get("t") is None


@pytest.mark.parametrize(
    "revoke", ["revocation", "password_change", "deactivation", "deletion"]
)
def test_a_cached_token_of_a_revoked_user_is_refused(user, decodes, revoke):
    raw = str(AccessToken.for_user(user))  # carries `ver`, as the token endpoint's do
    assert credentials_from_token(raw).user == user
    if revoke == "revocation":
        user_credentials_revoke(user_id=user.pk)  # "sign out everywhere"
    elif revoke == "password_change":
        user.set_password("a new one entirely")
        user.save()
    elif revoke == "deactivation":
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    else:
        user.delete()
    with pytest.raises(BadCredentials):
        credentials_from_token(raw)
    # The cache answered (one decode in all): revocation is read from the user's row.
    assert decodes == [raw]


def test_the_cache_stays_bounded_and_forgets_the_oldest_first():
    cache = TokenCache(3, clock=lambda: 0.0)
    for name in "abcde":
        cache.put(name, {"exp": 100})
    assert len(cache) == 3
    assert [cache.get(name) is not None for name in "abcde"] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_expired_tokens_leave_the_cache_as_new_ones_come():
    now = [0.0]
    cache = TokenCache(100, clock=lambda: now[0])
    cache.put("old", {"exp": 10})
    now[0] = 20.0
    cache.put("new", {"exp": 100})
    assert len(cache) == 1 and cache.get("new") is not None


# --- the HS256 fast path: it only ever accepts what simplejwt accepts ----------------


def _segment(data: dict) -> str:
    import base64

    import orjson

    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def _signed(header: dict, claims: dict, key: bytes | None = None) -> str:
    import base64
    import hmac

    head, body = _segment(header), _segment(claims)
    mac = hmac.new(
        key or settings.SECRET_KEY.encode(), f"{head}.{body}".encode(), "sha256"
    )
    sig = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    return f"{head}.{body}.{sig}"


def _claims(**changes):
    import time

    now = int(time.time())
    claims = {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": "abc",
        "user_id": "5",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_the_fast_path_reads_a_token_of_this_server_as_simplejwt_does(user):
    from realtime.socket.auth import hs256_access_claims

    raw = str(AccessToken.for_user(user))
    assert hs256_access_claims(raw) == dict(AccessToken(raw).payload)


@pytest.mark.parametrize(
    "raw",
    [
        _signed({"alg": "HS256"}, _claims(), key=b"not the key"),
        _signed({"alg": "none"}, _claims()),
        _signed({"alg": "HS512"}, _claims()),
        _signed({"alg": "HS256", "kid": "x"}, _claims()),
        _signed({"alg": "HS256"}, _claims(token_type="refresh")),
        _signed({"alg": "HS256"}, _claims(exp=1)),
        _signed({"alg": "HS256"}, _claims(exp=True)),
        _signed({"alg": "HS256"}, _claims(jti=None)),
        _signed({"alg": "HS256"}, _claims(iat=4_000_000_000)),
        _signed({"alg": "HS256"}, _claims(aud="elsewhere")),
        _signed({"alg": "HS256"}, _claims(nbf=4_000_000_000)),
        "a.b",
        "a.b.c.d",
        "eyJ.eyJ.!!!",
    ],
)
def test_the_fast_path_leaves_anything_unusual_to_simplejwt(raw):
    from realtime.socket.auth import hs256_access_claims

    assert hs256_access_claims(raw) is None


@settings_hypothesis(derandomize=True, max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "alg": st.sampled_from(["HS256", "HS384", "none", "hs256"]),
            "typ": st.sampled_from(["JWT", "jwt", 1]),
        },
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "token_type": st.sampled_from(["access", "refresh", 1]),
            "exp": st.one_of(
                st.integers(-10, 4_000_000_000), st.floats(0, 4e9), st.booleans()
            ),
            "iat": st.one_of(st.integers(-10, 4_000_000_000), st.text(max_size=3)),
            "jti": st.one_of(st.text(max_size=5), st.integers(-(2**40), 2**40)),
            "user_id": st.one_of(st.text(max_size=3), st.integers(0, 9)),
            "ver": st.integers(0, 3),
            "nbf": st.integers(0, 4_000_000_000),
        },
    ),
    st.booleans(),
)
def test_whatever_the_fast_path_accepts_simplejwt_accepts_with_the_same_claims(
    header, claims, right_key
):
    from realtime.socket.auth import hs256_access_claims

    raw = _signed(header, claims, key=None if right_key else b"wrong")
    fast = hs256_access_claims(raw)
    if fast is not None:
        assert fast == dict(AccessToken(raw).payload)
