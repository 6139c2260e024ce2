"""The sign-in throttle, as the first authentication backend of every sign-in path."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from accounts.throttling import login_check


class LoginThrottleBackend:
    """Refuses a sign-in past LOGIN_THROTTLE before any password is hashed; else passes.

    Django's authenticate() asks each backend in turn, so /login/, /admin/login/ and
    /api/auth/token/ all meet this one first and ModelBackend (next) only runs the hasher
    (about 0.3 s of CPU a try) for attempts under the limit. Failures are counted by the
    user_login_failed receiver in accounts.signals. Deliberately not a BaseBackend: with
    no get_user() or permission methods, sessions and permissions stay ModelBackend's.
    """

    def authenticate(
        self, request: Any, username: str | None = None, **credentials: Any
    ) -> None:
        """Raise LoginThrottled when over the limit; None lets the next backend decide."""
        login_check(request, username)
        return None

    async def aauthenticate(
        self, request: Any, username: str | None = None, **credentials: Any
    ) -> None:
        """See authenticate()."""
        return await sync_to_async(self.authenticate)(request, username, **credentials)
