"""What travels from a publisher to the sockets of a topic: a frame, or an order to close."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    """A pre-encoded frame, or an order to close; for every socket of a topic."""

    text: str | None = None  # the JSON frame, encoded once for every recipient
    kind: str = ""  # the frame's type, for metrics
    close_code: int | None = None  # close the socket with this code instead
    user_id: int | None = None  # only the sockets of this user
    #: the frame's place in its topic's sequence (a room message's seq): a socket whose
    #: welcome already carried it skips it, so each seq reaches a socket once
    seq: int | None = None
    #: an instruction the socket carries out, never a frame it sends (a notify socket's
    #: FOLLOW or UNFOLLOW of a room's activity topic): it may change the socket's topics,
    #: so the hub never hands it over within a run (Hub.deliver_run)
    order: bool = False

    def to_wire(self) -> dict[str, Any]:
        """The channel-layer and outbox form (msgpack- and JSON-safe)."""
        return {
            "text": self.text,
            "kind": self.kind,
            "close": self.close_code,
            "user": self.user_id,
            "seq": self.seq,
            "order": self.order,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Event:
        """Inverse of to_wire()."""
        return cls(
            text=data.get("text"),
            kind=data.get("kind") or "",
            close_code=data.get("close"),
            user_id=data.get("user"),
            seq=data.get("seq"),
            order=bool(data.get("order")),
        )


class Subscriber(Protocol):
    """A local socket: takes an event without awaiting (it queues, or closes itself)."""

    def deliver(self, event: Event) -> None: ...

    def deliver_frames(self, run: Sequence[Event]) -> None:
        """deliver() of each event of `run`, in order: frames of one topic, each with a
        text, for every user, none a close or an order (Hub.deliver_run)."""
        ...
