"""Signals the plumbing sends; apps listen (chat turns closed connections into presence leaves)."""

from django.dispatch import Signal

#: Sent after sockets' registry rows are removed (clean close, sweep of a dead process).
#: Argument: `connections`, a list of services.ClosedConnection.
connections_closed = Signal()
