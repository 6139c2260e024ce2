"""`/api/asyncapi.json` and `/api/asyncapi/`: the socket contract, machine-readable and
as a page, both from realtime/socket/asyncapi.py (built from the frame schemas)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import get_conditional_response, patch_cache_control
from django.views.decorators.http import require_safe

from realtime.socket import asyncapi, routes

#: seconds a client or proxy may keep the document: it changes only with a deploy
MAX_AGE = 3600


def _document(request: HttpRequest) -> dict[str, Any]:
    # get_host() is checked against ALLOWED_HOSTS: a forged Host never reaches the page.
    return asyncapi.document(
        routes.published(), host=request.get_host(), secure=request.is_secure()
    )


def _cacheable(request: HttpRequest, body: bytes, response: Any) -> HttpResponse:
    """`response` with an ETag and a public max-age, or a 304 when the client has it."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        response = not_modified
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=MAX_AGE)
    return response


@require_safe
def asyncapi_json(request: HttpRequest) -> HttpResponse:
    """The AsyncAPI 3 document of every socket route; anyone may read it."""
    body = json.dumps(_document(request), indent=1).encode()
    return _cacheable(
        request, body, HttpResponse(body, content_type="application/json")
    )


@require_safe
def asyncapi_page(request: HttpRequest) -> HttpResponse:
    """The same document as a page: routes, frames both ways, their payload schemas."""
    doc = _document(request)
    schemas = doc["components"]["schemas"]
    channels = []
    for channel_id, channel in doc["channels"].items():
        frames = []
        for key, ref in channel["messages"].items():
            message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            payload = message["payload"]
            name = payload.get("$ref", "").rsplit("/", 1)[-1]
            frames.append(
                {
                    "direction": key.split(".", 1)[0],
                    "message": message,
                    "label": name or message.get("contentType", "payload"),
                    "schema": json.dumps(schemas.get(name, payload), indent=2),
                }
            )
        query = channel.get("bindings", {}).get("ws", {}).get("query", {})
        channels.append(
            {
                "id": channel_id,
                "channel": channel,
                "query": query.get("properties", {}),
                "frames": frames,
            }
        )
    response = render(
        request,
        "asyncapi.html",
        {
            "doc": doc,
            "channels": channels,
            "close_codes": doc["x-close-codes"].items(),
        },
    )
    return _cacheable(request, response.content, response)
