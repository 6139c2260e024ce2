"""Writes of the chat app: the only code that changes rooms, whitelists, messages, presence.

One module per concern: `rooms` (rooms and the whitelist), `messages` (the group commit,
system broadcasts), `changes` (edits, deletes as tombstones, reactions), `presence` (the
diff of who is online), `conversations` (direct rooms, joining public rooms), `reads`
(read pointers), `activity` (mentions and activity frames of new messages, called by
the group commit). Code outside this
package imports the names below from `chat.services`, not from the modules.

Every event leaves through realtime.fanout.broadcast, after the commit of the transaction
that made it true; its topic (who receives it) comes from chat.topics.
"""

from chat.services.changes import (
    message_delete,
    message_edit,
    reaction_toggle,
)
from chat.services.conversations import (
    direct_room_get_or_create,
    room_join,
    room_leave,
)
from chat.services.messages import (
    Outcome,
    Send,
    message_create,
    messages_create,
    system_broadcast,
)
from chat.services.presence import presence_flush
from chat.services.reads import read_pointer_move
from chat.services.rooms import (
    UNCHANGED,
    membership_grant,
    membership_revoke,
    room_create,
    room_delete,
    room_update,
)

__all__ = [
    "direct_room_get_or_create",
    "read_pointer_move",
    "room_join",
    "room_leave",
    "UNCHANGED",
    "Outcome",
    "Send",
    "membership_grant",
    "membership_revoke",
    "message_create",
    "message_delete",
    "message_edit",
    "reaction_toggle",
    "messages_create",
    "presence_flush",
    "room_create",
    "room_delete",
    "room_update",
    "system_broadcast",
]
