"""The project's assembly (settings, ASGI app, URLs, socket routes) and, in ``ws/``, the socket plumbing."""
