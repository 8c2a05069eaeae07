"""Sidelining alerts: opened by detectors and the clock sweep, resolved by people with a reason."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backend.concerns import scope
from backend.concerns.models import Concern
from backend.concerns.notices import Directory, alert_notices, notices_send
from backend.config.db import rows_insert
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
    pairs = Q()
    for concern, rule in items:
        pairs |= Q(concern_id=concern.pk, rule=rule)
    earlier = {
        (a.concern_id, a.rule, a.resolved_at is None)
        for a in Alert.objects.filter(pairs).only("concern_id", "rule", "resolved_at")
    }
    fresh: list[Alert] = []
    seen: set[tuple[int, str]] = set()
    for concern, rule in items:
        key = (concern.pk, str(rule))
        if key in seen or (concern.pk, rule, True) in earlier:
            continue
        seen.add(key)
        if not may_alert_again(already_alerted=(concern.pk, rule, False) in earlier, urgent=concern.urgent):
            continue
        fresh.append(Alert(concern=concern, rule=rule, organisation=concern.holder, opened_at=now))
    if not fresh:
        return []
    # ON CONFLICT DO NOTHING: a detector racing another sees the partial unique index win, not an error.
    rows_insert(fresh, ignore_conflicts=True)
    # Exactly the pairs written now (a pair already open was skipped above, so it is not among them).
    fresh_pairs = {(a.concern_id, a.rule) for a in fresh}
    created = [
        a
        for a in Alert.objects.filter(
            resolved_at__isnull=True, opened_at=now, concern_id__in=[a.concern_id for a in fresh]
        ).select_related("concern", "concern__unit", "concern__holder")
        if (a.concern_id, a.rule) in fresh_pairs
    ]
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
