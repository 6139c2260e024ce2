"""A frame encoded once for every member: the bytes are exactly the RFC 6455 frame."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from realtime.socket import frames


@pytest.mark.parametrize("chars", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_text_frame_is_what_websockets_itself_would_send(chars):
    text = ("é" if chars % 2 else "a") * chars
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    assert frames.text_frame(text) == expected


def test_the_same_text_is_encoded_once_and_another_text_afresh():
    first = "{" + "x" * 200 + "}"
    assert frames.wire_frame(first) is frames.wire_frame(first)
    equal_but_other = "".join(["{", "x" * 200, "}"])
    assert frames.wire_frame(equal_but_other) == frames.text_frame(first)
    assert frames.wire_frame("other") == frames.text_frame("other")
