"""The AsyncAPI 3 document of the socket routes, built from the frame schemas.

Nothing here is written by hand that the code already says: the channels are the
published routes (`routes.published()`), the messages are each route's inbound table
(`SocketConsumer._dispatch()`) and outbound table (`outbound_schemas()`), and the
payloads are those pydantic models' JSON schemas. A frame added to a schema module is
in the document; one removed is gone. `/api/asyncapi.json` serves it
(realtime/web/asyncapi.py); the tests validate it with the AsyncAPI parser.

The document describes the server: `send` operations are frames the server sends,
`receive` operations frames it takes from clients (AsyncAPI 3's point of view).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any, get_args

from django.conf import settings
from pydantic import BaseModel

from realtime.socket.closecodes import CloseCode
from realtime.socket.routes import SocketRoute
from realtime.socket.schemas import ErrorCode

ASYNCAPI_VERSION = "3.0.0"
SCHEMA_REF = "#/components/schemas/{model}"
WS_BINDING_VERSION = "0.1.0"

#: the directions of a frame: (key prefix, operation action, title)
CLIENT = ("client", "receive", "client to server")
SERVER = ("server", "send", "server to client")

#: how a client authenticates the handshake (PROTOCOL.md section 3), in that order
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "token": {
        "type": "httpApiKey",
        "name": "token",
        "in": "query",
        "description": "`?token=<access JWT>` from `POST /api/auth/token/`.",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "`Authorization: Bearer <access JWT>` (non-browser clients).",
    },
    "session": {
        "type": "httpApiKey",
        "name": "sessionid",
        "in": "cookie",
        "description": "The Django session cookie of the browser UI (same origin).",
    },
}

DESCRIPTION = """\
The WebSocket contract of this server, generated from its frame schemas. The prose \
version, with the rules a schema cannot say (ordering, resume, presence batching, \
close codes and what a client does on each), is `docs/protocol.md` in the repository.

Every frame on chat and notify is one JSON object (UTF-8 text) with a `type`; a \
binary frame there closes the socket 1003. A refused frame is answered with an \
`error` frame and the socket stays open. `/ws/echo/` sends back any text or binary \
frame unchanged.

Limits in force on this server: frames up to {frame_bytes} bytes (bigger: close \
1009); message bodies 1 to {body_chars} characters after trimming; {rate} frames per \
second refilled in each socket's bucket of {burst}; a heartbeat every \
{heartbeat} s is expected (no frame for 2.5 intervals: close 4408).

`x-close-codes` lists the close codes a socket may get, `x-error-codes` the `code`s \
of error frames.
"""


def document(
    routes: Iterable[SocketRoute], *, host: str | None = None, secure: bool = False
) -> dict[str, Any]:
    """The AsyncAPI 3 document of `routes`; `host` adds a server (`ws`, or `wss`)."""
    routes = list(routes)
    names = _schema_names(routes)
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for route in routes:
        consumer = route.consumer
        channel_id = consumer.route
        channel_messages: dict[str, Any] = {}
        by_direction: dict[tuple[str, str, str], list[str]] = {CLIENT: [], SERVER: []}
        for direction, table in _tables(consumer):
            for kind, model in table.items():
                key = f"{direction[0]}.{kind}"
                component = f"{channel_id}.{key}"
                messages[component] = _message(kind, model, direction, names, schemas)
                channel_messages[key] = {"$ref": f"#/components/messages/{component}"}
                by_direction[direction].append(key)
        if not consumer.json_only:
            for direction in (CLIENT, SERVER):
                for key, message in _raw_messages(direction).items():
                    component = f"{channel_id}.{key}"
                    messages[component] = message
                    channel_messages[key] = {
                        "$ref": f"#/components/messages/{component}"
                    }
                    by_direction[direction].append(key)
        channels[channel_id] = _channel(route, channel_messages)
        for direction, keys in by_direction.items():
            _, action, title = direction
            operation: dict[str, Any] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"{route.template}: frames {title}.",
                "messages": [
                    {"$ref": f"#/channels/{channel_id}/messages/{key}"} for key in keys
                ],
            }
            if consumer.requires_auth:
                operation["security"] = [
                    {"$ref": f"#/components/securitySchemes/{name}"}
                    for name in SECURITY_SCHEMES
                ]
            operations[f"{channel_id}.{action}"] = operation
    doc: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Realtime sockets",
            "version": str(settings.SPECTACULAR_SETTINGS.get("VERSION", "1.0.0")),
            "description": _description(),
        },
        "defaultContentType": "application/json",
    }
    if host:
        doc["servers"] = {
            "this": {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "description": "The server that served this document.",
            }
        }
    doc |= {
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": messages,
            "securitySchemes": SECURITY_SCHEMES,
        },
        "x-close-codes": {str(int(code)): code.name for code in CloseCode},
        "x-error-codes": list(get_args(ErrorCode)),
    }
    return doc


def frame_types(doc: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """(channel, "client"/"server", frame type) of every message in a document."""
    found = set()
    for channel_id, channel in doc["channels"].items():
        for key in channel["messages"]:
            direction, kind = key.split(".", 1)
            found.add((channel_id, direction, kind))
    return found


# --- the parts ------------------------------------------------------------------------


def _tables(
    consumer: Any,
) -> list[tuple[tuple[str, str, str], Mapping[str, type[BaseModel]]]]:
    """(direction, {type: model}) of a JSON route's frames; none for a raw one."""
    if not consumer.json_only:
        return []
    inbound, _ = consumer._dispatch()
    return [(CLIENT, inbound), (SERVER, consumer.outbound_schemas())]


