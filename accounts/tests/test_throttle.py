"""LOGIN_THROTTLE on every sign-in path, and the client every throttle counts: REMOTE_ADDR."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from accounts import throttling

PASSWORD = "correct horse battery staple"
PATHS = ["/api/auth/token/", "/login/", "/admin/login/"]


def own_cache(settings) -> None:
    """A cache of this test's own: counters start from nothing (never clear a shared one)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user(
        "alice", password=PASSWORD, is_staff=True
    )


@pytest.fixture
def limit(settings):
    """LOGIN_THROTTLE of 3 failures a minute, counted from nothing."""
    settings.LOGIN_THROTTLE = "3/min"
    own_cache(settings)
    throttling.counters._local.clear()  # process memory, used while the cache fails
    yield 3
    throttling.counters._local.clear()


def sign_in(path: str, username: str, password: str, **meta: str):
    """One sign-in attempt on `path` (JSON on the API, the form elsewhere)."""
    if path.startswith("/api/"):
        return APIClient().post(
            path, {"username": username, "password": password}, format="json", **meta
        )
    return Client().post(path, {"username": username, "password": password}, **meta)


def refused(response) -> bool:
    return response.status_code == 429


def signed_in(path: str, response) -> bool:
    if path.startswith("/api/"):
        return response.status_code == 200 and "access" in response.json()
    return response.status_code == 302


# --- the limit, per client IP and per username -----------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_failed_sign_ins_past_the_limit_are_refused_with_429_even_with_a_spoofed_xff(
    alice, limit, path
):
    # Each try names another user and claims another address: only the IP counts here.
    for n in range(limit):
        response = sign_in(
            path, f"user{n}", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.0.{n}"
        )
        assert response.status_code in {200, 401}, response.status_code
    response = sign_in(path, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert refused(response)  # the right password too: nothing is checked any more
    assert 1 <= int(response["Retry-After"]) <= 60
    if path.startswith("/api/"):
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["detail"].startswith("Too many failed sign-ins.")
        assert response.json()["code"] == "throttled"
    else:
        assert response["Content-Type"].startswith("text/html")
        assert b"Too many failed sign-ins." in response.content
        assert b'name="password"' in response.content  # the form, to try again later
        assert "_auth_user_id" not in response.wsgi_request.session


def test_the_count_is_shared_by_every_sign_in_path(alice, limit):
    for path in PATHS:
        sign_in(path, "nobody", "wrong")
    for path in PATHS:
        assert refused(sign_in(path, "alice", PASSWORD)), path


def test_failures_for_one_username_are_limited_from_any_address(alice, limit):
    # "ALICE" and " alice" are the same account to guess at (usernames are unique
    # whatever their case).
    for n, name in enumerate(["alice", "ALICE", "Alice"]):
        sign_in("/api/auth/token/", name, "wrong", REMOTE_ADDR=f"192.0.2.{n}")
    assert refused(sign_in("/login/", "alice", PASSWORD, REMOTE_ADDR="192.0.2.50"))
    # Other users from fresh addresses are untouched.
    assert (
        sign_in(
            "/api/auth/token/", "bob", "wrong", REMOTE_ADDR="192.0.2.60"
        ).status_code
        == 401
    )


def test_another_client_ip_is_not_refused_for_one_clients_failures(alice, limit):
    for n in range(limit):
        sign_in("/api/auth/token/", f"user{n}", "wrong", REMOTE_ADDR="192.0.2.1")
    assert refused(sign_in("/api/auth/token/", "bob", "x", REMOTE_ADDR="192.0.2.1"))
    ok = sign_in("/api/auth/token/", "alice", PASSWORD, REMOTE_ADDR="192.0.2.2")
    assert signed_in("/api/auth/token/", ok)


def test_successful_sign_ins_do_not_count(alice, limit):
    for _ in range(limit + 2):
        assert signed_in("/login/", sign_in("/login/", "alice", PASSWORD))


def test_a_refused_sign_in_never_runs_the_password_hasher(alice, limit, monkeypatch):
    checked: list[str] = []
    original = ModelBackend.authenticate

    def spy(self, request, username=None, password=None, **kw):
        checked.append(username)  # ModelBackend runs the hasher, for users or not
        return original(self, request, username=username, password=password, **kw)

    monkeypatch.setattr(ModelBackend, "authenticate", spy)
    for n in range(limit):
        sign_in("/api/auth/token/", f"user{n}", "wrong")
    assert len(checked) == limit
    for path in PATHS:
        assert refused(sign_in(path, "alice", PASSWORD))
    assert len(checked) == limit


def test_an_empty_login_throttle_turns_it_off(alice, limit, settings):
    settings.LOGIN_THROTTLE = ""
    for _ in range(limit + 3):
        assert sign_in("/api/auth/token/", "alice", "wrong").status_code == 401
    assert signed_in("/login/", sign_in("/login/", "alice", PASSWORD))


def test_the_limit_holds_while_the_shared_cache_is_down(alice, limit, monkeypatch):
    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise RedisConnectionError("Connection refused")

            return fail

    monkeypatch.setattr(throttling, "caches", {"default": Down()})
    for n in range(limit):
        assert sign_in("/login/", f"user{n}", "wrong").status_code == 200
    assert refused(sign_in("/api/auth/token/", "alice", PASSWORD))


def test_a_sign_in_path_without_the_form_still_answers_429(limit):
    exc = throttling.LoginThrottled(wait=7)
    middleware = throttling.LoginThrottleMiddleware(lambda request: None)
    response = middleware.process_exception(RequestFactory().post("/x/"), exc)
    assert response.status_code == 429 and response["Retry-After"] == "7"
    assert json.loads(response.content)["code"] == "throttled"
    assert middleware.process_exception(RequestFactory().get("/"), ValueError()) is None


# --- the client address -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same /64, one client
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", "unknown"),
    ],
)
def test_a_client_is_its_remote_addr_and_an_ipv6_one_its_64(remote, key):
    request = RequestFactory().get(
        "/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR="1.2.3.4"
    )
    assert throttling.client_key(request) == key


