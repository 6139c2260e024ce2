"""One search scenario for both databases: seeds rooms and messages, runs the searches.

Imported by the SQLite tests (in the test database) and run as a subprocess against
PostgreSQL (DATABASE_URL of a fresh, migrated database), where it prints its result as
one JSON line:

    DATABASE_URL=postgres://... python chat/tests/search_probe.py

`check()` asserts what the result must be: the same assertions for both.
"""

from __future__ import annotations

import json
import os
import random
import sys
import uuid
from pathlib import Path
from typing import Any

#: `q` strings that must give a 400 or results, never an error
HOSTILE = [
    '"',
    '""',
    "*",
    "caf*",
    "-cafe",
    "cafe -flore",
    "NEAR(cafe flore)",
    "cafe NEAR flore",
    "(cafe) OR (flore)",
    "cafe AND",
    "NOT",
    "body:cafe",
    "^cafe",
    "cafe'; DROP TABLE chat_message; --",
    "' OR 1=1 --",
    "\\",
    "café ☕",
    "☕🍰",
    "'':*",
    "a & b | !c <-> d",
    "%_%",
    "{cafe}",
    "cafe\tflore\n",
    "ﬁne ＣＡＦÉ",  # compatibility forms: NFKC gives "fine CAFÉ"
    "ＣＡＦＥ",
    "x" * 200,
    "ŉ",  # a letter PostgreSQL's unaccent turns into "'n"
    "ʼcafe",  # a modifier letter it turns into a quote
    # Every letter unaccent turns into punctuation, alone, doubled, and between words.
    *"ʹ ʺ ʻ ʼ ʽ ˆ ˈ ˋ ː ʺʺ ːː cafeʺ ʺcafe caf ʹ ˆ flore".split(" "),
    "caf ʹ ˆ flore",
]
#: characters the fuzzed queries are made of: operators of both query languages,
#: quotes, letters unaccent rewrites, combining marks, emoji, NUL
FUZZ_ALPHABET = (
    "aeiouxyz09 ÉéßİıŉʼʹʺǅﬁＡ\u0301\u200b\x00☕🍰\"'*^:-+()&|!<>{}[],.;/\\%_~`@#$=?\t\n"
)


