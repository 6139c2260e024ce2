"""docs/protocol.md, the contract the product publishes, stays true to the code: every
socket route, frame type, frame field, query parameter, error code, close code and `WS_`
setting the code has is in it; so are every REST operation, REST error code with its
statuses, list bound, server API scope, webhook event, header and throttle or webhook
setting; and the project's other documents point to it."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from django.conf import settings
from pydantic import BaseModel

from realtime import routing  # noqa: F401  (registers the routes)
from realtime.socket.closecodes import CloseCode
from realtime.socket.routes import SocketRoute, published
from realtime.socket.schemas import ErrorCode

ROOT = Path(settings.BASE_DIR)
DOC = (ROOT / "docs" / "protocol.md").read_text()


def section(heading: str) -> str:
    """The text under the first heading (##..###) containing `heading`, to the next one."""
    match = re.search(
        rf"^(#{{2,3}}) [^\n]*{heading}[^\n]*\n(.*?)(?=^#{{2,3}} |\Z)",
        DOC,
        re.M | re.S,
    )
    assert match, f"docs/protocol.md has no heading with {heading!r}"
    return match.group(2)


def template_pattern(route: SocketRoute) -> str:
    """The route's path as the document writes it, whatever it calls the parameters."""
    return re.sub(r"<\w+>", r"<\\w+>", re.escape(route.template))


def frames_text(route: SocketRoute) -> str:
    """What the document says about a JSON route's frames: its own section, the section
    on every JSON route, and the frame rules before them."""
    own = section(template_pattern(route))
    return section(r"3\. Frames") + section("On every JSON route") + own


def models_in(model: type[BaseModel]) -> list[type[BaseModel]]:
    """`model` and every model its fields hold (the user in a message, ...)."""
    found = [model]
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                found.extend(m for m in models_in(annotation) if m not in found)
            else:
                stack.extend(typing.get_args(annotation))
    return found


JSON_ROUTES = [r for r in published() if r.consumer.json_only]


def test_every_socket_route_is_in_the_table_of_sockets():
    table = section("Sockets at a glance")
    assert len(published()) == 3
    for route in published():
        assert re.search(rf"\| `{template_pattern(route)}` \|", table), route.template


@pytest.mark.parametrize("route", JSON_ROUTES, ids=lambda r: r.consumer.route)
def test_every_frame_type_of_a_route_both_ways_is_in_its_section(route):
    text = frames_text(route)
    inbound, _ = route.consumer._dispatch()
    kinds = set(inbound) | set(route.consumer.outbound_schemas())
    assert [k for k in sorted(kinds) if f'{{"type":"{k}"' not in text] == []


@pytest.mark.parametrize("route", JSON_ROUTES, ids=lambda r: r.consumer.route)
def test_every_field_of_every_frame_of_a_route_is_in_its_section(route):
    text = frames_text(route)
    inbound, _ = route.consumer._dispatch()
    models = [*inbound.values(), *route.consumer.outbound_schemas().values()]
    missing = {
        f"{model.__name__}.{name}"
        for top in models
        for model in models_in(top)
        for name in model.model_fields
        if f'"{name}"' not in text
    }
    assert sorted(missing) == []


def test_every_query_parameter_a_route_reads_is_in_the_query_table():
    table = section("Query parameters")
    for route in published():
        for name in route.consumer.query_params:
            assert f"| `{name}` |" in table, name


def test_every_error_code_is_in_the_table_of_error_frames():
    table = section("Error frames")
    assert [c for c in typing.get_args(ErrorCode) if f"| `{c}` |" not in table] == []


def test_every_close_code_is_in_the_table_of_close_codes():
    table = section("Close codes")
    assert [int(c) for c in CloseCode if f"\n| {int(c)} |" not in table] == []
    assert "When `4401` comes" in table


def test_every_ws_setting_is_in_the_document():
    names = [name for name in dir(settings) if name.startswith("WS_")]
    assert len(names) > 10
    assert [n for n in names if f"`{n}`" not in DOC] == []


def test_the_document_names_the_machine_readable_contracts():
    assert "`GET /api/asyncapi.json`" in DOC and "`GET /api/schema/`" in DOC


def test_the_wrong_notify_path_an_integrator_guesses_is_explained():
    assert "`/ws/notify/<id>/`" in section("Sockets at a glance")


@pytest.mark.parametrize("path", ["README.md", "static/js/README.md"])
def test_the_project_documents_point_to_the_published_contract(path):
    text = (ROOT / path).read_text()
    assert "docs/protocol.md" in text
    assert "shared/PROTOCOL.md" not in text and "`PROTOCOL.md`" not in text


def test_the_openapi_description_points_to_the_published_contract():
    description = settings.SPECTACULAR_SETTINGS["DESCRIPTION"]
    assert "docs/protocol.md" in description and "/api/asyncapi.json" in description
    assert "shared/PROTOCOL.md" not in description


# --- REST, the server API and webhooks ------------------------------------------------------


def test_every_rest_error_code_is_in_the_table_with_the_statuses_it_comes_with():
    from realtime.web.errors import _CODE_BY_STATUS, ERROR_CODES

    table = section("Errors")
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", table, re.M)
    }
    assert [c for c in ERROR_CODES if c not in rows] == []
    statuses = {**_CODE_BY_STATUS, 503: "unavailable"}
    assert [(s, c) for s, c in statuses.items() if str(s) not in rows.get(c, "")] == []


