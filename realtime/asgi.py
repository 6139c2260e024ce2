"""The ASGI application: HTTP through Django, sockets through the gate, plus lifespan."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
django_asgi_app = get_asgi_application()  # set up Django before importing consumers

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.fanout.hub import hub  # noqa: E402
from realtime.registry import leases  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
from realtime.server.lifecycle import LifespanApp  # noqa: E402
from realtime.socket.gate import socket_gate  # noqa: E402

leases.install(hub)

application = LifespanApp(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": socket_gate(URLRouter(websocket_urlpatterns)),
        }
    )
)
