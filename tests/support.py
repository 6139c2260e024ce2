"""Helpers of the cluster, chaos and security tests: real sockets against real servers."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

DEADLINE = 20.0  # seconds any single wait may take on a shared 2-core machine


def ws(
    url: str, *, headers: dict[str, str] | None = None, **kw: Any
) -> ClientConnection:
    """Open a websocket (no compression, generous open timeout)."""
    return connect(
        url,
        additional_headers=headers,
        compression=None,
        open_timeout=DEADLINE,
        close_timeout=5,
        max_size=None,
        legacy=True,  # a plain connection object; tests close it themselves
        **kw,
    )


def refused_status(url: str, *, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of a handshake the server refuses (fails if it accepts)."""
    try:
        conn = ws(url, headers=headers)
    except InvalidStatus as exc:
        return exc.response.status_code
    conn.close()
    raise AssertionError(f"handshake to {url} was accepted")


def recv_json(conn: ClientConnection, timeout: float = DEADLINE) -> dict[str, Any]:
    """The next frame, decoded."""
    return json.loads(conn.recv(timeout=timeout))


def recv_until(
    conn: ClientConnection,
    match: Callable[[dict[str, Any]], bool],
    timeout: float = DEADLINE,
) -> dict[str, Any]:
    """Frames are read until one matches; that one is returned (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching frame in {timeout}s; saw {seen[-5:]}")
        try:
            frame = json.loads(conn.recv(timeout=left))
        except TimeoutError:
            continue
        if match(frame):
            return frame
        seen.append(frame)


def close_code(conn: ClientConnection, timeout: float = DEADLINE) -> int | None:
    """Read (and drop) frames until the server closes; its close code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn.recv(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            continue
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None
    raise AssertionError(f"the server did not close the socket in {timeout}s")


def heartbeat_ok(conn: ClientConnection, timeout: float = DEADLINE) -> bool:
    """Send a heartbeat; True when its answer comes back (other frames are skipped)."""
    conn.send(json.dumps({"type": "heartbeat"}))
    recv_until(conn, lambda f: f.get("type") == "heartbeat" and "ts" in f, timeout)
    return True


def echo_ok(conn: ClientConnection, timeout: float = DEADLINE) -> bool:
    """An echo socket still answers."""
    marker = f"still-here-{time.monotonic_ns()}"
    conn.send(marker)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.recv(timeout=max(0.1, deadline - time.monotonic())) == marker:
            return True
    return False


def http_get(url: str, timeout: float = DEADLINE) -> tuple[int, Any]:
    """(status, JSON or text) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_for(
    check: Callable[[], Any],
    timeout: float = DEADLINE,
    interval: float = 0.1,
    what: str = "",
) -> Any:
    """Poll `check` until it returns something truthy; that value (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, AssertionError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or check}: last={last!r}"
    )


def rss_kib(pid: int) -> int:
    """Resident memory of a process, KiB (VmRSS of /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class PeakRss:
    """The peak resident memory of a process while the block runs, sampled every 50 ms:
    `with PeakRss(pid) as rss: ...`, then `rss.growth_mb` (over the value at entry)."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid = pid
        self.baseline = self.peak = rss_kib(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(OSError, AssertionError):
                self.peak = max(self.peak, rss_kib(self.pid))
            self._done.wait(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)
        with contextlib.suppress(OSError, AssertionError):
            self.peak = max(self.peak, rss_kib(self.pid))

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.baseline) / 1024


# --- a websocket client by hand, for what a library would not do ------------------------


