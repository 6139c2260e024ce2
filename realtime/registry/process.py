"""This serving process: its identity in registry rows and relayed events, and its mode."""

from __future__ import annotations

import os
import socket
import uuid

from django.conf import settings

#: This process, in presence rows and cross-process events. Fixed for the process's life.
PROCESS_ID = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def is_cluster() -> bool:
    """True when a shared channel layer (Redis) links this process to others."""
    return bool(getattr(settings, "REDIS_URL", ""))
