"""The one write path: a unit of work that services fill with unsaved rows, and the statements that
write them. This module is the only code that asks which database engine it runs on.

A use case builds its rows (the concern, its Events, clocks, deliveries, messages) and adds them to a
``UnitOfWork``; ``flush`` writes them in the caller's transaction. Rows other rows follow from are
added by handlers that other apps register (figure deltas from Events: oversight; a delivery sent
once its row commits: notifications), so no service needs to know who else cares. What a use case
only tells (a sidelining signal, say) is handed to the handlers registered for its type after the
rows are written.

The statements, each with one implementation per engine:
- ``rows_insert``: many rows in ONE statement. On PostgreSQL the values go as ONE JSON parameter
  unpacked by json_to_recordset: preparing each value through its field and quoting it into an array
  costs about 15 µs a value, most of a sweep batch's time; here a batch is one ``json.dumps`` (C) and
  one parameter. Only a field that converts its value on the way in (encryption) is prepared one by one.
- ``rows_update``: many rows, each with its own values, in one statement.
- ``rows_insert_together``: a row and its dependants (a concern, its receipt, Event, clocks, figures,
  notices) in ONE statement, atomic by itself, so a raise is one round trip.
- ``id_reserve``, ``IdsIn`` (a filter on many ids with one parameter), ``AnyOf`` (a JSON array holding
  any of some values), ``lock_for_key`` (a transaction-scoped lock on a number) and
  ``snapshot_isolation`` (one consistent snapshot for a long read).

Elsewhere than PostgreSQL (SQLite in the embedded demo) each falls back to Django's own writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from django.db import IntegrityError, connection, migrations, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import Field, JSONField, Lookup, Model
from django.db.models.fields import AutoFieldMixin
from django.db.models.lookups import In

M = TypeVar("M", bound=Model)
OnConflict = Literal["raise", "skip"]


def _postgres() -> bool:
    return connection.vendor == "postgresql"


# ---------------------------------------------------------------------------------------------
# Handlers other apps register (in their AppConfig.ready): how rows and facts lead to more work.

# Rows that follow from rows of a kind, written in the same flush: FigureDelta rows from Events.
_DERIVED: dict[type[Model], list[Callable[[Sequence[Any]], Sequence[Model]]]] = {}
# Ids of rows of a kind just written, for work after commit: a Delivery sent once its row commits.
_WRITTEN: dict[type[Model], list[Callable[[Sequence[int]], None]]] = {}
# How rows of a kind meet a unique clash: an outbox key written twice is the same notice ("skip").
_ON_CONFLICT: dict[type[Model], OnConflict] = {}
# Facts a use case tells (not rows): handled after its rows are written, in its transaction; each
# handler says how many rows it wrote for them (the alerts a sweep batch opened, say).
_TOLD: dict[type, list[Callable[[Sequence[Any]], int]]] = {}


def rows_derive(model: type[Model], handler: Callable[[Sequence[Any]], Sequence[Model]]) -> None:
    """Whenever rows of ``model`` are flushed, ``handler(rows)`` gives rows written with them."""
    _DERIVED.setdefault(model, []).append(handler)


def rows_written(model: type[Model], handler: Callable[[Sequence[int]], None], *, on_conflict: OnConflict) -> None:
    """Whenever rows of ``model`` are flushed, ``handler(ids)`` hears the ids written (a row that
    clashed with a unique constraint and was skipped is not among them)."""
    _WRITTEN.setdefault(model, []).append(handler)
    _ON_CONFLICT[model] = on_conflict


def facts_handle(kind: type, handler: Callable[[Sequence[Any]], int]) -> None:
    """Facts of ``kind`` told to a unit of work go to ``handler`` once its rows are written."""
    _TOLD.setdefault(kind, []).append(handler)


# ---------------------------------------------------------------------------------------------
# The unit of work.


@dataclass
class Written:
    """What a flush wrote: the ids of the rows written, by model (a row skipped on a clash is not
    there), and how many rows the handlers of each kind of fact wrote."""

    ids: dict[type[Model], list[int]] = field(default_factory=dict)
    told: dict[type, int] = field(default_factory=dict)


class UnitOfWork:
    """The rows one use case writes, built unsaved, and what it tells; ``flush`` writes them.

    Rows go in groups by model, in the order each model was first added (a concern's Event before
    the figure deltas that follow from it). A row given to ``save`` goes through its own ``save()``:
    the concern does, whose state django-fsm guards against a concurrent move. A kind of row that
    another depends on by key must be flushed first, or have its key reserved (``id_reserve``)."""

    def __init__(self) -> None:
        self._saves: list[tuple[Model, Sequence[str] | None]] = []
        self._rows: dict[type[Model], list[Model]] = {}
        self._values: dict[type[Model], list[Mapping[str, Any]]] = {}
        self._updates: list[tuple[Sequence[Model], Sequence[str]]] = []
        self._facts: list[Any] = []

    def save(self, obj: Model, *, fields: Sequence[str] | None = None) -> None:
        self._saves.append((obj, fields))

    def add(self, *rows: Model) -> None:
        for row in rows:
            self._rows.setdefault(type(row), []).append(row)

    def add_values(self, model: type[Model], rows: Iterable[Mapping[str, Any]]) -> None:
        """Rows as {attribute name: value}, without an instance each: the sweep writes thousands."""
        self._values.setdefault(model, []).extend(rows)

    def update(self, rows: Sequence[Model], fields: Sequence[str]) -> None:
        if rows:
            self._updates.append((rows, fields))

    def tell(self, *facts: Any) -> None:
        self._facts.extend(facts)

    def _derive(self) -> None:
        for model in list(self._rows):
            for handler in _DERIVED.get(model, []):
                self.add(*handler(self._rows[model]))

    def flush(self) -> Written:
        """Write everything in the caller's transaction."""
        self._derive()
        for obj, fields in self._saves:
            obj.save(update_fields=fields)
        written: dict[type[Model], list[int]] = {}
        for model, rows in self._rows.items():
            skip = _ON_CONFLICT.get(model) == "skip"
            key = [_pk_name(model)]
            written[model] = [r[0] for r in rows_insert(rows, on_conflict="skip" if skip else "raise", returning=key)]
            if not skip:
                for obj, pk in zip(rows, written[model], strict=True):
                    obj.pk, obj._state.adding, obj._state.db = pk, False, connection.alias
        for model, values in self._values.items():
            inserted = values_insert(model, values, returning=[_pk_name(model)])
            written.setdefault(model, []).extend(r[0] for r in inserted)
        for changed, fields in self._updates:
            rows_update(changed, fields)
        return Written(ids=written, told=self._after(written))

    def _done(self) -> None:
        """Forget what was written, so a second flush writes only what is added after the first."""
        self._saves, self._rows, self._values, self._updates, self._facts = [], {}, {}, [], []

    def flush_together(self, head: Model) -> bool:
        """Write ``head`` (its key reserved) and every other row in ONE statement, all or nothing;
        False, with nothing written, if ``head`` clashed with a unique constraint."""
        assert not self._saves, "only rows go with a head"
        assert not self._values, "only rows go with a head"
        assert not self._updates, "only rows go with a head"
        self._derive()
        groups = list(self._rows.values())
        ids = rows_insert_together(head, groups)
        if ids is None:
            return False
        self._after({type(group[0]): group_ids for group, group_ids in zip(groups, ids, strict=True) if group})
        return True

    def _after(self, written: Mapping[type[Model], Sequence[int]]) -> dict[type, int]:
        facts = self._facts
        self._done()
        for model, ids in written.items():
            for handler in _WRITTEN.get(model, []):
                if ids:
                    handler(ids)
        by_kind: dict[type, list[Any]] = {}
        for fact in facts:
            by_kind.setdefault(type(fact), []).append(fact)
        return {kind: sum(told(facts) for told in _TOLD.get(kind, [])) for kind, facts in by_kind.items()}


