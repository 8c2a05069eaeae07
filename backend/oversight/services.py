"""Sidelining alerts: opened by detectors and the clock sweep, resolved by people with a reason."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backend.concerns import scope
from backend.concerns.models import Concern
from backend.concerns.notices import Directory, alert_notices, notices_send
from backend.config.db import IdsIn, rows_insert_plain
from backend.oversight.figures import figures_record
from backend.oversight.models import Alert
from workflows.engine.sidelining import LABELS, Rule, may_alert_again


def alerts_open(
    *, items: Sequence[tuple[Concern, Rule]], now: datetime, directory: Directory | None = None
) -> list[Alert]:
    """Open one alert per concern and rule, never a repeat: an open one already there is left alone,
    and a resolved one is not reopened unless the concern is urgent. Governors are told (counts and
    links only) in the same transaction. A constant number of queries however many items."""
    if not items:
        return []
    # One read for every pair: the concerns' alerts of these rules, sorted out here. A concern has a
    # handful of alerts, so reading a few pairs too many costs less than a condition per pair.
    earlier = {
        (concern_id, rule, resolved_at is None)
        for concern_id, rule, resolved_at in Alert.objects.filter(
            IdsIn(F("concern_id"), {concern.pk for concern, _ in items}), rule__in={str(rule) for _, rule in items}
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
        fresh.append(Alert(concern=concern, rule=rule, organisation=concern.holder, opened_at=now))
    if not fresh:
        return []
    # ON CONFLICT DO NOTHING: a detector racing another sees the partial unique index win, not an error.
    # RETURNING says which were written and their ids, so nothing is read back.
    written = {
        (concern_id, rule): pk
        for pk, concern_id, rule in rows_insert_plain(fresh, ignore_conflicts=True, returning=("id", "concern", "rule"))
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
            request
            for alert in created
            for request in alert_notices(
                directory=directory, alert_id=alert.pk, concern=alert.concern, label=LABELS[Rule(alert.rule)]
            )
        ]
    )
    return created


@transaction.atomic
def alert_resolve(*, alert_id: int, user: User, reason: str, now: datetime | None = None) -> Alert:
    """A governor or guardian who can see the concern closes the alert, saying why."""
    now = now or timezone.now()
    alert = Alert.objects.select_for_update().select_related("concern").get(pk=alert_id)
    if not scope.concerns_visible_q_subquery(user=user).filter(pk=alert.concern_id).exists():
        raise PermissionDenied("You cannot see this concern.")
    if alert.resolved_at is None:
        alert.resolved_at, alert.resolved_by, alert.resolution = now, user, reason[:500]
        alert.save(update_fields=["resolved_at", "resolved_by", "resolution"])
        figures_record(alerts_resolved=[alert])
    return alert
