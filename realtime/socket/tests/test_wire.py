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


def test_a_run_is_encoded_once_for_the_members_that_take_all_of_it():
    texts = ["{" + "x" * 10 + "}", "{" + "y" * 300 + "}"]
    run = tuple(texts)
    whole = frames.wire_frames(run, texts)
    assert whole == frames.text_frame(texts[0]) + frames.text_frame(texts[1])
    assert frames.wire_frames(run, list(texts)) is whole
    # A member whose welcome held the first frame already: its own bytes, the rest kept.
    assert frames.wire_frames(run, texts[1:]) == frames.text_frame(texts[1])
    assert frames.wire_frames(run, texts) is whole