def api_routes() -> list[tuple[str, str]]:
    """(METHOD, path as the document writes it) of every view under /api/."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: list[tuple[str, str]] = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and route.startswith("api/"):
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", route)
                view = getattr(p.callback, "cls", None) or getattr(
                    p.callback, "view_class", None
                )
                methods = (
                    [
                        m
                        for m in ("get", "post", "put", "patch", "delete")
                        if hasattr(view, m)
                    ]
                    if view is not None
                    else ["get"]
                )
                found.extend((m.upper(), path) for m in methods)

    walk(get_resolver().url_patterns, "")
    return found


def any_parameter(path: str) -> str:
    """A pattern of `path` whatever the document calls its parameters (`<id>`, `<pk>`)."""
    return re.sub(r"<\w+>", r"<\\w+>", re.escape(path))


def test_every_rest_operation_is_in_the_document():
    routes = api_routes()
    assert len(routes) > 20
    missing = [
        f"{method} {path}"
        for method, path in routes
        if not re.search(rf"`{method} {any_parameter(path)}[`?]", DOC)
    ]
    assert missing == []


def test_every_server_api_scope_and_webhook_event_is_in_the_document():
    from integrations.models import EVENTS, SCOPES

    assert [s for s in SCOPES if f"| `{s}` |" not in section("11.2")] == []
    assert [e for e in EVENTS if f"`{e}`" not in section("11.3 Webhooks")] == []


def test_every_throttle_and_webhook_setting_is_in_the_document():
    names = [
        n
        for n in dir(settings)
        if n.startswith("WEBHOOK_") or (n.endswith("_THROTTLE") and n.isupper())
    ]
    assert len(names) > 6
    assert [n for n in names if f"`{n}`" not in DOC] == []


def test_the_headers_a_client_reads_and_sends_are_named_as_the_code_names_them():
    from chat.api.messages import IDEMPOTENCY_KEY, REPLAYED
    from integrations.auth import KEYWORD
    from integrations.events import SIGNATURE_HEADER

    for header in (IDEMPOTENCY_KEY.name, REPLAYED.name, SIGNATURE_HEADER):
        assert f"`{header}" in DOC, header
    assert f"`Authorization: {KEYWORD.decode().title()} <key>`" in DOC


def test_the_list_bounds_are_the_codes():
    from chat import selectors
    from realtime.web.rest import LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX

    lists = section("8.3 Lists")
    assert f"`limit` 1 to {LIST_LIMIT_MAX} (default {LIST_LIMIT_DEFAULT})" in lists
    assert (
        f"`limit` 1 to {selectors.PAGE_LIMIT_MAX} "
        f"(default {selectors.PAGE_LIMIT_DEFAULT}" in lists
    )
    notes = section("Notes for integrators")
    assert f"up to {selectors.HISTORY_SINCE_MAX} messages" in notes
