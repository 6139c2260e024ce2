"""The real settings plus the test routes of `consumers.py`, for end-to-end servers only."""

from realtime.settings import *  # noqa: F403
from realtime.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "realtime.socket.tests.apps.TestRoutesConfig"]
