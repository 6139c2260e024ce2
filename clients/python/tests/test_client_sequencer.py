"""Each message once and in seq order, whatever the socket, history and REST deliver."""

from __future__ import annotations

import random

from hypothesis import given, seed, settings
from hypothesis import strategies as st
from realtime_client.rest import jwt_claims, jwt_exp
from realtime_client.sequencer import Sequencer


def msg(seq: int) -> dict:
    return {"type": "message", "id": 1000 + seq, "seq": seq, "body": f"m{seq}"}


def seqs(messages) -> list[int]:
    return [m["seq"] for m in messages]


def test_a_seq_already_delivered_is_dropped_by_seq_and_by_id():
    s = Sequencer(last_seq=3)
    assert s.ingest(msg(3)) == ("duplicate", [])
    outcome, ready = s.ingest(msg(4))
    assert outcome == "delivered" and seqs(ready) == [4]
    assert s.ingest(msg(4))[0] == "duplicate"
    assert s.ingest({**msg(4), "seq": 99})[0] == "duplicate"  # same id
    assert s.last_seq == 4


def test_a_message_past_a_gap_is_held_until_the_gap_fills():
    s = Sequencer(last_seq=1)
    assert s.ingest(msg(4)) == ("held", [])
    assert s.ingest(msg(3)) == ("held", [])
    assert s.held == 2 and s.first_held == 3
    outcome, ready = s.ingest(msg(2))
    assert outcome == "delivered" and seqs(ready) == [2, 3, 4]
    assert s.held == 0 and s.last_seq == 4


def test_a_gap_nothing_fills_is_released_in_order():
    s = Sequencer(last_seq=1)
    s.ingest(msg(5))
    s.ingest(msg(3))
    assert seqs(s.release_held()) == [3, 5]
    assert s.last_seq == 5 and s.ingest(msg(4))[0] == "duplicate"


def test_the_first_message_of_a_fresh_client_sets_the_start():
    s = Sequencer()
    assert seqs(s.ingest(msg(40))[1]) == [40]
    assert s.last_seq == 40


def test_without_order_only_ids_are_deduped():
    s = Sequencer(ordered=False)
    note = {"type": "notification", "id": 5}
    assert s.ingest(note)[0] == "delivered"
    assert s.ingest(note)[0] == "duplicate"
    assert s.ingest({"type": "notification", "id": 4})[0] == "delivered"
    assert s.last_seq is None


@seed(14)
@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=40),
    start=st.integers(min_value=0, max_value=5),
    shuffle_seed=st.integers(min_value=0, max_value=2**16),
    copies=st.integers(min_value=1, max_value=3),
)
def test_any_order_with_repeats_delivers_every_seq_exactly_once_in_order(
    n, start, shuffle_seed, copies
):
    # Live frames, a resumed welcome's history and REST pages overlap and interleave.
    arrivals = [msg(k) for k in range(1, start + n + 1) for _ in range(copies)]
    random.Random(shuffle_seed).shuffle(arrivals)
    s = Sequencer(last_seq=start)
    delivered = []
    for message in arrivals:
        delivered.extend(s.ingest(message)[1])
    assert seqs(delivered) == list(range(start + 1, start + n + 1))
    assert s.held == 0


def test_a_jwt_payload_is_read_without_verifying_and_junk_has_no_expiry():
    # header {"alg":"HS256"}, payload {"exp": 1700000000, "user_id": 7}
    token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiAxNzAwMDAwMDAwLCAidXNlcl9pZCI6IDd9.sig"
    assert jwt_exp(token) == 1700000000.0
    assert jwt_claims(token)["user_id"] == 7
    for junk in (None, "", "a.b", "a.%%%.c", "a.bnVsbA.c"):
        assert jwt_exp(junk) is None