@pytest.mark.django_db
def test_a_spoofed_xff_does_not_escape_the_api_auth_throttle(settings):
    settings.API_AUTH_THROTTLE = "3/min"
    own_cache(settings)
    statuses = [
        APIClient()
        .post(
            "/api/auth/register/",
            {"username": "", "password": ""},
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.1.0.{n}",
        )
        .status_code
        for n in range(4)
    ]
    assert statuses == [400, 400, 400, 429]


# --- rates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("10/min", (10, 60)), ("5/s", (5, 1)), ("2/hour", (2, 3600)), ("", None)],
)
def test_rates_read_like_drf_rates(rate, parsed):
    assert throttling.parse_rate(rate) == parsed


@pytest.mark.parametrize("setting", ["LOGIN_THROTTLE", "API_WRITE_THROTTLE"])
@pytest.mark.parametrize("rate", ["ten/min", "10/fortnight", "0/min", "10"])
def test_a_mistyped_rate_stops_the_start(settings, setting, rate):
    setattr(settings, setting, rate)
    with pytest.raises(ImproperlyConfigured, match=setting):
        apps.get_app_config("accounts").ready()


# --- against real servers: one cluster counts together, X-Forwarded-For is not believed ----


class Visitor:
    """A client with cookies, posting forms with their CSRF token, and JSON."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar),
            urllib.request.ProxyHandler({}),
        )

    def post(self, path: str, body: bytes, content_type: str) -> int:
        req = urllib.request.Request(self.base + path, data=body, method="POST")
        req.add_header("Content-Type", content_type)
        req.add_header("X-Forwarded-For", f"10.{uuid.uuid4().int % 250}.0.1")
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def sign_in(self, path: str, username: str, password: str) -> int:
        if path.startswith("/api/"):
            body = f'{{"username": "{username}", "password": "{password}"}}'
            return self.post(path, body.encode(), "application/json")
        self.opener.open(self.base + path, timeout=30).read()  # the CSRF cookie
        csrf = next(c.value for c in self.jar if c.name == "csrftoken")
        form = {"csrfmiddlewaretoken": csrf, "username": username, "password": password}
        body = urllib.parse.urlencode(form).encode()
        return self.post(path, body, "application/x-www-form-urlencoded")


@pytest.mark.e2e
def test_a_cluster_counts_failed_sign_ins_together_whatever_xff_says(
    server_factory, redis_server
):
    env = {
        "LOGIN_THROTTLE": "3/min",
        "REDIS_URL": redis_server.url,
        "CHANNEL_LAYER_PREFIX": f"rt-test-{uuid.uuid4().hex[:8]}",
    }
    a, b = server_factory(**env), server_factory(**env)
    a.api.register("alice")
    on_a, on_b = Visitor(a.url), Visitor(b.url)
    assert on_a.sign_in("/api/auth/token/", "nobody", "wrong") == 401
    assert on_b.sign_in("/login/", "nobody", "wrong") == 200  # the form again
    assert on_a.sign_in("/admin/login/", "nobody", "wrong") == 200
    for visitor in (on_a, on_b):
        for path in PATHS:
            assert visitor.sign_in(path, "alice", PASSWORD) == 429, (visitor.base, path)
