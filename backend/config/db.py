"""Bulk writes Django does not have, for the hot paths (the clock sweep, intake).

- Plain rows (``values_insert_plain``, ``rows_insert_plain``, ``rows_update_plain``): the values go
  to PostgreSQL as they are, in ONE JSON parameter unpacked by json_to_recordset. Preparing each value
  through its field and quoting it into an array costs about 15 µs a value, most of a sweep batch's
  time; here a batch is one ``json.dumps`` (C) and one parameter. Only for fields that store the
  attribute's own value (Django's field types); a field that converts it on the way in (encryption,
  say) is refused.
- ``ids_reserve`` and ``rows_insert_together``: a row and its dependants (a concern, its receipt,
  Event, clocks, figures and notices) written in ONE statement, so that a write that took a dozen
  round trips and a savepoint takes one, and is atomic without a transaction of its own. Values go
  through their fields (the concern's are encrypted), one array parameter per column.
- ``IdsIn``: a filter on many integer ids with one parameter.

Elsewhere than PostgreSQL (SQLite in the embedded demo) each falls back to Django's own writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Lookup, Model
from django.db.models.fields import AutoFieldMixin
from django.db.models.lookups import In

# The methods by which a field converts a value on its way to the database.
_PREPARES_VALUES = ("get_prep_value", "get_db_prep_value", "get_db_prep_save", "pre_save")


def _stores_plain(field: Field[Any, Any]) -> bool:
    """Whether the column holds the attribute's own value: Django's field types do (a datetime, a str,
    a list for JSON); a field of another package that converts the value on the way in (encryption,
    say) does not, and must go through Django's own writes instead."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return False
    return not any(
        name in vars(cls)
        for cls in type(field).__mro__
        if not cls.__module__.startswith("django.")
        for name in _PREPARES_VALUES
    )


# Column types whose Python values JSON has no type for, and how PostgreSQL reads them from text.
_AS_TEXT: dict[str, Callable[[Any], str]] = {
    "DateTimeField": lambda v: v.isoformat(),  # ISO 8601 with its offset
    "DateField": lambda v: v.isoformat(),
    "TimeField": lambda v: v.isoformat(),
    "DecimalField": str,
    "UUIDField": str,
}


def _recordset(
    model: type[Model], columns: Sequence[Field[Any, Any]], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, str]:
    """The JSON parameter and json_to_recordset's column list: each row keyed by attribute name.

    Only the columns of a type JSON lacks are turned into text; anything else JSON cannot hold (a
    datetime inside a JSON column's value, say) raises, as Django's own JSONField would."""
    refused = [f.name for f in columns if not _stores_plain(f)]
    assert not refused, f"{model.__name__}: fields that prepare their values cannot be written plain: {refused}"
    as_text = [(f.attname, _AS_TEXT[f.get_internal_type()]) for f in columns if f.get_internal_type() in _AS_TEXT]
    if as_text:
        rows = [
            {**row, **{name: convert(row[name]) for name, convert in as_text if row[name] is not None}} for row in rows
        ]
    quote = connection.ops.quote_name
    definition = ", ".join(f"{quote(f.attname)} {f.db_type(connection)}" for f in columns)
    return json.dumps(rows), definition


def _concrete(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field), f"{model.__name__}.{name} is not a column"
    return field


def _values(obj: Model, columns: Sequence[Field[Any, Any]]) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in columns}


def values_insert_plain(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """INSERT rows given as {attribute name: value} (a field left out takes its default) in one
    statement, without a model instance per row; with ``returning``, those fields of each row
    written (ON CONFLICT DO NOTHING leaves out the rows it skipped)."""
    if not rows:
        return []
    meta = model._meta
    columns = [f for f in meta.concrete_fields if not f.primary_key]
    missing = [f for f in columns if any(f.attname not in row for row in rows)]
    if missing:
        defaults = {f.attname: f.get_default() for f in missing}
        rows = [defaults | dict(row) for row in rows]
    if connection.vendor != "postgresql":
        return _insert_one_by_one(
            [model(**row) for row in rows], ignore_conflicts=ignore_conflicts, returning=returning
        )
    payload, definition = _recordset(model, columns, rows)
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(f.column)) for f in columns)
    values = ", ".join(f"v.{quote(f.attname)}" for f in columns)
    sql = f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT {values} FROM json_to_recordset(%s::json) AS v({definition})"  # noqa: S608, E501
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(quote(str(_concrete(model, name).column)) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload])
        return [tuple(row) for row in cursor.fetchall()] if returning else []


def rows_insert_plain(
    objs: Sequence[Model], *, ignore_conflicts: bool = False, returning: Sequence[str] = ()
) -> list[tuple[Any, ...]]:
    """``values_insert_plain`` for unsaved model instances (every concrete field but the key)."""
    if not objs:
        return []
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return _insert_one_by_one(objs, ignore_conflicts=ignore_conflicts, returning=returning)
    columns = [f for f in model._meta.concrete_fields if not f.primary_key]
    return values_insert_plain(
        model, [_values(obj, columns) for obj in objs], ignore_conflicts=ignore_conflicts, returning=returning
    )


def _insert_one_by_one(
    objs: Sequence[Model], *, ignore_conflicts: bool, returning: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The embedded demo (SQLite): a row at a time, each in a savepoint, is plenty there."""
    written: list[Model] = []
    for obj in objs:
        try:
            with transaction.atomic():
                obj.save(force_insert=True)
        except IntegrityError:
            if not ignore_conflicts:
                raise
            continue
        written.append(obj)
    fields = [_concrete(type(obj), name) for obj in objs[:1] for name in returning]
    return [tuple(getattr(obj, f.attname) for f in fields) for obj in written]


def rows_update_plain(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """UPDATE many rows, each with its own values, in one statement: UPDATE ... FROM one JSON
    parameter (Django's bulk_update writes a CASE WHEN per field per row, which costs far more to
    build than to run)."""
    if not objs:
        return 0
    model = type(objs[0])
    meta = model._meta
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_update(objs, fields)
    assert meta.pk is not None
    columns: list[Field[Any, Any]] = [meta.pk, *(meta.get_field(name) for name in fields)]  # type: ignore[list-item]
    payload, definition = _recordset(model, columns, [_values(obj, columns) for obj in objs])
    quote = connection.ops.quote_name
    table, key = quote(meta.db_table), quote(str(meta.pk.column))
    sets = ", ".join(f"{quote(str(f.column))} = v.{quote(f.attname)}" for f in columns[1:])
    sql = f"UPDATE {table} SET {sets} FROM json_to_recordset(%s::json) AS v({definition}) WHERE {table}.{key} = v.{quote(meta.pk.attname)}"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload])
        return int(cursor.rowcount)


class IdsIn(Lookup):
    """``column = ANY('{1,2,3}'::bigint[])``: a filter on many integer ids with one parameter.

    ``__in`` writes a placeholder per value, and compiling, quoting and splitting them cost about
    15 µs an id on the client: 6 ms for a 500-row UPDATE that runs in 1 ms. Used as an expression,
    ``Clock.objects.filter(IdsIn(F("pk"), ids))``. Elsewhere than PostgreSQL it is ``__in``."""

    lookup_name = "ids_in"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[int]:
        ids = [int(i) for i in self.rhs]  # ints only: the array literal below needs no quoting
        return ids

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        if connection.vendor != "postgresql":
            return In(self.lhs, self.rhs).as_sql(compiler, connection)
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        array = "{" + ",".join(map(str, self.rhs)) + "}"
        return f"{lhs_sql} = ANY(%s::{self.lhs.output_field.db_type(connection)}[])", (*lhs_params, array)


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
