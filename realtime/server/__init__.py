"""The serving process: `manage.py serve` on uvicorn, and its life.

Owns: the uvicorn protocols with the transport guards they lack (request-head deadline
and size, a close that never waits on a peer that does not read, the outbound byte
bound of pongs), the server with its SIGTERM drain, the lifecycle that starts and stops
every background task in order, and garbage-collector tuning.
Imports: realtime.socket, realtime.fanout, realtime.registry, realtime.web.
"""
