"""Render-and-check tests of deploy/: Dockerfile, compose, nginx, Helm chart, Grafana.

No container engine or cluster runs here, so these tests read the files and render
the chart with the real Helm engine (Helm v4's Go SDK, shipped in the PyPI wheel
``helm-python-sdk``). The rendered manifests are validated against the Kubernetes
API schemas that ``kubernetes-validate`` ships, for each minor version from the
chart's ``kubeVersion`` up, and the Prometheus Operator objects against the small
hand-written schema beside this file. A missing package fails the tests that need
it, naming it; nothing is skipped and there is no fallback renderer.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.resources
import ipaddress
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1]
CHART = DEPLOY / "helm" / "realtime"

# The app's environment variables (shared/PROTOCOL.md section 1 and the lead's list).
DOCUMENTED_ENV = frozenset(
    {
        "DJANGO_SECRET_KEY",
        "DJANGO_DEBUG",
        "DJANGO_SECURE",
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
        "METRICS_ALLOWED_CIDRS",
        "DRAIN_TIMEOUT",
        "LOG_FORMAT",
        "LOG_LEVEL",
        "DB_POOL_MAX_SIZE",
        "HOST",
        "PORT",
        # Which peers' X-Forwarded-For/-Proto to believe (PROTOCOL.md section 8).
        "TRUSTED_PROXIES",
        # Socket hardening limits (PROTOCOL.md section 8).
        "WS_MAX_OUTBOUND_BYTES",
        "WS_MAX_ANON_CONNECTIONS_PER_IP",
    }
)
SECRET_ENV = ("DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL")

# The metric families the app exports, by type.
APP_METRICS = {
    "realtime_sockets_open": "gauge",
    "realtime_handshakes_total": "counter",
    "realtime_frames_in_total": "counter",
    "realtime_frames_out_total": "counter",
    "realtime_errors_total": "counter",
    "realtime_rate_limited_total": "counter",
    "realtime_broadcast_seconds": "histogram",
    "realtime_outbound_backlog_closed_total": "counter",
    "realtime_frames_dropped_total": "counter",
    "realtime_outbound_backlog": "histogram",
    "realtime_db_pool_connections": "gauge",
    "realtime_channel_layer_up": "gauge",
    "realtime_degraded": "gauge",
    "realtime_ready": "gauge",
    "realtime_draining": "gauge",
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge",
}


def _series_names(metrics: dict[str, str]) -> frozenset[str]:
    names = set()
    for family, kind in metrics.items():
        if kind == "histogram":
            names.update(family + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family)
    return frozenset(names)


EXPORTED_SERIES = _series_names(APP_METRICS)
# Written by Prometheus itself for every scrape target (for "target down").
PROMETHEUS_SERIES = frozenset({"up"})

SECRET_VALUES = {
    "DJANGO_SECRET_KEY": "test-secret-key",
    "DATABASE_URL": "postgres://realtime:pw@postgres:5432/realtime",
    "REDIS_URL": "redis://redis:6379/0",
}
FULL_VALUES = {
    "secret": {"values": SECRET_VALUES},
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
    },
}
RELEASE, NAMESPACE = "rt", "chat"


# --------------------------------------------------------------------------
# Rendering.


def _require(module: str, package: str) -> Any:
    """Import a test dependency, failing (never skipping) with how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.fail(
            f"{package} is not installed: pip install -r requirements-dev.txt",
            pytrace=False,
        )


def helm_engine() -> Any:
    return _require(
        "helm_python", "helm-python-sdk (Helm's engine as a native library)"
    )


class RenderFailed(Exception):
    """Rendering refused the values (Helm's `required`, a schema error, ...)."""


@functools.cache
def _render_cached(key: str) -> dict[str, str]:
    helm = helm_engine()
    try:
        with helm.Chart.load(str(CHART)) as chart:
            return chart.render(
                json.loads(key), name=RELEASE, namespace=NAMESPACE, is_install=True
            )
    except helm.HelmError as error:
        raise RenderFailed(str(error)) from error


def render(overrides: dict | None = None) -> dict[str, str]:
    """Template path -> rendered text, for the chart with these values (cached)."""
    values = FULL_VALUES if overrides is None else overrides
    return _render_cached(json.dumps(values, sort_keys=True))


