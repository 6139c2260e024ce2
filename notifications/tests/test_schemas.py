"""The inbound `read` frame: by id or all, exactly one, nothing else."""

from __future__ import annotations

import orjson
import pytest

from notifications.schemas import (
    NotificationEncoder,
    NotificationOut,
    ReadIn,
    notification_frame,
)
from realtime.socket.errors import Invalid
from realtime.socket.frames import parse_frame

TABLE = {"read": ReadIn}


@pytest.mark.parametrize(
    "text", ['{"type":"read","id":7}', '{"type":"read","all":true}']
)
def test_read_by_id_or_all_is_accepted(text):
    frame = parse_frame(text, TABLE)
    assert isinstance(frame, ReadIn)


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"read"}',
        '{"type":"read","id":7,"all":true}',
        '{"type":"read","all":false}',
        '{"type":"read","all":1}',
        '{"type":"read","id":"7"}',
        '{"type":"read","id":0}',
        '{"type":"read","id":-3}',
        '{"type":"read","id":1.5}',
        '{"type":"read","id":99999999999999999999}',
        '{"type":"read","id":7,"extra":1}',
    ],
)
def test_malformed_read_frames_are_invalid(text):
    with pytest.raises(Invalid):
        parse_frame(text, TABLE)


def test_bulk_encoder_matches_the_frame_schema_for_every_id():
    import datetime as dt

    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    encoder = NotificationEncoder(
        title='a "quoted" ü',
        body="b\n",
        level="error",
        link="/rooms/a/",
        created=when,
    )
    for pk in (1, 42, 2**40):
        decoded = orjson.loads(encoder.encode(pk))
        assert decoded == notification_frame(
            id=pk,
            title='a "quoted" ü',
            body="b\n",
            level="error",
            link="/rooms/a/",
            created=when,
            read=False,
        )
        NotificationOut.model_validate(decoded)
        assert decoded["ts"] == "2026-01-02T03:04:05Z"
