"""Selectors of message search (PROTOCOL.md 10): FTS5 on SQLite, tsvector on PostgreSQL.

The index is built by chat/migrations/0005_search.py and kept by the database itself
(triggers, an expression index), so the message services know nothing of it. The
query expressions here must match those of the migration, or the index is not used.

A user's words never reach a full-text query language as written: `search_terms()`
keeps only runs of letters and digits, and each term becomes a quoted prefix term
(`"caf"*` for FTS5, `'caf':*` for tsquery, quoted by the database's quote_literal()).
Quotes, `*`, `-`, NEAR, parentheses or SQL in `q` are separators, never operators.
Words are ANDed; each matches a whole word or a word's beginning, case- and
accent-insensitively. The rooms are filtered in the same SQL statement (the public
ones and those whose whitelist has the user, direct rooms included), so a search
never loads messages it may not show.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

from chat.models import Membership, Message, Room
from chat.schemas import Frame, message_frame
from chat.selectors import reactions_of
from realtime.registry import sql

SEARCH_LIMIT_DEFAULT = 20
SEARCH_LIMIT_MAX = 50
#: how many matches a search answers at most: the newest ones, ranked. Ranking reads
#: each candidate (bm25 over FTS5's postings; ts_rank over the stored vector), so a word
#: found in 100,000 messages would cost that many; capped, a common word costs what a
#: rare one does (`manage.py bench_search`, docs/protocol.md 8.7).
SEARCH_RESULTS_MAX = 1000
#: how far `offset` pages: past SEARCH_RESULTS_MAX a page is empty
SEARCH_OFFSET_MAX = SEARCH_RESULTS_MAX
QUERY_MAX_CHARS = 200
#: each word is one more prefix scan of the index; a pasted paragraph is a 400
QUERY_MAX_WORDS = 10
#: a shorter word matches whole words only: a one-letter prefix ("a*") would scan most
#: of the index (FTS5 keeps no prefix index for it; on PostgreSQL it is most of the GIN)
PREFIX_MIN_CHARS = 2

# Letters and digits; "_" separates, as it does for both tokenizers (unicode61, and
# PostgreSQL's default parser).
_WORD = re.compile(r"[^\W_]+")


class SearchQueryError(ValueError):
    """`q` cannot be searched (no word in it, or too many); the message says why."""


def search_terms(q: str) -> list[str]:
    """The distinct words of `q`, in order: runs of letters and digits (NFKC).

    SearchQueryError when there is none (`"*"`, `"--"`, an emoji) or more than
    QUERY_MAX_WORDS.
    """
    seen: dict[str, str] = {}
    for word in _WORD.findall(unicodedata.normalize("NFKC", q)):
        # Kept as written (the database folds case and accents, as it did for the
        # bodies); "Cafe cafe" is one word.
        seen.setdefault(word.casefold(), word)
    terms = list(seen.values())
    if not terms:
        raise SearchQueryError("The query has no word to search for (letters, digits).")
    if len(terms) > QUERY_MAX_WORDS:
        raise SearchQueryError(f"At most {QUERY_MAX_WORDS} words to search for.")
    return terms


def messages_search(
    *,
    user: Any,
    terms: list[str],
    room_id: int | None = None,
    limit: int = SEARCH_LIMIT_DEFAULT,
    offset: int = 0,
) -> tuple[list[Frame], bool]:
    """Messages matching every term in the rooms `user` may read (or only `room_id`).

    Of the newest SEARCH_RESULTS_MAX matches, best first (bm25 on SQLite, ts_rank
    normalized by length on PostgreSQL), then newest; deleted messages never match,
    edited ones by their current body. Returns up to `limit` `message` frames (with
    `room`) from `offset`, and whether more follow. `terms` come from search_terms().
    """
    if not terms:
        return [], False
    m, r, w = sql.table(Message), sql.table(Room), sql.table(Membership)
    mid = f"{m}.{sql.column(Message, 'id')}"
    mroom = f"{m}.{sql.column(Message, 'room')}"
    readable = (
        f"SELECT {r}.{sql.column(Room, 'id')} FROM {r}"
        f" WHERE NOT {r}.{sql.column(Room, 'is_private')}"
        f" UNION SELECT {w}.{sql.column(Membership, 'room')} FROM {w}"
        f" WHERE {w}.{sql.column(Membership, 'user')} = %s"
    )
    where = [f"NOT {m}.{sql.column(Message, 'deleted')}", f"{mroom} IN ({readable})"]
    params: list[Any] = [user.pk]
    if room_id is not None:
        where.append(f"{mroom} = %s")
        params.append(room_id)
    # The newest SEARCH_RESULTS_MAX matches (the index gives them in id order on
    # SQLite, a top-N sort of ids on PostgreSQL), then only those are ranked.
    if connection.vendor == "postgresql":
        rows = _postgresql_matches(
            terms, where, params, room_id=room_id, limit=limit, offset=offset
        )
    else:
        statement = (
            f"SELECT c.id FROM (SELECT {mid} AS id,"
            f" bm25(chat_message_fts, 1.0, 0.0) AS score"
            f" FROM chat_message_fts JOIN {m} ON {mid} = chat_message_fts.rowid"
            f" WHERE chat_message_fts MATCH %s AND {' AND '.join(where)}"
            f" ORDER BY chat_message_fts.rowid DESC LIMIT %s) AS c"
            f" ORDER BY c.score, c.id DESC LIMIT %s OFFSET %s"
        )
        params = [fts5_query(terms, room_id=room_id), *params]
        rows = sql.fetchall(statement, [*params, SEARCH_RESULTS_MAX, limit + 1, offset])
    ids = [row[0] for row in rows[:limit]]
    found = Message.objects.select_related("user", "room", "reply_to__user").in_bulk(
        ids
    )
    # Deleted since the ranking query: deleted messages never match.
    found = {i: message for i, message in found.items() if not message.deleted}
    # Reactions for the page in one query, for the messages that ever changed (every
    # reaction stamps its message's rev), as the other pages do.
    changed = [i for i, message in found.items() if message.rev]
    reactions = reactions_of(changed)
    # A message deleted (the row) since the ranking query is left out, not an error.
    frames = [
        message_frame(found[i], reactions=reactions.get(i, []))
        for i in ids
        if i in found
    ]
    return frames, len(rows) > limit


#: PostgreSQL: the newest messages scanned first, newest to oldest, for matches (about
#: 0.4 us a row: the stored vector); a word, or words together, found in one message of
#: a hundred end their search there. 1,000,000 messages (bench_search): p95 20 ms for
#: a common word, 41 ms for two, 63 ms for a rare one (the whole walk, then the index);
#: 20,000 rows made two common words together cost 0.7 s (the index's postings of both).
RECENT_ROWS = 100_000


def _postgresql_matches(
    terms: list[str],
    where: list[str],
    params: list[Any],
    *,
    room_id: int | None,
    limit: int,
    offset: int,
) -> list[tuple[Any, ...]]:
    """The page of the newest SEARCH_RESULTS_MAX matches, ranked, on PostgreSQL.

    Two reads, because no one plan suits both kinds of word: the newest RECENT_ROWS
    messages walked backwards by id, each checked against its stored vector (a common
    word fills the 1,000 there in milliseconds), and only when they fall short, the
    older ones through the GIN index (a rare word: few postings). In one room the walk
    is of the room's newest RECENT_ROWS, by its (room, seq) index. Then the candidates
    alone are ranked (ts_rank on the stored vector).
    """
    m = sql.table(Message)
    mid = f"{m}.{sql.column(Message, 'id')}"
    # The walk's key: ids overall; a room's seqs (its index) in one room.
    key = mid if room_id is None else f"{m}.{sql.column(Message, 'seq')}"
    tsquery = " && ".join(
        "to_tsquery('simple'::regconfig, quote_literal(chat_search_fold(%s))"
        + (" || ':*')" if prefix(term) else ")")
        for term in terms
    )
    match = f"{m}.search_vector @@ ({tsquery})"
    conditions = " AND ".join(where)
    if room_id is None:
        newest = sql.fetchall(f"SELECT max({mid}) FROM {m}", [])[0][0] or 0
    else:
        newest = Room.objects.filter(pk=room_id).values_list("last_seq", flat=True)
        newest = newest.first() or 0
    floor = max(0, newest - RECENT_ROWS)
    with transaction.atomic(), _planner_without("enable_bitmapscan"):
        found = [
            row[0]
            for row in sql.fetchall(
                f"SELECT {mid} FROM {m} WHERE {key} > %s AND {match}"
                f" AND {conditions} ORDER BY {key} DESC LIMIT %s",
                [floor, *terms, *params, SEARCH_RESULTS_MAX],
            )
        ]
    if len(found) < SEARCH_RESULTS_MAX and floor > 0:
        with transaction.atomic(), _planner_without("enable_indexscan"):
            found += [
                row[0]
                for row in sql.fetchall(
                    f"SELECT {mid} FROM {m} WHERE {key} <= %s AND {match}"
                    f" AND {conditions} ORDER BY {key} DESC LIMIT %s",
                    [floor, *terms, *params, SEARCH_RESULTS_MAX - len(found)],
                )
            ]
    if not found:
        return []
    return sql.fetchall(
        f"SELECT {mid} FROM {m} WHERE {mid} = ANY(%s)"
        f" ORDER BY ts_rank({m}.search_vector, ({tsquery}), 1) DESC, {mid} DESC"
        f" LIMIT %s OFFSET %s",
        [found, *terms, limit + 1, offset],
    )


@contextmanager
def _planner_without(scan: str) -> Iterator[None]:
    """For the statements inside (in a transaction): the planner without `scan` and
    sequential scans, so each read takes the one plan it is for, whatever the planner
    guesses of a word (it cannot tell a rare one from a common one): without bitmap
    scans, the newest rows walked backwards by id; without plain index scans, the
    older matches from the GIN index's postings (ANDed with the room's index for a
    search in one room). The settings are put back as they were, even inside an outer
    transaction."""
    # jit too: the disabled scans' huge costs would otherwise buy a JIT compile (about
    # 190 ms) for a query that takes one.
    names = (scan, "enable_seqscan", "jit")
    before = sql.fetchall(
        "SELECT " + ", ".join(["current_setting(%s)"] * len(names)), list(names)
    )[0]
    sql.fetchall(
        "SELECT " + ", ".join(["set_config(%s, 'off', true)"] * len(names)),
        list(names),
    )
    try:
        yield
    finally:
        sql.fetchall(
            "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
            [v for pair in zip(names, before, strict=True) for v in pair],
        )


def fts5_query(terms: list[str], *, room_id: int | None = None) -> str:
    """The FTS5 MATCH expression: every term quoted, a prefix when long enough, in the
    body (`body : ("caf"* "lyon"* "a")`); in one room, also its id in the indexed
    room_id column, so the index intersects the two."""
    words = " ".join(
        '"' + term.replace('"', '""') + ('"*' if prefix(term) else '"')
        for term in terms
    )
    query = f"body : ({words})"
    if room_id is not None:
        query += f' AND room_id : "{int(room_id)}"'
    return query


def prefix(term: str) -> bool:
    """Whether a term matches by prefix (long enough) or only as a whole word."""
    return len(term) >= PREFIX_MIN_CHARS
