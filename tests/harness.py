"""Test support: real server processes, a small REST client, and the services tests need.

End-to-end tests start `manage.py serve` (the same server `make run` starts) in a
subprocess, on a free port, with its own database, and talk to it over real sockets.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-key-not-for-production-6f1b2c3d4e5f60718293a4b5c6d7e8f9"
FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with (
        contextlib.suppress(OSError),
        socket.create_connection((host, port), timeout=timeout),
    ):
        return True
    return False


def base_env(**overrides: Any) -> dict[str, str]:
    """The environment a test server runs with: production mode, JSON logs, limits relaxed."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WS_", "DJANGO_", "JWT_", "API_", "LOGIN_"))
        and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        {
            "DJANGO_SECRET_KEY": TEST_SECRET,
            "DJANGO_DEBUG": "0",
            # Test servers speak plain http on loopback: no HTTPS redirect or Secure cookies.
            "DJANGO_SECURE": "0",
            "DJANGO_SETTINGS_MODULE": "realtime.settings",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PASSWORD_HASHERS": FAST_HASHER,
            "API_AUTH_THROTTLE": "",
            "LOGIN_THROTTLE": "",
            "API_WRITE_THROTTLE": "",
            "WS_HANDSHAKE_RATE": "0",
            # Every frame sent is checked against its schema: see check_frames().
            "WS_CHECK_FRAMES": "1",
            "PYTHONUNBUFFERED": "1",
            # Topics like user.1 exist in every run: keep runs apart on a shared Redis.
            "CHANNEL_LAYER_PREFIX": f"rt-test-{os.getpid()}",
        }
    )
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def manage(
    env: dict[str, str], *args: str, timeout: float = 120, check: bool = True
) -> str:
    """Run a manage.py command with `env`; its combined output."""
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout + result.stderr


class Api:
    """A tiny JSON client for the REST API of a test server."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one request."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.request("DELETE", path, body, **kw)

    def register(self, username: str, password: str = PASSWORD) -> int:
        """Create a user; their id."""
        status, body = self.post(
            "/api/auth/register/", {"username": username, "password": password}
        )
        assert status == 201, (status, body)
        return body["id"]

    def tokens(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        """`{access, refresh}` for a user."""
        status, body = self.post(
            "/api/auth/token/", {"username": username, "password": password}
        )
        assert status == 200, (status, body)
        return body

    def user(self, username: str) -> User:
        """Register `username` and sign in: id and tokens."""
        user_id = self.register(username)
        tokens = self.tokens(username)
        return User(user_id, username, tokens["access"], tokens["refresh"])


@dataclass
class User:
    """A test user with its tokens."""

    id: int
    username: str
    access: str
    refresh: str

    def frame(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username}


#: what a server logs when a frame it would send breaks its schema (WS_CHECK_FRAMES)
FRAME_BROKEN = "frame breaks its schema"


@dataclass
class Server:
    """One `manage.py serve` process on a free port, with its log captured to a file."""

    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    #: bytes of the log broken_frames() has read, and what it found before a restart
    _scanned: int = field(default=0, repr=False)
    _unseen: list[str] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def api(self) -> Api:
        return Api(self.url)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> Server:
        """Start and wait until /healthz answers."""
        self._unseen.extend(self.broken_frames())  # a restart: the old log's last lines
        self._scanned = 0
        if not any(server is self for server in _started):
            _started.append(self)
        self.log_path = (
            self.workdir / f"server-{self.port}-{int(time.time() * 1000)}.log"
        )
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(BASE_DIR / "manage.py"),
                "serve",
                "--port",
                str(self.port),
            ],
            env=self.env,
            cwd=BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(
            f"server did not answer /healthz in {timeout}s:\n{self.log_text()}"
        )

    def log_text(self) -> str:
        """Everything the server wrote so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def log_lines(self) -> list[dict[str, Any]]:
        """The server's JSON log lines, decoded (other lines skipped)."""
        lines = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines

    def broken_frames(self) -> list[str]:
        """The log lines about frames that broke their schema, written since the last call."""
        found, self._unseen = self._unseen, []
        if self.log_path is None or not self.log_path.exists():
            return found
        with self.log_path.open("rb") as log:
            log.seek(self._scanned)
            data = log.read()
        whole = data.rfind(b"\n") + 1  # a line still being written waits for next time
        self._scanned += whole
        text = data[:whole].decode(errors="replace")
        return found + [line for line in text.splitlines() if FRAME_BROKEN in line]

    def manage(self, *args: str, **kw: Any) -> str:
        """A manage.py command against this server's database and channel layer."""
        return manage(self.env, *args, **kw)

    def terminate(self) -> None:
        """SIGTERM: the graceful drain."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: a crash that closes nothing."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Terminate, then kill if it lingers."""
        if self.proc and self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


#: every Server started in this test process, until broken_frames_anywhere() saw it exit
_started: list[Server] = []


