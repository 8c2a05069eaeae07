"""Other indicators beside the concern signals (triangulation): import them per organisation and month
from a CSV, all or none, and read those of a unit's organisations over a stretch of months.

Columns: organisation,indicator,label,month,value,source (month as YYYY-MM). The file is read once, as a
stream, inside one transaction: good rows are written a batch at a time while no row has been bad, and
the first bad row stops the writing but not the checking, so every bad row is reported and the
transaction is rolled back. Memory holds one batch, the errors, the organisation codes met and one small
key per row (to find a row repeated further down the file).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import NamedTuple

from django.db import transaction

from backend.organisations.importer import FileRejected, ImportResult, RowError
from backend.organisations.models import Organisation, OrganisationKind
from backend.oversight.models import Indicator

COLUMNS = ("organisation", "indicator", "label", "month", "value", "source")
BATCH_SIZE = 1000

_NAME_MAX = Indicator._meta.get_field("name").max_length or 60
_LABEL_MAX = Indicator._meta.get_field("label").max_length or 200
_SOURCE_MAX = Indicator._meta.get_field("source").max_length or 200
_NAME_SHAPE = re.compile(r"^[a-z0-9_-]+$")
_MONTH_SHAPE = re.compile(r"^(\d{4})-(\d{2})$")


class IndicatorImportError(FileRejected):
    """The indicators file was rejected and nothing was written."""


class _Row(NamedTuple):
    line: int
    organisation: str
    name: str
    label: str
    month: date
    value: float
    source: str


def indicators_import(*, source: str | os.PathLike[str] | Iterable[str], batch_size: int = BATCH_SIZE) -> ImportResult:
    """Check every row of the CSV at ``source`` (a path, an open text file or any lines of text) and,
    only if every row is good, create or update (by organisation, indicator and month) every value in it.

    Raises IndicatorImportError, listing every bad row, if any row is bad; nothing is written then.
    """
    errors: list[RowError] = []
    first_line: dict[tuple[str, str, date], int] = {}
    organisation_ids: dict[str, int | None] = {}
    batch: list[_Row] = []
    created = updated = 0

    def flush() -> None:
        nonlocal created, updated
        _look_up_organisations({row.organisation for row in batch}, known=organisation_ids)
        errors.extend(
            RowError(row.line, f"organisation {row.organisation!r} is not in Candour")
            for row in batch
            if organisation_ids[row.organisation] is None
        )
        if not errors:
            existing = _write(batch, organisation_ids={c: pk for c, pk in organisation_ids.items() if pk is not None})
            created += len(batch) - existing
            updated += existing
        batch.clear()

    with _lines(source) as lines, transaction.atomic():
        rows_seen = 0
        for line, record in _records(lines, errors=errors):
            if line == 1:
                errors += _header_errors(record)
                continue
            if not any(field.strip() for field in record):
                continue
            rows_seen += 1
            row, problems = _parse(line, record)
            errors += [RowError(line, p) for p in problems]
            if row is None:
                continue
            key = (row.organisation, row.name, row.month)
            if key in first_line:
                errors.append(
                    RowError(
                        line,
                        f"{row.name} for {row.organisation} in {row.month:%Y-%m} appears again "
                        f"(first on line {first_line[key]})",
                    )
                )
                continue
            first_line[key] = line
            batch.append(row)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        if rows_seen == 0 and not errors:
            errors.append(RowError(1, "the file has no rows after the header"))
        if errors:
            # Raised inside the transaction, so the batches already written are rolled back.
            raise IndicatorImportError(sorted(errors, key=lambda e: e.line))
    return ImportResult(created=created, updated=updated)


def indicators_beside(*, organisation: Organisation, first: date, last: date) -> list[Indicator]:
    """The indicators of the organisation and every organisation above it (a ward's trust, its board),
    for the months from ``first`` to ``last``, in month order: what to read beside its signals."""
    parts = [code for code in organisation.path.split("/") if code]
    paths = ["/" + "/".join(parts[: depth + 1]) + "/" for depth in range(len(parts))]
    return list(
        Indicator.objects.filter(organisation__path__in=paths, month__gte=first.replace(day=1), month__lte=last)
        .select_related("organisation")
        .order_by("month", "label", "organisation__path")
    )


def indicators_trust(*, organisation: Organisation) -> Organisation:
    """The trust a unit belongs to (the nearest provider above it or itself), to name whose indicators
    the page shows; the unit itself when it sits under no trust."""
    codes = [code for code in organisation.path.split("/") if code]
    trust = Organisation.objects.filter(code__in=codes, kind=OrganisationKind.PROVIDER).order_by("-path").first()
    return trust or organisation


@contextmanager
def _lines(source: str | os.PathLike[str] | Iterable[str]) -> Iterator[Iterable[str]]:
    if isinstance(source, str | os.PathLike):
        # utf-8-sig: spreadsheets save CSV with a byte-order mark that would otherwise stick to the header.
        with open(source, encoding="utf-8-sig", newline="") as stream:
            yield stream
    else:
        yield source


def _records(lines: Iterable[str], *, errors: list[RowError]) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted field may span lines), header included. A file
    that cannot be read on from some line is reported there, and the reading stops."""
    reader = csv.reader(lines)
    previous_end = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            if previous_end == 0:
                errors.append(RowError(1, "the file is empty"))
            return
        except csv.Error as exc:
            errors.append(RowError(previous_end + 1, f"the file cannot be read from here on: {exc}"))
            return
        except UnicodeDecodeError:
            errors.append(RowError(previous_end + 1, "the file is not UTF-8 text from about here on"))
            return
        yield previous_end + 1, record
        previous_end = reader.line_num


def _header_errors(header: list[str]) -> list[RowError]:
    names = [name.strip().lstrip("\ufeff") for name in header]
    if names == list(COLUMNS):
        return []
    return [RowError(1, f"the header must be exactly: {','.join(COLUMNS)}")]


def _parse(line: int, record: list[str]) -> tuple[_Row | None, list[str]]:
    """The row, normalised, or None, and what is wrong with it (in words a data analyst can act on)."""
    if len(record) != len(COLUMNS):
        return None, [f"expected {len(COLUMNS)} fields, found {len(record)}"]
    organisation, name, label, month_text, value_text, source = (field.strip() for field in record)
    problems = [
        f"{column} is required"
        for column, text in zip(COLUMNS, (organisation, name, label, month_text, value_text, source), strict=True)
        if not text
    ]
    if name and (len(name) > _NAME_MAX or not _NAME_SHAPE.match(name)):
        problems.append(
            f"indicator {name!r} must be a short code of lower-case letters, digits, '_' or '-' "
            f"(at most {_NAME_MAX} characters)"
        )
    if len(label) > _LABEL_MAX:
        problems.append(f"label is longer than {_LABEL_MAX} characters")
    if len(source) > _SOURCE_MAX:
        problems.append(f"source is longer than {_SOURCE_MAX} characters")
    month = None
    if month_text:
        shape = _MONTH_SHAPE.match(month_text)
        if shape and 1 <= int(shape[2]) <= 12:
            month = date(int(shape[1]), int(shape[2]), 1)
        else:
            problems.append(f"month {month_text!r} is not a month (YYYY-MM)")
    value = None
    if value_text:
        try:
            value = float(value_text)
        except ValueError:
            problems.append(f"value {value_text!r} is not a number")
        else:
            if not math.isfinite(value):
                problems.append(f"value {value_text!r} is not a number")
                value = None
    if problems or month is None or value is None:
        return None, problems
    return _Row(line, organisation, name, label, month, value, source), []


def _look_up_organisations(codes: set[str], *, known: dict[str, int | None]) -> None:
    """Add the ids of the codes not met before to ``known`` (None for a code Candour does not have)."""
    new = codes - known.keys()
    found = dict(Organisation.objects.filter(code__in=new).values_list("code", "pk"))
    known.update({code: found.get(code) for code in new})


def _write(batch: list[_Row], *, organisation_ids: dict[str, int]) -> int:
    """Upsert the batch; returns how many of its values were there already (one read first, because
    an upsert does not say which rows it inserted)."""
    indicators = [
        Indicator(
            organisation_id=organisation_ids[row.organisation],
            name=row.name,
            label=row.label,
            month=row.month,
            value=row.value,
            source=row.source,
        )
        for row in batch
    ]
    keys = {(i.organisation_id, i.name, i.month) for i in indicators}
    existing = sum(
        1
        for key in Indicator.objects.filter(
            organisation_id__in={k[0] for k in keys}, name__in={k[1] for k in keys}, month__in={k[2] for k in keys}
        ).values_list("organisation_id", "name", "month")
        if key in keys
    )
    Indicator.objects.bulk_create(
        indicators,
        update_conflicts=True,
        unique_fields=["organisation", "name", "month"],
        update_fields=["label", "value", "source"],
    )
    return existing
