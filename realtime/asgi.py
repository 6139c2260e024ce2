"""The ASGI application: HTTP through Django, sockets through the gate, plus lifespan."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
django_asgi_app = get_asgi_application()  # set up Django before importing consumers

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.routing import websocket_urlpatterns  # noqa: E402
from realtime.ws import registry  # noqa: E402
from realtime.ws.hub import hub  # noqa: E402
from realtime.ws.lifespan import LifespanApp  # noqa: E402
from realtime.ws.middleware import socket_gate  # noqa: E402

registry.install(hub)

application = LifespanApp(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": socket_gate(URLRouter(websocket_urlpatterns)),
        }
    )
)
