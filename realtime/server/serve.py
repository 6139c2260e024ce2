"""`manage.py serve`: uvicorn with this project's protocols, a graceful drain, a tuned GC.

- SIGTERM drains (realtime.server.lifecycle.drain: /readyz 503, new handshakes refused,
  every socket closed with 1012) before uvicorn shuts down, and the process exits 0,
  within a hard bound; a second signal forces the exit.
- The application is settings.ASGI_APPLICATION (the assembly's), never named here.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
from typing import Any

import uvicorn
from django.conf import settings
from uvicorn.supervisors import multiprocess

from realtime.server.protocols import GuardedHttpProtocol

log = logging.getLogger("realtime.server")


#: The cyclic collector's young-generation threshold (Python's default: 700 objects).
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Keep the cyclic garbage collector's full passes rare and short on a socket server.

    With Python's defaults, a process filling up with 10,000 sockets ran about twenty full
    collections, each walking every object of every socket (about 1 s each at the end):
    a tenth of the CPU, and handshakes/s fell as sockets accumulated. `gc.freeze()` takes
    the objects loaded at start (Django, the app: about 270,000) out of every later pass,
    and a young generation of 20,000 objects lets a handshake's temporaries die before a
    collection promotes them, so far fewer reach the old generation to trigger full
    passes. Cycles are still collected; the thresholds only space the passes out.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


#: seconds past DRAIN_TIMEOUT after which a draining process exits whatever is pending
DRAIN_HARD_MARGIN = 15.0


class DrainingServer(uvicorn.Server):
    """uvicorn.Server whose first SIGTERM/SIGINT drains sockets, then exits 0.

    uvicorn re-raises a caught signal after its own shutdown (the exit status would say
    "killed by SIGTERM"); a drained exit is a clean one, so the signal is not recorded.
    A second signal forces the exit; a watchdog ends a drain that overruns its bound.
    """

    _draining: asyncio.Task[None] | None = None

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        tune_gc()

    def handle_exit(self, sig: int, frame: Any) -> None:
        if sig not in (signal.SIGTERM, signal.SIGINT):
            return super().handle_exit(sig, frame)
        if self._draining is not None or self.should_exit:
            self.should_exit = True
            self.force_exit = True
            return

        bound = float(settings.DRAIN_TIMEOUT) + DRAIN_HARD_MARGIN
        watchdog = threading.Timer(bound, self._overrun, args=(bound,))
        watchdog.daemon = True
        watchdog.start()
        loop = asyncio.get_event_loop()

        def start() -> None:
            self._draining = loop.create_task(self._drain_then_exit())

        loop.call_soon_threadsafe(start)

    async def _drain_then_exit(self) -> None:
        from realtime.server.lifecycle import drain

        try:
            await drain()
        except Exception:
            log.exception("drain failed; shutting down anyway")
        finally:
            self.should_exit = True

    @staticmethod
    def _overrun(bound: float) -> None:
        log.error("drain overran its bound of %.0fs: exiting now", bound)
        logging.shutdown()
        os._exit(70)


class DrainingWorker(multiprocess.Process):
    """A `--workers` child: the same draining server as a single process."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


def _app_path(dotted: str) -> str:
    """`pkg.module.attr` (Django's ASGI_APPLICATION) as uvicorn names it: `pkg.module:attr`."""
    module, _, attr = dotted.rpartition(".")
    return f"{module}:{attr}"


def build_config(*, host: str, port: int, workers: int) -> uvicorn.Config:
    """The one uvicorn configuration `manage.py serve` and `make cluster` run."""

    return uvicorn.Config(
        _app_path(settings.ASGI_APPLICATION),
        host=host,
        port=port,
        loop="uvloop",
        http=GuardedHttpProtocol,
        ws="realtime.server.protocols:GuardedWebSocketProtocol",
        ws_max_size=settings.WS_MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        ws_ping_interval=None,  # the protocol's own heartbeat and 4408 do this job
        lifespan="on",
        log_config=None,  # Django's LOGGING (redaction, JSON) is the only config
        access_log=False,  # RequestContextMiddleware writes a redacted access line
        # X-Forwarded-For/-Proto only from TRUSTED_PROXIES (none by default): the scope's
        # client and scheme are then right for every per-IP limit, throttle and log.
        proxy_headers=bool(settings.TRUSTED_PROXIES),
        forwarded_allow_ips=",".join(settings.TRUSTED_PROXIES) or None,
        timeout_keep_alive=5,
        # the drain already closed every socket; this bounds what is left (HTTP requests)
        timeout_graceful_shutdown=5,
        workers=workers if workers > 1 else None,
    )


def serve(*, host: str, port: int, workers: int = 1) -> None:
    """Run the server in the foreground: one process, or `workers` behind one port."""
    config = build_config(host=host, port=port, workers=workers)
    if workers > 1:
        # The supervisor makes every worker (at start, after a crash, on SIGTTIN) from
        # this module-level name; this process is only the supervisor, so swap it here.
        # Each worker is a spawned interpreter: it imports Django afresh and so computes
        # its own conf.PROCESS_ID, hub, lease and registry rows.
        multiprocess.Process = DrainingWorker  # type: ignore[misc]
        sock = config.bind_socket()
        multiprocess.Multiprocess(config, sockets=[sock]).run()
    else:
        DrainingServer(config).run()
