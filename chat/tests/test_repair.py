"""A process repairs the room messages its relay never brought (cluster mode)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat.models import Message, Room
from chat.repair import CHECK_INTERVAL, GRACE, Repair
from chat.topics import chat_room_group
from realtime.fanout.hub import Event, Hub


class Socket:
    def __init__(self) -> None:
        self.seqs: list[int] = []

    def deliver(self, event: Event) -> None:
        self.seqs.append(json.loads(event.text)["seq"])  # type: ignore[arg-type]


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def message(seq: int) -> Event:
    return Event(text=json.dumps({"seq": seq}), kind="message", seq=seq)


@pytest.fixture
async def repaired(lobby: Any, alice: Any) -> Any:
    hub = Hub()
    hub.relay = object()  # type: ignore[assignment]  # cluster mode, as far as it asks
    clock = Clock()
    part = Repair(hub=hub, clock=clock)
    await part.start()
    sock = Socket()
    topic = chat_room_group(lobby.pk)
    hub.topics[topic] = {sock}  # type: ignore[arg-type]
    for seq in range(1, 6):
        await Message.objects.acreate(room=lobby, user=alice, seq=seq, body=f"m{seq}")
    await Room.objects.filter(pk=lobby.pk).aupdate(last_seq=5)
    yield part, hub, clock, sock, topic
    await part.stop()


@pytest.mark.django_db(transaction=True)
async def test_a_gap_is_filled_from_the_database_after_its_grace_and_never_twice(
    repaired,
):
    part, hub, clock, sock, topic = repaired
    part.baseline(int(topic.rsplit(".", 1)[1]), 1)
    hub.deliver_local(topic, message(3))  # 2 never came
    assert await part.repair_once() == 0  # within its grace: maybe just late
    clock.now += GRACE
    assert await part.repair_once() == 1 + 2  # 2, and 4 and 5 (the tail, read later)
    hub.deliver_local(topic, message(2))  # the late relay: dropped
    hub.deliver_local(topic, message(5))
    assert sock.seqs == [3, 2, 4, 5]


@pytest.mark.django_db(transaction=True)
async def test_the_last_message_before_a_quiet_spell_is_repaired_from_the_room_s_last_seq(
    repaired,
):
    part, hub, clock, sock, topic = repaired
    part.baseline(int(topic.rsplit(".", 1)[1]), 4)  # 5 committed, never relayed
    await part.repair_once()  # reads the last seqs: 5 missing from now
    clock.now += max(GRACE, CHECK_INTERVAL)
    assert await part.repair_once() == 1
    assert sock.seqs == [5]


async def test_embedded_mode_repairs_nothing_and_guards_nothing():
    hub = Hub()
    part = Repair(hub=hub)
    await part.start()
    assert not part.active and not hub.guards
