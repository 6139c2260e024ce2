"""Unit tests of socket credentials: simplejwt's validation, access tokens only, active users."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from realtime.socket.auth import (
    BadCredentials,
    credentials_from_token,
    user_for_claims,
    validate_access_token,
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
