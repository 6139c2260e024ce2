"""An app, installed only by `e2e_settings`, that adds the test routes to the real server."""

from django.apps import AppConfig


class TestRoutesConfig(AppConfig):
    name = "realtime.socket.tests"
    label = "realtime_ws_tests"

    def ready(self) -> None:
        # Runs in django.setup(), before realtime.asgi builds its URLRouter from this list.
        from realtime import routing
        from realtime.socket.tests.consumers import websocket_urlpatterns

        routing.websocket_urlpatterns.extend(websocket_urlpatterns)
