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
from realtime_client.revisions import Revisions
from realtime_client.sequencer import Message, Sequencer


class ChatClient(Client):
    """A room's socket, `/ws/chat/<room>/`: each message once, in seq order, across reconnects.

    `since`: the last seq the application already has (resume from there); None takes
    the welcome's recent history. Gaps are held for `gap_grace` seconds, then paged from
    `GET /api/rooms/<room>/messages/?after=<seq>`.

    Changes (edits, deletes, reactions) come as `message_updated` events whose data is
    the message's whole current state: from the welcome's `changes` (source "changes"),
    live, and from `GET /api/rooms/<room>/changes/?rev=` (source "backfill") when the
    welcome was incomplete or a rev went missing. `rev`: the room's change counter the
    application already has (with `since`); an application that applies every
    `message` and `message_updated` event (a newer `rev` replaces an older one) holds
    every message exactly as the server does.
    """

    def __init__(
        self,
        base_url: str,
        room: str,
        *,
        since: int | None = None,
        rev: int | None = None,
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
        self._revisions = Revisions(rev if since is not None else None)
        #: the `?rev=` of the handshake under way
        self._asked_rev: int | None = None
        self._changes_task: asyncio.Task[None] | None = None

    @property
    def last_seq(self) -> int | None:
        """Highest message seq delivered, or None."""
        return self._sequencer.last_seq

    @property
    def rev(self) -> int | None:
        """The room's change counter up to which every change was delivered, or None."""
        return self._revisions.rev

    def _query(self) -> dict[str, str]:
        last = self._sequencer.last_seq
        self._asked_rev = self._revisions.rev if last is not None else None
        if last is None:
            return {}
        if self._asked_rev is None:
            return {"since": str(last)}
        return {"since": str(last), "rev": str(self._asked_rev)}

    def _on_welcome(self, welcome: dict[str, Any]) -> None:
        for change in welcome.get("changes") or ():
            if isinstance(change, dict):
                self._emit("message_updated", change, source="changes")
        self._revisions.welcome(welcome.get("rev"))
        history = [m for m in welcome.get("history") or () if isinstance(m, dict)]
        history.sort(key=lambda m: m.get("seq") or 0)
        for message in history:
            self._ingest(message, "history")
        if welcome.get("complete") is False:
            # More than the welcome may carry: page the rest over REST.
            self._start_backfill("incomplete")
            if self._asked_rev is not None:
                self._start_changes(self._asked_rev, grace=False)

    def _on_message_frame(self, frame: dict[str, Any]) -> None:
        self._ingest(frame, "live")

    def _on_updated_frame(self, frame: dict[str, Any]) -> None:
        message = frame.get("message")
        if not isinstance(message, dict):
            return
        self._emit("message_updated", message, source="live")
        self._revisions.live(message.get("rev"))
        if self._revisions.gap and self._revisions.rev is not None:
            self._start_changes(self._revisions.rev, grace=True)

    def _on_stop(self) -> None:
        if self._gap_task is not None:
            self._gap_task.cancel()
            self._gap_task = None
        if self._changes_task is not None:
            self._changes_task.cancel()
            self._changes_task = None

    # --- changes: `GET /api/rooms/<room>/changes/?rev=` ---------------------------------------

    def _start_changes(self, after: int, *, grace: bool) -> None:
        if self._changes_task is None:
            self._changes_task = asyncio.get_running_loop().create_task(
                self._changes_after(after, grace=grace)
            )

    async def _changes_after(self, after: int, *, grace: bool) -> None:
        """Page every change after `after` (a missing rev waits `gap_grace` first)."""
        try:
            if grace:
                await asyncio.sleep(self.options.gap_grace)
                if not self._revisions.gap:
                    return  # it arrived meanwhile
                after = (
                    self._revisions.rev if self._revisions.rev is not None else after
                )
            newest, count, error = after, 0, None
            try:
                while True:
                    page, more = await self._fetch(
                        f"changes/?rev={newest}&limit={self.options.backfill_limit}"
                    )
                    page.sort(key=lambda m: m.get("rev") or 0)
                    for message in page:
                        self._emit("message_updated", message, source="backfill")
                        count += 1
                    top = max((m.get("rev") or 0 for m in page), default=newest)
                    if not more or not page or top <= newest:
                        newest = max(newest, top)
                        break
                    newest = top
            except (HttpError, OSError, RealtimeError, ValueError) as exc:
                error = exc
            if error is None:
                self._revisions.fetched(newest)
            self._emit(
                "backfill",
                {
                    "room": self.room,
                    "rev": after,
                    "count": count,
                    "ok": error is None,
                    "error": None if error is None else str(error),
                },
            )
        finally:
            self._changes_task = None

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
        return await self._fetch(f"messages/?after={after}&limit={limit}")

    async def _fetch(self, tail: str) -> tuple[list[dict[str, Any]], bool]:
        """One page of `/api/rooms/<room>/<tail>`: its messages, and whether more follow."""
        limit = self.options.backfill_limit
        path = f"/api/rooms/{quote(self.room, safe='')}/{tail}"
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
