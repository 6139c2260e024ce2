"""/healthz, /readyz, /metrics, the OpenAPI schema and its docs page.

In-process checks use Django's test client; the ones that depend on the real server (its
client address, a database that goes away, static files served by the app) start one.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from email.message import Message

import orjson
import pytest
from prometheus_client.metrics import MetricWrapperBase

from realtime.fanout.hub import hub
from realtime.web import metrics

AUTH_PATHS = ["/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/register/"]


def metric_families() -> list[str]:
    """The family names of every metric realtime/ws/metrics.py defines."""
    return [
        m.describe()[0].name
        for m in vars(metrics).values()
        if isinstance(m, MetricWrapperBase)
    ]


# --- in process -------------------------------------------------------------------------------


def test_healthz_is_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_when_database_and_layer_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.django_db
def test_readyz_is_503_naming_draining_while_the_process_drains(client):
    hub.draining = True
    try:
        response = client.get("/readyz")
    finally:
        hub.draining = False
    assert response.status_code == 503
    assert response.json()["failing"] == ["draining"]


async def _down() -> bool:
    return False


@pytest.mark.django_db
def test_readyz_is_200_degraded_while_only_the_channel_layer_is_down(
    client, monkeypatch
):
    monkeypatch.setattr(hub, "check_layer", _down)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "degraded": ["channel_layer"]}
    assert metrics.READY._value.get() == 1


@pytest.mark.django_db
def test_readyz_is_200_degraded_while_the_hub_is_in_degraded_mode(client, monkeypatch):
    monkeypatch.setattr(type(hub), "degraded", property(lambda hub: True))
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"


@pytest.mark.django_db
def test_readyz_is_503_naming_the_database_also_when_the_layer_is_down(
    client, monkeypatch
):
    from realtime.web import health

    monkeypatch.setattr(hub, "check_layer", _down)
    monkeypatch.setattr(health, "_database_ready", _down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "failing": ["database"],
        "degraded": ["channel_layer"],
    }
    assert metrics.READY._value.get() == 0


@pytest.mark.django_db
def test_readyz_is_503_while_draining_even_when_only_the_layer_is_down(
    client, monkeypatch
):
    monkeypatch.setattr(hub, "check_layer", _down)
    monkeypatch.setattr(hub, "draining", True)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["draining"]


def test_metrics_from_loopback_are_prometheus_text(client):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "# TYPE realtime_sockets_open gauge" in response.content.decode()


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.9", "172.20.0.1", "::1"])
def test_metrics_are_served_to_private_ranges_by_default(client, address):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:db8::1", "", "not-an-ip"])
def test_metrics_are_refused_to_other_addresses(client, address):
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert "detail" in response.json()


def test_the_metric_set_covers_what_the_issue_names():
    names = set(metric_families())
    assert {
        "realtime_sockets_open",
        "realtime_handshakes",
        "realtime_frames_in",
        "realtime_frames_out",
        "realtime_errors",
        "realtime_rate_limited",
    } <= names


@pytest.mark.django_db
def test_the_schema_is_openapi_3_and_lists_the_auth_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = orjson.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in AUTH_PATHS:
        assert "post" in schema["paths"][path], path


# --- against a real server -------------------------------------------------------------------


def fetch(url: str) -> tuple[int, bytes, Message]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


@pytest.fixture(scope="module")
def live(module_servers):
    """One real server for this module's checks."""
    return module_servers()


@pytest.mark.e2e
def test_a_fresh_servers_metrics_list_every_metric_family(live):
    status, body, headers = fetch(live.url + "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=")
    text = body.decode()
    pool = metrics.DB_POOL.describe()[
        0
    ].name  # PostgreSQL's pool only; this server is SQLite
    for name in metric_families():
        if name != pool:
            assert f"# TYPE {name} " in text or f"# TYPE {name}_total " in text, name
    assert 'realtime_errors_total{code="bad_json",route="chat"} 0.0' in text


@pytest.mark.e2e
def test_the_docs_page_loads_its_assets_from_the_app_itself(live):
    status, body, _ = fetch(live.url + "/api/docs/")
    assert status == 200
    page = body.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the app"
        status, content, _ = fetch(live.url + asset)
        assert status == 200, asset
        assert content
    # The start-up script is a URL of its own: the page runs no inline script (CSP).
    assert "<script>" not in page
    (start_up,) = [a for a in assets if "script=" in a]
    assert 'url: "/api/schema/"' in fetch(live.url + start_up)[1].decode()
    status, _, _ = fetch(live.url + "/api/schema/")
    assert status == 200


@pytest.mark.e2e
def test_metrics_are_refused_to_loopback_when_it_is_not_allowed(module_servers):
    server = module_servers(METRICS_ALLOWED_CIDRS="10.0.0.0/8")
    status, body, headers = fetch(server.url + "/metrics")
    assert status == 403
    assert headers["content-type"].startswith("application/json")
    assert b"realtime_" not in body


@pytest.mark.e2e
def test_metrics_of_a_real_server_count_its_sockets(live):
    import asyncio

    import websockets

    async def go() -> str:
        async with websockets.connect(live.ws_url + "/ws/echo/") as ws:
            await ws.send("x")
            await ws.recv()
            return fetch(live.url + "/metrics")[1].decode()

    text = asyncio.run(go())
    assert 'realtime_sockets_open{route="echo"} 1.0' in text
    assert 'realtime_handshakes_total{outcome="accepted",route="echo"}' in text
    assert 'realtime_frames_out_total{route="echo",type="echo"} 1.0' in text


@pytest.mark.e2e
def test_readyz_is_503_naming_the_database_when_it_goes_away(server_factory, postgres):
    import uuid

    name = f"rt_test_{uuid.uuid4().hex[:10]}"
    server = server_factory(DATABASE_URL=postgres.create_database(name))
    try:
        status, body, _ = fetch(server.url + "/readyz")
        assert status == 200, body
        postgres.drop_database(name)  # WITH (FORCE): the server's connections are cut
        started = time.monotonic()
        status, body, _ = fetch(server.url + "/readyz")
        assert (
            time.monotonic() - started < 5
        )  # a probe answers fast, not after the pool timeout
        assert status == 503
        assert orjson.loads(body)["failing"] == ["database"]
        status, _, _ = fetch(server.url + "/healthz")
        assert (
            status == 200
        )  # alive, not ready: the orchestrator stops routing, no restart
    finally:
        server.kill()  # its database is gone: no graceful drain to wait for
        postgres.drop_database(name)


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    import subprocess
    import sys

    from tests import harness

    env = harness.base_env(DATABASE_URL=harness.sqlite_url(tmp_path))
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yaml"),
        ],
        cwd=harness.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "openapi: 3." in (tmp_path / "schema.yaml").read_text()


@pytest.mark.e2e
def test_readyz_of_a_cluster_process_stays_200_degraded_while_redis_is_down(
    server_factory, own_redis
):
    from tests.support import wait_for

    server = server_factory(REDIS_URL=own_redis.url)

    def readiness() -> tuple[int, dict]:
        status, body, _ = fetch(server.url + "/readyz")
        return status, orjson.loads(body)

    assert readiness() == (200, {"status": "ready"})
    own_redis.stop()
    degraded = (200, {"status": "degraded", "degraded": ["channel_layer"]})
    wait_for(lambda: readiness() == degraded, what="/readyz 200 degraded")
    text = fetch(server.url + "/metrics")[1].decode()
    assert "realtime_ready 1.0" in text and "realtime_degraded 1.0" in text
    own_redis.start()
    wait_for(lambda: readiness() == (200, {"status": "ready"}), timeout=30)
