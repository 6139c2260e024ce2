"""One socket, from the handshake to the close.

Owns: the gate in front of every socket route (capacity, handshake rate, Origin,
credentials), the sans-I/O session (dispatch table, limits, token bucket, deadlines,
outbound backlog), the thin ASGI consumer around it with the hooks app consumers use,
close codes, the error tree, frame parsing and encoding, and the echo route.
Imports: realtime.fanout, realtime.registry, realtime.web (metrics, logs); never an app.
"""