def run() -> dict[str, Any]:
    """Seed, search, and report every answer as bodies (or "400")."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from chat import search, services
    from chat.models import Membership, Message, Room

    tag = uuid.uuid4().hex[:8]
    users = get_user_model().objects
    alice = users.create_user(username=f"alice-{tag}")
    bob = users.create_user(username=f"bob-{tag}")
    carol = users.create_user(username=f"carol-{tag}")
    lobby = services.room_create(slug=f"lobby-{tag}", name="Lobby", owner=alice)
    secret = services.room_create(
        slug=f"secret-{tag}", name="Secret", is_private=True, owner=alice
    )
    carols = services.room_create(
        slug=f"carols-{tag}", name="Carol's", is_private=True, owner=carol
    )
    dm_ab, _ = services.direct_room_get_or_create(user=alice, other=bob)
    dm_bc, _ = services.direct_room_get_or_create(user=bob, other=carol)
    seqs: dict[int, int] = {}

    def post(room: Room, user: Any, body: str) -> Message:
        seqs[room.pk] = seqs.get(room.pk, 0) + 1
        return Message.objects.create(
            room=room, user=user, seq=seqs[room.pk], body=body
        )

    post(lobby, alice, "Rendez-vous au Café de Flore")
    post(lobby, bob, "the CAFETERIA is closed")
    post(lobby, bob, "Ça va? Très bien")
    post(lobby, bob, "lyon")
    post(lobby, bob, "I took the train from lyon with a lot of other words around it")
    post(lobby, alice, "tied words")
    post(lobby, bob, "words tied")
    tomb = post(lobby, bob, "tombstone zanzibar")
    kept = post(lobby, bob, "deleted but kept zanzibar")
    gone = post(lobby, bob, "removed row zanzibar")
    edited = post(lobby, alice, "oldword here")
    post(secret, alice, "whisper in secret")
    post(carols, carol, "whisper by carol")
    post(dm_ab, bob, "whisper direct ab")
    post(dm_bc, carol, "whisper direct bc")
    for i in range(5):
        post(lobby, bob, f"page {i}")
    # Tombstones as the services make them, and one whose body stays (the flag rules).
    Message.objects.filter(pk=tomb.pk).update(deleted=True, body="")
    Message.objects.filter(pk=kept.pk).update(deleted=True)
    Message.objects.filter(pk=gone.pk).delete()
    Message.objects.filter(pk=edited.pk).update(
        body="newword here", edited=timezone.now()
    )
    # Undeleting is no feature, but the index must follow the flag both ways.
    revived = post(lobby, bob, "phoenix")
    Message.objects.filter(pk=revived.pk).update(deleted=True, body="")
    Message.objects.filter(pk=revived.pk).update(deleted=False, body="phoenix again")
    members = set(Membership.objects.filter(room=dm_bc).values_list("user", flat=True))
    assert alice.pk not in members

    def ask(q: str, *, user: Any = alice, room: Room | None = None, **kw: Any) -> Any:
        try:
            terms = search.search_terms(q)
        except search.SearchQueryError:
            return "400"
        frames, more = search.messages_search(
            user=user, terms=terms, room_id=room.pk if room else None, **kw
        )
        for frame in frames:
            assert frame["type"] == "message" and isinstance(frame["room"], str)
        bodies = [f["body"] for f in frames]
        return [bodies, more] if kw else bodies

    slugs = {
        lobby.slug: "lobby",
        secret.slug: "secret",
        carols.slug: "carols",
        dm_ab.slug: "dm_ab",
        dm_bc.slug: "dm_bc",
    }
    terms = search.search_terms("whisper")
    rooms_of = [
        slugs[f["room"]] for f in search.messages_search(user=alice, terms=terms)[0]
    ]
    rng = random.Random(16)
    fuzz_errors = []
    for _ in range(300):
        q = "".join(rng.choices(FUZZ_ALPHABET, k=rng.randint(1, 24)))
        try:
            ask(q)
        except Exception as exc:  # the probe reports every failure, then fails
            fuzz_errors.append(f"{q!r}: {exc!r}")
    capped = search.SEARCH_RESULTS_MAX
    search.SEARCH_RESULTS_MAX = 3
    try:
        newest_three = ask("page", limit=5)
        search.SEARCH_RESULTS_MAX = 1
        newest_one = ask("lyon", limit=5)
    finally:
        search.SEARCH_RESULTS_MAX = capped
    # PostgreSQL walks the newest RECENT_ROWS first, then the older ones by the index:
    # with a window of a few rows, every answer comes through both reads, unchanged.
    narrow_queries = ("caf", "lyon", "tied words", "whisper", "page", "newword")
    wide = {q: ask(q) for q in narrow_queries}
    window = getattr(search, "RECENT_ROWS", None)
    if window is not None:
        search.RECENT_ROWS = 3
    try:
        narrow = {q: ask(q) for q in narrow_queries}
    finally:
        if window is not None:
            search.RECENT_ROWS = window
    return {
        "narrow_window_same": narrow == wide,
        "vendor": connection.vendor,
        "fuzz_errors": fuzz_errors,
        "newest_three": newest_three,
        "newest_one_of_lyon": newest_one,
        "caf": ask("caf"),
        "cafe": ask("cafe"),
        "CAFÉ": ask("CAFÉ"),
        "ca": ask("ca va"),
        "tres": ask("TRES"),
        "rendez": ask("rendez"),
        "infix": ask("lore"),
        # One letter: a whole word only ("a" in "a lot"), never a prefix ("around").
        "one_letter": ask("a"),
        "one_letter_prefix": ask("w"),
        "and": ask("café flore"),
        "lyon": ask("lyon"),
        "tied": ask("tied words"),
        "zanzibar": ask("zanzibar"),
        "oldword": ask("oldword"),
        "newword": ask("newword"),
        "phoenix": ask("phoenix"),
        "whisper_rooms": sorted(rooms_of),
        "whisper_bob": sorted(ask("whisper", user=bob)),
        "whisper_in_lobby": ask("whisper", room=lobby),
        "whisper_in_secret": ask("whisper", room=secret),
        # A room id the user may not read gives nothing, even if asked directly.
        "whisper_in_carols": ask("whisper", room=carols),
        "page_1": ask("page", limit=2),
        "page_2": ask("page", limit=2, offset=2),
        "page_3": ask("page", limit=2, offset=4),
        "hostile": {q: ask(q) for q in HOSTILE},
    }


def check(result: dict[str, Any]) -> None:
    """What run() must have found, on either database."""
    assert result["narrow_window_same"] is True
    cafes = {"Rendez-vous au Café de Flore", "the CAFETERIA is closed"}
    assert set(result["caf"]) == cafes
    assert set(result["cafe"]) == cafes
    assert set(result["CAFÉ"]) == cafes
    assert result["ca"] == ["Ça va? Très bien"]
    assert result["tres"] == ["Ça va? Très bien"]
    assert result["rendez"] == ["Rendez-vous au Café de Flore"]
    assert result["infix"] == []  # prefix of a word, never the middle
    assert result["one_letter"] == [
        "I took the train from lyon with a lot of other words around it"
    ]
    assert result["one_letter_prefix"] == []  # "whisper", "words": not by one letter
    assert result["and"] == ["Rendez-vous au Café de Flore"]
    # The short message that is all "lyon" ranks above the long one that mentions it.
    assert result["lyon"] == [
        "lyon",
        "I took the train from lyon with a lot of other words around it",
    ]
    assert result["tied"] == ["words tied", "tied words"]  # equal rank: newest first
    assert result["zanzibar"] == []
    assert result["oldword"] == []
    assert result["newword"] == ["newword here"]
    assert result["phoenix"] == ["phoenix again"]
    assert result["whisper_rooms"] == ["dm_ab", "secret"]
    assert result["whisper_bob"] == ["whisper direct ab", "whisper direct bc"]
    assert result["whisper_in_lobby"] == []
    assert result["whisper_in_secret"] == ["whisper in secret"]
    assert result["whisper_in_carols"] == []
    assert result["page_1"] == [["page 4", "page 3"], True]
    assert result["page_2"] == [["page 2", "page 1"], True]
    assert result["page_3"] == [["page 0"], False]
    # Only the newest SEARCH_RESULTS_MAX matches are ranked and answered.
    assert result["newest_three"] == [["page 4", "page 3", "page 2"], False]
    assert result["newest_one_of_lyon"] == [
        ["I took the train from lyon with a lot of other words around it"],
        False,
    ]
    assert result["fuzz_errors"] == []
    hostile = result["hostile"]
    for q in ('"', '""', "*", "\\", "☕🍰", "%_%", "'':*"):
        assert hostile[q] == "400", q
    assert set(hostile["caf*"]) == {*result["caf"]}
    assert hostile["-cafe"] == result["cafe"]
    assert hostile["cafe -flore"] == ["Rendez-vous au Café de Flore"]
    assert hostile["café ☕"] == result["cafe"]
    assert hostile["ﬁne ＣＡＦÉ"] == []
    assert hostile["ＣＡＦＥ"] == result["cafe"]
    assert hostile["ʺcafe"] in ([], result["cafe"])  # one word on SQLite, two on PG
    for q, answer in hostile.items():
        assert answer == "400" or isinstance(answer, list), q


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime.settings")
    import django

    django.setup()
    print(json.dumps(run()))
