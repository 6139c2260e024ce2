"""The project's ASGI app as the other ASGI servers load it in the bench.

`realtime.asgi:application`, unchanged, plus the one process tuning `manage.py serve`
applies at startup: `realtime.server.protocols.tune_gc` (GC young generation of 20,000, the
startup objects frozen). It is not part of uvicorn: on a socket server, Python's default
thresholds cost about a tenth of the CPU and handshakes/s fall as sockets accumulate. A
server compared without it would be measured on the collector, not on its socket path.

It runs at import, which the servers do in the serving process (granian and hypercorn:
in their worker) before the first connection; daphne sends no lifespan events, so a
startup hook would not do.
"""

from realtime.asgi import application
from realtime.server.serve import tune_gc

tune_gc()

__all__ = ["application"]
