"""The sequencer: which seqs of a topic were delivered here, which never came."""

from __future__ import annotations

from realtime.fanout.sequence import MISSING_MAX, Sequencer


def test_seqs_in_order_are_delivered_and_a_repeat_is_dropped():
    seqs = Sequencer()
    assert [seqs.admit("r", s, 0.0) for s in (5, 6, 7)] == [True, True, True]
    assert seqs.admit("r", 6, 0.0) is False
    assert not seqs.missing


def test_a_skipped_seq_is_missing_until_it_comes_late_then_only_once():
    seqs = Sequencer()
    seqs.baseline("r", 1)
    assert seqs.admit("r", 4, 10.0)
    assert seqs.overdue(10.0) == {"r": [2, 3]}
    assert seqs.overdue(9.0) == {}  # still within its grace
    assert seqs.admit("r", 3, 10.5)  # late, not lost
    assert seqs.admit("r", 3, 10.6) is False
    assert seqs.overdue(11.0) == {"r": [2]}


def test_the_database_s_last_seq_marks_a_tail_the_relay_never_brought():
    seqs = Sequencer()
    seqs.baseline("r", 7)
    seqs.latest("r", 9, 3.0)
    assert seqs.overdue(3.0) == {"r": [8, 9]}
    seqs.settled("r", [8, 9])
    assert seqs.admit("r", 9, 4.0) is False  # repaired, then the live frame: once
    seqs.latest("r", 9, 5.0)
    assert not seqs.missing


def test_a_baseline_never_moves_a_tracked_topic_and_an_untracked_one_is_not_checked():
    seqs = Sequencer()
    seqs.admit("r", 10, 0.0)
    seqs.baseline("r", 3)
    assert seqs.top["r"] == 10
    seqs.latest("other", 50, 0.0)
    assert "other" not in seqs.top and not seqs.missing


def test_topics_let_go_are_forgotten_and_a_long_gap_stays_bounded():
    seqs = Sequencer()
    seqs.baseline("r", 0)
    seqs.admit("r", 10 * MISSING_MAX, 0.0)
    assert len(seqs.missing["r"]) == MISSING_MAX
    assert min(seqs.missing["r"]) == 9 * MISSING_MAX  # the newest are waited for
    seqs.keep(["other"])
    assert not seqs.top and not seqs.missing
