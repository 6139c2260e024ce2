"""One webhook POST over asyncio streams: resolve, check, connect to what was checked.

No HTTP library: the project has none for clients, and this needs little of one. It
sends one request with `Connection: close`, reads the status line and hangs up; it
follows no redirect (a redirect could point anywhere, a private address included).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from functools import cache

from integrations import addresses
from integrations.events import SIGNATURE_HEADER

USER_AGENT = "realtime-webhooks/1"
_STATUS_RE = re.compile(rb"HTTP/1\.[01] (\d{3})[ \r\n]")


class BadResponse(Exception):
    """The receiver answered something that is no HTTP/1.x status line."""


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


async def post(url: str, body: bytes, signature: str, *, limit: float) -> int:
    """POST `body` to `url`; the answer's status code.

    Raises AddressRefused (the host resolves to a refused address: nothing is sent),
    TimeoutError (the whole exchange took over `limit` seconds), OSError (resolve, connect,
    TLS) or BadResponse.
    """
    parts = addresses.split(url)
    host, port = parts.hostname or "", addresses.port_of(parts)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(limit):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"{host} does not resolve")
        bad = addresses.refused(sorted({str(info[4][0]) for info in infos}))
        if bad:
            raise addresses.AddressRefused(
                f"{host} resolves to a refused address ({', '.join(bad)})"
            )
        address = infos[0][4]
        tls = parts.scheme == "https"
        reader, writer = await asyncio.open_connection(
            address[0],
            address[1],
            ssl=_tls() if tls else None,
            server_hostname=host if tls else None,
        )
        try:
            writer.write(_request(parts, host, port, body, signature))
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
    match = _STATUS_RE.match(line)
    if match is None:
        raise BadResponse(f"no HTTP status line: {line[:60]!r}")
    return int(match.group(1))


def _request(parts, host: str, port: int, body: bytes, signature: str) -> bytes:
    default_port = 443 if parts.scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    authority = name if port == default_port else f"{name}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = (
        f"POST {target} HTTP/1.1\r\n"
        f"Host: {authority}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{SIGNATURE_HEADER}: {signature}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
