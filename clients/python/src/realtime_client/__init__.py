"""An asyncio client for the realtime chat and notify sockets.

The same policy as the browser client (static/js/realtime-client.js): reconnect with
exponential backoff and full jitter, the close-code table of the protocol, an
idempotent send queue keyed by `client_id`, resume by `?since=<last seq>`, each message
once and in order, and token refresh (in-band `auth` frames, rotating refresh tokens).
"""

from realtime_client.chat import ChatClient
from realtime_client.connection import Client
from realtime_client.errors import (
    AuthError,
    ClientClosedError,
    FatalCloseError,
    HttpError,
    QueueFullError,
    RealtimeError,
)
from realtime_client.events import LIFECYCLE_EVENTS, Event, Sent, State
from realtime_client.notify import NotifyClient
from realtime_client.outbox import Outbox, new_client_id
from realtime_client.policy import (
    CLOSE_POLICY,
    DEFAULT_CLOSE_POLICY,
    Action,
    ClosePolicy,
    Options,
    backoff_delay,
    close_policy,
    retry_delay,
)
from realtime_client.rest import Auth, jwt_exp
from realtime_client.sequencer import Sequencer

__all__ = [
    "CLOSE_POLICY",
    "DEFAULT_CLOSE_POLICY",
    "LIFECYCLE_EVENTS",
    "Action",
    "Auth",
    "AuthError",
    "ChatClient",
    "Client",
    "ClientClosedError",
    "ClosePolicy",
    "Event",
    "FatalCloseError",
    "HttpError",
    "NotifyClient",
    "Options",
    "Outbox",
    "QueueFullError",
    "RealtimeError",
    "Sent",
    "Sequencer",
    "State",
    "backoff_delay",
    "close_policy",
    "jwt_exp",
    "new_client_id",
    "retry_delay",
]
