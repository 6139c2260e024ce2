"""REST plumbing the apps share (PROTOCOL.md sections 8 and 11): JSON input as strict as
socket frames, the one list convention, and what every OpenAPI operation declares (its
errors in the one `Error` shape, `Retry-After`, the list parameters)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

from realtime.web.errors import ERROR_CODES

#: the largest value of a signed 64-bit column: query parameters and ids are bounded by it
INT64_MAX = 2**63 - 1


def _type_error(field: serializers.Field, value: Any) -> Any:
    """Why `value`, as JSON decoded it, is not of `field`'s type (None: it is, or DRF decides)."""
    if value is None:
        return None  # DRF's own "may not be null" (or allow_null)
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Expected a boolean."
    if isinstance(field, serializers.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "Expected an integer."
    if isinstance(field, serializers.CharField | serializers.ChoiceField):
        return None if isinstance(value, str) else "Expected a string."
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return "Expected a list."
        items = {
            str(i): [problem]
            for i, item in enumerate(value)
            if (problem := _type_error(field.child, item))
        }
        return items or None
    return None


class StrictSerializer(serializers.Serializer):
    """A JSON object in: a field of another JSON type, or a field it does not take, is a
    400 `invalid`; never coerced (`5` is no name, `"true"` no boolean), never dropped.

    The API parses JSON bodies only (a form is a 415), so every body arrives typed.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {f.field_name: f for f in self._writable_fields}
            errors: dict[str, Any] = {}
            for key, value in data.items():
                if key not in writable:
                    known = key in self.fields
                    errors[key] = [
                        "This field is read-only." if known else "Unknown field."
                    ]
                elif problem := _type_error(writable[key], value):
                    errors[key] = problem if isinstance(problem, dict) else [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictSerializerSchema(OpenApiSerializerExtension):
    """A strict serializer's request body takes no property beyond its fields."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer(
            self.target, direction, bypass_extensions=True
        )
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


class QueryInteger(serializers.IntegerField):
    """An integer query parameter: ASCII digits only (`5.0`, ` 5`, `+5`, `５` are not);
    present but empty (`?after=`) is a 400 too, never taken for absent."""

    def get_value(self, dictionary: Any) -> Any:
        return dictionary.get(self.field_name, serializers.empty)

    def to_internal_value(self, data: Any) -> int:
        if not (isinstance(data, str) and data.isascii() and data.isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- lists ------------------------------------------------------------------------------

#: a list's page size when `?limit=` is absent, and the most one page may ask for
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 200


class ListQuery(serializers.Serializer):
    """`?limit=&offset=` of every list but a room's messages (those page by seq)."""

    limit = QueryInteger(
        min_value=1,
        max_value=LIST_LIMIT_MAX,
        required=False,
        help_text=f"page size, 1 to {LIST_LIMIT_MAX} (default {LIST_LIMIT_DEFAULT}); "
        "more is a 400, never cut",
    )
    offset = QueryInteger(
        min_value=0,
        max_value=INT64_MAX,
        required=False,
        help_text="items to skip (default 0); past the end the page is empty",
    )


class ListPagination(LimitOffsetPagination):
    """One convention for every list: `?limit=&offset=` -> `{count, next, previous,
    results}`; a bad or too large `limit` is a 400, never a guess or a silent cut."""

    default_limit = LIST_LIMIT_DEFAULT
    max_limit = LIST_LIMIT_MAX

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any = None
    ) -> list[Any]:
        query = ListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        self._query = query.validated_data
        return super().paginate_queryset(queryset, request, view) or []

    def get_limit(self, request: Request) -> int:
        return self._query.get("limit", self.default_limit)

    def get_offset(self, request: Request) -> int:
        return self._query.get("offset", 0)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        # Declared by the views themselves (`parameters=[ListQuery]`), bounds included.
        return []


