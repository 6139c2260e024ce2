"""The client's pure rules: backoff bounds, the close-code table, token refresh timing.

No socket, no server, no sleep: every input (attempt, clock, randomness) is an argument.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from realtime_client.policy import (
    CLOSE_POLICY,
    DEFAULT_CLOSE_POLICY,
    Action,
    Options,
    SendPacer,
    backoff_ceiling,
    backoff_delay,
    close_policy,
    handshake_policy,
    refresh_delay,
    retry_delay,
    should_check_credentials,
)

REPO = Path(__file__).resolve().parents[3]


def test_full_jitter_stays_within_zero_and_the_doubling_ceiling():
    options = Options(base_delay=1.0, max_delay=30.0)
    rng = random.Random(14)
    for attempt in range(40):
        ceiling = min(30.0, 2.0**attempt)
        for _ in range(50):
            delay = backoff_delay(attempt, options, rng.random)
            assert 0.0 <= delay < ceiling


def test_full_jitter_spans_the_whole_window_not_just_its_top():
    options = Options(base_delay=1.0, max_delay=30.0)
    assert backoff_delay(4, options, lambda: 0.0) == 0.0
    assert backoff_delay(4, options, lambda: 0.5) == 8.0
    assert backoff_delay(4, options, lambda: 0.999) == pytest.approx(15.984)


def test_without_jitter_the_delay_is_the_ceiling_and_the_cap_holds():
    options = Options(base_delay=0.5, max_delay=10.0, jitter="none")
    assert [backoff_delay(n, options) for n in range(6)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        10.0,
    ]
    assert backoff_delay(10_000, options) == 10.0  # no overflow on a long outage
    assert backoff_ceiling(-3, options) == 0.5


def test_an_unknown_jitter_mode_is_refused():
    with pytest.raises(ValueError):
        Options(jitter="equal")  # type: ignore[arg-type]


def test_a_restart_reconnects_within_the_restart_jitter_then_backs_off():
    options = Options(base_delay=1.0, max_delay=30.0, restart_jitter=1.0)
    assert retry_delay(Action.RESTART, 0, options, lambda: 0.999) < 1.0
    assert retry_delay(Action.RESTART, 3, options, lambda: 0.999) == pytest.approx(
        7.992
    )


def test_a_rate_limit_waits_the_long_delay_on_top_of_the_backoff():
    options = Options(rate_limit_delay=60.0)
    assert retry_delay(Action.LONG_BACKOFF, 0, options, lambda: 0.0) == 60.0
    assert 60.0 <= retry_delay(Action.LONG_BACKOFF, 2, options, lambda: 0.9) < 64.0


def test_after_a_successful_refresh_the_client_reconnects_at_once():
    assert retry_delay(Action.NOW, 7, Options(), lambda: 0.9) == 0.0


@pytest.mark.parametrize("code", [1011, 1013, 4408, 4503])
def test_server_trouble_and_dead_links_reconnect_with_backoff(code):
    assert close_policy(code).action is Action.BACKOFF


@pytest.mark.parametrize("code", [None, 1001, 1005, 1006, 4000, 4999])
def test_an_unlisted_code_or_no_close_frame_is_a_dropped_link(code):
    assert close_policy(code) is DEFAULT_CLOSE_POLICY
    assert DEFAULT_CLOSE_POLICY.action is Action.BACKOFF


def test_a_draining_server_is_left_at_once_and_a_rate_limit_slowly():
    assert close_policy(1012).action is Action.RESTART
    assert close_policy(4429).action is Action.LONG_BACKOFF


def test_expired_credentials_refresh_the_token_before_reconnecting():
    assert close_policy(4401).action is Action.REFRESH


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (4403, "forbidden"),
        (4404, "not_found"),
        (1003, "client_bug"),
        (1009, "client_bug"),
        (4400, "client_bug"),
    ],
)
def test_forbidden_missing_and_client_bugs_never_retry(code, kind):
    policy = close_policy(code)
    assert policy.action is Action.FATAL and policy.kind == kind


def test_a_normal_close_just_stops():
    assert close_policy(1000).action is Action.STOP


def test_every_close_code_the_server_can_send_has_a_row():
    from realtime.socket.closecodes import CloseCode

    # REFUSED (1008) closes a socket before accept: a client sees the handshake's 403.
    sent = {int(code) for code in CloseCode if code is not CloseCode.REFUSED}
    assert sent == set(CLOSE_POLICY)


def test_the_table_says_what_the_browser_clients_table_says():
    source = (REPO / "static/js/realtime/policy.js").read_text()
    js = {
        int(code): action
        for code, action in re.findall(
            r"(\d{4}): Object\.freeze\(\{ action: '(\w+)'", source
        )
    }
    assert js == {code: policy.action.value for code, policy in CLOSE_POLICY.items()}


def test_a_refused_handshake_backs_off_unless_no_route_serves_the_path():
    assert handshake_policy(403).action is Action.BACKOFF
    assert handshake_policy(401).action is Action.BACKOFF
    assert handshake_policy(404).action is Action.FATAL
    assert handshake_policy(429).action is Action.LONG_BACKOFF
    assert handshake_policy(502).action is Action.BACKOFF


def test_credentials_are_checked_every_third_refusal_in_a_row():
    assert [should_check_credentials(n) for n in range(7)] == [
        False,
        False,
        False,
        True,
        False,
        False,
        True,
    ]


def test_a_token_is_refreshed_skew_seconds_before_it_expires():
    assert refresh_delay(exp=1900.0, now=1000.0, skew=30.0) == 870.0


def test_a_short_token_is_refreshed_at_half_its_life_never_in_a_tight_loop():
    assert refresh_delay(exp=1010.0, now=1000.0, skew=30.0) == 5.0
    assert refresh_delay(exp=990.0, now=1000.0, skew=30.0) == 0.0


def test_the_pacer_lets_a_burst_through_then_holds_to_the_rate():
    pacer = SendPacer(rate=10.0, burst=3)
    assert [pacer.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.reserve(0.0) == pytest.approx(0.1)
    assert pacer.reserve(0.0) == pytest.approx(0.2)
    # After a pause the bucket is full again, and never fuller than the burst.
    assert [pacer.reserve(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.reserve(100.0) == pytest.approx(0.1)


def test_a_long_queue_flushed_at_once_stays_inside_the_servers_default_bucket():
    # The server's bucket at its defaults: 10 frames/s refilled, 30 at most.
    options = Options()
    assert options.send_rate is not None
    pacer = SendPacer(options.send_rate, options.send_burst)
    tokens, last, at = 30.0, 0.0, 0.0
    for _ in range(300):
        at += pacer.reserve(at)
        tokens = min(30.0, tokens + (at - last) * 10.0)
        last = at
        assert tokens >= 1.0  # the server would take this frame
        tokens -= 1.0


def test_no_rate_means_no_pacing():
    pacer = SendPacer(rate=None, burst=1)
    assert all(pacer.reserve(0.0) == 0.0 for _ in range(100))