# ---------------------------------------------------------------------------------------------
# The statements.

# The methods by which a field converts a value on its way to the database.
_PREPARES_VALUES = ("get_prep_value", "get_db_prep_value", "get_db_prep_save", "pre_save")


def _stores_plain(field: Field[Any, Any]) -> bool:
    """Whether the column holds the attribute's own value: Django's field types do (a datetime, a str,
    a list for JSON); a field of another package that converts the value on the way in (encryption,
    say) does not, and its values are prepared one by one."""
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


def _converters(columns: Sequence[Field[Any, Any]]) -> list[tuple[str, Callable[[Any], Any]]]:
    """What each column's values need before they go into the JSON parameter: text for the types JSON
    lacks, the field's own preparation for a field that converts its value (encryption)."""
    out: list[tuple[str, Callable[[Any], Any]]] = []
    for f in columns:
        if not _stores_plain(f):
            out.append((f.attname, _prepared_by(f)))
        elif f.get_internal_type() in _AS_TEXT:
            out.append((f.attname, _AS_TEXT[f.get_internal_type()]))
    return out


def _prepared_by(field: Field[Any, Any]) -> Callable[[Any], Any]:
    def prepare(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    return prepare


def _recordset(columns: Sequence[Field[Any, Any]], rows: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The JSON parameter and json_to_recordset's column list: each row keyed by attribute name.
    Anything else JSON cannot hold (a datetime inside a JSON column's value, say) raises, as Django's
    own JSONField would."""
    converters = _converters(columns)
    if converters:
        rows = [
            {**row, **{name: convert(row[name]) for name, convert in converters if row[name] is not None}}
            for row in rows
        ]
    quote = connection.ops.quote_name
    definition = ", ".join(f"{quote(f.attname)} {f.db_type(connection)}" for f in columns)
    return json.dumps(rows), definition


def _pk_name(model: type[Model]) -> str:
    assert model._meta.pk is not None
    return model._meta.pk.name


def _concrete(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field), f"{model.__name__}.{name} is not a column"
    return field


def _values(obj: Model, columns: Sequence[Field[Any, Any]]) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in columns}


def _insert_columns(model: type[Model], *, with_pk: bool) -> list[Field[Any, Any]]:
    """The columns an INSERT names: a generated key only if asked (a reserved one), a key that is
    itself data (a one-to-one primary key) always."""

    def wanted(f: Field[Any, Any]) -> bool:
        return not f.primary_key or with_pk or not isinstance(f, AutoFieldMixin)

    return [f for f in model._meta.concrete_fields if wanted(f)]


def values_insert(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    on_conflict: OnConflict = "raise",
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """INSERT rows given as {attribute name: value} (a field left out takes its default) in one
    statement, without a model instance per row; with ``returning``, those fields of each row
    written ("skip" leaves out the rows that clashed with a unique constraint)."""
    if not rows:
        return []
    columns = _insert_columns(model, with_pk=False)
    missing = [f for f in columns if any(f.attname not in row for row in rows)]
    if missing:
        defaults = {f.attname: f.get_default() for f in missing}
        rows = [defaults | dict(row) for row in rows]
    if not _postgres():
        return _insert_one_by_one([model(**row) for row in rows], on_conflict=on_conflict, returning=returning)
    payload, definition = _recordset(columns, rows)
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(f.column)) for f in columns)
    values = ", ".join(f"v.{quote(f.attname)}" for f in columns)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) SELECT {values} FROM json_to_recordset(%s::json) AS v({definition})"  # noqa: S608, E501
    if on_conflict == "skip":
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(quote(str(_concrete(model, name).column)) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload])
        return [tuple(row) for row in cursor.fetchall()] if returning else []


def rows_insert(
    objs: Sequence[Model], *, on_conflict: OnConflict = "raise", returning: Sequence[str] = ()
) -> list[tuple[Any, ...]]:
    """``values_insert`` for unsaved model instances (every concrete field but a generated key)."""
    if not objs:
        return []
    if not _postgres():
        return _insert_one_by_one(objs, on_conflict=on_conflict, returning=returning)
    model = type(objs[0])
    columns = _insert_columns(model, with_pk=False)
    rows = [{f.attname: f.pre_save(obj, add=True) for f in columns} for obj in objs]
    return values_insert(model, rows, on_conflict=on_conflict, returning=returning)


def _insert_one_by_one(
    objs: Sequence[Model], *, on_conflict: OnConflict, returning: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The embedded demo (SQLite): a row at a time, each in a savepoint, is plenty there."""
    written: list[Model] = []
    for obj in objs:
        try:
            with transaction.atomic():
                obj.save(force_insert=True)
        except IntegrityError:
            if on_conflict == "raise":
                raise
            continue
        written.append(obj)
    fields = [_concrete(type(obj), name) for obj in objs[:1] for name in returning]
    return [tuple(getattr(obj, f.attname) for f in fields) for obj in written]


def rows_update(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """UPDATE many rows, each with its own values, in one statement: UPDATE ... FROM one JSON
    parameter (Django's bulk_update writes a CASE WHEN per field per row, which costs far more to
    build than to run)."""
    if not objs:
        return 0
    model = type(objs[0])
    meta = model._meta
    if not _postgres():
        return model._default_manager.bulk_update(objs, fields)
    assert meta.pk is not None
    columns: list[Field[Any, Any]] = [meta.pk, *(_concrete(model, name) for name in fields)]
    payload, definition = _recordset(columns, [_values(obj, columns) for obj in objs])
    quote = connection.ops.quote_name
    table, key = quote(meta.db_table), quote(str(meta.pk.column))
    sets = ", ".join(f"{quote(str(f.column))} = v.{quote(f.attname)}" for f in columns[1:])
    sql = f"UPDATE {table} SET {sets} FROM json_to_recordset(%s::json) AS v({definition}) WHERE {table}.{key} = v.{quote(meta.pk.attname)}"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload])
        return int(cursor.rowcount)


def id_reserve(model: type[Model]) -> int:
    """A primary key for a row not yet written, so that what refers to it (an Event's hash, a clock)
    can be built before the one statement that writes them all. PostgreSQL draws it from the key's
    own sequence; SQLite (one writer at a time) takes the next after the highest, and a writer that
    lost a race finds its insert refused by ``rows_insert_together`` and draws again."""
    meta = model._meta
    assert meta.pk is not None
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if _postgres():
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s))", [meta.db_table, meta.pk.column])
        else:
            cursor.execute(f"SELECT COALESCE(MAX({quote(str(meta.pk.column))}), 0) + 1 FROM {quote(meta.db_table)}")  # noqa: S608
        return int(cursor.fetchone()[0])