def raw_handshake(
    port: int,
    path: str,
    *,
    host: str = "127.0.0.1",
    rcvbuf: int | None = None,
    source: str | None = None,
    extra: str = "",
) -> tuple[socket.socket, bytes]:
    """Open a TCP connection, send an upgrade request by hand; (socket, response head)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if source is not None:
        sock.bind((source, 0))
    sock.settimeout(DEADLINE)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: leave every frame after the head unread
        if not chunk:
            break
        head += chunk
    return sock, head


def client_frame(payload: bytes, opcode: int = 0x1, *, fin: bool = True) -> bytes:
    """One masked client frame (RFC 6455)."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_close_code(sock: socket.socket, timeout: float = DEADLINE) -> int | None:
    """Read server frames from a raw socket until a close frame; its code (None: dropped)."""
    sock.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buf) >= 2:
            opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                break
            payload, buf = buf[off : off + n], buf[off + n :]
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    raise AssertionError("no close frame in time")


@contextlib.contextmanager
def sockets(*conns: ClientConnection) -> Iterator[tuple[ClientConnection, ...]]:
    """Close every connection at the end, whatever happened."""
    try:
        yield conns
    finally:
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


# --- chat and notify, as PROTOCOL.md describes them ---------------------------------------


def make_staff(server: Any, username: str) -> None:
    """Make a user of a real server staff who may send notifications (a manage.py shell)."""
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model as g;"
        "from django.contrib.auth.models import Permission as P;"
        f"u = g().objects.get(username={username!r}); u.is_staff = True; u.save();"
        "u.user_permissions.add(P.objects.get(codename='add_notification'))",
    )


def room_create(server: Any, owner: Any, slug: str, *, private: bool = False) -> None:
    """Create a room over REST (its owner is on its whitelist)."""
    status, body = server.api.post(
        "/api/rooms/",
        {"slug": slug, "name": slug, "is_private": private},
        token=owner.access,
    )
    assert status == 201, (status, body)


def chat(
    server: Any, user: Any, slug: str, *, since: int | None = None
) -> tuple[Any, dict]:
    """Open a chat socket; (connection, welcome frame)."""
    query = f"?token={user.access}" + (f"&since={since}" if since is not None else "")
    conn = ws(f"{server.ws_url}/ws/chat/{slug}/{query}")
    welcome = recv_json(conn)
    assert welcome["type"] == "welcome", welcome
    return conn, welcome


def notify(server: Any, user: Any) -> tuple[Any, dict]:
    """Open the user's notify socket; (connection, welcome frame)."""
    conn = ws(f"{server.ws_url}/ws/notify/user/{user.id}/?token={user.access}")
    welcome = recv_json(conn)
    assert welcome["type"] == "welcome", welcome
    return conn, welcome


def say(conn: Any, body: str, client_id: str | None = None) -> None:
    """Send a chat message frame."""
    frame: dict[str, Any] = {"type": "message", "body": body}
    if client_id is not None:
        frame["client_id"] = client_id
    conn.send(json.dumps(frame))


def is_message(body: str) -> Callable[[dict[str, Any]], bool]:
    """A matcher for the message frame with this body."""
    return lambda f: f.get("type") == "message" and f.get("body") == body


class Frames:
    """Every frame a socket received, kept, with waits on them (for tests that look back)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.seen: list[dict[str, Any]] = []

    def until(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = DEADLINE
    ) -> dict:
        """Read until a frame matches (it is kept too); that frame."""
        for frame in self.seen:
            if match(frame) and not frame.get("_taken"):
                frame["_taken"] = True
                return frame
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no matching frame in {timeout}s; last {self.seen[-5:]}"
                )
            try:
                frame = json.loads(self.conn.recv(timeout=left))
            except TimeoutError:
                continue
            self.seen.append(frame)
            if match(frame):
                frame["_taken"] = True
                return frame

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.seen if f.get("type") == kind]


class TcpProxy:
    """A TCP relay to host:port that a test can cut (every connection dropped, new ones
    refused at once) and restore: a database outage without touching the database."""

    def __init__(self, host: str, port: int) -> None:
        import threading

        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.closed = False
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        import threading

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self.pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst), daemon=True
                ).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every relayed connection; refuse new ones until restore()."""
        self.up = False
        with self._lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.closed = True
        with contextlib.suppress(OSError):
            self.listener.close()
