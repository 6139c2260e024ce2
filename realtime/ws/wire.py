"""WebSocket frames as bytes: one encoding of a frame for every socket it goes to.

A server frame carries no mask and (compression being off) its payload is the message
itself, so a room's message is the same bytes on every member's socket. The serving
protocol (realtime.ws.server) offers a writer for such bytes in the socket's scope, under
FRAME_WRITER; the consumer encodes once and each member's socket writes the result.
No Django here: the server imports this before the app is loaded.
"""

from __future__ import annotations

#: The scope extension under which the server offers `write_frame(bytes) -> bool`.
FRAME_WRITER = "realtime.frame_writer"
#: The scope extension under which the server offers `queued_bytes() -> int`: what the
#: socket's transport holds that the kernel has not taken (the outbound byte bound).
QUEUED_BYTES = "realtime.queued_bytes"

_last: tuple[str, bytes] | None = None


def text_frame(text: str) -> bytes:
    """An unmasked, final text frame (RFC 6455 5.2) carrying `text`."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def wire_frame(text: str) -> bytes:
    """text_frame(), remembered for the text last encoded.

    A fan-out hands the very same str to every member's socket in turn, so an identity
    check on the last one encodes each message once, with no cache to bound or expire.
    """
    global _last
    last = _last
    if last is not None and last[0] is text:
        return last[1]
    frame = text_frame(text)
    _last = (text, frame)
    return frame