def run_probe(
    probe: Path | str, env: dict[str, str], *args: str, timeout: float = 180
) -> dict[str, Any]:
    """Run a probe script (a test module's `__main__`: its scenario against the database
    of `env`) and return the JSON object it prints last; its stderr on failure."""
    out = subprocess.run(
        [sys.executable, str(probe), *args],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def broken_frames_anywhere() -> list[str]:
    """What every server started here logged about broken frames since the last call.

    The root conftest calls it around every test: a frame that breaks its schema in any
    real server fails the test that was running (a test expecting one reads it first).
    """
    found: list[str] = []
    for server in list(_started):
        exited = server.proc is None or server.proc.poll() is not None
        found.extend(server.broken_frames())
        if exited:
            _started[:] = [other for other in _started if other is not server]
    return found


def sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'db.sqlite3'}"


#: a SQLite database migrated once in this test process, copied for each server
_sqlite_template: Path | None = None


def migrate(env: dict[str, str]) -> None:
    """Migrate the database of `env` (DATABASE_URL).

    A SQLite file is a copy of one migrated once per test process: `manage.py migrate`
    costs about two seconds of a core, and the suite starts dozens of servers.
    """
    global _sqlite_template
    url = env["DATABASE_URL"]
    if url.startswith(("postgres://", "postgresql://")):
        where = urllib.parse.urlsplit(url)
        for server in _postgres:
            if (server.host, server.port) == (where.hostname, where.port):
                server.migrate_database(where.path.lstrip("/"))
                return
    if not url.startswith("sqlite:///"):
        manage(env, "migrate", "--noinput", "-v0")
        return
    target = Path(url.removeprefix("sqlite:///"))
    if _sqlite_template is None:
        template = Path(tempfile.mkdtemp(prefix="rt-migrated-")) / "db.sqlite3"
        manage(
            {**env, "DATABASE_URL": f"sqlite:///{template}"},
            "migrate",
            "--noinput",
            "-v0",
        )
        _sqlite_template = template
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, target)


# --- PostgreSQL and Redis: the machine's, or throwaway ones ----------------------------------


#: the PostgreSQL servers of this process (migrate() finds a database's server here)
_postgres: list[Postgres] = []


class ServiceUnavailable(RuntimeError):
    """A service the tests need is neither running nor startable here."""


@dataclass
class Postgres:
    """A PostgreSQL server tests may create databases in."""

    host: str
    port: int
    user: str
    _proc_dir: Path | None = None
    _template: str | None = None

    def __post_init__(self) -> None:
        _postgres.append(self)

    def url(self, dbname: str) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{dbname}"

    def _psql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def migrate_database(self, name: str) -> None:
        """Make `name` a migrated database: a copy of a template migrated once per process."""
        if self._template is None:
            template = f"rt_migrated_{os.getpid()}"
            manage(
                base_env(DATABASE_URL=self.create_database(template)),
                "migrate",
                "--noinput",
                "-v0",
            )
            self._template = template
        self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._psql(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')

    def stop(self) -> None:
        if self._template is not None:
            self.drop_database(self._template)
            self._template = None
        if self._proc_dir is not None:
            pg_ctl = shutil.which("pg_ctl") or _pg_bin("pg_ctl")
            subprocess.run(
                [pg_ctl, "-D", str(self._proc_dir / "data"), "-m", "immediate", "stop"],
                capture_output=True,
            )
            shutil.rmtree(self._proc_dir, ignore_errors=True)


def _pg_bin(name: str) -> str | None:
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return shutil.which(name)


def find_or_start_postgres() -> Postgres:
    """The machine's PostgreSQL on 127.0.0.1:5432, or a throwaway initdb cluster."""
    host = os.environ.get("TEST_PGHOST", "127.0.0.1")
    port = int(os.environ.get("TEST_PGPORT", "5432"))
    user = os.environ.get("TEST_PGUSER", "postgres")
    if port_open(host, port):
        return Postgres(host, port, user)
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise ServiceUnavailable(
            "PostgreSQL is not reachable on 127.0.0.1:5432 and its binaries are missing: "
            "install it (Debian: apt-get install postgresql) or start a server."
        )
    workdir = Path(tempfile.mkdtemp(prefix="rt-pg-"))
    port = free_port()
    runas: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run it as the postgres user
        os.chown(workdir, *_uid_gid("postgres"))
        runas = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*runas, initdb, "-D", str(workdir / "data"), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *runas,
            pg_ctl,
            "-D",
            str(workdir / "data"),
            "-l",
            str(workdir / "log"),
            "-w",
            "-o",
            f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    return Postgres("127.0.0.1", port, "postgres", workdir)


def _uid_gid(name: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


@dataclass
class Redis:
    """A Redis server; `proc` is set when the tests started it (and may stop it)."""

    port: int
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop a Redis the tests started (never the machine's)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def start(self) -> Redis:
        """(Re)start a Redis the tests own, on the same port."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable(
                "redis-server is not installed: install it (Debian: apt-get install redis-server)."
            )
        self.workdir = self.workdir or Path(tempfile.mkdtemp(prefix="rt-redis-"))
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise ServiceUnavailable("redis-server did not start")
            time.sleep(0.05)
        return self


def find_or_start_redis() -> Redis:
    """The machine's Redis on 127.0.0.1:6379, or a throwaway redis-server."""
    port = int(os.environ.get("TEST_REDIS_PORT", "6379"))
    if port_open("127.0.0.1", port):
        return Redis(port)
    return own_redis()


def own_redis() -> Redis:
    """A redis-server of the test's own, on a free port (chaos tests stop and start it)."""
    return Redis(free_port()).start()
