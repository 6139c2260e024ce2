"""The send queue: client_ids, order, and what goes again after a reconnect."""

from __future__ import annotations

import itertools

import pytest
from realtime_client.errors import QueueFullError
from realtime_client.outbox import MAX_CLIENT_ID, Outbox, new_client_id

ME = {"id": 7, "username": "me"}


def outbox(max_queue: int = 10) -> Outbox:
    ids = itertools.count(1)
    return Outbox(max_queue, make_client_id=lambda: f"c{next(ids)}")


def echo(frame, user=ME, seq=1):
    return {**frame, "id": seq, "seq": seq, "user": user}


def test_a_message_gets_a_client_id_and_a_given_one_is_kept():
    box = outbox()
    assert box.add({"type": "message", "body": "hi"}, live=True)["client_id"] == "c1"
    assert (
        box.add({"type": "message", "body": "x", "client_id": "mine"}, live=True)[
            "client_id"
        ]
        == "mine"
    )
    assert len(new_client_id()) <= MAX_CLIENT_ID


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message", "body": "   "},
        {"type": "message", "body": 5},
        {"type": "message", "body": "a\x00b"},
        {"type": "message", "body": "ok", "client_id": "x" * (MAX_CLIENT_ID + 1)},
        {"type": "message", "body": "ok", "client_id": ""},
    ],
)
def test_a_message_the_server_would_refuse_is_never_queued(frame):
    box = outbox()
    with pytest.raises(ValueError):
        box.add(frame, live=False)
    assert box.pending == [] and box.size(live=False) == 0


def test_a_body_over_the_known_limit_is_refused_before_it_is_queued():
    box = Outbox(10, max_body_chars=5)
    with pytest.raises(ValueError):
        box.add({"type": "message", "body": "123456"}, live=True)
    assert box.add({"type": "message", "body": "  12345  "}, live=True)


def test_frames_queued_offline_go_out_in_order_after_the_welcome():
    box = outbox()
    box.add({"type": "message", "body": "one"}, live=False)
    box.add({"type": "read", "seq": 1}, live=False)
    box.add({"type": "message", "body": "two"}, live=False)
    assert [f.get("body", f["type"]) for f in box.flush()] == ["one", "read", "two"]
    # Sent now: the queue is empty, the messages wait for their echoes.
    assert box.size(live=True) == 0
    assert [p["body"] for p in box.pending] == ["one", "two"]
    # The next reconnect sends the two messages again, and the `read` never twice.
    assert [f["body"] for f in box.flush()] == ["one", "two"]


def test_unacknowledged_sends_go_again_after_a_reconnect_acknowledged_ones_do_not():
    box = outbox()
    first = box.add({"type": "message", "body": "one"}, live=True)
    second = box.add({"type": "message", "body": "two"}, live=True)
    assert box.confirm(echo(first), ME["id"])
    # The socket died before the echo of `two`; a message queued meanwhile follows it.
    box.add({"type": "message", "body": "three"}, live=False)
    resent = box.flush()
    assert [f["body"] for f in resent] == ["two", "three"]
    assert resent[0]["client_id"] == second["client_id"]  # same id: the server dedupes


def test_only_our_own_users_echo_confirms_a_client_id():
    box = outbox()
    sent = box.add({"type": "message", "body": "one"}, live=True)
    someone = {"id": 8, "username": "other"}
    assert not box.confirm(echo(sent, user=someone), ME["id"])
    assert box.confirm(echo(sent), ME["id"])
    assert not box.confirm(echo(sent), ME["id"])  # once


def test_a_rate_limit_resends_what_went_out_but_not_what_is_still_queued():
    box = outbox()
    box.add({"type": "message", "body": "out"}, live=True)
    box.add({"type": "message", "body": "queued"}, live=False)
    assert [f["body"] for f in box.resend()] == ["out"]


def test_a_discarded_message_is_never_sent_again():
    box = outbox()
    live = box.add({"type": "message", "body": "one"}, live=True)
    queued = box.add({"type": "message", "body": "two"}, live=False)
    assert box.discard(live["client_id"]) and box.discard(queued["client_id"])
    assert not box.discard("unknown")
    assert box.flush() == [] and box.pending == []


def test_the_queue_is_bounded_offline_and_in_flight():
    box = outbox(max_queue=2)
    box.add({"type": "message", "body": "a"}, live=False)
    box.add({"type": "read", "seq": 1}, live=False)
    with pytest.raises(QueueFullError):
        box.add({"type": "read", "seq": 2}, live=False)
    box.flush()
    box.add({"type": "message", "body": "b"}, live=True)
    with pytest.raises(QueueFullError):  # two messages already wait for their echo
        box.add({"type": "message", "body": "c"}, live=True)


def test_sending_a_pending_client_id_again_replaces_it_instead_of_counting_twice():
    box = outbox(max_queue=1)
    box.add({"type": "message", "body": "a", "client_id": "k"}, live=True)
    box.add({"type": "message", "body": "a", "client_id": "k"}, live=True)
    assert len(box.pending) == 1
