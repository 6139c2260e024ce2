"""The door's batch: one socket's failure is its own, a database failure is everyone's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.db import DatabaseError

from realtime.socket import door as door_module
from realtime.socket.closecodes import CloseCode
from realtime.socket.door import Door, HandshakeFailed, open_batch
from realtime.socket.errors import Refused

ENTERED: list[Any] = []


class Anonymous:
    """A socket with no credentials (nothing to register) and a route's own hooks."""

    connection_id = "c"
    route = "test"
    credentials = None
    user = None
    registered = False

    def __init__(self, prepare: Any = None, admit: Any = None) -> None:
        self._prepare, self._admit = prepare, admit
        self.prepared = False

    def room_key(self) -> str:
        return ""

    def entered(self) -> None:
        self.entered_at = len(ENTERED)
        ENTERED.append(self)

    @classmethod
    def before_admit(cls, sockets: list[Any], memo: dict[Any, Any]) -> None:
        pass

    def admit(self, memo: dict[Any, Any]) -> None:
        if self._admit is not None:
            raise self._admit

    @classmethod
    def before_prepare(cls, sockets: list[Any], memo: dict[Any, Any]) -> None:
        pass

    def prepare(self, memo: dict[Any, Any]) -> None:
        if self._prepare is not None:
            raise self._prepare
        self.prepared = True


@pytest.mark.django_db
def test_a_refusal_or_a_bug_in_one_socket_leaves_the_others_of_its_batch_alone():
    refused = Refused(CloseCode.FORBIDDEN, "no")
    sockets = [Anonymous(), Anonymous(admit=refused), Anonymous(prepare=KeyError("x"))]
    outcomes = open_batch(sockets)  # type: ignore[arg-type]
    assert outcomes[0] is True and sockets[0].prepared
    assert outcomes[1] is refused
    assert isinstance(outcomes[2], KeyError)


@pytest.mark.django_db
def test_a_database_error_in_one_prepare_fails_the_whole_batch():
    # On PostgreSQL the shared transaction is aborted by then: committing it would drop
    # every registry row of the batch while its sockets opened.
    sockets = [Anonymous(), Anonymous(prepare=DatabaseError("timeout")), Anonymous()]
    with pytest.raises(DatabaseError):
        open_batch(sockets)  # type: ignore[arg-type]


async def test_a_failed_batch_gives_each_socket_its_own_1011_refusal(monkeypatch):
    def broken(sockets: list[Any]) -> list[Any]:
        raise DatabaseError("the database is out")

    monkeypatch.setattr(door_module, "open_batch", broken)
    gate = Door()
    outcomes = await asyncio.gather(*(gate.enter(Anonymous()) for _ in range(3)))  # type: ignore[arg-type]
    assert all(isinstance(o, HandshakeFailed) for o in outcomes)
    assert len({id(o) for o in outcomes}) == 3  # no traceback shared by every raise
    assert {o.close_code for o in outcomes} == {CloseCode.INTERNAL_ERROR}


@pytest.mark.django_db(transaction=True)
async def test_entered_runs_on_the_loop_for_each_admitted_socket_in_batch_order():
    ENTERED.clear()
    gate = Door()
    refused = Anonymous(admit=Refused(CloseCode.FORBIDDEN, "no"))
    sockets = [Anonymous(), refused, Anonymous(), Anonymous()]
    outcomes = await asyncio.gather(*(gate.enter(s) for s in sockets))  # type: ignore[arg-type]
    assert outcomes[1] is refused.__dict__["_admit"]
    assert ENTERED == [sockets[0], sockets[2], sockets[3]]
