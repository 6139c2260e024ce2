"""Existing rooms get their kind; existing readers start with everything read.

Private rooms become `private`, the others `public`. Every whitelisted user of a private
room, and every user who posted in a public room (who joins it), gets a read pointer at
the room's last seq: history from before conversations is not "unread", and the
invariant that a user's own messages lie at or below their pointer holds from the start.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    Room = apps.get_model("chat", "Room")
    Membership = apps.get_model("chat", "Membership")
    Message = apps.get_model("chat", "Message")
    Joined = apps.get_model("chat", "Joined")
    ReadPointer = apps.get_model("chat", "ReadPointer")
    Room.objects.filter(is_private=True).update(kind="private")
    Room.objects.filter(is_private=False).update(kind="public")
    last = dict(Room.objects.values_list("pk", "last_seq"))
    public = set(Room.objects.filter(is_private=False).values_list("pk", flat=True))
    readers = set(Membership.objects.values_list("room_id", "user_id"))
    posters = set(Message.objects.values_list("room_id", "user_id").distinct())
    Joined.objects.bulk_create(
        [Joined(room_id=r, user_id=u) for r, u in posters if r in public],
        batch_size=500,
        ignore_conflicts=True,
    )
    ReadPointer.objects.bulk_create(
        [
            ReadPointer(room_id=r, user_id=u, seq=last[r])
            for r, u in readers | posters
        ],
        batch_size=500,
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("chat", "0002_conversations")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
