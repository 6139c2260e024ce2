"""The accounts REST API: register, JWT token and refresh, and JSON errors on every /api/ path."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from realtime.web.errors import ERROR_CODES
from tests.rest import api_error

PASSWORD = "correct horse battery staple"
BAD_JSON = b'{"username": "a", '


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", password=PASSWORD)


# --- register -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_register_creates_the_user_and_answers_201(api):
    response = api.post(
        "/api/auth/register/", {"username": "bob", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    user = get_user_model().objects.get(username="bob")
    assert response.json() == {"id": user.pk, "username": "bob"}
    assert user.check_password(PASSWORD)
    assert user.password != PASSWORD
    assert "password" not in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "bob"}, "password"),
        ({"username": "", "password": PASSWORD}, "username"),
        ({"username": "bad name!", "password": PASSWORD}, "username"),
        ({"username": "x" * 151, "password": PASSWORD}, "username"),
        ({"username": "bob", "password": "short"}, "password"),
        ({"username": "bob", "password": "password123"}, "password"),  # common
        ({"username": "bob", "password": "8274619305"}, "password"),  # numeric
        (
            {"username": "bobthebuilder", "password": "bobthebuilder1"},
            "password",
        ),  # similar
        ({"username": "bob", "password": "x" * 129}, "password"),
        ({"username": 5, "password": PASSWORD}, "username"),  # never coerced
    ],
)
def test_register_answers_400_with_field_errors(api, body, field):
    response = api.post("/api/auth/register/", body, format="json")
    assert field in api_error(response, 400, "invalid")
    assert (
        not get_user_model()
        .objects.filter(username=body.get("username") or "")
        .exists()
    )


@pytest.mark.django_db
def test_a_taken_username_is_a_field_error_whatever_its_case(api, alice):
    response = api.post(
        "/api/auth/register/",
        {"username": "ALICE", "password": PASSWORD},
        format="json",
    )
    assert "username" in api_error(response, 400, "invalid")


@pytest.mark.django_db
def test_password_validation_names_every_failing_rule(api):
    response = api.post(
        "/api/auth/register/", {"username": "bob", "password": "1234"}, format="json"
    )
    messages = " ".join(api_error(response, 400, "invalid")["password"]).lower()
    assert "too short" in messages and "common" in messages and "numeric" in messages


@pytest.mark.django_db
@pytest.mark.parametrize("form", ["multipart", None])
def test_a_form_body_is_a_415_never_parsed_as_strings(api, form):
    body = {"username": "carol", "password": PASSWORD}
    if form:
        response = api.post("/api/auth/register/", body, format=form)
    else:
        response = api.post(
            "/api/auth/register/",
            "username=carol&password=x",
            content_type="application/x-www-form-urlencoded",
        )
    api_error(response, 415, "unsupported_media_type")
    assert not get_user_model().objects.filter(username="carol").exists()


# --- token and refresh ----------------------------------------------------------------------------


def test_token_answers_200_with_an_access_and_a_refresh_token(api, alice):
    response = api.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert AccessToken(body["access"])["user_id"] == str(alice.pk)
    assert RefreshToken(body["refresh"])["token_type"] == "refresh"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong password"},
        {"username": "nobody", "password": PASSWORD},
    ],
)
def test_token_answers_401_json_on_bad_credentials(api, alice, body):
    response = api.post("/api/auth/token/", body, format="json")
    api_error(response, 401, "not_authenticated")


def test_an_inactive_user_gets_no_token(api, alice):
    alice.is_active = False
    alice.save()
    response = api.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 401


def test_token_without_fields_is_400_with_field_errors(api, db):
    response = api.post("/api/auth/token/", {}, format="json")
    assert set(api_error(response, 400, "invalid")) == {"username", "password"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": 5, "password": PASSWORD}, "username"),
        ({"username": "alice", "password": ["x"]}, "password"),
        ({"username": "alice", "password": PASSWORD, "is_staff": True}, "is_staff"),
        ({"username": "alice", "password": PASSWORD, "access": "x"}, "access"),
    ],
)
def test_token_input_is_as_strict_as_every_body(api, alice, body, field):
    response = api.post("/api/auth/token/", body, format="json")
    assert field in api_error(response, 400, "invalid")


def test_refresh_answers_200_with_a_new_access_token(api, alice):
    refresh = RefreshToken.for_user(alice)
    response = api.post(
        "/api/auth/token/refresh/", {"refresh": str(refresh)}, format="json"
    )
    assert response.status_code == 200
    assert AccessToken(response.json()["access"])["user_id"] == str(alice.pk)


@pytest.mark.parametrize("kind", ["access", "garbage"])
def test_refresh_answers_401_json_on_a_token_that_is_not_a_refresh_token(
    api, alice, kind
):
    raw = str(AccessToken.for_user(alice)) if kind == "access" else "not.a.token"
    response = api.post("/api/auth/token/refresh/", {"refresh": raw}, format="json")
    api_error(response, 401, "token_not_valid")
    assert "messages" not in response.json()  # simplejwt's token-class internals


def test_the_issued_access_token_opens_protected_api_paths(api, alice):
    access = api.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()["access"]
    assert api.get("/api/notifications/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get("/api/notifications/").status_code == 200


# --- JSON errors, never HTML, on every /api/ path --------------------------------------------------


def _api_paths() -> list[str]:
    """Every /api/ URL the project routes, with sample values for its parameters."""

    def walk(resolver: URLResolver, prefix: str):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    paths = {p for p in walk(get_resolver(), "") if p.startswith("api/")}
    samples = {"int": "1", "str": "no-such-thing", "slug": "no-such-thing", "path": "x"}
    return sorted(
        "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: samples[m.group(1) or "str"], p)
        for p in paths
    )


API_PATHS = _api_paths()


def test_the_sweep_covers_the_auth_endpoints():
    assert {
        "/api/auth/register/",
        "/api/auth/token/",
        "/api/auth/token/refresh/",
    } <= set(API_PATHS)


def _assert_json_error(response, where: str) -> None:
    if response.status_code < 400:
        return
    content_type = response.get("Content-Type", "")
    assert content_type.startswith("application/json"), (
        where,
        response.status_code,
        content_type,
    )
    assert not response.content.lstrip().startswith(b"<"), where
    response.json()


def _sweep(token: str, accept: str):
    """(where, response) for every /api/ path, method, with and without a token."""
    client = Client(
        raise_request_exception=False
    )  # a crash is a 500 response, as served
    for path in [
        *API_PATHS,
        "/api/no-such-path/",
        "/api/auth/token",
        "/api/rooms/x/y/z/",
    ]:
        for auth in ({}, {"HTTP_AUTHORIZATION": f"Bearer {token}"}):
            for method in ("get", "post", "put", "patch", "delete"):
                body = {} if method == "get" else {"data": BAD_JSON}
                response = getattr(client, method)(
                    path,
                    content_type="application/json",
                    HTTP_ACCEPT=accept,
                    **body,
                    **auth,
                )
                yield (
                    f"{method.upper()} {path} {'with token' if auth else 'anonymous'}",
                    response,
                )


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "accept", ["application/json", "text/html,application/xhtml+xml"]
)
def test_every_api_path_answers_errors_as_json(alice, settings, debug, accept):
    settings.DEBUG = debug
    for where, response in _sweep(str(AccessToken.for_user(alice)), accept):
        _assert_json_error(response, where)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "accept", ["application/json", "text/html,application/xhtml+xml"]
)
def test_no_api_path_crashes_on_a_bad_body_or_a_browser_accept_header(alice, accept):
    crashes = [
        f"{where}: {response.status_code}"
        for where, response in _sweep(str(AccessToken.for_user(alice)), accept)
        if response.status_code >= 500
    ]
    assert crashes == []


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "path", ["/api/auth/register/", "/api/auth/token/", "/api/auth/token/refresh/"]
)
def test_a_bad_json_body_is_a_400_json_error(client, settings, debug, path):
    settings.DEBUG = debug
    response = client.post(path, data=BAD_JSON, content_type="application/json")
    api_error(response, 400, "parse_error")
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_a_404_json_error(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/api/no-such-path/")
    api_error(response, 404, "not_found")
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_a_wrong_method_is_a_405_json_error(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/api/auth/token/")
    api_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


@pytest.mark.django_db
def test_an_unsupported_media_type_is_a_415_json_error(client):
    response = client.post("/api/auth/token/", data="x", content_type="text/plain")
    api_error(response, 415, "unsupported_media_type")


@pytest.mark.django_db
def test_pages_outside_api_keep_their_html_errors(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- against a real server with DJANGO_DEBUG=1 -----------------------------------------------------


def _raw(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict | None = None,
):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("content-type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


@pytest.mark.e2e
def test_a_debug_server_answers_api_errors_as_json(server_factory):
    server = server_factory(DJANGO_DEBUG=1, LOG_FORMAT="text")
    json_body = {"Content-Type": "application/json", "Accept": "text/html"}
    cases = [
        ("POST", "/api/auth/token/", BAD_JSON, json_body, 400),
        ("POST", "/api/auth/register/", BAD_JSON, json_body, 400),
        ("GET", "/api/no-such-path/", None, {"Accept": "text/html"}, 404),
        ("GET", "/api/auth/token/", None, {"Accept": "text/html"}, 405),
        (
            "POST",
            "/api/auth/token",
            b"{}",
            json_body,
            None,
        ),  # no slash: whatever it is, JSON
        ("GET", "/api/rooms/", None, {"Accept": "text/html"}, 401),
    ]
    for method, path, body, headers, expected in cases:
        status, content_type, content = _raw(server.url + path, method, body, headers)
        if expected is not None:
            assert status == expected, (path, status)
        assert status >= 400, (path, status)
        assert content_type.startswith("application/json"), (path, status, content_type)
        assert not content.lstrip().startswith(b"<"), path
        assert json.loads(content)["code"] in ERROR_CODES, (path, content)


@pytest.mark.e2e
def test_the_auth_endpoints_are_throttled_per_ip_with_a_json_429(server_factory):
    server = server_factory(API_AUTH_THROTTLE="3/min")
    statuses = [
        server.api.post("/api/auth/token/", {"username": "x", "password": "y"})[0]
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    status, body = server.api.post(
        "/api/auth/register/", {"username": "x", "password": "y"}
    )
    assert status in {400, 429}  # a scope of its own or shared: either way bounded
    status, body = server.api.post(
        "/api/auth/token/", {"username": "x", "password": "y"}
    )
    assert status == 429
    assert body["code"] == "throttled" and body["detail"]
