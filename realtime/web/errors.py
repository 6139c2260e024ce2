"""The one shape of every REST error (PROTOCOL.md section 11), whoever raised it.

`{"detail": str, "code": str, "errors": {field: [str, ...]}}`: `detail` a sentence for
people, `code` one of ERROR_CODES for programs, `errors` only when fields are at fault,
keyed by the field's dotted path (`user_ids.3`, `owner.username`). DRF's field errors,
simplejwt's `{detail, code, messages}`, Django's 404 and 403, throttles and parse errors
all leave the API in this shape (`realtime.web.http.api_exception_handler`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import exceptions
from rest_framework.settings import api_settings

#: every `code` a REST error can carry; clients switch on these, never on `detail`
ERROR_CODES: tuple[str, ...] = (
    "invalid",
    "parse_error",
    "not_authenticated",
    "token_not_valid",
    "permission_denied",
    "not_found",
    "method_not_allowed",
    "unsupported_media_type",
    "conflict",
    "throttled",
    "unavailable",
)

#: a status's code when the exception names none of ERROR_CODES
_CODE_BY_STATUS = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "invalid",  # the body is over the limit: input the server does not take
    415: "unsupported_media_type",
    429: "throttled",
}

#: how many fields a 400's `detail` names before it says "and N more"
_DETAIL_FIELDS = 3


class Conflict(exceptions.APIException):
    """The request contradicts what is stored (a `client_id` reused for another body)."""

    status_code = 409
    default_detail = "The request conflicts with the stored state."
    default_code = "conflict"


class Unavailable(exceptions.APIException):
    """A part the answer needs (the database) is unreachable: nothing was done."""

    status_code = 503
    default_detail = "The service is unavailable; nothing was stored. Try again."
    default_code = "unavailable"


def code_for_status(status: int) -> str:
    """The code of an error answered with `status` when nothing more precise is known."""
    if status >= 500:
        return "unavailable"
    return _CODE_BY_STATUS.get(status, "invalid")


def error_body(
    status: int,
    detail: str,
    code: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The body of an error: `{"detail", "code"}`, and `errors` when fields are at fault."""
    if code not in ERROR_CODES:
        code = code_for_status(status)
    body: dict[str, Any] = {"detail": detail, "code": code}
    if errors:
        body["errors"] = dict(errors)
    return body


def body_for_exception(exc: exceptions.APIException, status: int) -> dict[str, Any]:
    """The body for a DRF exception (simplejwt's and ours are DRF exceptions too)."""
    if isinstance(exc, exceptions.ValidationError):
        return invalid_body(exc.detail)
    detail = exc.detail
    code = exc.get_codes() if not isinstance(detail, Mapping | list) else None
    if isinstance(detail, Mapping):
        # simplejwt: {"detail": ..., "code": "token_not_valid", "messages": [...]};
        # the messages name token classes and claims, no help to a client.
        code = detail.get("code")
        detail = detail.get("detail", "")
        code = code.code if hasattr(code, "code") else code
    elif isinstance(detail, list):
        detail = " ".join(str(d) for d in detail)
    if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
        code = "token_not_valid" if code == "token_not_valid" else "not_authenticated"
    if not isinstance(code, str):
        code = None
    return error_body(status, str(detail) or "Error.", code)


def invalid_body(detail: Any) -> dict[str, Any]:
    """A 400 `invalid` from DRF's field errors, nested ones flattened to dotted keys."""
    general: list[str] = []
    fields: dict[str, list[str]] = {}
    _flatten(detail, "", general, fields)
    if general:
        text = " ".join(general)
    elif fields:
        named = [
            f"{k}: {' '.join(v)}" for k, v in list(fields.items())[:_DETAIL_FIELDS]
        ]
        more = len(fields) - _DETAIL_FIELDS
        text = "; ".join(named) + (f" (and {more} more)" if more > 0 else "")
    else:
        text = "Invalid input."
    return error_body(400, text, "invalid", fields)


def _flatten(
    detail: Any, path: str, general: list[str], fields: dict[str, list[str]]
) -> None:
    """Messages into `fields[path]` (or `general` at the top), recursing into nesting.

    A dict nests by key (`non_field_errors` and `__all__` belong to the object itself);
    a list of messages is the messages of `path`; a list of dicts or lists is one entry
    per item (a `many=True` serializer), by index, the valid items' empty ones skipped.
    """
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            key = str(key)
            own = key in (api_settings.NON_FIELD_ERRORS_KEY, "__all__")
            _flatten(value, path if own else _join(path, key), general, fields)
    elif isinstance(detail, list | tuple):
        for index, item in enumerate(detail):
            if isinstance(item, Mapping | list | tuple):
                _flatten(item, _join(path, str(index)), general, fields)
            else:
                _add(str(item), path, general, fields)
    elif detail is not None:
        _add(str(detail), path, general, fields)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _add(message: str, path: str, general: list[str], fields: dict[str, list[str]]):
    if path:
        fields.setdefault(path, []).append(message)
    else:
        general.append(message)
