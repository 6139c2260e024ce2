"""Signals chat's services send inside the transaction of the change (integrations listen).

Sent before the commit, so a receiver's writes (a webhook outbox row) commit or roll back
with the change itself. Receivers must be cheap: the messages one is on the send path.
"""

from django.dispatch import Signal

#: Messages just stored (not resends). Argument: `messages`, a list of chat.models.Message
#: whose `room` and `user` are loaded.
messages_stored = Signal()

#: A stored message changed (edited, deleted, a reaction put or taken back). Argument:
#: `frame`, the message's current state as the `message_updated` frame carries it.
message_changed = Signal()

#: A user put on or taken off a room's whitelist. Arguments: `room`, `user`, `added`.
membership_changed = Signal()

#: Rooms whose first user came online (`occupied`) or whose last one left (`vacated`),
#: as the presence diff announces them. Arguments: `occupied`, `vacated`, lists of slugs.
rooms_occupancy_changed = Signal()
