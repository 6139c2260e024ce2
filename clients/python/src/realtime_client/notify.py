"""`/ws/notify/user/<id>/`: the user's notifications, each once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from realtime_client.connection import Client
from realtime_client.outbox import Frame
from realtime_client.rest import Auth, ws_base
from realtime_client.sequencer import Sequencer


class NotifyClient(Client):
    """The user's notify socket, `/ws/notify/user/<id>/`; each notification once (by id).

    `user_id` defaults to the `user_id` claim of the access token.
    """

    def __init__(
        self, base_url: str, user_id: int | None = None, **kwargs: Any
    ) -> None:
        auth: Auth | None = kwargs.get("auth")
        if user_id is None and auth is not None:
            user_id = auth.user_id
        if user_id is None:
            raise ValueError("user_id is required (the token names none)")
        super().__init__(
            f"{ws_base(base_url)}/ws/notify/user/{int(user_id)}/", **kwargs
        )
        self._seen = Sequencer(ordered=False)

    def mark_read(self, notification_id: int) -> Frame:
        """`{"type":"read","id":...}`: every socket of the user gets the new unread count."""
        return self.send({"type": "read", "id": notification_id})

    def mark_all_read(self) -> Frame:
        """`{"type":"read","all":true}`."""
        return self.send({"type": "read", "all": True})

    def _on_welcome(self, welcome: dict[str, Any]) -> None:
        for item in welcome.get("notifications") or ():
            if isinstance(item, dict):
                self._seen.ingest(item)

    def _emit(
        self, event_type: str, data: Mapping[str, Any], *, source: str | None = None
    ) -> None:
        if event_type == "notification" and self._seen.ingest(data)[0] == "duplicate":
            return
        super()._emit(event_type, data, source=source)