def merge_values(base: Any, override: Any) -> Any:
    """Helm's coalescing: maps merge recursively, a null override deletes the key."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def chart_defaults() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def documents(overrides: dict | None = None) -> list[dict]:
    docs = []
    for name, text in sorted(render(overrides).items()):
        if not name.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                docs.append(doc)
    return docs


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc.get("kind") == kind]


def one(docs: list[dict], kind: str) -> dict:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def with_values(**changes: Any) -> dict:
    return merge_values(FULL_VALUES, changes)


def app_container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the pod runs one app container"
    return containers[0]


def env_map(container: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def resolve_container_port(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    for declared in container["ports"]:
        if declared.get("name") == port:
            return declared["containerPort"]
    raise AssertionError(f"port {port!r} is not declared by the container")


# --------------------------------------------------------------------------
# PromQL.

_PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"and", "or", "unless", "bool", "offset", "inf", "nan"}
)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (strings, matchers, ranges and label lists removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before in ".$":
            continue  # 1e+06, 0.5e3, $variables
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function
        if match.group().lower() in _PROMQL_KEYWORDS:
            continue
        names.add(match.group())
    return names


def test_promql_metric_names_finds_selectors_and_ignores_functions_and_labels():
    expr = (
        'histogram_quantile(0.99, sum by (pod, le) (rate(foo_bucket{job="x",le!="1"}[5m])))'
        ' > 0.5 and on(pod) bar{a="b"} / ignoring(state) baz > 1e+06 or vector(0)'
    )
    assert promql_metric_names(expr) == {"foo_bucket", "bar", "baz"}


# --------------------------------------------------------------------------
# Dockerfile.


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_stages() -> list[dict]:
    """Stages with their base image (ARG defaults substituted) and instructions."""
    args: dict[str, str] = {}
    stages: list[dict] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            image = re.sub(
                r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], parts[0]
            )
            alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append({"image": image, "alias": alias, "instructions": []})
        else:
            stages[-1]["instructions"].append((keyword, rest))
    return stages


def dockerfile_env(stage: dict) -> dict[str, str]:
    env = {}
    for keyword, rest in stage["instructions"]:
        if keyword == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def test_dockerfile_builds_wheels_then_copies_them_into_a_slim_runtime():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    for stage in stages:
        assert stage["image"] == "python:3.11-slim", stage["image"]
    build, runtime = stages[0], stages[-1]
    build_runs = " ".join(rest for kw, rest in build["instructions"] if kw == "RUN")
    assert "pip wheel" in build_runs
    copies = [rest for kw, rest in runtime["instructions"] if kw == "COPY"]
    assert any(f"--from={build['alias']}" in copy for copy in copies)
    runtime_runs = " ".join(rest for kw, rest in runtime["instructions"] if kw == "RUN")
    assert "--no-index" in runtime_runs, "the runtime installs only the built wheels"
    assert "build-essential" not in runtime_runs


def test_dockerfile_runs_as_the_non_root_uid_the_chart_expects():
    runtime = dockerfile_stages()[-1]
    users = [rest for kw, rest in runtime["instructions"] if kw == "USER"]
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, (
        "a numeric non-root uid (runAsNonRoot checks it)"
    )
    assert int(uid) == chart_defaults()["podSecurityContext"]["runAsUser"]


def test_dockerfile_collects_static_files_at_build_time():
    runtime = dockerfile_stages()[-1]
    runs = [rest for kw, rest in runtime["instructions"] if kw == "RUN"]
    assert any("manage.py collectstatic --noinput" in run for run in runs)


def test_dockerfile_healthcheck_probes_healthz_and_stop_signal_is_sigterm():
    runtime = dockerfile_stages()[-1]
    instructions = dict((kw, rest) for kw, rest in runtime["instructions"])
    assert "/healthz" in instructions["HEALTHCHECK"]
    assert instructions["STOPSIGNAL"] == "SIGTERM"
    env = dockerfile_env(runtime)
    assert instructions["EXPOSE"].split("/")[0] == env["PORT"] == "8000"


def test_dockerfile_serves_on_all_interfaces_and_never_migrates_at_start():
    runtime = dockerfile_stages()[-1]
    env = dockerfile_env(runtime)
    assert env["HOST"] == "0.0.0.0"
    assert (
        set(env)
        - {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
        - {
            "PIP_NO_CACHE_DIR",
            "PIP_DISABLE_PIP_VERSION_CHECK",
            "DJANGO_SETTINGS_MODULE",
        }
        <= DOCUMENTED_ENV
    )
    keywords = [kw for kw, _ in runtime["instructions"]]
    assert "ENTRYPOINT" not in keywords
    cmd = json.loads(dict(runtime["instructions"])["CMD"])
    assert cmd == ["python", "manage.py", "serve"]


# --------------------------------------------------------------------------
# Compose.


@functools.cache
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def interpolate(value: Any, environ: dict[str, str] | None = None) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with an empty environment."""
    if not isinstance(value, str):
        return value
    environ = environ or {}

    def replace(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if environ.get(name):
            return environ[name]
        if op == ":-":
            return arg
        if op == ":?":
            raise LookupError(f"{name} is required: {arg}")
        return ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", replace, value)


APP_SERVICES = ("app1", "app2")


def compose_env(service: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    raw = compose()["services"][service].get("environment", {})
    assert isinstance(raw, dict), "environment is written as a mapping"
    environ = {"DJANGO_SECRET_KEY": "from-the-operator", **(environ or {})}
    return {key: str(interpolate(value, environ)) for key, value in raw.items()}


def test_compose_runs_two_apps_on_shared_postgres16_and_redis7_behind_nginx():
    services = compose()["services"]
    assert {"app1", "app2", "postgres", "redis", "nginx", "migrate"} <= set(services)
    assert re.fullmatch(r"postgres:16([.-].*)?", services["postgres"]["image"])
    assert re.fullmatch(r"redis:7([.-].*)?", services["redis"]["image"])
    assert services["nginx"]["image"].startswith("nginx:")
    published = [str(port) for port in services["nginx"].get("ports", [])]
    assert len(published) == 1, "one published port, the proxy's"
    for name in set(services) - {"nginx"}:
        assert not services[name].get("ports"), f"{name} is reached only through nginx"


def test_compose_apps_form_one_cluster_on_the_compose_databases():
    first, second = compose_env("app1"), compose_env("app2")
    assert first == second, "both processes get the same settings"
    services = compose()["services"]
    database = urlsplit(first["DATABASE_URL"])
    assert database.scheme.startswith("postgres") and database.hostname == "postgres"
    assert database.port == 5432 and database.path == "/realtime"
    assert database.username == services["postgres"]["environment"]["POSTGRES_USER"]
    assert database.password == interpolate(
        services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    )
    redis = urlsplit(first["REDIS_URL"])
    assert redis.scheme == "redis" and redis.hostname == "redis"


def test_compose_apps_start_only_after_the_one_shot_migrate():
    services = compose()["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate.get("restart") == "no"
    assert migrate["image"] == services["app1"]["image"], "the same image migrates"
    for name in APP_SERVICES:
        app = services[name]
        assert (
            app["depends_on"]["migrate"]["condition"]
            == "service_completed_successfully"
        )
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert app["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "command" not in app, "apps run the image's CMD (serve), never migrate"
    assert {
        dep: cond["condition"] for dep, cond in services["nginx"]["depends_on"].items()
    } == {"app1": "service_healthy", "app2": "service_healthy"}


def test_compose_every_long_running_service_has_a_healthcheck():
    for name, service in compose()["services"].items():
        check = service.get("healthcheck")
        assert check, f"{name} declares its healthcheck"
        if name == "migrate":
            assert check == {"disable": True}, "the one-shot is judged by its exit code"
            continue
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
    for name in APP_SERVICES:
        probe = " ".join(compose()["services"][name]["healthcheck"]["test"])
        port = compose_env(name)["PORT"]
        assert f"127.0.0.1:{port}/readyz" in probe


def test_compose_refuses_to_start_without_a_secret_key():
    raw = compose()["services"]["app1"]["environment"]["DJANGO_SECRET_KEY"]
    with pytest.raises(LookupError):
        interpolate(raw, {})
    assert interpolate(raw, {"DJANGO_SECRET_KEY": "s3cret"}) == "s3cret"
    assert compose_env("app1")["DJANGO_DEBUG"] == "0"


def test_compose_sets_only_documented_app_variables():
    for name in (*APP_SERVICES, "migrate"):
        assert set(compose_env(name)) <= DOCUMENTED_ENV, name
    example = (DEPLOY / "app.env.example").read_text()
    keys = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert keys and keys <= DOCUMENTED_ENV


def test_compose_apps_serve_on_all_interfaces_and_outlast_their_drain():
    for name in APP_SERVICES:
        env = compose_env(name)
        assert env["HOST"] == "0.0.0.0"
        service = compose()["services"][name]
        assert service["stop_signal"] == "SIGTERM"
        grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
        assert grace and int(grace[1]) > int(env["DRAIN_TIMEOUT"])
        assert service["read_only"] is True and "/tmp" in service["tmpfs"]


def test_apps_believe_forwarded_headers_from_private_proxy_addresses_only():
    chart_config = one(documents(), "ConfigMap")["data"]
    for trusted in (
        compose_env("app1")["TRUSTED_PROXIES"],
        chart_config["TRUSTED_PROXIES"],
    ):
        networks = [ipaddress.ip_network(n.strip()) for n in trusted.split(",")]
        assert networks, "without it every client is the proxy's address"
        assert all(network.is_private for network in networks), trusted
        # Docker's default address pools and common pod CIDRs.
        for proxy in ("172.18.0.5", "10.244.1.7"):
            assert any(ipaddress.ip_address(proxy) in n for n in networks), proxy


def test_compose_builds_the_deploy_dockerfile_and_mounts_the_deploy_nginx_conf():
    services = compose()["services"]
    build = services["app1"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert (context / build["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    ).resolve()
    mounts = [volume.split(":") for volume in services["nginx"]["volumes"]]
    assert any(
        (DEPLOY / source).resolve() == (DEPLOY / "nginx.conf").resolve()
        and target == "/etc/nginx/nginx.conf"
        for source, target, *_ in mounts
    )


def test_compose_env_agrees_with_the_chart():
    docs = documents()
    chart_env = dict(one(docs, "ConfigMap")["data"])
    for name, entry in env_map(app_container(one(docs, "Deployment"))).items():
        if "value" in entry:
            chart_env[name] = entry["value"]
    compose_values = compose_env("app1")
    # Host names and secrets are site-specific; everything else must match.
    shared = (set(chart_env) & set(compose_values)) - {"DJANGO_ALLOWED_HOSTS"}
    assert {"HOST", "PORT", "DRAIN_TIMEOUT", "DJANGO_DEBUG", "LOG_FORMAT"} <= shared
    for key in sorted(shared):
        assert compose_values[key] == chart_env[key], key


# --------------------------------------------------------------------------
# nginx.


def parse_nginx(text: str) -> list:
    """A list of (name, args, children) for an nginx configuration."""
    text = re.sub(r"#[^\n]*", "", text)
    tokens = re.findall(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[{};]|[^\s{};]+", text)
    root: list = []
    stack = [root]
    args: list[str] = []
    for token in tokens:
        if token == ";":
            stack[-1].append((args[0], args[1:], None))
            args = []
        elif token == "{":
            block = (args[0], args[1:], [])
            stack[-1].append(block)
            stack.append(block[2])
            args = []
        elif token == "}":
            stack.pop()
        else:
            args.append(token)
    assert len(stack) == 1 and not args, "balanced nginx configuration"
    return root


def find(block: list, name: str, *args: str) -> list:
    return [d for d in block if d[0] == name and tuple(d[1][: len(args)]) == args]


def directives(block: list, name: str) -> list[list[str]]:
    return [d[1] for d in block if d[0] == name]


def unquote(word: str) -> str:
    return word[1:-1] if word[:1] in "'\"" and word[-1:] == word[:1] else word


@functools.cache
def nginx_http() -> list:
    (http,) = find(parse_nginx((DEPLOY / "nginx.conf").read_text()), "http")
    return http[2]


def nginx_server() -> list:
    (server,) = find(nginx_http(), "server")
    return server[2]


def location(path: str, modifier: str | None = None) -> list:
    args = (modifier, path) if modifier else (path,)
    found = [d for d in find(nginx_server(), "location") if tuple(d[1]) == args]
    assert len(found) == 1, f"location {args}"
    return found[0][2]


def headers(block: list) -> dict[str, str]:
    return {
        args[0].lower(): " ".join(args[1:])
        for args in directives(block, "proxy_set_header")
    }


def seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)(s|m|h)?", value)
    assert match, value
    return int(match[1]) * {"s": 1, None: 1, "m": 60, "h": 3600}[match[2]]


def test_nginx_upgrades_websockets_under_ws_with_long_timeouts():
    ws = location("/ws/")
    assert directives(ws, "proxy_http_version") == [["1.1"]]
    sent = headers(ws)
    assert sent["upgrade"] == "$http_upgrade"
    assert sent["connection"] == "$connection_upgrade"
    (upgrade_map,) = find(nginx_http(), "map", "$http_upgrade", "$connection_upgrade")
    mapping = {name: unquote(args[0]) for name, args, _ in upgrade_map[2]}
    assert mapping["default"] == "upgrade"
    assert seconds(directives(ws, "proxy_read_timeout")[0][0]) >= 600
    assert seconds(directives(ws, "proxy_send_timeout")[0][0]) >= 600


def test_nginx_balances_across_both_app_services():
    compose_services = compose()["services"]
    for path in ("/ws/", "/"):
        (target,) = directives(location(path), "proxy_pass")
        upstream_name = urlsplit(target[0]).hostname
        (upstream,) = find(nginx_http(), "upstream", upstream_name)
        servers = {args[0] for args in directives(upstream[2], "server")}
        expected = {f"{name}:{compose_env(name)['PORT']}" for name in APP_SERVICES}
        assert servers == expected, path
        if any("resolve" in args for args in directives(upstream[2], "server")):
            # `server ... resolve` exists in open-source nginx from 1.27.3 on.
            tag = compose_services["nginx"]["image"].split(":")[1]
            version = tuple(int(n) for n in re.match(r"[\d.]+", tag)[0].split("."))
            assert version >= (1, 27, 3), tag
        assert all(name in compose_services for name in APP_SERVICES)


def test_nginx_forwards_client_address_request_id_and_trace_context():
    for path in ("/ws/", "/"):
        sent = headers(location(path))
        # The edge proxy states the peer it saw; appending would pass on whatever
        # a client wrote, and the apps believe this header (TRUSTED_PROXIES).
        assert sent["x-forwarded-for"] == "$remote_addr", path
        assert sent["x-forwarded-proto"] == "$scheme", path
        assert sent["host"] in ("$host", "$http_host"), path
        assert sent["traceparent"] == "$http_traceparent", path
        request_id = sent["x-request-id"]
        assert request_id.startswith("$"), path
        if request_id != "$request_id":
            (id_map,) = find(nginx_http(), "map", "$http_x_request_id", request_id)
            fallback = {name: args[0] for name, args, _ in id_map[2]}
            assert fallback['""'] == "$request_id", "a request without an id gets one"


def test_nginx_access_log_never_records_the_query_string():
    formats = {
        args[0]: " ".join(args[1:]) for args in directives(nginx_http(), "log_format")
    }
    logs = directives(nginx_http(), "access_log") + directives(
        nginx_server(), "access_log"
    )
    assert logs, "an access log is configured"
    for args in logs:
        if args[0] == "off":
            continue
        assert len(args) >= 2 and args[1] in formats, (
            "the custom format, not 'combined'"
        )
        fmt = formats[args[1]]
        assert "$uri" in fmt
        for leaky in (
            "$request_uri",
            "$args",
            "$query_string",
            "$arg_token",
            "$http_referer",
        ):
            assert leaky not in fmt, leaky
        assert not re.search(r"\$request(?![_a-z])", fmt), (
            "$request holds the query string"
        )
    # Error-log lines quote the request line (query string included) at levels
    # up to "error"; only crit and worse may be logged.
    for args in directives(
        parse_nginx((DEPLOY / "nginx.conf").read_text()), "error_log"
    ):
        assert len(args) == 2 and args[1] in ("crit", "alert", "emerg"), args


def test_nginx_does_not_serve_metrics_to_the_outside():
    block = location("/metrics", "=")
    assert not directives(block, "proxy_pass")
    assert directives(block, "return")[0][0] in ("403", "404") or directives(
        block, "deny"
    )


# --------------------------------------------------------------------------
# Helm chart.


def test_chart_renders_valid_yaml_of_the_expected_kinds():
    docs = documents()
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), doc
        assert doc["metadata"]["name"], doc
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Ingress",
            "Ingress",
            "Job",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Secret",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        ]
    )
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
    assert len(names) == len(set(names)), "no two objects of a kind share a name"
    notes = render()[f"{CHART.name}/templates/NOTES.txt"]
    assert "DRAIN_TIMEOUT=10s" in notes


def test_chart_monitoring_objects_are_opt_in():
    docs = documents(
        with_values(
            metrics={
                "serviceMonitor": {"enabled": False},
                "prometheusRule": {"enabled": False},
            }
        )
    )
    assert not of_kind(docs, "ServiceMonitor") and not of_kind(docs, "PrometheusRule")


def test_chart_probes_hit_healthz_and_readyz_on_the_port_the_app_serves():
    docs = documents()
    container = app_container(one(docs, "Deployment"))
    env = env_map(container)
    serving = int(env["PORT"]["value"])
    assert env["HOST"]["value"] == "0.0.0.0"
    probes = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in probes.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert resolve_container_port(container, get["port"]) == serving, probe
    (service_port,) = one(docs, "Service")["spec"]["ports"]
    assert resolve_container_port(container, service_port["targetPort"]) == serving
    assert container["command"] == ["python", "manage.py", "serve"]


def test_chart_port_follows_container_port_everywhere():
    docs = documents(with_values(containerPort=9000))
    container = app_container(one(docs, "Deployment"))
    assert env_map(container)["PORT"]["value"] == "9000"
    assert (
        resolve_container_port(
            container, container["readinessProbe"]["httpGet"]["port"]
        )
        == 9000
    )
    (service_port,) = one(docs, "Service")["spec"]["ports"]
    assert resolve_container_port(container, service_port["targetPort"]) == 9000


def test_chart_sets_only_documented_environment_variables():
    docs = documents()
    names = set(one(docs, "ConfigMap")["data"]) | set(one(docs, "Secret")["stringData"])
    for workload in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            names |= set(env_map(container))
            for source in container.get("envFrom", []):
                assert "prefix" not in source
    assert names <= DOCUMENTED_ENV, names - DOCUMENTED_ENV
    assert set(SECRET_ENV) <= names


def test_chart_empty_config_values_are_left_to_the_app_defaults():
    data = one(
        documents(
            with_values(config={"WS_MAX_CONNECTIONS": "", "WS_MESSAGE_RATE": "7"})
        ),
        "ConfigMap",
    )["data"]
    assert "WS_MAX_CONNECTIONS" not in data
    assert data["WS_MESSAGE_RATE"] == "7"


def test_chart_secrets_come_from_the_secret_and_limits_from_the_configmap():
    docs = documents()
    secret, config_map = one(docs, "Secret"), one(docs, "ConfigMap")
    assert secret["stringData"] == SECRET_VALUES
    for workload in (one(docs, "Deployment"), one(docs, "Job")):
        container = workload["spec"]["template"]["spec"]["containers"][0]
        env = env_map(container)
        for key in SECRET_ENV:
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": secret["metadata"]["name"], "key": key}
    container = app_container(one(docs, "Deployment"))
    assert container["envFrom"] == [
        {"configMapRef": {"name": config_map["metadata"]["name"]}}
    ]
    for key, value in config_map["data"].items():
        assert isinstance(value, str), key


def test_chart_existing_secret_replaces_the_rendered_secret():
    docs = documents(
        with_values(secret={"existingSecret": "managed-elsewhere", "values": None})
    )
    assert not of_kind(docs, "Secret")
    for workload in (one(docs, "Deployment"), one(docs, "Job")):
        env = env_map(workload["spec"]["template"]["spec"]["containers"][0])
        for key in SECRET_ENV:
            assert env[key]["valueFrom"]["secretKeyRef"]["name"] == "managed-elsewhere"


def test_chart_refuses_to_render_without_a_secret_key():
    values = with_values(secret={"values": {"DJANGO_SECRET_KEY": ""}})
    with pytest.raises(RenderFailed, match="DJANGO_SECRET_KEY"):
        render(values)


def test_termination_grace_outlasts_the_prestop_sleep_plus_the_drain():
    for overrides in (
        None,
        with_values(drain={"timeoutSeconds": 30, "preStopSleepSeconds": 8}),
    ):
        deployment = one(documents(overrides), "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        container = app_container(deployment)
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep" and len(command) == 2
        pre_stop = int(command[1])
        assert pre_stop > 0, "the endpoint needs time to be removed before SIGTERM"
        drain = int(env_map(container)["DRAIN_TIMEOUT"]["value"])
        assert pod["terminationGracePeriodSeconds"] > pre_stop + drain
    assert drain == 30 and pre_stop == 8


def test_chart_pods_run_non_root_on_a_read_only_root_with_a_writable_tmp():
    docs = documents()
    for workload in (one(docs, "Deployment"), one(docs, "Job")):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]]
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"]
            assert resources["limits"]["memory"]


def test_chart_spreads_pods_across_nodes():
    for mode, key in (
        ("soft", "preferredDuringSchedulingIgnoredDuringExecution"),
        ("hard", "requiredDuringSchedulingIgnoredDuringExecution"),
    ):
        deployment = one(documents(with_values(podAntiAffinity=mode)), "Deployment")
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        (term,) = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
            key
        ]
        term = term.get("podAffinityTerm", term)
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_chart_selectors_match_the_pods():
    docs = documents()
    deployment = one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert one(docs, "Service")["spec"]["selector"] == selector
    assert (
        one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    )
    job_labels = one(docs, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= job_labels.items(), (
        "the Service never routes to the migrate pod"
    )


def test_migrate_job_is_a_pre_install_and_pre_upgrade_hook_that_runs_after_its_secret():
    docs = documents()
    job = one(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "serviceAccountName" not in job["spec"]["template"]["spec"]
    secret = one(docs, "Secret")["metadata"]["annotations"]
    assert set(secret["helm.sh/hook"].split(",")) >= {"pre-install", "pre-upgrade"}
    assert int(secret["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
    deployment = app_container(one(docs, "Deployment"))
    assert "migrate" not in " ".join(deployment["command"])


def test_ingress_sends_sockets_with_long_timeouts_and_no_access_log():
    docs = documents()
    service = one(docs, "Service")
    (service_port,) = service["spec"]["ports"]
    ingresses = {ing["metadata"]["name"]: ing for ing in of_kind(docs, "Ingress")}
    paths = {}
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == service["metadata"]["name"]
                assert backend["port"]["number"] == service_port["port"]
                paths[path["path"]] = ingress
    assert set(paths) == {"/", "/ws/"}
    ws = paths["/ws/"]["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert int(ws[prefix + "proxy-read-timeout"]) >= 600
    assert int(ws[prefix + "proxy-send-timeout"]) >= 600
    assert ws[prefix + "enable-access-log"] == "false", (
        "the handshake URL carries ?token="
    )
    site = paths["/"]["metadata"]["annotations"]
    assert prefix + "enable-access-log" not in site


def test_hpa_scales_the_deployment_on_cpu_and_owns_its_replicas():
    docs = documents()
    deployment, hpa = one(docs, "Deployment"), one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] >= 2
    assert "replicas" not in deployment["spec"]
    static = documents(with_values(autoscaling={"enabled": False}, replicaCount=3))
    assert not of_kind(static, "HorizontalPodAutoscaler")
    assert one(static, "Deployment")["spec"]["replicas"] == 3


def test_pdb_allows_one_pod_down_at_a_time():
    pdb = one(documents(), "PodDisruptionBudget")
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable")


def test_servicemonitor_scrapes_metrics_through_the_service_port():
    docs = documents()
    service, monitor = one(docs, "Service"), one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items()
        <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


def prometheus_rules(overrides: dict | None = None) -> list[dict]:
    rule = one(documents(overrides), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_prometheus_rules_query_only_exported_metrics():
    for rule in prometheus_rules():
        names = promql_metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= EXPORTED_SERIES | PROMETHEUS_SERIES, (rule["alert"], names)


def test_prometheus_rules_select_the_job_the_servicemonitor_scrapes():
    service_name = one(documents(), "Service")["metadata"]["name"]
    for rule in prometheus_rules():
        selectors = re.findall(r"[a-z_]+\{([^}]*)\}", rule["expr"])
        assert selectors, rule["alert"]
        for selector in selectors:
            assert f'job="{service_name}"' in selector, rule["alert"]
            assert f'namespace="{NAMESPACE}"' in selector, rule["alert"]


def test_prometheus_rules_cover_the_required_alerts():
    rules = prometheus_rules()

    def alert_where(*needles: str) -> dict:
        found = [
            r for r in rules if all(n in " ".join(r["expr"].split()) for n in needles)
        ]
        assert found, needles
        return found[0]

    alert_where("rate(process_cpu_seconds_total", "> 0.8")
    alert_where(
        "histogram_quantile(0.99,", "realtime_broadcast_seconds_bucket", "> 0.5"
    )
    pool = alert_where('state="in_use"', 'state="max"', "> 0.9")
    assert promql_metric_names(pool["expr"]) == {"realtime_db_pool_connections"}
    alert_where("rate(realtime_outbound_backlog_closed_total", "> 0")
    alert_where("rate(realtime_frames_dropped_total", "> 0")
    alert_where("changes(realtime_ready", "[10m]", "> 3")
    alert_where("up{", "== 0")
    alert_where("realtime_handshakes_total", 'outcome=~"refused_.*"')
    alert_where("realtime_degraded")
    alert_where("realtime_channel_layer_up", "== 0")
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))


def test_a_channel_layer_outage_is_alerted_as_degraded_not_as_unready():
    # /readyz stays 200 "degraded" while only Redis is down (PROTOCOL.md section 2): an
    # alert on realtime_degraded reports it; the not-ready alert blames the database only.
    rules = prometheus_rules()
    degraded = [r for r in rules if "realtime_degraded" in r["expr"]]
    assert degraded
    assert all("realtime_ready" not in r["expr"] for r in degraded)
    not_ready = [
        r for r in rules if re.search(r"realtime_ready\{[^}]*\}\s*==", r["expr"])
    ]
    assert not_ready
    for rule in not_ready:
        description = rule["annotations"]["description"]
        assert "database" in description, rule["alert"]
        assert "channel layer check fails" not in description, rule["alert"]


def test_prometheus_rule_thresholds_come_from_values():
    rules = prometheus_rules(
        with_values(
            metrics={
                "prometheusRule": {
                    "thresholds": {
                        "broadcastP99Seconds": 0.25,
                        "readinessChangesIn10m": 5,
                    }
                }
            }
        )
    )
    exprs = [" ".join(rule["expr"].split()) for rule in rules]
    assert any(
        "realtime_broadcast_seconds_bucket" in e and e.endswith("> 0.25") for e in exprs
    )
    assert any("changes(realtime_ready" in e and e.endswith("> 5") for e in exprs)


# --------------------------------------------------------------------------
# Helm lint, the values schema and the Kubernetes API schemas.


KUBE_VALIDATE = "kubernetes-validate (the Kubernetes API schemas)"
PROMETHEUS_OPERATOR_API = "monitoring.coreos.com/v1"

# Rendered and validated against every supported Kubernetes version: the defaults,
# everything on, and the switches, names and lists off the default path.
VALUE_SETS = {
    "defaults": {"secret": {"values": SECRET_VALUES}},
    "full": FULL_VALUES,
    "existing-secret-static": {
        "secret": {"existingSecret": "mine"},
        "autoscaling": {"enabled": False},
        "ingress": {"enabled": False},
        "podAntiAffinity": "hard",
        "migrations": {"enabled": False},
        "fullnameOverride": "chat",
        "podAnnotations": {"note": "a<&>b"},
        "config": {"WS_MAX_CONNECTIONS": "50000", "LOG_LEVEL": ""},
    },
    "tls-and-scheduling": {
        "secret": {"existingSecret": "mine"},
        "ingress": {
            "tls": [{"secretName": "tls", "hosts": ["a.example"]}],
            "hosts": ["a.example", "b.example"],
        },
        "nodeSelector": {"pool": "realtime"},
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        "imagePullSecrets": [{"name": "registry"}],
        "serviceAccount": {"create": False},
        "image": {"tag": "1.2.3"},
        "extraEnv": [{"name": "SESSION_COOKIE_SECURE", "value": "1"}],
    },
}


def minor_version(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def chart_min_kube_version() -> tuple[int, int]:
    constraint = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=\s*(\d+\.\d+)\.\d+(-0)?", constraint)
    assert match, f"kubeVersion {constraint!r} is not a plain lower bound"
    return minor_version(match[1])


def _kube_versions() -> list[str]:
    """The versions the installed validator ships from the chart's minimum on."""
    try:
        from kubernetes_validate.utils import all_versions
    except ImportError:
        # One case that fails naming the package, rather than no case at all.
        return [KUBE_VALIDATE]
    oldest = chart_min_kube_version()
    return sorted(
        {v for v in all_versions() if minor_version(v) >= oldest}, key=minor_version
    )


KUBE_VERSIONS = _kube_versions()


@functools.cache
def _kube_schemas(version: str) -> tuple[Any, Any]:
    """One version's strict schema folder and its shared definitions (1.4 MB)."""
    _require("kubernetes_validate", KUBE_VALIDATE)
    from referencing import Registry, Resource

    folder = importlib.resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema", f"v{version}-local-strict"
    )
    assert folder.is_dir(), f"kubernetes-validate has no schemas for {version}"
    definitions = json.loads(folder.joinpath("_definitions.json").read_text())
    return folder, Resource.from_contents(definitions) @ Registry()


@functools.cache
def _kube_validator(version: str, api_version: str, kind: str) -> Any | None:
    """None when the version does not serve that kind in that API version."""
    from jsonschema import Draft202012Validator

    folder, registry = _kube_schemas(version)
    # kubernetes-validate's file names: networking.k8s.io/v1 -> networking-v1.
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = folder.joinpath(f"{kind.lower()}-{group}.json")
    if not schema.is_file():
        return None
    return Draft202012Validator(json.loads(schema.read_text()), registry=registry)


def kube_schema_errors(doc: dict, version: str) -> list[str]:
    """Where a manifest breaks a version's API schema (strict: no unknown fields)."""
    validator = _kube_validator(version, doc["apiVersion"], doc["kind"])
    if validator is None:
        return [f"Kubernetes {version} serves no {doc['kind']} in {doc['apiVersion']}"]
    return sorted(
        f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(doc)
    )


CRD_SCHEMAS = Path(__file__).with_name("prometheus_operator_v1.schema.json")


@functools.cache
def _crd_validator(kind: str) -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Resource

    schema = json.loads(CRD_SCHEMAS.read_text())
    # Metadata and label selectors: the newest Kubernetes definitions.
    _, registry = _kube_schemas(KUBE_VERSIONS[-1])
    registry = Resource.from_contents(schema) @ registry
    return Draft202012Validator(
        {"$ref": f"{schema['$id']}#/$defs/{kind}"}, registry=registry
    )


def crd_schema_errors(doc: dict) -> list[str]:
    """Where a Prometheus Operator object breaks the schema of its fields we use."""
    assert doc["apiVersion"] == PROMETHEUS_OPERATOR_API, doc["apiVersion"]
    return sorted(
        f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in _crd_validator(doc["kind"]).iter_errors(doc)
    )


@functools.cache
def value_set_documents(name: str) -> tuple[tuple[str, dict], ...]:
    """(value set, manifest) pairs, parsed once for every version's validation."""
    return tuple((name, doc) for doc in documents(VALUE_SETS[name]))


def validated_documents(*, crds: bool) -> list[tuple[str, dict]]:
    return [
        (name, doc)
        for value_set in VALUE_SETS
        for name, doc in value_set_documents(value_set)
        if (doc["apiVersion"] == PROMETHEUS_OPERATOR_API) == crds
    ]


def test_schemas_cover_every_kubernetes_version_the_chart_claims():
    _require("kubernetes_validate", KUBE_VALIDATE)
    minors = [minor_version(version) for version in KUBE_VERSIONS]
    assert minors[0] == chart_min_kube_version(), "the oldest claimed version"
    major, first = minors[0]
    assert minors == [(major, m) for m in range(first, minors[-1][1] + 1)]
    assert minors[-1] >= (1, 33)


def test_chart_templates_never_branch_on_the_cluster_version():
    # One render per value set stands for every version validated below: the SDK
    # renders with Helm's default capabilities, whatever the cluster's version.
    for template in sorted((CHART / "templates").iterdir()):
        assert ".Capabilities" not in template.read_text(), template.name


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_rendered_manifests_match_the_kubernetes_api_schemas(version):
    _require("kubernetes_validate", KUBE_VALIDATE)
    problems = [
        f"{name}: {doc['kind']}/{doc['metadata']['name']}: {error}"
        for name, doc in validated_documents(crds=False)
        for error in kube_schema_errors(doc, version)
    ]
    assert not problems, "\n".join(problems)


def test_prometheus_operator_objects_match_their_crd_schemas():
    checked = validated_documents(crds=True)
    assert {doc["kind"] for _, doc in checked} == {"ServiceMonitor", "PrometheusRule"}
    problems = [
        f"{name}: {doc['kind']}/{doc['metadata']['name']}: {error}"
        for name, doc in checked
        for error in crd_schema_errors(doc)
    ]
    assert not problems, "\n".join(problems)


def test_schema_validation_rejects_unknown_fields_and_wrong_types():
    kubernetes_validate = _require("kubernetes_validate", KUBE_VALIDATE)
    docs = documents()
    deployment = one(docs, "Deployment")
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["minReadySeconds"] = "5"
    for version in (KUBE_VERSIONS[0], KUBE_VERSIONS[-1]):
        assert not kube_schema_errors(deployment, version)
        kubernetes_validate.validate(deployment, version, strict=True)
        for bad in (typo, wrong_type):
            assert kube_schema_errors(bad, version), version
            # The cached validators here judge as the library's own entry point.
            with pytest.raises(kubernetes_validate.ValidationError):
                kubernetes_validate.validate(bad, version, strict=True)
    monitor = one(docs, "ServiceMonitor")
    assert not crd_schema_errors(monitor)
    for field, value in (("intervall", "15s"), ("interval", "15 seconds")):
        bad = copy.deepcopy(monitor)
        bad["spec"]["endpoints"][0][field] = value
        assert crd_schema_errors(bad), field
    rule = copy.deepcopy(one(docs, "PrometheusRule"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = 5
    assert crd_schema_errors(rule)


def test_chart_passes_helm_lint_strict():
    helm = helm_engine()
    report = helm.lint(str(CHART), FULL_VALUES, strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


def test_values_schema_rejects_unknown_settings_and_unquoted_numbers():
    helm = helm_engine()
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(FULL_VALUES)
        for bad in (
            {"config": {"WS_MAX_CONECTIONS": "100"}},  # a typo
            {"config": {"WS_MAX_CONNECTIONS": 1000000}},  # would render as 1e+06
            {"drain": {"timeoutSeconds": "10"}},
        ):
            with pytest.raises(helm.HelmValuesError):
                chart.validate_schema(merge_values(FULL_VALUES, bad))


# --------------------------------------------------------------------------
# Grafana.


@functools.cache
def dashboard() -> dict:
    return json.loads((DEPLOY / "grafana" / "realtime-dashboard.json").read_text())


def dashboard_panels() -> list[dict]:
    panels = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_queries() -> list[str]:
    queries = [t["expr"] for p in dashboard_panels() for t in p.get("targets", [])]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            queries.append(inner[1] if inner else query)
    return queries


def test_grafana_dashboard_queries_only_exported_metrics():
    queries = dashboard_queries()
    assert queries
    for query in queries:
        names = promql_metric_names(query)
        assert names, query
        assert names <= EXPORTED_SERIES, (query, names - EXPORTED_SERIES)


def test_grafana_dashboard_shows_every_exported_metric():
    used = set().union(*(promql_metric_names(q) for q in dashboard_queries()))
    for family, kind in APP_METRICS.items():
        series = family + "_bucket" if kind == "histogram" else family
        assert series in used, family
    latency = [
        q for q in dashboard_queries() if "realtime_broadcast_seconds_bucket" in q
    ]
    quantiles = {
        m for q in latency for m in re.findall(r"histogram_quantile\((0\.\d+)", q)
    }
    assert {"0.5", "0.95", "0.99"} <= quantiles


def test_grafana_dashboard_panels_are_well_formed():
    board = dashboard()
    assert board["uid"] and board["title"]
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in dashboard_panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
