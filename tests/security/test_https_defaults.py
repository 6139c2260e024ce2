"""Production HTTP defaults: HTTPS only with debug off (DJANGO_SECURE), probes on plain
http, a clean `check --deploy`, and the X-Forwarded-Proto of trusted proxies only."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys

import pytest

from tests import harness

BASE = harness.BASE_DIR
#: a real-looking secret: `check --deploy` judges the key too
SECRET = "k7Qz3-Lr9xVt2mWb8NcYp4HdJf6SaEu1GoKi5XnRlTyUw0BvMq-Zs3CjDh8FeAg2Pt"
SETTINGS_SHOWN = [
    "DEBUG",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
]


def _env(**overrides: str) -> dict[str, str]:
    """The environment of a production process: debug off, no DJANGO_SECURE given."""
    env = harness.base_env(DATABASE_URL="sqlite:///:memory:")
    del env["DJANGO_SECURE"]
    env.update(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=SECRET)
    env.update(overrides)
    return env


def settings_under(**overrides: str) -> dict[str, object]:
    """The security settings realtime.settings computes in a fresh process."""
    script = (
        "import json, realtime.settings as s; "
        f"print(json.dumps({{k: getattr(s, k, None) for k in {SETTINGS_SHOWN!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(**overrides),
        cwd=BASE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_debug_off_means_https_only_by_default():
    assert settings_under() == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        # the server resolves the scheme from TRUSTED_PROXIES; Django must not trust anyone
        "SECURE_PROXY_SSL_HEADER": None,
    }


@pytest.mark.parametrize("env", [{"DJANGO_SECURE": "0"}, {"DJANGO_DEBUG": "1"}])
def test_django_secure_0_and_debug_mode_serve_plain_http(env):
    shown = settings_under(**env)
    assert not shown["SESSION_COOKIE_SECURE"]
    assert not shown["CSRF_COOKIE_SECURE"]
    assert not shown["SECURE_SSL_REDIRECT"]
    assert shown["SECURE_HSTS_SECONDS"] == 0


def test_each_https_default_is_overridable_from_the_environment():
    shown = settings_under(
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="1",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
    )
    assert shown["SECURE_HSTS_SECONDS"] == 3600
    assert shown["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert shown["SECURE_HSTS_PRELOAD"] is True
    assert shown["SECURE_SSL_REDIRECT"] is False
    assert shown["SESSION_COOKIE_SECURE"] is False
    assert (
        shown["CSRF_COOKIE_SECURE"] is True
    )  # the others keep DJANGO_SECURE's default


def test_check_deploy_finds_nothing_in_the_production_defaults():
    out = subprocess.run(
        [sys.executable, str(BASE / "manage.py"), "check", "--deploy"],
        env=_env(DJANGO_ALLOWED_HOSTS="chat.example.com"),
        cwd=BASE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = out.stdout + out.stderr
    assert out.returncode == 0, output
    assert "System check identified no issues" in output, output
    assert "WARNING" not in output.upper(), output


def _get(
    server: harness.Server, path: str, *, source: str = "127.0.0.1", **headers: str
) -> http.client.HTTPResponse:
    """One plain-http GET from `source`, redirects not followed."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=20, source_address=(source, 0)
    )
    conn.request("GET", path, headers={"Host": f"127.0.0.1:{server.port}", **headers})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@pytest.mark.e2e
def test_a_production_server_redirects_to_https_but_answers_probes_over_http(
    server_factory,
):
    # 127.0.0.2 plays the TLS proxy; the test's own 127.0.0.1 is an ordinary client.
    server = server_factory(DJANGO_SECURE="1", TRUSTED_PROXIES="127.0.0.2")
    login = _get(server, "/login/")
    assert login.status == 301
    assert login.getheader("Location") == f"https://127.0.0.1:{server.port}/login/"

    # Kubernetes probes and Prometheus come over plain http to the pod.
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert _get(server, probe).status == 200, probe

    # Anyone may send X-Forwarded-Proto; only a trusted proxy's is believed.
    spoofed = _get(server, "/login/", **{"X-Forwarded-Proto": "https"})
    assert spoofed.status == 301
    assert spoofed.getheader("Strict-Transport-Security") is None

    proxied = _get(
        server, "/login/", source="127.0.0.2", **{"X-Forwarded-Proto": "https"}
    )
    assert proxied.status == 200
    assert (
        proxied.getheader("Strict-Transport-Security")
        == "max-age=31536000; includeSubDomains"
    )
    cookies = proxied.headers.get_all("Set-Cookie") or []
    csrf = [c for c in cookies if c.startswith("csrftoken=")]
    assert csrf and "; Secure" in csrf[0], cookies
