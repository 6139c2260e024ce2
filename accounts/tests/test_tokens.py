"""Credentials taken back stay taken back: rotation, logout, and revocation of every JWT."""

from __future__ import annotations

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import services

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a whole new passphrase 42"

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password=PASSWORD)


def obtain(username: str = "alice", password: str = PASSWORD) -> dict[str, str]:
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def refresh(token: str):
    return APIClient().post(
        "/api/auth/token/refresh/", {"refresh": token}, format="json"
    )


def rooms_with(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/rooms/").status_code


# --- rotation and logout -------------------------------------------------------------------


def test_a_refresh_answers_a_new_refresh_token_and_the_used_one_is_refused(alice):
    first = obtain()["refresh"]
    response = refresh(first)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"} and body["refresh"] != first
    assert rooms_with(body["access"]) == 200

    reused = refresh(first)
    assert reused.status_code == 401
    assert reused["Content-Type"].startswith("application/json")
    assert "detail" in reused.json()
    assert refresh(body["refresh"]).status_code == 200  # the new one works, once


def test_of_two_refreshes_racing_with_one_token_only_one_gets_tokens(alice):
    raw = obtain()["refresh"]
    # Both parsed (and checked against the blacklist) before either rotates.
    first, second = RefreshToken(raw), RefreshToken(raw)
    assert "refresh" in services.refresh_token_rotate(refresh=first)
    with pytest.raises(TokenError):
        services.refresh_token_rotate(refresh=second)


def test_logout_blacklists_the_refresh_token(alice):
    tokens = obtain()
    other = obtain()["refresh"]  # another device of the same user
    response = APIClient().post(
        "/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json"
    )
    assert response.status_code == 204
    assert refresh(tokens["refresh"]).status_code == 401
    assert refresh(other).status_code == 200  # only that one is out


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"refresh": "not.a.token"}, 401),
        ({"refresh": "access"}, 401),
        ({}, 400),
    ],
)
def test_logout_with_no_refresh_token_is_a_json_error(alice, body, status):
    if body.get("refresh") == "access":
        body = {"refresh": obtain()["access"]}
    response = APIClient().post("/api/auth/logout/", body, format="json")
    assert response.status_code == status
    assert response.json()


def test_the_openapi_schema_documents_logout_and_the_rotated_refresh(client):
    schema = orjson.loads(client.get("/api/schema/?format=json").content)
    logout = schema["paths"]["/api/auth/logout/"]["post"]
    assert {"204", "401"} <= set(logout["responses"])
    assert "requestBody" in logout
    for path in ("/api/auth/token/", "/api/auth/token/refresh/"):
        answer = schema["paths"][path]["post"]["responses"]["200"]
        ref = answer["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        fields = schema["components"]["schemas"][ref]["properties"]
        assert {"access", "refresh"} <= set(fields), path


# --- every token of the user, after a credential change ------------------------------------


def change_password(user):
    user.set_password(NEW_PASSWORD)
    user.save()


def log_out_of_the_web_ui(user):
    client = Client()
    assert (
        client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )
    assert client.post("/logout/").status_code == 302


def deactivate(user):
    user.is_active = False
    user.save()


def deactivate_without_signals(user):
    # QuerySet.update() sends no signal: the token's user is checked at refresh too.
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)


def delete(user):
    user.delete()


@pytest.mark.parametrize(
    "change",
    [
        change_password,
        log_out_of_the_web_ui,
        deactivate,
        deactivate_without_signals,
        delete,
    ],
)
def test_every_refresh_token_of_the_user_is_refused_after(alice, change):
    issued = [
        obtain()["refresh"],
        obtain()["refresh"],
        # Issued without the version claim, as before this existed: refused as well.
        str(RefreshToken.for_user(alice)),
    ]
    change(get_user_model().objects.get(pk=alice.pk))
    for token in issued:
        response = refresh(token)  # a deleted user's token was a 500 once
        assert response.status_code == 401, (change.__name__, response.content)
        assert response.json()["code"] == "token_not_valid"


@pytest.mark.parametrize("change", [change_password, log_out_of_the_web_ui, deactivate])
def test_an_access_token_from_before_a_credential_change_is_refused_on_rest(
    alice, change
):
    before = obtain()["access"]
    plain = str(AccessToken.for_user(alice))  # no version claim
    assert rooms_with(before) == 200 and rooms_with(plain) == 200
    change(get_user_model().objects.get(pk=alice.pk))
    assert rooms_with(before) == 401
    assert rooms_with(plain) == 401


def test_tokens_issued_after_a_password_change_work(alice):
    change_password(alice)
    tokens = obtain(password=NEW_PASSWORD)
    assert rooms_with(tokens["access"]) == 200
    assert refresh(tokens["refresh"]).status_code == 200


def test_saving_the_changed_user_again_does_not_bring_old_tokens_back(alice):
    old = obtain()["refresh"]
    change_password(alice)
    alice.first_name = "Alice"
    alice.save()  # the same instance: its token_version followed the change
    assert refresh(old).status_code == 401


def test_other_users_keep_their_tokens(alice):
    get_user_model().objects.create_user("bob", password=PASSWORD)
    bobs = obtain("bob")
    change_password(alice)
    assert refresh(bobs["refresh"]).status_code == 200
    assert rooms_with(bobs["access"]) == 200


def test_the_admin_never_shows_an_issued_refresh_token(alice):
    obtain()
    row = OutstandingToken.objects.get(user=alice)
    signature = row.token.split(".")[2].encode()  # the secret part of a JWT
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client = Client()
    client.force_login(root)
    for url in (
        "/admin/token_blacklist/outstandingtoken/",
        f"/admin/token_blacklist/outstandingtoken/{row.pk}/change/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert row.jti.encode() in page.content  # the page is about that token
        assert signature not in page.content
