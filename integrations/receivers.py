"""Chat's signals as webhook events: outbox rows in the transaction of the change.

Each receiver asks first whether any webhook wants the event (a cached table): with
none, it returns before building anything, so chat's send path pays a dict lookup.
"""

from __future__ import annotations

from typing import Any

from chat.schemas import message_frame, user_out
from integrations import selectors, services


def on_messages_stored(sender: Any, messages: list[Any], **kwargs: Any) -> None:
    """`message.created`: `data` is the message as REST and the socket show it."""
    if not selectors.webhooks_for(event="message.created"):
        return
    items = []
    for message in messages:
        frame = message_frame(message)
        frame.pop("type", None)
        items.append(frame)
    services.webhook_events_enqueue(event="message.created", items=items)


def on_message_changed(sender: Any, frame: dict[str, Any], **kwargs: Any) -> None:
    """`message.updated`: `data` is the message's current state (an edit, a tombstone, a
    reaction), as the `message_updated` frame carries it."""
    if not selectors.webhooks_for(event="message.updated"):
        return
    data = {k: v for k, v in frame.items() if k != "type"}
    services.webhook_events_enqueue(event="message.updated", items=[data])


def on_membership_changed(
    sender: Any, room: Any, user: Any, added: bool, **kwargs: Any
) -> None:
    """`member.added` / `member.removed`: `{"room": slug, "user": user}`."""
    event = "member.added" if added else "member.removed"
    if not selectors.webhooks_for(event=event):
        return
    data = {"room": room.slug, "user": user_out(user.pk, user.username)}
    services.webhook_events_enqueue(event=event, items=[data])


def on_rooms_occupancy_changed(
    sender: Any, occupied: list[str], vacated: list[str], **kwargs: Any
) -> None:
    """`room.occupied` / `room.vacated`: `{"room": slug}`."""
    for event, slugs in (("room.occupied", occupied), ("room.vacated", vacated)):
        if slugs and selectors.webhooks_for(event=event):
            services.webhook_events_enqueue(
                event=event, items=[{"room": slug} for slug in slugs]
            )
