"""The REST API fuzzed against its own OpenAPI document (schemathesis) on a real server.

Every operation of `/api/schema/` gets schema-valid and schema-violating requests
(boundaries first, then generated ones, then stateful chains along the links between
operations), with a staff user's token and some data to reach. Deterministic and small
enough for `make test`. A failure prints schemathesis's report: each case with its curl.
"""

from __future__ import annotations

import re
import subprocess
import sys

import orjson
import pytest

from tests.support import make_staff, room_create

#: cases per operation and phase; the whole test stays well under a minute
MAX_EXAMPLES = 10
#: Every check but one. Each answer's status, content type, headers and body must be
#: what the schema declares for it (the conformance checks), no 5xx, and every
#: schema-violating request refused. Not checked: positive_data_acceptance, since
#: schema-valid input may be refused on grounds no schema states (a user or slug that
#: must (not) exist, password strength, "at least one recipient"): 400s by contract.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
]


@pytest.mark.e2e
def test_no_api_request_gets_a_5xx_or_an_answer_its_schema_does_not_declare(
    server_factory, tmp_path
):
    server = server_factory()
    root = server.api.user("root")
    make_staff(server, "root")  # the staff send is an operation too
    alice = server.api.user("alice")
    room_create(server, root, "lobby")
    room_create(server, alice, "secret", private=True)  # root gets its 403s
    status, _ = server.api.post(
        "/api/rooms/lobby/messages/", {"body": "hello"}, token=root.access
    )
    assert status == 201

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{server.url}/api/schema/",
            "--header",
            f"Authorization: Bearer {root.access}",
            "--checks",
            ",".join(CHECKS),
            "--generation-deterministic",  # derandomized: the same cases every run
            "--max-examples",
            str(MAX_EXAMPLES),
            # NUL is refused in every string (PostgreSQL text cannot hold it), as the
            # schema's description says; JSON Schema has no word for it.
            "--generation-allow-x00",
            "false",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
            "--output-truncate",
            "true",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    report = result.stdout[-20000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    tested = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", result.stdout)
    assert tested, report
    selected, total, done = map(int, tested.groups())
    assert selected == total == done >= 16, report


def test_every_operation_declares_its_errors_with_their_json_body(client):
    schema = orjson.loads(client.get("/api/schema/?format=json").content)
    components = schema["components"]["schemas"]
    assert components["Error"]["required"] == ["detail", "code"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            if {} not in operation["security"]:
                assert "401" in responses, where
            if "requestBody" in operation:
                assert {"400", "415"} <= set(responses), where
                body = operation["requestBody"]["content"]
                assert list(body) == ["application/json"], where
                request = components[body["application/json"]["schema"]["$ref"][21:]]
                assert request["additionalProperties"] is False, where
            for code, response in responses.items():
                if code >= "400":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", where
