"""The ASGI application: HTTP through Django, sockets through the gate, and the lifecycle."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
django_asgi_app = get_asgi_application()  # set up Django before importing consumers

from channels.routing import ProtocolTypeRouter  # noqa: E402

from chat.presence_batcher import batcher  # noqa: E402
from chat.repair import repair  # noqa: E402
from chat.typing import coalescer as typing_coalescer  # noqa: E402
from integrations.delivery import deliverer  # noqa: E402
from realtime.fanout.hub import hub  # noqa: E402
from realtime.fanout.outbox import OutboxPoller  # noqa: E402
from realtime.registry.leases import ProcessLease  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
from realtime.server.lifecycle import Lifecycle, LifespanApp  # noqa: E402
from realtime.socket.gate import socket_gate  # noqa: E402
from realtime.socket.routes import SocketRouter  # noqa: E402

#: Every background part of the serving process, started in this order, stopped in
#: reverse: the process's registry row first up and last down; the webhook deliverer
#: (off the socket path, on its own database thread) last up, first down; the typing
#: coalescer and the seq repair after the hub, whose taps and guards they set.
lifecycle = Lifecycle(
    [
        ProcessLease(),
        hub,
        repair,
        OutboxPoller(hub),
        batcher,
        typing_coalescer,
        deliverer,
    ]
)

application = LifespanApp(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": socket_gate(SocketRouter(websocket_urlpatterns)),
        }
    ),
    lifecycle,
)
