"""Import organisations from a CSV file: check every row, then upsert all of them or none.

Columns: code,name,kind,parent_code,escalates_to_code,closure_days (closure days are ISO dates joined
by ';'). A row is the whole truth about its organisation: an empty parent_code makes it a root, an
empty escalates_to_code ends its route, an empty closure_days clears its closures.

Memory grows with the file, never with the organisations table: the file is read twice (check, then
write) and only a small record per code is kept between the passes; the database is asked about codes
in batches, and only about the codes the file names and the organisations above them.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Literal, NamedTuple, TextIO

from django.db import transaction

from backend.config.db import rows_update
from backend.organisations.models import Organisation, OrganisationKind
from backend.organisations.services import organisation_subtree_move

COLUMNS = ("code", "name", "kind", "parent_code", "escalates_to_code", "closure_days")
BATCH_SIZE = 1000

_CODE_MAX = Organisation._meta.get_field("code").max_length or 16
_NAME_MAX = Organisation._meta.get_field("name").max_length or 200
_PATH_MAX = Organisation._meta.get_field("path").max_length or 400
_KINDS = frozenset(OrganisationKind.values)

Stage = Literal["checked", "imported", "linked"]
# (stage, rows done, rows in all or None while the file is still being read)
ImportProgress = Callable[[Stage, int, int | None], None]


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class FileRejected(Exception):
    """A CSV import rejected its file and wrote nothing; ``errors`` names every bad row with its line.
    Every all-or-nothing importer (organisations, indicators) raises one of its kind."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} problem(s) in the file; nothing was imported")


class OrganisationImportError(FileRejected):
    """The organisations file was rejected and nothing was written."""


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


class _Row(NamedTuple):
    line: int
    code: str
    name: str
    kind: str
    parent_code: str | None
    escalates_to_code: str | None
    closure_days: list[str]


class _Node(NamedTuple):
    """What the checks and the linking need to remember about one row between the two passes."""

    line: int
    parent_code: str | None
    escalates_to_code: str | None


# Edges of organisations that the file does not mention: (parent code, escalates-to code).
_DbEdges = dict[str, tuple[str | None, str | None]]


