"""`/api/search/` and `/api/rooms/<slug>/search/`: messages by their words (PROTOCOL.md 10)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import search
from chat.api.common import ROOM_ERRORS, SLUG, allowed_room
from chat.api.messages import MessageSerializer
from realtime.web.rest import QueryInteger, errors


class SearchQuery(serializers.Serializer):
    """`?q=&limit=&offset=` of both searches."""

    q = serializers.CharField(
        min_length=1,
        max_length=search.QUERY_MAX_CHARS,
        trim_whitespace=False,
        help_text="words to find (letters and digits; anything else separates them), "
        f"each as a whole word or a word's beginning, all of them in a message; 1 to "
        f"{search.QUERY_MAX_CHARS} characters, at most {search.QUERY_MAX_WORDS} words",
    )
    limit = QueryInteger(
        min_value=1,
        max_value=search.SEARCH_LIMIT_MAX,
        required=False,
        help_text=f"page size, 1 to {search.SEARCH_LIMIT_MAX} (default "
        f"{search.SEARCH_LIMIT_DEFAULT}); more is a 400, never cut",
    )
    offset = QueryInteger(
        min_value=0,
        max_value=search.SEARCH_OFFSET_MAX,
        required=False,
        help_text=f"results to skip, 0 to {search.SEARCH_OFFSET_MAX} (default 0)",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["terms"] = search.search_terms(attrs["q"])
        except search.SearchQueryError as exc:
            raise ValidationError({"q": [str(exc)]}) from None
        return attrs


SEARCH_PAGE = inline_serializer(
    "SearchPage",
    {
        "results": MessageSerializer(
            many=True, help_text="best match first, then newest; `room` is its slug"
        ),
        "has_more": serializers.BooleanField(),
    },
)
BAD_QUERY = (400, "`invalid`: no q, no word in it, too long, or a bad limit or offset")


def _search(request: Request, room_id: int | None) -> Response:
    query = SearchQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    results, more = search.messages_search(
        user=request.user,
        terms=params["terms"],
        room_id=room_id,
        limit=params.get("limit", search.SEARCH_LIMIT_DEFAULT),
        offset=params.get("offset", 0),
    )
    return Response({"results": results, "has_more": more})


class SearchView(APIView):
    """`GET /api/search/?q=`: matching messages in every room the user may read."""

    @extend_schema(
        operation_id="search_messages",
        parameters=[SearchQuery],
        responses={200: SEARCH_PAGE, **errors(BAD_QUERY)},
    )
    def get(self, request: Request) -> Response:
        return _search(request, None)


class RoomSearchView(APIView):
    """`GET /api/rooms/<slug>/search/?q=`: matching messages of one room."""

    @extend_schema(
        operation_id="rooms_search",
        tags=["search"],
        parameters=[SLUG, SearchQuery],
        responses={200: SEARCH_PAGE, **errors(BAD_QUERY, *ROOM_ERRORS)},
    )
    def get(self, request: Request, slug: str) -> Response:
        room = allowed_room(request, slug)
        return _search(request, room.pk)
