"""Settings for pytest: the real settings, with test defaults put into the environment first."""

import os
import tempfile
from pathlib import Path

from tests.harness import FAST_HASHER, TEST_SECRET

os.environ.setdefault("DJANGO_SECRET_KEY", TEST_SECRET)
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECURE", "0")  # the test client speaks plain http
os.environ.setdefault("LOG_FORMAT", "text")
os.environ.setdefault("API_AUTH_THROTTLE", "")
# Counters live in the process's cache across tests (and user ids repeat after each
# rollback): a test of a throttle sets its own rate and starts from an empty cache.
os.environ.setdefault("LOGIN_THROTTLE", "")
os.environ.setdefault("API_WRITE_THROTTLE", "")
os.environ.setdefault("WS_HANDSHAKE_RATE", "0")
os.environ.setdefault("PASSWORD_HASHERS", FAST_HASHER)
# Every frame a socket sends in a test is checked against its schema.
os.environ.setdefault("WS_CHECK_FRAMES", "1")

from realtime.settings import *  # noqa: E402,F403
from realtime.settings import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: tests of concurrent writers need several real connections.
    DATABASES["default"]["TEST"] = {
        "NAME": str(
            Path(tempfile.gettempdir()) / f"realtime-test-{os.getpid()}.sqlite3"
        )
    }
