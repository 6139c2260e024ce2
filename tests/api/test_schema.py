"""`/api/schema/` as a client generator reads it (PROTOCOL.md section 11): requests and
responses apart, one error body on every error answer, the headers, the examples, the
list parameters, the servers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from realtime.web.errors import ERROR_CODES
from realtime.web.rest import LIST_LIMIT_MAX

METHODS = {"get", "post", "put", "patch", "delete"}
#: the lists of the one limit/offset convention, and their page components
LISTS = {
    "/api/rooms/": "RoomPage",
    "/api/rooms/{slug}/members/": "MemberPage",
    "/api/rooms/{slug}/presence/": "PresencePage",
    "/api/notifications/": "PaginatedNotificationList",
}


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return orjson.loads(response.content)


def operations(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def component(schema: dict[str, Any], ref_holder: dict[str, Any]) -> dict[str, Any]:
    ref = ref_holder["$ref"]
    assert ref.startswith("#/components/schemas/"), ref
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def request_schema(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    content = operation["requestBody"]["content"]
    assert list(content) == ["application/json"]
    return component(schema, content["application/json"]["schema"])


def response_schema(
    schema: dict[str, Any], operation: dict[str, Any], status: str
) -> dict[str, Any]:
    return component(
        schema, operation["responses"][status]["content"]["application/json"]["schema"]
    )


def test_token_request_and_answer_are_apart(schema):
    token = schema["paths"]["/api/auth/token/"]["post"]
    request = request_schema(schema, token)
    assert (
        set(request["properties"])
        == set(request["required"])
        == {
            "username",
            "password",
        }
    )
    answer = response_schema(schema, token, "200")
    assert set(answer["properties"]) == set(answer["required"]) == {"access", "refresh"}
    refresh = schema["paths"]["/api/auth/token/refresh/"]["post"]
    assert set(request_schema(schema, refresh)["properties"]) == {"refresh"}
    assert set(response_schema(schema, refresh, "200")["required"]) == {
        "access",
        "refresh",
    }


def test_a_message_request_is_body_and_an_optional_client_id_and_reply_to(schema):
    post = schema["paths"]["/api/rooms/{slug}/messages/"]["post"]
    request = request_schema(schema, post)
    assert set(request["properties"]) == {"body", "client_id", "reply_to"}
    assert request["required"] == ["body"]
    assert request["properties"]["reply_to"]["type"] == "integer"
    answer = response_schema(schema, post, "201")
    assert {"id", "seq", "room", "user", "body", "ts", "type"} <= set(
        answer["required"]
    )
    assert {"rev", "edited", "deleted", "reactions"} <= set(answer["required"])
    assert answer["properties"]["reply_to"]["allOf"][0]["$ref"].endswith("/Reply")


def test_every_request_body_takes_no_property_beyond_its_fields(schema):
    for path, method, operation in operations(schema):
        if "requestBody" in operation:
            request = request_schema(schema, operation)
            assert request["additionalProperties"] is False, (method, path)
            assert not any(p.get("readOnly") for p in request["properties"].values()), (
                method,
                path,
            )


def test_one_error_schema_with_the_listed_codes(schema):
    components = schema["components"]["schemas"]
    error = components["Error"]
    assert error["required"] == ["detail", "code"]
    assert set(error["properties"]) == {"detail", "code", "errors"}
    assert components["ErrorCode"]["enum"] == list(ERROR_CODES)
    errors = error["properties"]["errors"]
    assert errors["additionalProperties"] == {
        "type": "array",
        "items": {"type": "string"},
    }
    assert "FieldErrors" not in components


def test_every_error_answer_is_declared_with_the_error_schema(schema):
    for path, method, operation in operations(schema):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        declared = set(responses)
        if {} not in operation.get("security", [{}]):
            assert "401" in declared, where
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= declared, where
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "400" in declared, where
        if "{" in path:
            assert "404" in declared, where
        assert "503" in declared, where
        for status, response in responses.items():
            if int(status) >= 400:
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (where, status)
                assert response["description"], (where, status)


def test_every_throttled_answer_declares_retry_after(schema):
    throttled = [
        (path, method, operation["responses"]["429"])
        for path, method, operation in operations(schema)
        if "429" in operation["responses"]
    ]
    assert {(p, m) for p, m, _ in throttled} >= {
        ("/api/auth/token/", "post"),
        ("/api/rooms/", "post"),
        ("/api/rooms/{slug}/messages/", "post"),
        ("/api/rooms/{slug}/", "patch"),
        ("/api/rooms/{slug}/members/", "delete"),
    }
    for _path, _method, response in throttled:
        assert response["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_message_create_declares_idempotency_its_replay_and_its_conflict(schema):
    post = schema["paths"]["/api/rooms/{slug}/messages/"]["post"]
    key = [p for p in post["parameters"] if p["name"] == "Idempotency-Key"]
    assert key and key[0]["in"] == "header" and not key[0].get("required")
    replay = post["responses"]["200"]
    assert "Idempotent-Replayed" in replay["headers"]
    assert response_schema(schema, post, "200") == response_schema(schema, post, "201")
    assert "409" in post["responses"]


def test_removing_a_member_declares_its_body(schema):
    delete = schema["paths"]["/api/rooms/{slug}/members/"]["delete"]
    assert set(request_schema(schema, delete)["properties"]) == {"username"}


def test_a_room_is_changed_with_patch_and_deleted_with_delete(schema):
    room = schema["paths"]["/api/rooms/{slug}/"]
    patch = request_schema(schema, room["patch"])
    assert set(patch["properties"]) == {"name", "topic", "is_private", "archived"}
    assert not patch.get("required")
    assert "204" in room["delete"]["responses"]


def test_every_list_declares_limit_and_offset_and_one_page_shape(schema):
    for path, page in LISTS.items():
        get = schema["paths"][path]["get"]
        params = {p["name"]: p for p in get["parameters"]}
        assert params["limit"]["schema"]["maximum"] == LIST_LIMIT_MAX, path
        assert params["limit"]["schema"]["minimum"] == 1, path
        assert params["offset"]["schema"]["minimum"] == 0, path
        body = response_schema(schema, get, "200")
        assert schema["components"]["schemas"][page] == body
        assert set(body["properties"]) == {"count", "next", "previous", "results"}
    messages = schema["paths"]["/api/rooms/{slug}/messages/"]["get"]
    params = {p["name"]: p for p in messages["parameters"]}
    assert {"after", "before", "limit"} <= set(params)
    assert params["limit"]["schema"]["maximum"] == 200


def test_the_main_operations_carry_examples_and_the_document_its_servers(schema):
    assert schema["servers"] and schema["servers"][0]["url"]
    for path, method in [
        ("/api/auth/token/", "post"),
        ("/api/auth/register/", "post"),
        ("/api/rooms/", "post"),
        ("/api/rooms/{slug}/messages/", "post"),
    ]:
        body = schema["paths"][path][method]["requestBody"]["content"]
        assert body["application/json"]["examples"], (method, path)
    assert schema["components"]["schemas"]["Error"]["example"]["code"] in ERROR_CODES


def test_operation_ids_name_what_a_generated_client_calls(schema):
    ids = {op["operationId"] for _, _, op in operations(schema)}
    assert {
        "auth_token_create",
        "auth_token_refresh_create",
        "auth_register_create",
        "rooms_list",
        "rooms_create",
        "rooms_update",
        "rooms_destroy",
        "rooms_messages_list",
        "rooms_messages_create",
        "rooms_members_list",
        "rooms_members_add",
        "rooms_members_remove",
        "rooms_presence_list",
        "notifications_list",
    } <= ids
