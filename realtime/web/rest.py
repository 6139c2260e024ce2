"""REST plumbing the apps share: JSON input as strict as socket frames, and the error
answers their OpenAPI operations declare (PROTOCOL.md sections 8 and 11)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.datastructures import MultiValueDict
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

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
    400; never coerced (`5` is no name, `"true"` no boolean) and never dropped.

    Form bodies hold strings only: DRF parses those as usual. The schema documents JSON.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping) and not isinstance(data, MultiValueDict):
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


class ErrorSerializer(serializers.Serializer):
    """Every error but field errors: `{"detail": str}`."""

    detail = serializers.CharField()


class FieldErrorsSerializer(serializers.Serializer):
    """A 400: `{field: [str, ...]}` (a list field's items by index), or `{"detail": str}`."""


class FieldErrorsSchema(OpenApiSerializerExtension):
    target_class = FieldErrorsSerializer

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        messages = {"type": "array", "items": {"type": "string"}}
        return {
            "type": "object",
            "description": FieldErrorsSerializer.__doc__,
            "additionalProperties": {
                "anyOf": [
                    messages,
                    {"type": "object", "additionalProperties": messages},
                    {"type": "string"},
                ]
            },
        }


ERROR_DESCRIPTIONS = {
    400: "invalid input: field errors, or `detail` when the body is no JSON object",
    401: "no credentials, or bad ones",
    403: "not allowed",
    404: "not found",
    413: "the body is over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)",
    415: "the body is not JSON",
    429: "throttled: `Retry-After` says when to try again",
}


def errors(*codes: int | tuple[int, str]) -> dict[int, OpenApiResponse]:
    """An operation's documented error answers: `errors(401, (403, "why"), 404)`."""
    described = dict(
        c if isinstance(c, tuple) else (c, ERROR_DESCRIPTIONS[c]) for c in codes
    )
    return {
        code: OpenApiResponse(
            response=FieldErrorsSerializer if code == 400 else ErrorSerializer,
            description=description,
        )
        for code, description in sorted(described.items())
    }


def _ref(name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
        },
    }


def declare_common_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: the errors every operation of a kind can answer, declared once.

    Authentication required: 401. A body: 400 (not JSON, invalid), 413 and 415. An
    unsafe method open to the session cookie: 403 (the CSRF check).
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    unsafe = {"post", "put", "patch", "delete"}
    throttled = _throttled_operations(kwargs.get("generator"), unsafe)
    used = False
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in unsafe | {"get", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            security = operation.get("security", [])
            added = {}
            if security and {} not in security:
                added["401"] = ("Error", ERROR_DESCRIPTIONS[401])
            if "requestBody" in operation:
                added["400"] = ("FieldErrors", ERROR_DESCRIPTIONS[400])
                added["413"] = ("Error", ERROR_DESCRIPTIONS[413])
                added["415"] = ("Error", ERROR_DESCRIPTIONS[415])
            if method in unsafe and any("cookieAuth" in s for s in security):
                added["403"] = (
                    "Error",
                    "not allowed; also a session-cookie call without its CSRF token",
                )
            if (path, method) in throttled:
                added["429"] = ("Error", ERROR_DESCRIPTIONS[429])
            for code, (name, description) in added.items():
                if code not in responses:
                    responses[code] = _ref(name, description)
                    used = True
    if used:
        schemas.setdefault(
            "Error",
            {
                "type": "object",
                "description": ErrorSerializer.__doc__,
                "properties": {"detail": {"type": "string"}},
                "required": ["detail"],
            },
        )
        schemas.setdefault(
            "FieldErrors",
            FieldErrorsSchema(FieldErrorsSerializer).map_serializer(None, "response"),
        )
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