def _raw_messages(direction: tuple[str, str, str]) -> dict[str, Any]:
    """The echo route's frames: any text, any bytes, either way."""
    prefix, _, title = direction
    return {
        f"{prefix}.text": {
            "name": "text",
            "title": f"text ({title})",
            "summary": "Any text frame; echoed back unchanged.",
            "contentType": "text/plain",
            "payload": {"type": "string"},
        },
        f"{prefix}.binary": {
            "name": "binary",
            "title": f"binary ({title})",
            "summary": "Any binary frame; echoed back unchanged.",
            "contentType": "application/octet-stream",
            "payload": {"type": "string", "format": "binary"},
        },
    }


def _message(
    kind: str,
    model: type[BaseModel],
    direction: tuple[str, str, str],
    names: Mapping[type[BaseModel], str],
    schemas: dict[str, Any],
) -> dict[str, Any]:
    """One frame as an AsyncAPI message, its payload added to `schemas`."""
    name = names[model]
    if name not in schemas:
        _add_schema(model, name, names, schemas)
    summary, _, rest = inspect.cleandoc(model.__doc__ or "").partition("\n")
    message: dict[str, Any] = {
        "name": kind,
        "title": f"{kind} ({direction[2]})",
        "summary": summary,
        "payload": {"$ref": SCHEMA_REF.format(model=name)},
    }
    if rest.strip():
        message["description"] = rest.strip()
    return message


def _add_schema(
    model: type[BaseModel],
    name: str,
    names: Mapping[type[BaseModel], str],
    schemas: dict[str, Any],
) -> None:
    """`model`'s JSON schema under `name`, and the models it nests under theirs."""
    schema = model.model_json_schema(ref_template=SCHEMA_REF)
    for nested, nested_schema in schema.pop("$defs", {}).items():
        known = schemas.get(nested)
        if known is not None and known != nested_schema:
            raise TypeError(f"two frame schemas nest different models named {nested}")
        schemas[nested] = nested_schema
    known = schemas.get(name)
    if known is not None and known != schema:
        raise TypeError(f"two different frame models are both named {name}")
    schemas[name] = schema


def _schema_names(routes: list[SocketRoute]) -> dict[type[BaseModel], str]:
    """A component name per frame model: its class name, prefixed with its app's when
    two models share one (chat's and notify's `WelcomeOut`)."""
    models: list[type[BaseModel]] = []
    for route in routes:
        for _, table in _tables(route.consumer):
            models.extend(m for m in table.values() if m not in models)
    by_name: dict[str, list[type[BaseModel]]] = {}
    for model in models:
        by_name.setdefault(model.__name__, []).append(model)
    names = {}
    for name, group in by_name.items():
        for model in group:
            if len(group) == 1:
                names[model] = name
            else:
                app = model.__module__.split(".")[0]
                names[model] = app.capitalize() + name
    return names


def _channel(route: SocketRoute, messages: dict[str, Any]) -> dict[str, Any]:
    consumer = route.consumer
    channel: dict[str, Any] = {
        "address": route.address,
        "title": route.template,
        "summary": route.summary,
        "messages": messages,
    }
    if route.params:
        channel["parameters"] = {
            name: {"description": text} for name, text in route.params.items()
        }
    query: dict[str, Any] = {
        name: dict(schema) for name, schema in consumer.query_params.items()
    }
    if consumer.requires_auth:
        query["token"] = {
            "type": "string",
            "description": "an access JWT (or send `Authorization: Bearer`, or the "
            "session cookie); a missing, bad or expired one is refused with HTTP 403 "
            "before accept",
        }
    if query:
        channel["bindings"] = {
            "ws": {
                "query": {"type": "object", "properties": query},
                "bindingVersion": WS_BINDING_VERSION,
            }
        }
    return channel


def _description() -> str:
    return DESCRIPTION.format(
        frame_bytes=int(settings.WS_MAX_FRAME_BYTES),
        body_chars=int(settings.WS_MAX_BODY_CHARS),
        rate=float(settings.WS_MESSAGE_RATE),
        burst=int(settings.WS_MESSAGE_BURST),
        heartbeat=float(settings.WS_HEARTBEAT_INTERVAL),
    )
