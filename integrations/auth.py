"""`Authorization: Api-Key <key>`: the server API's authentication, scopes and throttle."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.throttling import ClientThrottleMixin
from integrations import selectors, services
from integrations.models import ApiKey

KEYWORD = b"api-key"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <key>`: the request's `auth` is the ApiKey row.

    No such header: not authenticated (401 from the permission). A bad, malformed or
    revoked key: 401. The request acts as no user: each endpoint names whom it acts for.
    """

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Give the key as: Authorization: Api-Key <key>.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid API key.") from None
        found = selectors.api_key_find(key=key)
        if found is None:
            raise AuthenticationFailed("Invalid API key.")
        services.api_key_used(key_id=found.pk)
        return AnonymousUser(), found

    def authenticate_header(self, request: Request) -> str:
        # Also what makes DRF answer 401, not 403, when the header is missing.
        return 'Api-Key realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The schema's security scheme for API keys."""

    target_class = ApiKeyAuthentication
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a key from `manage.py create_api_key`",
        }


class HasScope(BasePermission):
    """The key carries the view's `scope` (publish, notify or disconnect)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False  # no key: DRF answers 401 (nothing authenticated)
        scope = view.scope
        self.message = f"This API key lacks the `{scope}` scope."
        return scope in key.scopes


class ServerApiThrottle(ClientThrottleMixin, SimpleRateThrottle):
    """API_SERVER_THROTTLE per API key, the three endpoints together; empty: off."""

    scope = "server"

    def get_rate(self) -> str | None:
        # Read per request (DRF makes a throttle per request), as the other throttles.
        return settings.API_SERVER_THROTTLE or None

    def get_cache_key(self, request: Any, view: Any) -> str:
        key = request.auth
        ident = f"key-{key.pk}" if isinstance(key, ApiKey) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
