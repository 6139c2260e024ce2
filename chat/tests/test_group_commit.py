"""Group commit: services.messages_create stores a batch in one transaction, and the
socket path (chat.writer) gathers the sends that arrive while the database is busy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import services, writer
from chat.errors import NotAllowed, RoomGone
from chat.models import Message, Room
from chat.services import Send
from chat.tests.conftest import chat_socket, receive, receive_until
from chat.topics import chat_room_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def create(django_capture_on_commit_callbacks: Any) -> Any:
    """services.messages_create, with the after-commit events run (the test's own
    transaction never commits)."""

    def run(sends: list[Send]) -> list[Any]:
        with django_capture_on_commit_callbacks(execute=True):
            return services.messages_create(sends)

    return run


def stored(room: Room) -> list[tuple[int, str, str | None]]:
    return list(
        Message.objects.filter(room=room)
        .order_by("seq")
        .values_list("seq", "body", "client_id")
    )


def test_a_batch_gives_each_room_its_own_gapless_seq(
    lobby, secret, alice, published, create
):
    sends = [
        Send(lobby, alice, "l1"),
        Send(secret, alice, "s1"),
        Send(lobby, alice, "l2", "c-2"),
        Send(lobby, alice, "l3"),
    ]
    outcomes = create(sends)
    assert [(m.room.slug, m.seq, created) for m, created in outcomes] == [
        ("lobby", 1, True),
        ("secret", 1, True),
        ("lobby", 2, True),
        ("lobby", 3, True),
    ]
    assert stored(lobby) == [(1, "l1", None), (2, "l2", "c-2"), (3, "l3", None)]
    assert Room.objects.get(pk=lobby.pk).last_seq == 3
    assert Room.objects.get(pk=secret.pk).last_seq == 1
    assert lobby.last_seq == 3 and secret.last_seq == 1  # the callers' rooms follow
    # Each stored message is published once, on its own room's topic, in seq order.
    assert [f["seq"] for f in published.frames(chat_room_group(lobby.pk))] == [
        1,
        2,
        3,
    ]
    assert [f["body"] for f in published.frames(chat_room_group(secret.pk))] == ["s1"]


def test_a_batch_costs_the_same_few_queries_whatever_its_size(lobby, secret, alice):
    services.messages_create([Send(lobby, alice, "warm-up")])

    def queries(count: int) -> int:
        sends = [Send((lobby, secret)[n % 2], alice, f"m{n}") for n in range(count)]
        with CaptureQueriesContext(connection) as ctx:
            services.messages_create(sends)
        return len(ctx.captured_queries)

    assert queries(40) == queries(2)


def test_a_refused_send_leaves_the_rest_of_its_batch_stored(
    lobby, secret, alice, bob, published, create
):
    gone = services.room_create(slug="gone", name="Gone")
    gone_copy = Room.objects.get(pk=gone.pk)
    gone.delete()
    outcomes = create(
        [
            Send(lobby, bob, "fine"),
            Send(lobby, bob, "   "),  # empty once stripped
            Send(secret, bob, "not on the whitelist"),
            Send(gone_copy, bob, "room deleted meanwhile"),
            Send(lobby, bob, "x", "c" * 65),  # client_id too long
            Send(lobby, bob, "also fine"),
        ]
    )
    assert isinstance(outcomes[1], ValidationError)
    assert isinstance(outcomes[2], NotAllowed)
    assert isinstance(outcomes[3], RoomGone)
    assert isinstance(outcomes[4], ValidationError)
    assert [outcomes[0][0].seq, outcomes[5][0].seq] == [1, 2]
    assert stored(lobby) == [(1, "fine", None), (2, "also fine", None)]
    assert stored(secret) == []
    assert len(published.frames(chat_room_group(lobby.pk))) == 2
    assert published.frames(chat_room_group(secret.pk)) == []


def test_a_resend_in_a_batch_returns_the_original_and_stores_nothing(
    lobby, alice, published, create
):
    (first, created), *_ = create([Send(lobby, alice, "a", "c-1")])
    assert created
    outcomes = create(
        [
            Send(lobby, alice, "b", "c-2"),
            Send(lobby, alice, "a again", "c-1"),  # already stored: rolls back, retries
            Send(lobby, alice, "b again", "c-2"),  # twice in this very batch
            Send(lobby, alice, "c"),
        ]
    )
    (b, b_new), (a, a_new), (b2, b2_new), (c, c_new) = outcomes
    assert (b_new, a_new, b2_new, c_new) == (True, False, False, True)
    assert a.pk == first.pk and a.body == "a"
    assert b2.pk == b.pk
    assert stored(lobby) == [(1, "a", "c-1"), (2, "b", "c-2"), (3, "c", None)]
    assert [f["seq"] for f in published.frames(chat_room_group(lobby.pk))] == [1, 2, 3]


def test_the_same_client_id_in_two_rooms_or_from_two_users_is_two_messages(
    lobby, secret, alice, bob
):
    outcomes = services.messages_create(
        [
            Send(lobby, alice, "a", "same"),
            Send(secret, alice, "b", "same"),
            Send(lobby, bob, "c", "same"),
        ]
    )
    assert [created for _, created in outcomes] == [True, True, True]
    assert Message.objects.count() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("serving")
async def test_concurrent_socket_sends_are_stored_once_each_in_few_batches(
    lobby, alice, bob, monkeypatch
):
    batches: list[int] = []
    real = services.messages_create

    def counting(sends: Any) -> Any:
        batches.append(len(sends))
        return real(sends)

    monkeypatch.setattr(services, "messages_create", counting)
    sockets = [await chat_socket(user, "lobby") for user in (alice, bob) * 5]
    for comm in sockets:
        await receive(comm)  # the welcome
    per_socket = 6
    for n in range(per_socket):
        for i, comm in enumerate(sockets):
            await comm.send_json_to(
                {"type": "message", "body": f"{i}-{n}", "client_id": f"{i}-{n}"}
            )
    total = per_socket * len(sockets)
    last, before = await receive_until(
        sockets[0], lambda f: f["type"] == "message" and f["seq"] == total
    )
    seqs = [f["seq"] for f in [*before, last] if f["type"] == "message"]
    assert seqs == list(range(1, total + 1))
    assert sum(batches) == total
    assert len(batches) < total  # sends that waited went together
    bodies = await asyncio.to_thread(
        lambda: sorted(Message.objects.values_list("body", flat=True))
    )
    assert bodies == sorted(
        f"{i}-{n}" for i in range(len(sockets)) for n in range(per_socket)
    )
    for comm in sockets:
        await comm.disconnect()


async def test_the_writer_hands_each_waiter_its_own_outcome(lobby, monkeypatch):
    def answer(sends: Any) -> list[Any]:
        return [
            NotAllowed("no") if send.body == "refuse" else (send.body, True)
            for send in sends
        ]

    monkeypatch.setattr(services, "messages_create", answer)
    w = writer.MessageWriter()
    results = await asyncio.gather(
        *(w.create(Send(lobby, None, body)) for body in ("a", "refuse", "b")),
        return_exceptions=True,
    )
    assert results[0] == ("a", True) and results[2] == ("b", True)
    assert isinstance(results[1], NotAllowed)


async def test_a_database_outage_fails_every_waiting_send_not_the_writer(
    lobby, monkeypatch
):
    from django.db import OperationalError

    calls: list[int] = []

    def down_then_up(sends: Any) -> list[Any]:
        calls.append(len(sends))
        if len(calls) == 1:
            raise OperationalError("database is down")
        return [(send.body, True) for send in sends]

    monkeypatch.setattr(services, "messages_create", down_then_up)
    w = writer.MessageWriter()
    first = await asyncio.gather(
        w.create(Send(lobby, None, "a")), return_exceptions=True
    )
    assert isinstance(first[0], OperationalError)
    assert await w.create(Send(lobby, None, "b")) == ("b", True)
