"""HTTP plumbing: the request's trace context and access line, and JSON errors under /api/."""

from __future__ import annotations

import logging
import time
from http import HTTPStatus
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.exceptions import NotAcceptable, ParseError
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.parsers import JSONParser

from realtime.web.errors import (
    Unavailable,
    body_for_exception,
    error_body,
)
from realtime.web.logs import redact, trace_from_headers
from realtime.web.logs import trace_id as log_trace_id

access_log = logging.getLogger("realtime.access")


class RequestContextMiddleware:
    """Sets the trace id (from `traceparent`/`X-Request-ID`, else new) and logs one access line."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _start(self, request: HttpRequest) -> float:
        headers = (
            [(b"traceparent", request.META["HTTP_TRACEPARENT"].encode("latin-1"))]
            if "HTTP_TRACEPARENT" in request.META
            else []
        )
        if "HTTP_X_REQUEST_ID" in request.META:
            headers.append(
                (b"x-request-id", request.META["HTTP_X_REQUEST_ID"].encode("latin-1"))
            )
        trace = trace_from_headers(headers)
        log_trace_id.set(trace)
        request.trace_id = trace  # type: ignore[attr-defined]
        return time.perf_counter()

    def _finish(
        self, request: HttpRequest, response: HttpResponse, started: float
    ) -> None:
        response["X-Request-ID"] = request.trace_id  # type: ignore[attr-defined]
        path = request.get_full_path()
        access_log.info(
            "%s %s %s",
            request.method,
            redact(path),
            response.status_code,
            extra={
                "status": response.status_code,
                "duration": round(time.perf_counter() - started, 4),
                "client": request.META.get("REMOTE_ADDR"),
            },
        )

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        started = self._start(request)
        response = _json_for_api(request, self.get_response(request))
        self._finish(request, response, started)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        started = self._start(request)
        response = _json_for_api(request, await self.get_response(request))
        self._finish(request, response, started)
        return response


#: Every page's policy: code, styles, fonts and connections from the site itself only
#: (`'self'` covers the page's own ws:/wss: origin in CSP 3 browsers), no plugins, no
#: framing, forms post back here. Templates hold no inline script, style or handler.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Swagger UI's stylesheet draws its icons as data: SVGs
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Sends CONTENT_SECURITY_POLICY on every answer that has no policy of its own."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


def _json_for_api(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Under /api/ an error is JSON, even Django's own pages.

    The debug 404 is HTML; the debug 500 is text/plain for clients that ask for no HTML.
    """
    if (
        request.path.startswith("/api/")
        and response.status_code >= 400
        and not _is_json(response.get("Content-Type", ""))
    ):
        return api_error(response.status_code)
    return response


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


#: The words of the non-debug handlers below: DJANGO_DEBUG does not change the body.
_DETAILS = {
    400: "Bad request.",
    403: "Forbidden.",
    404: "Not found.",
    500: "Internal server error.",
}


def api_error(status: int, detail: str | None = None) -> JsonResponse:
    """A JSON error of the one REST shape, outside DRF (Django's handlers, middleware)."""
    text = detail or _DETAILS.get(status) or _phrase(status)
    return JsonResponse(error_body(status, text), status=status)


def _phrase(status: int) -> str:
    try:
        return f"{HTTPStatus(status).phrase}."
    except ValueError:
        return "Error."


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """Every exception of a REST view as the one error shape (realtime.web.errors).

    DRF's handler gives the status and headers (`Retry-After`, `WWW-Authenticate`);
    the body is rewritten. Anything DRF does not know is a JSON 4xx/503/500, never HTML.
    """
    # Imported here: rest_framework.views reads DEFAULT_CONTENT_NEGOTIATION_CLASS, which
    # names this module, at import time (a circular import when middleware loads first).
    from rest_framework.views import exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable (or dropped the connection): nothing was done,
        # and a retry may work. The socket says `unavailable` for the same fault.
        logging.getLogger("realtime.api").warning(
            "database unavailable: %s", type(exc).__name__
        )
        exc = Unavailable()
    response = exception_handler(exc, context)
    if response is not None:
        assert isinstance(exc, exceptions.APIException)
        response.data = body_for_exception(exc, response.status_code)
        return response
    # Django's body limits (DATA_UPLOAD_MAX_*) and other refusals of a request, raised
    # while DRF parses it: the client's fault, as Django itself answers them.
    if isinstance(exc, RequestDataTooBig):
        return api_error(413, "Request body too large.")
    if isinstance(exc, SuspiciousOperation):
        logging.getLogger("django.security").warning("%s", exc)
        return api_error(400, str(exc) or "Bad request.")
    logging.getLogger("realtime.api").exception("unhandled API error", exc_info=exc)
    return api_error(500)


def json_or_page_404(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    """A JSON 404 under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return api_error(404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_or_page_500(request: HttpRequest) -> HttpResponse:
    """A JSON 500 under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return api_error(500)
    from django.views.defaults import server_error

    return server_error(request)


def json_or_page_400(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    """A JSON 400 under /api/ (a bad Host, say), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return api_error(400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def json_or_page_403(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    """A JSON 403 under /api/ (CSRF failures included), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return api_error(403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


class JsonOnlyNegotiation(BaseContentNegotiation):
    """What the client accepts, else the view's first renderer (JSON): never a 406, never HTML."""

    def select_parser(self, request: Any, parsers: list[Any]) -> Any:
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(
        self, request: Any, renderers: list[Any], format_suffix: Any = None
    ) -> Any:
        try:
            return DefaultContentNegotiation().select_renderer(
                request, renderers, format_suffix
            )
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


class JsonParser(JSONParser):
    """DRF's JSON parser; JSON nested deeper than Python's stack is a 400.

    The json module raises RecursionError, no ValueError, on `[[[[...`: that was a 500.
    """

    def parse(
        self, stream: Any, media_type: Any = None, parser_context: Any = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
