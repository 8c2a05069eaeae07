"""Sidelining alerts: opened when a use case on a concern tells of sidelining (``Sidelined``, handled
through the unit of work), or by the arrival detectors here; resolved by people with a reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backend.concerns import scope
from backend.concerns.facts import Sidelined
from backend.concerns.models import Concern
from backend.concerns.notices import Directory, alert_notices, notices_send
from backend.concerns.services.retention import ended_before, pk_batches
from backend.concerns.vault import OPEN_STATES
from backend.config.db import IdsIn, rows_insert
from backend.errors import Forbidden
from backend.oversight.alert_selectors import alerts_resolvable
from backend.oversight.figures import figures_record
from backend.oversight.models import Alert
from workflows.engine.sidelining import LABELS, Rule, may_alert_again


def alerts_open(
    *,
    items: Sequence[tuple[Concern, Rule]],
    now: datetime,
    directory: Directory | None = None,
    not_before: datetime | None = None,
    subject: str = "",
) -> list[Alert]:
    """Open one alert per concern and rule (and ``subject``, for a rule that alerts once per thing
    within a concern), never a repeat: an open one already there is left alone, and a resolved one
    is not reopened unless the concern is urgent. Governors are told (counts and links only) in the
    same transaction, not before ``not_before`` if given (then the notices are written at ``now``).
    A constant number of queries however many items."""
    if not items:
        return []
    # One read for every pair: the concerns' alerts of these rules, sorted out here. A concern has a
    # handful of alerts, so reading a few pairs too many costs less than a condition per pair.
    earlier = {
        (concern_id, rule, resolved_at is None)
        for concern_id, rule, resolved_at in Alert.objects.filter(
            IdsIn(F("concern_id"), {concern.pk for concern, _ in items}),
            rule__in={str(rule) for _, rule in items},
            subject=subject,
        ).values_list("concern_id", "rule", "resolved_at")
    }
    fresh: list[Alert] = []
    seen: set[tuple[int, str]] = set()
    for concern, rule in items:
        key = (concern.pk, str(rule))
        if key in seen or (*key, True) in earlier:
            continue
        seen.add(key)
        if not may_alert_again(already_alerted=(*key, False) in earlier, urgent=concern.urgent):
            continue
        fresh.append(Alert(concern=concern, rule=rule, organisation=concern.holder, opened_at=now, subject=subject))
    if not fresh:
        return []
    # ON CONFLICT DO NOTHING: a detector racing another sees the partial unique index win, not an error.
    # RETURNING says which were written and their ids, so nothing is read back.
    written = {
        (concern_id, rule): pk
        for pk, concern_id, rule in rows_insert(fresh, on_conflict="skip", returning=("id", "concern", "rule"))
    }
    created = []
    for alert in fresh:
        alert.pk = written.get((alert.concern_id, str(alert.rule)))
        if alert.pk is not None:
            alert._state.adding = False
            created.append(alert)
    figures_record(alerts_opened=created)
    directory = directory or Directory.for_organisations(
        [a.concern.unit for a in created] + [a.concern.holder for a in created]
    )
    notices_send(
        [
            replace(request, not_before=not_before)
            for alert in created
            for request in alert_notices(
                directory=directory, alert_id=alert.pk, concern=alert.concern, label=LABELS[Rule(alert.rule)]
            )
        ],
        now=now if not_before is not None else None,
    )
    return created


def alerts_for_sidelined(facts: Sequence[Sidelined]) -> int:
    """The handler for ``Sidelined`` (registered in OversightConfig.ready): the alerts they call for,
    opened in the teller's transaction; how many were opened."""
    directory = next((f.directory for f in facts if f.directory is not None), None)
    opened = 0
    for not_before, subject in dict.fromkeys((f.not_before, f.subject) for f in facts):  # one group in practice
        group = [f for f in facts if (f.not_before, f.subject) == (not_before, subject)]
        items = [(f.concern, f.rule) for f in group]
        opened += len(
            alerts_open(items=items, now=group[0].at, directory=directory, not_before=not_before, subject=subject)
        )
    return opened


def _earlier_open_on_unit_and_theme(concern: Concern) -> bool:
    """An open concern raised before this one about the same unit, sharing a theme: one indexed EXISTS."""
    others = Concern.objects.filter(unit_id=concern.unit_id, state__in=OPEN_STATES, pk__lt=concern.pk)
    return others.filter(themes__any_of=list(concern.themes)).exists()


ARRIVAL_BATCH = 200


def concerns_arrival_check(*, now: datetime | None = None) -> int:
    """Run the arrival detectors once for every concern still waiting for them. A concern about a
    unit where an earlier concern sharing a theme is still open opens a "repeat" alert (its
    governors' notices in the same transaction). Concerns another worker holds are skipped: they are
    that worker's. Returns how many were checked."""
    now = now or timezone.now()
    checked = 0
    while True:
        with transaction.atomic():
            waiting = Concern.objects.filter(arrival_checks_pending=True).select_related("unit", "holder")
            batch = list(waiting.order_by("pk").select_for_update(skip_locked=True, of=("self",))[:ARRIVAL_BATCH])
            if not batch:
                return checked
            repeats = [(c, Rule.REPEAT) for c in batch if c.state in OPEN_STATES and _earlier_open_on_unit_and_theme(c)]
            alerts_open(items=repeats, now=now)
            Concern.objects.filter(pk__in=[c.pk for c in batch]).update(arrival_checks_pending=False)
            checked += len(batch)


@transaction.atomic
def alert_resolve(*, alert_id: int, user: User, reason: str, now: datetime | None = None) -> Alert:
    """A governor, commissioner or regulator who oversees the concern closes the alert, saying why;
    never a guardian or handler of it, the people sidelining is about (``alerts_resolvable``)."""
    now = now or timezone.now()
    alert = Alert.objects.select_for_update().select_related("concern").get(pk=alert_id)
    if not scope.concerns_visible_q_subquery(user=user).filter(pk=alert.concern_id).exists():
        raise Forbidden("You cannot see this concern.")
    if not alerts_resolvable(user=user).filter(pk=alert.pk).exists():
        raise Forbidden(
            "Only a governor, commissioner or regulator overseeing this concern may resolve its alerts, "
            "never those handling it."
        )
    if alert.resolved_at is None:
        alert.resolved_at, alert.resolved_by, alert.resolution = now, user, reason[:500]
        alert.save(update_fields=["resolved_at", "resolved_by", "resolution"])
        figures_record(alerts_resolved=[alert])
    return alert


def alert_resolutions_forget(*, ended: datetime, batch: int) -> int:
    """Blank the resolution (a reason in someone's own words) of every alert on a concern that ended
    before ``ended``: part of the concern's case file, forgotten with it (the retention sweep passes
    the same moment to ``case_files_forget``). The alert itself stays: its rule, organisation and
    times are figures. Returns how many alerts it changed."""
    rows = Alert.objects.filter(ended_before(ended, through="concern__")).exclude(resolution="")
    forgotten = 0
    for pks in pk_batches(rows, batch=batch):
        with transaction.atomic():
            forgotten += rows.filter(IdsIn(F("pk"), pks)).update(resolution="")
    return forgotten