def paged(name: str, item: serializers.Serializer) -> Any:
    """The OpenAPI shape of a page of a list (ListPagination's envelope)."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(min_value=0),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item,
        },
    )


class BodyOnDeleteSchema(AutoSchema):
    """Spectacular declares no body on DELETE; a view whose DELETE takes one says so."""

    def _get_request_body(self, direction: str = "request") -> Any:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"  # the one switch spectacular reads to skip the body
        try:
            body = super()._get_request_body(direction)
        finally:
            self.method = "DELETE"
        if body is not None:
            # Some clients cannot send a DELETE body: the view takes a query too.
            body["required"] = False
        return body


# --- errors in the schema ---------------------------------------------------------------

#: the one error component: every 4xx and 5xx an operation declares has this body
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Every REST error. `code` is stable (switch on it); `detail` is for people; "
        "`errors` names the fields at fault by their dotted path (`user_ids.3`), only "
        "when fields are at fault. Any path also answers `405 method_not_allowed` "
        "(with `Allow`) to a method it does not take."
    ),
    "properties": {
        "detail": {"type": "string"},
        "code": {"$ref": "#/components/schemas/ErrorCode"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["detail", "code"],
    "example": {
        "detail": "body: Expected a string.",
        "code": "invalid",
        "errors": {"body": ["Expected a string."]},
    },
}


#: the stable codes, one enum component so generated clients get one type for them
ERROR_CODE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": list(ERROR_CODES),
    "description": "what went wrong, for programs: `invalid`, `parse_error` (400); "
    "`not_authenticated`, `token_not_valid` (401); `permission_denied` (403); "
    "`not_found` (404); `method_not_allowed` (405); `conflict` (409); `invalid` "
    "(413); `unsupported_media_type` (415); `throttled` (429); `unavailable` (503)",
}


class ErrorSerializer(serializers.Serializer):
    """Every REST error: `{"detail", "code", "errors"?}` (ERROR_SCHEMA)."""


class ErrorSchema(OpenApiSerializerExtension):
    target_class = ErrorSerializer

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return copy.deepcopy(ERROR_SCHEMA)


ERROR_DESCRIPTIONS = {
    400: "`invalid`: bad input, the fields at fault in `errors`; `parse_error`: the "
    "body is no JSON",
    401: "`not_authenticated`: no credentials, or bad ones; `token_not_valid`: the "
    "token is malformed, expired or revoked",
    403: "`permission_denied`: not allowed",
    404: "`not_found`",
    409: "`conflict`",
    413: "`invalid`: the body is over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)",
    415: "`unsupported_media_type`: the body is not JSON",
    429: "`throttled`: `Retry-After` says when to try again",
    503: "`unavailable`: the database is unreachable; nothing was done, try again",
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before the next try",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def errors(*codes: int | tuple[int, str]) -> dict[int, OpenApiResponse]:
    """An operation's documented error answers: `errors(401, (403, "why"), 404)`."""
    described = dict(
        c if isinstance(c, tuple) else (c, ERROR_DESCRIPTIONS[c]) for c in codes
    )
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=description)
        for code, description in sorted(described.items())
    }


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        },
    }


def declare_common_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: the errors every operation of a kind can answer, declared once.

    Input (a body, query parameters): 400. A body: 413 and 415. Authentication
    required: 401. An unsafe method open to the session cookie: 403 (the CSRF check).
    A path parameter: 404. A throttle: 429 with `Retry-After`. Every operation: 503.
    Every error answer, the views' own too, has the one `Error` body.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    unsafe = {"post", "put", "patch", "delete"}
    throttled = _throttled_operations(kwargs.get("generator"), unsafe)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in unsafe | {"get", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            security = operation.get("security", [])
            queried = any(
                p.get("in") == "query" for p in operation.get("parameters", [])
            )
            added: dict[int, str] = {503: ERROR_DESCRIPTIONS[503]}
            if security and {} not in security:
                added[401] = ERROR_DESCRIPTIONS[401]
            if "requestBody" in operation:
                added.update({c: ERROR_DESCRIPTIONS[c] for c in (400, 413, 415)})
            elif queried:
                added[400] = "`invalid`: a bad query parameter, named in `errors`"
            if method in unsafe and any("cookieAuth" in s for s in security):
                added[403] = (
                    "`permission_denied`: not allowed; also a session-cookie call "
                    "without its CSRF token"
                )
            if "{" in path:
                added[404] = ERROR_DESCRIPTIONS[404]
            if (path, method) in throttled:
                added[429] = ERROR_DESCRIPTIONS[429]
            for code, description in added.items():
                responses.setdefault(str(code), _error_response(description))
            for code, response in responses.items():
                if int(code) >= 400:
                    response["content"] = _error_response("")["content"]
                if code == "429":
                    response.setdefault("headers", {}).update(RETRY_AFTER)
            operation["responses"] = dict(sorted(responses.items()))
    schemas["Error"] = copy.deepcopy(ERROR_SCHEMA)
    schemas["ErrorCode"] = copy.deepcopy(ERROR_CODE_SCHEMA)
    return result


def _throttled_operations(generator: Any, unsafe: set[str]) -> set[tuple[str, str]]:
    """(path, method) of the operations a view throttles: they can answer 429.

    A throttle that lets safe methods through (the write throttle) throttles only the
    unsafe ones; the views' own throttle classes decide, so the schema follows the code.
    """
    found: set[tuple[str, str]] = set()
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or ():
        view = getattr(callback, "cls", None)
        throttles = getattr(view, "throttle_classes", ()) or ()
        method = method.lower()
        for throttle in throttles:
            writes_only = getattr(throttle, "scope", None) == "write"
            if not writes_only or method in unsafe:
                found.add((path, method))
    return found
