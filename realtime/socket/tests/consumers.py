"""Small consumers on the base class, for tests only: a JSON route with a handler that crashes.

They are mounted behind the real gate (`socket_gate`) by `app()` for WebsocketCommunicator
tests, and added to the real server's routes by `e2e_settings` for the end-to-end tests.
"""

from __future__ import annotations

from typing import Any, Literal

from channels.routing import URLRouter
from django.urls import path
from pydantic import BaseModel, ConfigDict, Field

from realtime.socket.closecodes import CloseCode
from realtime.socket.consumer import SocketConsumer
from realtime.socket.echo import EchoConsumer
from realtime.socket.errors import Refused
from realtime.socket.gate import socket_gate
from realtime.socket.schemas import OutFrame, UserOut


class SayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    body: str = Field(min_length=1)


class CrashIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str


class WelcomeOut(OutFrame):
    type: Literal["welcome"]
    user: UserOut | None
    connection_id: str
    method: str | None
    trace_id: str | None


class SaidOut(OutFrame):
    type: Literal["said"]
    body: str


class JsonTestConsumer(SocketConsumer):
    """An authenticated JSON route: `say` is answered `said`, `crash` raises, and
    `misbehave` is answered with a `said` frame that breaks its schema."""

    route = "test"
    handlers = {
        "say": (SayIn, "on_say"),
        "crash": (CrashIn, "on_crash"),
        "misbehave": (CrashIn, "on_misbehave"),
    }
    outbound = (WelcomeOut, SaidOut)

    async def authorize(self) -> None:
        if b"forbid=1" in self.scope.get("query_string", b""):
            raise Refused(CloseCode.FORBIDDEN, "not here")

    async def welcome(self) -> dict[str, Any]:
        user = self.user
        return {
            "type": "welcome",
            "user": {"id": user.pk, "username": user.username}
            if user.is_authenticated
            else None,
            "connection_id": self.connection_id,
            "method": self.credentials.method if self.credentials else None,
            "trace_id": self.scope.get("trace_id"),
        }

    async def on_say(self, frame: SayIn) -> None:
        self.send_frame({"type": "said", "body": frame.body})

    async def on_crash(self, frame: CrashIn) -> None:
        raise RuntimeError("a bug in a handler (test)")

    async def on_misbehave(self, frame: CrashIn) -> None:
        self.send_frame({"type": "said", "body": "x", "extra": 1})


class OpenJsonTestConsumer(JsonTestConsumer):
    """The same JSON route without authentication."""

    route = "test_open"
    requires_auth = False


class FuzzConsumer(SocketConsumer):
    """An open JSON route whose handlers are all correct: any 1011 is the base's fault."""

    route = "test_fuzz"
    requires_auth = False
    handlers = {"say": (SayIn, "on_say")}
    outbound = (SaidOut,)

    async def on_say(self, frame: SayIn) -> None:
        self.send_frame({"type": "said", "body": frame.body})


websocket_urlpatterns = [
    path("ws/test/", JsonTestConsumer.as_asgi()),
    path("ws/test-open/", OpenJsonTestConsumer.as_asgi()),
    path("ws/test-fuzz/", FuzzConsumer.as_asgi()),
]


def app() -> Any:
    """A fresh gate (own handshake buckets) in front of the test routes and echo."""
    return socket_gate(
        URLRouter([*websocket_urlpatterns, path("ws/echo/", EchoConsumer.as_asgi())])
    )
