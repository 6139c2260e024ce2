"""Hand-written SQL for the few queries every socket runs: its handshake and its close.

On this project's 2-core reference machine the ORM spends about 350 us building a
one-row query (and 640 us for a `select_related(...).first()`); the same query as a
prepared string costs 40 to 60 us. A socket's life ran about ten of them on the one
database thread, so handshakes/s was bound by query compilation, not by the database.

The SQL here is built once from the models' `_meta` (table and column names, quoted
by the backend), works on SQLite and PostgreSQL alike, and its values go through the
backend's own converters (a SQLite datetime string becomes an aware datetime, as the
ORM would give). Models come back through `Model.from_db()`, so a field not selected is
deferred: reading it loads it, correctly, with one more query. Only the hot path lives
here; everything else stays on the ORM.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def table(model: type[Model]) -> str:
    """The quoted table name of `model`."""
    return _table(connection.vendor, model)


def column(model: type[Model], field: str) -> str:
    """The quoted column of `model.field` (`user` gives `user_id`)."""
    return _column(connection.vendor, model, field)


def columns(model: type[Model], fields: tuple[str, ...]) -> str:
    """`a, b, c` for a SELECT list."""
    return _columns(connection.vendor, model, fields)


# Names are looked up once per backend: building them was a visible share of a query.
@functools.cache
def _table(vendor: str, model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def _column(vendor: str, model: type[Model], field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


@functools.cache
def _columns(vendor: str, model: type[Model], fields: tuple[str, ...]) -> str:
    return ", ".join(_column(vendor, model, f) for f in fields)


def fetchone(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def fetchall(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run a write; the number of rows it touched."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@functools.cache
def _converters(
    vendor: str, model: type[Model], fields: tuple[str, ...]
) -> tuple[tuple[int, Any, tuple[Callable[..., Any], ...]], ...]:
    """Per column that needs one: (index, expression, the ORM's converters)."""
    found = []
    for i, name in enumerate(fields):
        expression = model._meta.get_field(name).get_col(model._meta.db_table)
        fns = tuple(connection.ops.get_db_converters(expression)) + tuple(
            expression.get_db_converters(connection)
        )
        if fns:
            found.append((i, expression, fns))
    return tuple(found)


def convert(
    model: type[Model], fields: tuple[str, ...], row: Sequence[Any]
) -> list[Any]:
    """A raw row's values as the ORM would return them (booleans, datetimes, ...)."""
    values = list(row)
    for i, expression, fns in _converters(connection.vendor, model, fields):
        values[i] = _apply(values[i], expression, fns)
    return values


def _apply(value: Any, expression: Any, fns: tuple[Callable[..., Any], ...]) -> Any:
    for fn in fns:
        value = fn(value, expression, connection)
    return value


def instance(model: type[M], fields: tuple[str, ...], row: Sequence[Any]) -> M:
    """A model instance from a raw row of `fields` (the others deferred)."""
    return model.from_db(
        connection.alias, _attnames(model, fields), convert(model, fields, row)
    )


@functools.cache
def _attnames(model: type[Model], fields: tuple[str, ...]) -> list[str]:
    return [model._meta.get_field(f).attname for f in fields]


def insert_rows(
    model: type[Model], fields: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT plain rows of `fields` in one executemany, no model instance built.

    Each value must be as the database takes it: ids and strings as they are, a
    datetime through db_value(). Building instances to insert them (bulk_create) cost
    about 5% of the server's CPU in a handshake storm, most of it in Model.__init__. No default or auto_now_add is applied: name every column.
    """
    if not rows:
        return
    sql = _insert_sql(connection.vendor, model, _column_names(model, fields))
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


@functools.cache
def _column_names(model: type[Model], fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(model._meta.get_field(f).column for f in fields)


def db_value(model: type[Model], field: str, value: Any) -> Any:
    """`value` of `model.field` as the database takes it (a datetime as SQLite's text)."""
    return model._meta.get_field(field).get_db_prep_save(value, connection)


def placeholders(n: int) -> str:
    """`%s, %s, ...` for an IN list of n values."""
    return ", ".join(["%s"] * n)


@functools.cache
def _insert_sql(vendor: str, model: type[Model], cols: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    return (
        f"INSERT INTO {table(model)} ({', '.join(quote(c) for c in cols)})"
        f" VALUES ({', '.join(['%s'] * len(cols))})"
    )


def converter(model: type[Model], field: str) -> Callable[[Any], Any]:
    """One column's raw value -> what the ORM would return (identity when none needed)."""
    found = _converters(connection.vendor, model, (field,))
    if not found:
        return _same
    _, expression, fns = found[0]
    return lambda value: _apply(value, expression, fns)


def _same(value: Any) -> Any:
    return value
