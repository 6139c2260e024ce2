"""Connection caps against real servers: per process (403), per IP handshake rate (403)."""

from __future__ import annotations

import re

import pytest
from websockets.exceptions import InvalidStatus

from tests.support import (
    echo_ok,
    http_get,
    raw_handshake,
    refused_status,
    sockets,
    wait_for,
    ws,
)

pytestmark = [pytest.mark.e2e]


def _handshakes(server, outcome: str) -> float:
    status, text = http_get(server.url + "/metrics")
    assert status == 200
    pattern = (
        rf'realtime_handshakes_total\{{outcome="{outcome}",route="echo"\}} ([0-9.]+)'
    )
    alt = rf'realtime_handshakes_total\{{route="echo",outcome="{outcome}"\}} ([0-9.]+)'
    match = re.search(pattern, text) or re.search(alt, text)
    return float(match.group(1)) if match else 0.0


def test_the_process_cap_refuses_with_403_before_accept(server_factory):
    server = server_factory(WS_MAX_CONNECTIONS="3")
    opened = [ws(f"{server.ws_url}/ws/echo/") for _ in range(3)]
    with sockets(*opened):
        assert refused_status(f"{server.ws_url}/ws/echo/") == 403
        # Refused at the gate, before credentials are even looked at (no database work).
        assert refused_status(f"{server.ws_url}/ws/echo/?token=junk") == 403
        assert _handshakes(server, "refused_capacity") == 2
        assert all(echo_ok(c) for c in opened)  # the sockets it holds are fine
        opened[0].close()

        # A place is free again once a socket is gone.
        def reopen():
            try:
                return ws(f"{server.ws_url}/ws/echo/")
            except InvalidStatus:
                return None

        again = wait_for(reopen, what="the freed place")
        with sockets(again):
            assert echo_ok(again)


def test_the_handshake_rate_per_ip_refuses_with_403_and_spares_other_ips(
    server_factory,
):
    server = server_factory(WS_HANDSHAKE_RATE="2")  # 2 per second, bursts of 4
    held = ws(f"{server.ws_url}/ws/echo/")
    with sockets(held):
        statuses = []
        for _ in range(12):
            sock, head = raw_handshake(server.port, "/ws/echo/")
            statuses.append(int(head.split()[1]))
            sock.close()
            if statuses[-1] == 403:
                break
        assert statuses[-1] == 403 and 101 in statuses, statuses
        assert _handshakes(server, "refused_rate") >= 1
        # Another client address is not held back by this one's flood.
        sock, head = raw_handshake(server.port, "/ws/echo/", source="127.0.0.2")
        sock.close()
        assert head.startswith(b"HTTP/1.1 101"), head
        assert echo_ok(held)
