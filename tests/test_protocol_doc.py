"""docs/protocol.md, the contract the product publishes, stays true to the code: every
socket route, frame type, frame field, query parameter, error code, close code and `WS_`
setting the code has is in it, and the project's other documents point to it."""

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