def organisations_import(
    *,
    source: str | os.PathLike[str] | TextIO,
    progress: ImportProgress | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Check the whole CSV at ``source`` (a path, or a seekable text stream) and, only if every row is
    good, create or update (by code) every organisation in it in one transaction.

    Raises OrganisationImportError, listing every bad row, if any row is bad; nothing is written then.
    """
    with _opened(source) as stream:
        start = stream.tell()
        nodes, rows_errors, existing, reparented = _check_rows(stream, progress=progress, batch_size=batch_size)
        errors = list(rows_errors)
        db_edges, reference_errors = _resolve_references(nodes, batch_size=batch_size)
        errors += reference_errors
        errors += _route_errors(nodes, db_edges, edge="escalates_to_code", what="escalation route")
        parent_errors = _route_errors(nodes, db_edges, edge="parent_code", what="parent chain")
        errors += parent_errors
        paths: dict[str, str] = {}
        if not parent_errors:
            paths = _paths(nodes, db_edges)
            errors += [
                RowError(node.line, f"the organisation would sit too deep: its path is over {_PATH_MAX} characters")
                for code, node in nodes.items()
                if len(paths[code]) > _PATH_MAX
            ]
        if errors:
            raise OrganisationImportError(sorted(errors, key=lambda e: e.line))

        with transaction.atomic():
            stream.seek(start)
            _write_rows(stream, nodes=nodes, paths=paths, progress=progress, batch_size=batch_size)
            _link(nodes, progress=progress, batch_size=batch_size)
            _move_subtrees(reparented, paths=paths)
    return ImportResult(created=len(nodes) - existing, updated=existing)


@contextmanager
def _opened(source: str | os.PathLike[str] | TextIO) -> Iterator[TextIO]:
    if isinstance(source, str | os.PathLike):
        # utf-8-sig: spreadsheets save CSV with a byte-order mark that would otherwise stick to "code".
        with open(source, encoding="utf-8-sig", newline="") as stream:
            yield stream
    else:
        if not source.seekable():
            raise TypeError("organisations_import reads the file twice; pass a path or a seekable stream")
        yield source


class _Unreadable(Exception):
    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason


def _records(stream: TextIO) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted field may span lines), header included."""
    reader = csv.reader(stream)
    previous_end = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _Unreadable(previous_end + 1, f"the file cannot be read from here on: {exc}") from exc
        except UnicodeDecodeError as exc:
            # Text is decoded in blocks, so the bad bytes may be a little further on than this line.
            raise _Unreadable(previous_end + 1, "the file is not UTF-8 text from about here on") from exc
        yield previous_end + 1, record
        previous_end = reader.line_num


def _header_errors(header: list[str]) -> list[RowError]:
    names = [name.strip().lstrip("\ufeff") for name in header]
    problems = []
    if missing := [c for c in COLUMNS if c not in names]:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown := [n for n in names if n not in COLUMNS]:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    if not problems and names != list(COLUMNS):
        problems.append(f"columns must be in this order: {','.join(COLUMNS)}")
    return [RowError(1, p) for p in problems]


def _parse(line: int, record: list[str]) -> tuple[_Row | None, list[str]]:
    """The row, normalised, and what is wrong with it. The code comes back even from a bad row, so that
    other rows naming it are not reported as well."""
    if len(record) != len(COLUMNS):
        return None, [f"expected {len(COLUMNS)} fields, found {len(record)}"]
    code, name, kind, parent_code, escalates_to_code, closure_text = (field.strip() for field in record)
    problems = []
    if not code:
        problems.append("code is required")
    elif len(code) > _CODE_MAX:
        problems.append(f"code {code!r} is longer than {_CODE_MAX} characters")
    elif "/" in code or any(ch.isspace() for ch in code):
        # The materialised path uses '/' to separate codes.
        problems.append(f"code {code!r} must not contain '/' or spaces")
    if not name:
        problems.append("name is required")
    elif len(name) > _NAME_MAX:
        problems.append(f"name is longer than {_NAME_MAX} characters")
    if not kind:
        problems.append("kind is required")
    elif kind not in _KINDS:
        problems.append(f"kind {kind!r} is not one of: {', '.join(sorted(_KINDS))}")
    closure_days = set()
    for text in filter(None, (part.strip() for part in closure_text.split(";"))):
        try:
            closure_days.add(date.fromisoformat(text).isoformat())
        except ValueError:
            problems.append(f"closure day {text!r} is not a date (YYYY-MM-DD)")
    row = _Row(
        line=line,
        code=code,
        name=name,
        kind=kind,
        parent_code=parent_code or None,
        escalates_to_code=escalates_to_code or None,
        closure_days=sorted(closure_days),
    )
    return row, problems


def _check_rows(
    stream: TextIO, *, progress: ImportProgress | None, batch_size: int
) -> tuple[dict[str, _Node], list[RowError], int, list[tuple[str, str]]]:
    """First pass: check each row on its own and against the rows before it.

    Returns the rows' nodes by code, the errors, how many codes already exist, and the existing
    organisations given a new parent, with their current path (their other descendants must follow)."""
    nodes: dict[str, _Node] = {}
    errors: list[RowError] = []
    existing = 0
    reparented: list[tuple[str, str]] = []
    pending: list[str] = []
    seen = 0

    def look_up_pending() -> None:
        nonlocal existing
        found = Organisation.objects.filter(code__in=pending).values_list("code", "parent__code", "path")
        for code, parent_code, path in found:
            existing += 1
            if nodes[code].parent_code != parent_code:
                reparented.append((code, path))
        pending.clear()

    records = _records(stream)
    try:
        header = next(records, None)
        if header is None:
            return nodes, [RowError(1, "the file is empty")], 0, []
        errors += _header_errors(header[1])
        for line, record in records:
            if not record:
                continue
            seen += 1
            if progress and seen % batch_size == 0:
                progress("checked", seen, None)
            row, problems = _parse(line, record)
            errors += [RowError(line, p) for p in problems]
            if row is None or not row.code or len(row.code) > _CODE_MAX:
                continue
            if row.code in nodes:
                errors.append(RowError(line, f"code {row.code!r} appears again (first on line {nodes[row.code].line})"))
                continue
            nodes[row.code] = _Node(line, row.parent_code, row.escalates_to_code)
            pending.append(row.code)
            if len(pending) >= batch_size:
                look_up_pending()
    except _Unreadable as exc:
        # Past a broken record or undecodable bytes the rest of the file cannot be trusted.
        errors.append(RowError(exc.line, exc.reason))
    if pending:
        look_up_pending()
    if not seen and not errors:
        errors.append(RowError(1, "the file has no rows after the header"))
    if progress:
        progress("checked", seen, seen)
    return nodes, errors, existing, reparented


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _resolve_references(nodes: dict[str, _Node], *, batch_size: int) -> tuple[_DbEdges, list[RowError]]:
    """Find every parent and escalation target the file names but does not contain, and, climbing from
    them, every organisation above them, so that chains can be followed to their ends."""
    db_edges: _DbEdges = {}
    frontier = {
        code
        for node in nodes.values()
        for code in (node.parent_code, node.escalates_to_code)
        if code is not None and code not in nodes
    }
    named = set(frontier)
    while frontier:
        found: _DbEdges = {}
        for chunk in _chunks(sorted(frontier), batch_size):
            rows = Organisation.objects.filter(code__in=chunk).values_list("code", "parent__code", "escalates_to__code")
            found.update((code, (parent, target)) for code, parent, target in rows)
        db_edges.update(found)
        frontier = {
            code
            for edges in found.values()
            for code in edges
            if code is not None and code not in nodes and code not in db_edges
        }
    errors = []
    for node in nodes.values():
        for column, code in (("parent_code", node.parent_code), ("escalates_to_code", node.escalates_to_code)):
            if code is not None and code in named and code not in db_edges:
                errors.append(RowError(node.line, f"{column} {code!r} is neither in the file nor in the database"))
    return db_edges, errors


def _next(
    code: str, nodes: dict[str, _Node], db_edges: _DbEdges, edge: Literal["parent_code", "escalates_to_code"]
) -> str | None:
    node = nodes.get(code)
    if node is not None:
        return node.parent_code if edge == "parent_code" else node.escalates_to_code
    parent, target = db_edges.get(code, (None, None))
    return parent if edge == "parent_code" else target


def _route_errors(
    nodes: dict[str, _Node],
    db_edges: _DbEdges,
    *,
    edge: Literal["parent_code", "escalates_to_code"],
    what: str,
) -> list[RowError]:
    """Every row whose chain along ``edge`` (file rows over database rows) comes back on itself.

    Each organisation is walked once: a walk stops at the first organisation already settled."""
    ended, looped = 1, 2
    settled: dict[str, int] = {}
    errors = []
    for start in nodes:
        walk: list[str] = []
        on_walk: set[str] = set()
        code: str | None = start
        while code is not None and code not in settled and code not in on_walk:
            walk.append(code)
            on_walk.add(code)
            code = _next(code, nodes, db_edges, edge)
        if code is None:
            outcome = ended
        elif code in on_walk:
            outcome = looped
            loop = walk[walk.index(code) :]
            described = " → ".join([*loop, code])
            in_file = [c for c in loop if c in nodes]
            for member in in_file:
                errors.append(RowError(nodes[member].line, f"{what} goes round in a circle: {described}"))
            if not in_file:
                # A loop already in the database: blame the row that leads into it.
                errors.append(RowError(nodes[start].line, f"{what} runs into a circle in the database: {described}"))
        else:
            outcome = settled[code]
        settled.update(dict.fromkeys(walk, outcome))
    return errors


def _paths(nodes: dict[str, _Node], db_edges: _DbEdges) -> dict[str, str]:
    """The materialised path each organisation will have after the import (the same rule as
    Organisation.save(): the parent's path, then the code and '/'). Assumes the parent chains end."""
    paths: dict[str, str] = {}
    for start in nodes:
        climb: list[str] = []
        code: str | None = start
        while code is not None and code not in paths:
            climb.append(code)
            code = _next(code, nodes, db_edges, "parent_code")
        prefix = paths[code] if code is not None else None
        for descendant in reversed(climb):
            prefix = paths[descendant] = Organisation.path_for(parent_path=prefix, code=descendant)
    return {code: paths[code] for code in nodes}


def _write_rows(
    stream: TextIO,
    *,
    nodes: dict[str, _Node],
    paths: dict[str, str],
    progress: ImportProgress | None,
    batch_size: int,
) -> None:
    """Second pass: upsert every row's own fields. Parents and escalation targets are linked afterwards,
    because a row may name an organisation further down the file that does not exist yet."""
    total = len(nodes)
    done = 0
    batch: list[Organisation] = []

    def flush() -> None:
        nonlocal done
        Organisation.objects.bulk_create(
            batch,
            update_conflicts=True,
            unique_fields=["code"],
            update_fields=["name", "kind", "path", "closure_days"],
        )
        done += len(batch)
        batch.clear()
        if progress:
            progress("imported", done, total)

    changed = RuntimeError("the file changed while it was being imported")
    records = _records(stream)
    try:
        next(records)
        for line, record in records:
            if not record:
                continue
            row, problems = _parse(line, record)
            if row is None or problems or nodes.get(row.code, _Node(0, None, None)).line != line:
                raise changed
            batch.append(
                Organisation(
                    code=row.code, name=row.name, kind=row.kind, path=paths[row.code], closure_days=row.closure_days
                )
            )
            if len(batch) >= batch_size:
                flush()
    except _Unreadable as exc:
        raise changed from exc
    if batch:
        flush()
    if done != total:
        raise changed


def _link(nodes: dict[str, _Node], *, progress: ImportProgress | None, batch_size: int) -> None:
    """Set every row's parent and escalation target by code, now that all of them exist: per batch one
    read of the codes involved and one UPDATE of the rows whose links change (a file imported again
    rewrites nothing that is already linked right)."""
    total = len(nodes)
    done = 0
    for chunk in _chunks(nodes, batch_size):
        named = {code for code in chunk} | {
            other for code in chunk for other in (nodes[code].parent_code, nodes[code].escalates_to_code) if other
        }
        found = {
            code: (pk, parent_id, escalates_to_id)
            for code, pk, parent_id, escalates_to_id in Organisation.objects.filter(code__in=named).values_list(
                "code", "pk", "parent_id", "escalates_to_id"
            )
        }
        changed = []
        for code in chunk:
            pk, parent_id, escalates_to_id = found[code]
            node = nodes[code]
            parent = found[node.parent_code][0] if node.parent_code else None
            target = found[node.escalates_to_code][0] if node.escalates_to_code else None
            if (parent, target) != (parent_id, escalates_to_id):
                changed.append(Organisation(pk=pk, parent_id=parent, escalates_to_id=target))
        rows_update(changed, ["parent", "escalates_to"])
        done += len(chunk)
        if progress:
            progress("linked", done, total)


def _move_subtrees(reparented: list[tuple[str, str]], *, paths: dict[str, str]) -> None:
    """Rewrite the paths of organisations outside the file that sit below an organisation the file moved.

    Deepest first: a descendant of two moved organisations takes its prefix from the nearer one, and once
    rewritten its path no longer starts with any old prefix (no code has its old path any more)."""
    for code, old_path in sorted(reparented, key=lambda moved: len(moved[1]), reverse=True):
        organisation_subtree_move(old_path=old_path, new_path=paths[code])
