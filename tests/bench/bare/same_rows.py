"""The second comparator: the rows a raise writes, written bare.

A raise writes one concern, its receipt, its first Event, three clocks, two notices (the unit's
guardian, in-app and by e-mail) and one figure delta. This writes rows of the same shape, in one
statement, into copies of those tables made by migration 0002 (``CREATE TABLE ... (LIKE ... INCLUDING
ALL)``: the same columns, defaults, indexes and unique and check constraints, but no foreign keys),
with none of a raise's work: nothing encrypted or keyed (the narrative and the raiser's name are
stored as sent, the receipt digest and the Event's hash are random), no policy, guardian or
organisation looked up per request (the units' ids are read once per process), no hash chain, no
reserved key, nothing sent after commit. Bench settings only, never in production.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django.utils import timezone

from backend.concerns.models import Clock, Concern, Event, Receipt
from backend.organisations.models import Organisation
from backend.organisations.policies import policy_for_organisation
from backend.oversight.models import FigureDelta
from notifications.models import Delivery

# The tables a raise writes, in the order they are written; their copies are "bench_bare_same_" + name.
MODELS: tuple[type[Model], ...] = (Concern, Receipt, Event, Clock, Delivery, FigureDelta)
PREFIX = "bench_bare_same_"
CLOCKS = (("acknowledge", timedelta(days=7)), ("feedback", timedelta(days=91)), ("inactivity", timedelta(days=28)))

_units: dict[str, tuple[int, int, str]] = {}  # code -> (id, policy id, name), read once per process


def copy_table(model: type[Model]) -> str:
    return PREFIX + model._meta.db_table


def _unit(code: str) -> tuple[int, int, str]:
    if not _units:
        for org in Organisation.objects.all():
            _units[org.code] = (org.pk, policy_for_organisation(organisation=org).pk, org.name)
    return _units[code]


def _columns(model: type[Model]) -> list[Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _rows(model: type[Model], given: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every column of each row: what is given, else the field's default (a column renamed in the
    model and not here fails loudly)."""
    names = {f.attname for f in _columns(model)}
    unknown = {name for row in given for name in row} - names
    assert not unknown, f"{model.__name__} has no columns {sorted(unknown)}"
    columns = _columns(model)
    return [{f.attname: row[f.attname] if f.attname in row else f.get_default() for f in columns} for row in given]


def _json(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def _insert(model: type[Model], rows: list[dict[str, Any]], *, concern_id_from: str | None) -> tuple[str, str]:
    """One CTE's INSERT ... SELECT FROM json_to_recordset and its JSON parameter. A dependant's
    concern_id comes from the concern's CTE, as a raise's dependants name the concern just written."""
    quote = connection.ops.quote_name
    columns = _columns(model)
    sent = [f for f in columns if not (concern_id_from and f.attname == "concern_id")]
    definition = ", ".join(f"{quote(f.attname)} {f.db_type(connection)}" for f in sent)
    names = ", ".join(quote(str(f.column)) for f in columns)
    values = ", ".join(
        f"{concern_id_from}.id" if concern_id_from and f.attname == "concern_id" else f"v.{quote(f.attname)}"
        for f in columns
    )
    source = f"json_to_recordset(%s::json) AS v({definition})"
    if concern_id_from:
        source = f"{concern_id_from}, {source}"
    payload = json.dumps([{k: v for k, v in row.items() if k != "concern_id"} for row in rows], default=_json)
    return f"INSERT INTO {quote(copy_table(model))} ({names}) SELECT {values} FROM {source}", payload


def same_rows_write(data: Mapping[str, Any], *, now: datetime | None = None) -> tuple[int, str, str]:
    """Write a raise's rows for this request body in one statement; the concern's id, reference and a
    receipt code (random, like a raise's, but nothing keyed is kept of it)."""
    now = now or timezone.now()
    unit_id, policy_id, unit_name = _unit(str(data["unit"]))
    anonymous = data["identity_mode"] == "anonymous"
    received_at = now.replace(minute=0, second=0, microsecond=0) if anonymous else now
    reference = secrets.token_hex(6).upper()
    receipt = secrets.token_hex(15).upper()
    concern = {
        "reference": reference,
        "raiser_kind": data["raiser_kind"],
        "identity_mode": data["identity_mode"],
        "themes": sorted(set(data.get("themes") or [])),
        "urgent": bool(data.get("urgent")),
        "channel": "web",
        "unit_id": unit_id,
        "holder_id": unit_id,
        "policy_id": policy_id,
        "state": "received",
        "what_happened": data["what_happened"],
        "when_happened": data.get("when_happened", ""),
        "desired_outcome": data.get("desired_outcome", ""),
        "raiser_name": "" if anonymous else data.get("raiser_name", ""),
        "raiser_contact": "" if anonymous else data.get("raiser_contact", ""),
        "received_at": received_at,
        "last_activity_at": received_at,
        "audit_seq": 1,
        "audit_head": secrets.token_hex(32),
    }
    event = {
        "seq": 1,
        "kind": "raised",
        "actor_role": "raiser",
        "to_state": "received",
        "data": {"unit": data["unit"], "channel": "web"},
        "visible_to_raiser": True,
        "created_at": received_at,
        "prev_hash": "0" * 64,
        "hash": concern["audit_head"],
    }
    clocks = [
        {
            "kind": kind,
            "holder_id": unit_id,
            "route_level": 0,
            "started_at": received_at,
            "due_at": received_at + length,
            "status": "pending",
            "unit": "calendar_days",
            "on_breach": ["escalate", "alert_governors"],
        }
        for kind, length in CLOCKS
    ]
    notice = {
        "subject": f"Candour: new concern {reference} for {unit_name}",
        "body": f"A new concern, {reference}, has been raised. Acknowledge it: https://candour.example/inbox/{reference}/",
        "status": "pending",
        "created_at": now,
        "updated_at": now,
    }
    deliveries = [
        {**notice, "idempotency_key": f"raised:{reference}:1:in_app", "channel": "in_app", "recipient": "1"},
        {
            **notice,
            "idempotency_key": f"raised:{reference}:1:email",
            "channel": "email",
            "recipient": "guardian@candour.invalid",
        },
    ]
    quarter = date(received_at.year, 3 * ((received_at.month - 1) // 3) + 1, 1)
    figures = [{"unit_id": unit_id, "quarter": quarter, "measure": "received", "value": 1}]

    parts: list[str] = []
    params: list[str] = []
    for name, model, rows, dependant in (
        ("c", Concern, [concern], False),
        ("r", Receipt, [{"digest": secrets.token_hex(32)}], True),
        ("e", Event, [event], True),
        ("k", Clock, clocks, True),
        ("d", Delivery, deliveries, False),
        ("f", FigureDelta, figures, False),
    ):
        sql, payload = _insert(model, _rows(model, rows), concern_id_from="c" if dependant else None)
        parts.append(f"{name} AS ({sql}{' RETURNING id' if name == 'c' else ''})")
        params.append(payload)
    with connection.cursor() as cursor:
        cursor.execute("WITH " + ", ".join(parts) + " SELECT id FROM c", params)
        (concern_id,) = cursor.fetchone()
    return int(concern_id), reference, receipt