def _unnest_insert(objs: Sequence[Model]) -> tuple[str, list[Any]]:
    """``INSERT INTO t (cols) SELECT * FROM unnest(%s::type[], ...)`` and its array parameters."""
    meta = type(objs[0])._meta
    columns = _insert_columns(type(objs[0]), with_pk=False)
    quote = connection.ops.quote_name
    arrays = [[f.get_db_prep_save(f.pre_save(obj, add=True), connection) for obj in objs] for f in columns]
    unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
    names = ", ".join(quote(str(f.column)) for f in columns)
    return f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT * FROM unnest({unnest})", arrays  # noqa: S608


def _together_elsewhere(head: Model, groups: Sequence[Sequence[Model]]) -> list[list[int]] | None:
    try:
        with transaction.atomic():
            head.save(force_insert=True)
            for group in groups:
                if group:
                    type(group[0])._default_manager.bulk_create(group)
    except IntegrityError:
        return None
    return [[int(obj.pk) for obj in group] for group in groups]


def rows_insert_together(head: Model, groups: Sequence[Sequence[Model]]) -> list[list[int]] | None:
    """Write ``head`` (its primary key already reserved) and, only if it was written, every group of
    dependant rows, all or nothing. Returns the primary keys written in each group (set on the rows
    too), or None if ``head`` clashed with a unique constraint and nothing was written.

    On PostgreSQL one statement: the head's INSERT ... ON CONFLICT DO NOTHING RETURNING is a CTE, and
    each group is an array INSERT that runs only if that CTE returned a row. A single statement is
    atomic by itself, and foreign keys are checked at commit (Django makes them deferrable), so the
    dependants may name the head in the same statement."""
    assert head.pk is not None, "reserve the head's key first (id_reserve)"
    groups = [list(group) for group in groups]
    if not _postgres():
        return _together_elsewhere(head, groups)
    meta = type(head)._meta
    assert meta.pk is not None
    quote = connection.ops.quote_name
    columns = _insert_columns(type(head), with_pk=True)
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
        sql, arrays = _unnest_insert(group)
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


