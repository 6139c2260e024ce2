"""The one REST error shape: every library's exceptions mapped to it (PROTOCOL.md s. 11)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import OperationalError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken

from realtime.web.errors import ERROR_CODES, Conflict, invalid_body
from realtime.web.http import api_exception_handler
from tests.rest import api_error


class Owner(serializers.Serializer):
    username = serializers.CharField()


class Nested(serializers.Serializer):
    owner = Owner()
    members = Owner(many=True)
    tags = serializers.ListField(child=serializers.IntegerField())

    def validate(self, attrs):
        raise serializers.ValidationError("the room is full")


def test_nested_field_errors_flatten_to_dotted_keys():
    data = {
        "owner": {},
        "members": [{"username": "a"}, {}],
        "tags": [1, "x"],
    }
    serializer = Nested(data=data)
    assert not serializer.is_valid()
    body = invalid_body(serializer.errors)
    assert body["code"] == "invalid"
    assert body["errors"] == {
        "owner.username": ["This field is required."],
        "members.1.username": ["This field is required."],
        "tags.1": ["A valid integer is required."],
    }
    assert body["detail"].startswith("owner.username: This field is required.")


def test_errors_not_of_a_field_are_the_detail_and_no_errors_key():
    body = invalid_body({"non_field_errors": ["the room is full"]})
    assert body == {"detail": "the room is full", "code": "invalid"}
    assert invalid_body({"__all__": ["gone"]}) == {"detail": "gone", "code": "invalid"}
    assert invalid_body(["a", "b"]) == {"detail": "a b", "code": "invalid"}
    nested = invalid_body({"owner": {"non_field_errors": ["owner is no user"]}})
    assert nested["errors"] == {"owner": ["owner is no user"]}


def test_a_detail_names_three_fields_and_counts_the_rest():
    body = invalid_body({f"f{i}": ["bad"] for i in range(5)})
    assert body["detail"] == "f0: bad; f1: bad; f2: bad (and 2 more)"
    assert len(body["errors"]) == 5


class Raises(APIView):
    """A view that raises whatever the test hands it."""

    permission_classes: list = []  # authentication as configured: 401s stay 401s
    exc: Exception = Exception()

    def get(self, request):
        raise self.exc


@pytest.mark.parametrize(
    "exc, status, code",
    [
        (serializers.ValidationError({"body": ["Expected a string."]}), 400, "invalid"),
        (exceptions.ParseError("JSON parse error"), 400, "parse_error"),
        (exceptions.NotAuthenticated(), 401, "not_authenticated"),
        (exceptions.AuthenticationFailed("no", "no_active_account"), 401, None),
        (InvalidToken(), 401, "token_not_valid"),
        (exceptions.PermissionDenied(), 403, "permission_denied"),
        (DjangoPermissionDenied(), 403, "permission_denied"),
        (Http404(), 404, "not_found"),
        (exceptions.NotFound(), 404, "not_found"),
        (exceptions.MethodNotAllowed("PUT"), 405, "method_not_allowed"),
        (Conflict(), 409, "conflict"),
        (exceptions.UnsupportedMediaType("text/plain"), 415, "unsupported_media_type"),
        (exceptions.Throttled(wait=3), 429, "throttled"),
        (OperationalError("connection refused"), 503, "unavailable"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
def test_every_library_error_is_the_one_shape_with_a_listed_code(exc, status, code):
    request = APIRequestFactory().get("/api/x/")
    response = Raises.as_view(exc=exc)(request)
    response.render()
    code = code or "not_authenticated"
    assert code in ERROR_CODES
    api_error(response, status, code)
    if status == 429:
        assert response["Retry-After"] == "3"


def test_simplejwt_messages_never_reach_the_client():
    response = api_exception_handler(InvalidToken(), {"view": None, "request": None})
    assert response.data == {
        "detail": "Token is invalid or expired",
        "code": "token_not_valid",
    }


@pytest.mark.django_db
def test_a_bearer_token_that_is_no_jwt_is_token_not_valid():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    api_error(client.get("/api/rooms/"), 401, "token_not_valid")


@pytest.mark.django_db
def test_a_database_outage_is_a_503_unavailable_not_a_500(monkeypatch):
    from django.contrib.auth import get_user_model

    from chat import selectors

    def down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "rooms_for_user", down)
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user("alice"))
    api_error(client.get("/api/rooms/"), 503, "unavailable")
