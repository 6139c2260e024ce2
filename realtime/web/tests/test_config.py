"""Configuration from the environment: no production secret default; the README's variables
are the ones the code reads, with the defaults it states."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests import harness

BASE = harness.BASE_DIR
README = (BASE / "README.md").read_text()
#: the code that reads the environment: settings, and the server command and its helpers
SOURCES = "\n".join(
    path.read_text()
    for path in sorted((BASE / "realtime").rglob("*.py"))
    if "tests" not in path.parts
)


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BASE / "manage.py"), "check"],
        env=env,
        cwd=BASE,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env(**overrides: str) -> dict[str, str]:
    env = harness.base_env(DATABASE_URL="sqlite:///:memory:")
    env.pop("DJANGO_SECRET_KEY")
    env.pop("DJANGO_DEBUG")
    env.update(overrides)
    return env


@pytest.mark.parametrize("debug", [None, "0", "false"])
def test_production_mode_without_a_secret_key_refuses_to_start(debug):
    assert not (BASE / ".env").exists(), "a local .env would supply the secret key"
    env = _env() if debug is None else _env(DJANGO_DEBUG=debug)
    result = _check(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_an_empty_secret_key_is_refused_too():
    result = _check(_env(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=""))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_debug_mode_runs_with_the_dev_key():
    result = _check(_env(DJANGO_DEBUG="1"))
    assert result.returncode == 0, result.stderr


def test_production_mode_with_a_secret_key_starts():
    result = _check(_env(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=harness.TEST_SECRET))
    assert result.returncode == 0, result.stderr


def _readme_variables() -> dict[str, str]:
    """`NAME` -> its default column, from the README's configuration table."""
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    found: dict[str, str] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        defaults = re.findall(r"`([^`]*)`", cells[1]) or [cells[1]]
        for i, name in enumerate(names):
            found[name] = defaults[i] if i < len(defaults) else defaults[-1]
    return found


PROTOCOL_NAMES = [
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "WS_MAX_FRAME_BYTES",
    "WS_MAX_BODY_CHARS",
    "WS_MAX_CONNECTIONS",
    "WS_MAX_CONNECTIONS_PER_USER",
    "WS_HANDSHAKE_RATE",
    "WS_MESSAGE_RATE",
    "WS_MESSAGE_BURST",
    "WS_HEARTBEAT_INTERVAL",
    "WS_PRESENCE_INTERVAL",
    "API_AUTH_THROTTLE",
]


def test_the_readme_documents_every_name_the_protocol_fixes():
    documented = _readme_variables()
    assert [name for name in PROTOCOL_NAMES if name not in documented] == []


@pytest.mark.parametrize("name", sorted(_readme_variables()))
def test_every_readme_variable_is_read_by_the_code(name):
    assert re.search(rf"[\"']{name}[\"']", SOURCES), (
        f"{name} is documented but never read"
    )


def test_the_readme_defaults_are_the_codes_defaults():
    env = _env(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=harness.TEST_SECRET)
    for key in list(env):
        if key.startswith(("WS_", "JWT_", "DRAIN_", "API_")):
            del env[key]
    script = (
        "import json, realtime.settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in dir(s) if k.startswith(('WS_', 'DRAIN_'))}"
        " | {'JWT_ACCESS_LIFETIME_SECONDS': s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds(),"
        " 'JWT_REFRESH_LIFETIME_SECONDS': s.SIMPLE_JWT['REFRESH_TOKEN_LIFETIME'].total_seconds(),"
        " 'API_AUTH_THROTTLE': s.API_AUTH_THROTTLE}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=BASE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    actual = json.loads(out.stdout)
    checked = 0
    for name, default in _readme_variables().items():
        if name not in actual:
            continue
        checked += 1
        value = actual[name]
        if isinstance(value, bool):  # the README writes switches as 0 and 1
            assert default == str(int(value)), (name, default, value)
        elif isinstance(value, int | float):
            assert float(default) == float(value), (name, default, value)
        else:
            assert default == str(value), (name, default, value)
    assert checked >= 15
