"""`/ws/echo/`: every text and binary frame back unchanged, limits still applied."""

from __future__ import annotations

from realtime.socket.consumer import SocketConsumer


class EchoConsumer(SocketConsumer):
    """No authentication, no JSON: a transport check for clients and load balancers."""

    route = "echo"
    requires_auth = False
    json_only = False

    async def receive_text(self, text: str) -> None:
        self.send_text(text, kind="echo")

    async def receive_bytes(self, data: bytes) -> None:
        self.send_bytes(data, kind="echo")
