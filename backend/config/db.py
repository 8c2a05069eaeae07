"""A bulk UPDATE Django does not have: many rows, each with its own values, in one statement.

Django's bulk_update writes a CASE WHEN per field per row, which costs far more to build than to run
(over half the clock sweep's time). On PostgreSQL this writes UPDATE ... FROM (VALUES ...), each
value cast to its column's type; elsewhere (SQLite in the embedded default) it falls back to
bulk_update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


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


def rows_insert(objs: Sequence[Model], fields: Sequence[str] | None = None, *, ignore_conflicts: bool = False) -> None:
    """INSERT many rows without reading their ids back. On PostgreSQL one array parameter per column,
    unnested by the server: the statement is short however many rows, so nothing is spent building or
    parsing a placeholder per value (Django's bulk_create spent most of the sweep's time there)."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs, ignore_conflicts=ignore_conflicts)
        return
    columns = [f for f in meta.concrete_fields if not f.primary_key and (fields is None or f.name in fields)]
    quote = connection.ops.quote_name
    arrays = [[f.get_db_prep_save(f.pre_save(obj, add=True), connection) for obj in objs] for f in columns]
    unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
    names = ", ".join(quote(str(f.column)) for f in columns)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    sql = f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT * FROM unnest({unnest}){conflict}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