@JSONField.register_lookup
class AnyOf(Lookup):
    """``themes__any_of=["bullying", "other"]``: a JSON array of strings holding any of these values.
    PostgreSQL answers from the index with jsonb ``?|``; SQLite looks through json_each."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        values = [str(v) for v in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs_sql} ?| %s", (*lhs_params, values)
        marks = ", ".join(["%s"] * len(values)) or "NULL"
        # Only the column's own SQL and placeholders are formatted in; the values travel as parameters.
        return f"EXISTS (SELECT 1 FROM json_each({lhs_sql}) WHERE value IN ({marks}))", (*lhs_params, *values)  # noqa: S608


def lock_for_key(key: int) -> None:
    """Hold a lock on ``key`` until the transaction ends (PostgreSQL's advisory lock). SQLite, the
    embedded demo's database, lets one writer in at a time anyway."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def snapshot_isolation() -> None:
    """Make the transaction just begun read one snapshot throughout (PostgreSQL's REPEATABLE READ);
    SQLite's single writer gives a long read the same already."""
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def insert_only(table: str) -> migrations.RunPython:
    """A migration operation that makes ``table`` insert-only in the database itself: any UPDATE or
    DELETE of a row is refused, whoever sends it (a bug, the admin, a stolen application login).
    TRUNCATE and dropping the trigger are the table owner's, which production keeps from the
    application's role (README, "Security and privacy"). Reversible."""

    def statements(schema_editor: BaseDatabaseSchemaEditor, *, undo: bool) -> list[str]:
        trigger = f"{table}_insert_only"
        if schema_editor.connection.vendor == "postgresql":
            if undo:
                return [f"DROP TRIGGER IF EXISTS {trigger} ON {table}", f"DROP FUNCTION IF EXISTS {trigger}()"]
            return [
                f"CREATE OR REPLACE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN RAISE EXCEPTION '{table} is insert-only: % refused', TG_OP "
                "USING ERRCODE = 'insufficient_privilege'; END $$",
                f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {trigger}()",
            ]
        if undo:
            return [f"DROP TRIGGER IF EXISTS {trigger}_{op.lower()}" for op in ("UPDATE", "DELETE")]
        return [
            f"CREATE TRIGGER {trigger}_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is insert-only: {op} refused'); END"
            for op in ("UPDATE", "DELETE")
        ]

    def run(undo: bool) -> Callable[[Any, BaseDatabaseSchemaEditor], None]:
        def apply(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
            for sql in statements(schema_editor, undo=undo):
                schema_editor.execute(sql, params=None)

        return apply

    return migrations.RunPython(run(False), run(True))
