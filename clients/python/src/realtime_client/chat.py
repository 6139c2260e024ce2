"""`/ws/chat/<room>/`: resume by seq, each message once and in order, REST backfill."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from realtime_client.connection import Client
from realtime_client.errors import (
    HttpError,
    RealtimeError,
)
from realtime_client.rest import arequest_json, http_base, ws_base
from realtime_client.sequencer import Message, Sequencer


class ChatClient(Client):
    """A room's socket, `/ws/chat/<room>/`: each message once, in seq order, across reconnects.

    `since`: the last seq the application already has (resume from there); None takes
    the welcome's recent history. Gaps are held for `gap_grace` seconds, then paged from
    `GET /api/rooms/<room>/messages/?after=<seq>`.
    """

    def __init__(
        self,
        base_url: str,
        room: str,
        *,
        since: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            f"{ws_base(base_url)}/ws/chat/{quote(room, safe='')}/", **kwargs
        )
        self.room = room
        self._rest = http_base(base_url)
        self._sequencer = Sequencer(ordered=True, last_seq=since)
        self._gap_task: asyncio.Task[None] | None = None
        self._backfilling = False
        #: where each message held past a gap came from (live, history)
        self._held_source: dict[int, str] = {}

    @property
    def last_seq(self) -> int | None:
        """Highest message seq delivered, or None."""
        return self._sequencer.last_seq

    def _query(self) -> dict[str, str]:
        last = self._sequencer.last_seq
        return {} if last is None else {"since": str(last)}

    def _on_welcome(self, welcome: dict[str, Any]) -> None:
        history = [m for m in welcome.get("history") or () if isinstance(m, dict)]
        history.sort(key=lambda m: m.get("seq") or 0)
        for message in history:
            self._ingest(message, "history")
        if welcome.get("complete") is False:
            # More than the welcome may carry: page the rest over REST.
            self._start_backfill("incomplete")

    def _on_message_frame(self, frame: dict[str, Any]) -> None:
        self._ingest(frame, "live")

    def _on_stop(self) -> None:
        if self._gap_task is not None:
            self._gap_task.cancel()
            self._gap_task = None

    def _ingest(self, message: Message, source: str) -> str:
        self._confirm(message)
        outcome, ready = self._sequencer.ingest(message)
        if outcome == "held":
            self._held_source[message["seq"]] = source
            self._arm_gap_timer()
        for item in ready:
            self._emit(
                "message", item, source=self._held_source.pop(item["seq"], source)
            )
        if not self._sequencer.held:
            self._held_source.clear()  # what a fill dropped as a repeat
        return outcome

    def _arm_gap_timer(self) -> None:
        if self._backfilling or self._gap_task is not None:
            return
        self._gap_task = asyncio.get_running_loop().create_task(self._gap_after_grace())

    async def _gap_after_grace(self) -> None:
        await asyncio.sleep(self.options.gap_grace)
        self._gap_task = None
        if self._sequencer.held:
            await self._backfill("gap")

    def _start_backfill(self, reason: str) -> None:
        if not self._backfilling and self._gap_task is None:
            self._gap_task = asyncio.get_running_loop().create_task(
                self._backfill_task(reason)
            )

    async def _backfill_task(self, reason: str) -> None:
        self._gap_task = None
        await self._backfill(reason)

    async def _backfill(self, reason: str) -> None:
        """Page `?after=<last seq>` until the server has no more; the database is the truth."""
        if self._backfilling:
            return
        self._backfilling = True
        start = self._sequencer.last_seq or 0
        self._emit(
            "gap",
            {
                "room": self.room,
                "after": start,
                "next": self._sequencer.first_held,
                "reason": reason,
            },
        )
        count, error = 0, None
        try:
            after = start
            while True:
                page, more = await self._fetch_page(after)
                for message in sorted(page, key=lambda m: m["seq"]):
                    if self._ingest(message, "backfill") == "delivered":
                        count += 1
                last = page[-1]["seq"] if page else after
                if not more or not page or last <= after:
                    break
                after = last
        except (HttpError, OSError, RealtimeError, ValueError) as exc:
            error = exc
        finally:
            self._backfilling = False
        if self._sequencer.held:
            # Progress: the rest may still be in flight, wait again. None, or a failure:
            # REST (the source of truth) cannot fill it, stop stalling.
            if error is None and count > 0:
                self._arm_gap_timer()
            else:
                for held in self._sequencer.release_held():
                    source = self._held_source.pop(held["seq"], "live")
                    self._emit("message", held, source=source)
        self._emit(
            "backfill",
            {
                "room": self.room,
                "after": start,
                "count": count,
                "ok": error is None,
                "error": None if error is None else str(error),
            },
        )

    async def _fetch_page(self, after: int) -> tuple[list[dict[str, Any]], bool]:
        limit = self.options.backfill_limit
        path = f"/api/rooms/{quote(self.room, safe='')}/messages/?after={after}&limit={limit}"
        if self.auth is not None:
            status, data = await self.auth.request("GET", path)
        else:
            status, data = await arequest_json(
                "GET", self._rest + path, token=self._token
            )
        if status != 200:
            raise HttpError(status, data, "backfill failed")
        items = data.get("results") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise RealtimeError(
                "backfill: unexpected response shape", code="backfill_shape"
            )
        page = [
            m for m in items if isinstance(m, dict) and isinstance(m.get("seq"), int)
        ]
        more = (
            bool(data.get("has_more"))
            if isinstance(data, dict)
            else len(items) >= limit
        )
        return page, more
