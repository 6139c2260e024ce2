"""Typed access to the socket settings, read when asked (never at import time)."""

from __future__ import annotations

import os
import socket
import uuid

from django.conf import settings

#: This process, in presence rows and cross-process events. Fixed for the process's life.
PROCESS_ID = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def setting(name: str):
    """One socket setting by name (see realtime/settings.py and the README)."""
    return getattr(settings, name)


def is_cluster() -> bool:
    """True when a shared channel layer (Redis) links this process to others."""
    return bool(getattr(settings, "REDIS_URL", ""))
