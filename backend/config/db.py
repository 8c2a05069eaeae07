"""Bulk writes Django does not have, for the hot paths (the clock sweep, intake).

- ``rows_update``: many rows, each with its own values, in one statement. Django's bulk_update writes
  a CASE WHEN per field per row, which costs far more to build than to run (over half the clock
  sweep's time). On PostgreSQL this writes UPDATE ... FROM (VALUES ...), each value cast to its
  column's type.
- ``rows_insert``: many rows of one table from one array parameter per column.
- ``ids_reserve`` and ``rows_insert_together``: a row and its dependants (a concern, its receipt,
  Event, clocks, figures and notices) written in ONE statement, so a write that used to take a dozen
  round trips and a savepoint takes one, and is atomic without a transaction of its own.

Elsewhere (SQLite in the embedded default) each falls back to Django's own bulk methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model
from django.db.models.fields import AutoFieldMixin


def rows_update(objs: Sequence[Model], fields: Sequence[str]) -> int:
    if not objs:
        return 0
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_update(objs, fields)
    meta = model._meta
    columns: list[Any] = [meta.get_field(name) for name in fields]
    pk = meta.pk
    assert pk is not None
    casts = [f"%s::{pk.db_type(connection)}"] + [f"%s::{f.db_type(connection)}" for f in columns]
    row = "(" + ", ".join(casts) + ")"
    params: list[Any] = []
    for obj in objs:
        params.append(pk.get_db_prep_value(obj.pk, connection))
        for field in columns:
            params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(f.column)) for f in columns)
    sets = ", ".join(f"{quote(str(f.column))} = v.{quote(str(f.column))}" for f in columns)
    table = quote(meta.db_table)
    key = quote(str(pk.column))
    values = ", ".join([row] * len(objs))
    sql = f"UPDATE {table} SET {sets} FROM (VALUES {values}) AS v({key}, {names}) WHERE {table}.{key} = v.{key}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _insert_columns(model: type[Model], fields: Sequence[str] | None, *, with_pk: bool) -> list[Field[Any, Any]]:
    """The columns an INSERT names: a generated key only if asked (a reserved one), a key that is
    itself data (a one-to-one primary key) always."""

    def wanted(f: Field[Any, Any]) -> bool:
        if f.primary_key:
            return with_pk or not isinstance(f, AutoFieldMixin)
        return fields is None or f.name in fields

    return [f for f in model._meta.concrete_fields if wanted(f)]


def _unnest_insert(objs: Sequence[Model], fields: Sequence[str] | None, *, with_pk: bool) -> tuple[str, list[Any]]:
    """``INSERT INTO t (cols) SELECT * FROM unnest(%s::type[], ...)`` and its array parameters."""
    meta = type(objs[0])._meta
    columns = _insert_columns(type(objs[0]), fields, with_pk=with_pk)
    quote = connection.ops.quote_name
    arrays = [[f.get_db_prep_save(f.pre_save(obj, add=True), connection) for obj in objs] for f in columns]
    unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
    names = ", ".join(quote(str(f.column)) for f in columns)
    return f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT * FROM unnest({unnest})", arrays  # noqa: S608


def rows_insert(objs: Sequence[Model], fields: Sequence[str] | None = None, *, ignore_conflicts: bool = False) -> None:
    """INSERT many rows without reading their ids back. On PostgreSQL one array parameter per column,
    unnested by the server: the statement is short however many rows, so nothing is spent building or
    parsing a placeholder per value (Django's bulk_create spent most of the sweep's time there)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        type(objs[0])._default_manager.bulk_create(objs, ignore_conflicts=ignore_conflicts)
        return
    sql, arrays = _unnest_insert(objs, fields, with_pk=False)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    with connection.cursor() as cursor:
        cursor.execute(sql + conflict, arrays)


def ids_reserve(model: type[Model]) -> int:
    """A primary key for a row not yet written, so that what refers to it (an Event's hash, a clock)
    can be built before the one statement that writes them all. PostgreSQL draws it from the key's
    own sequence; SQLite (one writer at a time) takes the next after the highest, and a writer that
    lost a race finds its insert refused by ``rows_insert_together`` and draws again."""
    meta = model._meta
    assert meta.pk is not None
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s))", [meta.db_table, meta.pk.column])
        else:
            cursor.execute(f"SELECT COALESCE(MAX({quote(str(meta.pk.column))}), 0) + 1 FROM {quote(meta.db_table)}")  # noqa: S608
        return int(cursor.fetchone()[0])


def rows_insert_together(head: Model, dependants: Sequence[Sequence[Model]]) -> list[list[int]] | None:
    """Write ``head`` (its primary key already reserved) and, only if it was written, every group of
    dependant rows, all or nothing. Returns the primary keys written in each group (set on the rows
    too), or None if ``head`` clashed with a unique constraint and nothing was written.

    On PostgreSQL one statement: the head's INSERT ... ON CONFLICT DO NOTHING RETURNING is a CTE, and
    each group is an array INSERT that runs only if that CTE returned a row. A single statement is
    atomic by itself, and foreign keys are checked at commit (Django makes them deferrable), so the
    dependants may name the head in the same statement."""
    assert head.pk is not None, "reserve the head's key first (ids_reserve)"
    groups = [list(group) for group in dependants]
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                head.save(force_insert=True)
                for group in groups:
                    if group:
                        type(group[0])._default_manager.bulk_create(group)
        except IntegrityError:
            return None
        return [[int(obj.pk) for obj in group] for group in groups]
    meta = type(head)._meta
    assert meta.pk is not None
    quote = connection.ops.quote_name
    columns = _insert_columns(type(head), None, with_pk=True)
    params: list[Any] = [f.get_db_prep_save(f.pre_save(head, add=True), connection) for f in columns]
    names = ", ".join(quote(str(f.column)) for f in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    parts = [
        f"head AS (INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT DO NOTHING RETURNING {quote(str(meta.pk.column))})"
    ]
    selects = ["(SELECT count(*) FROM head)"]
    for n, group in enumerate(groups):
        if not group:
            selects.append("ARRAY[]::bigint[]")
            continue
        sql, arrays = _unnest_insert(group, None, with_pk=False)
        pk = type(group[0])._meta.pk
        assert pk is not None
        key = quote(str(pk.column))
        parts.append(f"d{n} AS ({sql} WHERE EXISTS (SELECT 1 FROM head) RETURNING {key})")  # noqa: S608
        selects.append(f"ARRAY(SELECT {key} FROM d{n})")  # noqa: S608
        params.extend(arrays)
    with connection.cursor() as cursor:
        cursor.execute("WITH " + ", ".join(parts) + " SELECT " + ", ".join(selects), params)
        row = cursor.fetchone()
    if not row[0]:
        return None
    written = [list(ids) for ids in row[1:]]
    for group, ids in zip(groups, written, strict=True):
        for obj, pk_value in zip(group, ids, strict=True):
            obj.pk = pk_value
    for obj in [head, *(obj for group in groups for obj in group)]:
        obj._state.adding, obj._state.db = False, connection.alias  # as if saved by the ORM
    return written
