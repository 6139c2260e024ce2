"""Start and stop the servers under test: the project (under uvicorn or another ASGI
server), the stock peer, the ws peer, the picows peer."""

from __future__ import annotations

import http.client
import importlib.util
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
WS_PEER = BENCH_DIR / "peers" / "ws_broadcast.py"
PICOWS_PEER = BENCH_DIR / "peers" / "picows_broadcast.py"
STOCK_PEER = BENCH_DIR / "peers" / "stock_channels" / "run.py"

# The project's limits, raised or turned off so the bench measures the socket path,
# not the abuse guards (names from PROTOCOL.md section 1).
PROJECT_BENCH_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECURE": "0",  # plain http on loopback
    "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
    "WS_MAX_CONNECTIONS": "50000",
    "WS_MAX_CONNECTIONS_PER_USER": "1000",
    "WS_HANDSHAKE_RATE": "0",
    "WS_MESSAGE_RATE": "1000000",
    "WS_MESSAGE_BURST": "1000000",
    "API_AUTH_THROTTLE": "",
}


class ServerError(RuntimeError):
    """A server under test did not start or died."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """cmd run on one core (taskset) when a core is given and taskset exists."""
    if cpu is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


@dataclass
class Server:
    """A started server process and where it listens."""

    name: str
    proc: subprocess.Popen
    port: int
    log_path: Path | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _signal(self, sig: int) -> None:
        # The group was made for this server (start_new_session): its workers go too.
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def log_tail(self, n: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the server's own process group, SIGKILL after the timeout."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_ready(
    server: Server, timeout: float = 60.0, http_path: str | None = None
) -> None:
    """Poll until the port accepts (and http_path answers 200), or fail with the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise ServerError(
                f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            if http_path is None:
                with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                    return
            else:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
                conn.request("GET", http_path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise ServerError(f"{server.name} not ready in {timeout}s:\n{server.log_tail()}")


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _start(
    name: str,
    cmd: list[str],
    port: int,
    *,
    env: dict[str, str],
    cpu: int | None,
    log_path: Path | None,
    cwd: Path = PROJECT_ROOT,
) -> Server:
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115 (closed by stop)
    proc = subprocess.Popen(
        pinned(cmd, cpu),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_raise_fd_limit,
    )
    return Server(name, proc, port, log_path, log)


def base_env() -> dict[str, str]:
    """This environment less what would steer a server elsewhere."""
    env = dict(os.environ)
    for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(k, None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_ws_peer(
    port: int | None = None, *, cpu: int | None = None, log_path: Path | None = None
) -> Server:
    """The bare websockets broadcast server."""
    port = port or free_port()
    cmd = [sys.executable, str(WS_PEER), "--port", str(port)]
    server = _start("ws", cmd, port, env=base_env(), cpu=cpu, log_path=log_path)
    wait_ready(server)
    return server


def start_picows_peer(
    port: int | None = None, *, cpu: int | None = None, log_path: Path | None = None
) -> Server:
    """The bare picows broadcast server (a dev requirement, as the other ASGI servers)."""
    # Said here rather than as an ImportError at the end of a server log.
    if importlib.util.find_spec("picows") is None:
        raise ServerError(
            "picows is not installed in this Python "
            f"({sys.executable}): pip install -r requirements-dev.txt"
        )
    port = port or free_port()
    cmd = [sys.executable, str(PICOWS_PEER), "--port", str(port)]
    server = _start("picows", cmd, port, env=base_env(), cpu=cpu, log_path=log_path)
    wait_ready(server)
    return server


def start_stock_peer(
    port: int | None = None,
    *,
    cpu: int | None = None,
    redis_url: str | None = None,
    log_path: Path | None = None,
) -> Server:
    """The Channels tutorial consumer on daphne (pub/sub layer when redis_url is given)."""
    port = port or free_port()
    env = base_env()
    if redis_url:
        env["REDIS_URL"] = redis_url
    cmd = [sys.executable, str(STOCK_PEER), "--port", str(port)]
    server = _start("stock", cmd, port, env=env, cpu=cpu, log_path=log_path)
    wait_ready(server, http_path="/healthz")
    return server


def project_env(
    *, database_url: str, redis_url: str | None = None, secret_key: str | None = None
) -> dict[str, str]:
    """Environment for the project server AND the load generator (same DB, same key)."""
    env = base_env()
    env.update(PROJECT_BENCH_ENV)
    env["DJANGO_SETTINGS_MODULE"] = "realtime.settings"
    env["DJANGO_SECRET_KEY"] = secret_key or "bench-" + secrets.token_urlsafe(40)
    env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def migrate(env: dict[str, str], log_path: Path | None = None) -> None:
    """manage.py migrate against env's database."""
    out = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if log_path is not None:
        log_path.write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise ServerError(f"migrate failed ({out.returncode}):\n{out.stderr[-3000:]}")


#: The ASGI servers start_project can run the project under. "uvicorn" is what
#: `manage.py serve` runs and ships; the others serve the same app in the same env, so
#: that the choice of server is a measurement (run_all's `project-<server>` targets).
PROJECT_SERVERS = ("uvicorn", "daphne", "hypercorn", "granian")
#: The app the other servers load: realtime.asgi:application plus the GC tuning that
#: `manage.py serve` applies at startup (bench/project_asgi.py says why).
PROJECT_ASGI_APP = "bench.project_asgi:application"
#: Listen backlog where a server lets us set it, as the peers': Twisted's default (50)
#: or hypercorn's (100) would measure SYN retransmits under a burst of handshakes.
LISTEN_BACKLOG = 4096


def project_server_cmd(server: str, port: int) -> list[str]:
    """The command line that serves the project under `server` on 127.0.0.1:port.

    One process (or one worker), uvloop where the server takes it, no access log,
    websockets on; anything else stays at the server's default, since that is what a
    deployment would get.
    """
    if server == "uvicorn":
        return [sys.executable, "manage.py", "serve"]  # HOST and PORT come from the env
    flags = {
        # An endpoint string, as the stock peer's runner: daphne's -b/-p cannot set the
        # backlog. -v 0 only turns off its access log (Django's LOGGING still rules the
        # app's); no --proxy-headers: nothing on loopback forwards.
        "daphne": "-v 0 -e "
        f"tcp:port={port}:interface=127.0.0.1:backlog={LISTEN_BACKLOG}",
        "hypercorn": f"--bind 127.0.0.1:{port} --worker-class uvloop --workers 1"
        f" --backlog {LISTEN_BACKLOG}",
        # --backpressure (requests in flight, default backlog / workers) is left alone:
        # an upgraded socket does not hold it (160 sockets stayed open under 128).
        "granian": f"--interface asgi --host 127.0.0.1 --port {port} --workers 1"
        f" --runtime-threads 1 --loop uvloop --ws --backlog {LISTEN_BACKLOG}",
    }
    if server in flags:
        return [sys.executable, "-m", server, *flags[server].split(), PROJECT_ASGI_APP]
    raise ValueError(f"unknown ASGI server {server!r}; one of {PROJECT_SERVERS}")


def start_project(
    env: dict[str, str],
    port: int | None = None,
    *,
    cpu: int | None = None,
    log_path: Path | None = None,
    server: str = "uvicorn",
) -> Server:
    """The project under `server` with env (see project_env), ready when /healthz is 200.

    "uvicorn" is `manage.py serve`; "daphne", "hypercorn" and "granian" serve the same
    app in the same env (project_server_cmd).
    """
    port = port or free_port()
    cmd = project_server_cmd(server, port)
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    name = "project" if server == "uvicorn" else f"project-{server}"
    started = _start(name, cmd, port, env=env, cpu=cpu, log_path=log_path)
    wait_ready(started, timeout=120, http_path="/healthz")
    return started


class Restarter:
    """Starts a server again on its port once its process exits (the storm's restart).

    What a user's `make run` restart does, done by the bench: the load generator only
    signals the process; this thread sees it exit and calls `start(port)`, which must
    start it exactly as the first time (same function, env and database). `stop()`
    (always, in a finally) keeps it from restarting a server the bench stops itself,
    and stops the one it started.
    """

    def __init__(self, server: Server, start: Callable[[int], Server]) -> None:
        self.server = server
        self.restarted: Server | None = None
        self.error: BaseException | None = None
        self._start = start
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.server.proc.wait()
        if self._stopping.is_set():
            return
        try:
            self.restarted = self._start(self.server.port)
        except BaseException as exc:  # noqa: BLE001 (reported by stop())
            self.error = exc

    def stop(self) -> None:
        """Stop the first server if it still runs, then the restarted one."""
        self._stopping.set()
        self.server.stop()
        self._thread.join(180)  # a restart under way finishes (wait_ready bounds it)
        if self.restarted is not None:
            self.restarted.stop()
