"""A client generated from `/api/schema/` (openapi-python-client) runs the main flow
against a real server: what an integrator who reads only the schema gets.

The generated package parses every answer by the schema (a missing required property is
an error) and raises on a status the operation does not declare.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.test import Client

PACKAGE = "realtime_api_client"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def generated(tmp_path: Path, transactional_db: Any) -> Iterator[ModuleType]:
    """The client package generated from this project's schema, importable."""
    schema = tmp_path / "schema.json"
    schema.write_bytes(Client().get("/api/schema/?format=json").content)
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: not the subject here
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate"]
        + ["--path", str(schema), "--meta", "none", "--config", str(config)]
        + ["--output-path", str(tmp_path / PACKAGE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # A warning means parts of the schema were skipped: the client would miss them.
    assert "Warning" not in output and "Error" not in output, output
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_a_generated_client_runs_the_main_flow(generated, live_server):
    api = {
        name: module(generated, f"api.{name}")
        for name in (
            "auth.auth_register_create",
            "auth.auth_token_create",
            "auth.auth_token_refresh_create",
            "rooms.rooms_create",
            "rooms.rooms_list",
            "rooms.rooms_members_add",
            "rooms.rooms_members_remove",
            "rooms.rooms_messages_create",
            "rooms.rooms_messages_list",
        )
    }
    models = module(generated, "models")
    anonymous = generated.Client(
        base_url=live_server.url, raise_on_unexpected_status=True
    )

    # register, and sign in
    for name in ("alice", "bob"):
        created = api["auth.auth_register_create"].sync_detailed(
            client=anonymous,
            body=models.RegisterRequest(username=name, password=PASSWORD),
        )
        assert created.status_code == 201 and created.parsed.username == name
    tokens = api["auth.auth_token_create"].sync(
        client=anonymous,
        body=models.TokenObtainRequest(username="alice", password=PASSWORD),
    )
    assert isinstance(tokens, models.TokenObtain), tokens
    alice = generated.AuthenticatedClient(
        base_url=live_server.url, token=tokens.access, raise_on_unexpected_status=True
    )

    # a room, its whitelist (a DELETE with its body), a message and its resend
    room = api["rooms.rooms_create"].sync(
        client=alice, body=models.RoomRequest(slug="team", name="Team", is_private=True)
    )
    assert isinstance(room, models.Room) and room.owner.username == "alice"
    added = api["rooms.rooms_members_add"].sync_detailed(
        "team", client=alice, body=models.UsernameRequest(username="bob")
    )
    assert added.status_code == 201
    removed = api["rooms.rooms_members_remove"].sync_detailed(
        "team", client=alice, body=models.UsernameRequest(username="bob")
    )
    assert removed.status_code == 204
    send = models.MessageRequest(body="hello", client_id="c-1")
    first = api["rooms.rooms_messages_create"].sync_detailed(
        "team", client=alice, body=send
    )
    assert first.status_code == 201 and first.parsed.seq == 1
    again = api["rooms.rooms_messages_create"].sync_detailed(
        "team", client=alice, body=send
    )
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed.id == first.parsed.id
    other = api["rooms.rooms_messages_create"].sync_detailed(
        "team", client=alice, body=models.MessageRequest(body="other", client_id="c-1")
    )
    assert other.status_code == 409
    assert other.parsed.code == models.ErrorCode.CONFLICT

    # the page of messages
    page = api["rooms.rooms_messages_list"].sync("team", client=alice, after=0)
    assert isinstance(page, models.MessagePage)
    assert [m.body for m in page.results] == ["hello"] and page.has_more is False

    # an error a client switches on by code, its fields by name
    taken = api["rooms.rooms_create"].sync_detailed(
        client=alice, body=models.RoomRequest(slug="team")
    )
    assert taken.status_code == 400 and taken.parsed.code == models.ErrorCode.INVALID
    assert "slug" in taken.parsed.errors.additional_properties

    # refresh: a new pair; the used refresh token is dead
    renewed = api["auth.auth_token_refresh_create"].sync(
        client=anonymous, body=models.TokenRefreshRequest(refresh=tokens.refresh)
    )
    assert isinstance(renewed, models.TokenRefresh), renewed
    reused = api["auth.auth_token_refresh_create"].sync_detailed(
        client=anonymous, body=models.TokenRefreshRequest(refresh=tokens.refresh)
    )
    assert reused.status_code == 401
    assert reused.parsed.code == models.ErrorCode.TOKEN_NOT_VALID
    fresh = generated.AuthenticatedClient(
        base_url=live_server.url, token=renewed.access, raise_on_unexpected_status=True
    )
    rooms = api["rooms.rooms_list"].sync(client=fresh, limit=1)
    assert isinstance(rooms, models.RoomPage)
    assert rooms.count == 1 and rooms.results[0].slug == "team"
