"""Read-only queries over sidelining alerts, scoped to what the caller may see."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from backend.concerns import scope
from backend.concerns.models import Concern
from backend.oversight.models import Alert


def alerts_visible(*, user: User | AnonymousUser, open_only: bool = True) -> QuerySet[Alert]:
    """Alerts on concerns the user oversees or handles; open ones first by age."""
    alerts = Alert.objects.filter(concern__in=scope.concerns_visible_q_subquery(user=user)).select_related(
        "concern", "organisation"
    )
    if open_only:
        alerts = alerts.filter(resolved_at__isnull=True)
    return alerts.order_by("opened_at", "pk")


def alerts_resolved_recently(*, user: User | AnonymousUser, since: datetime, limit: int = 200) -> list[Alert]:
    """An alert's history, for the same readers as the open ones: those resolved since ``since``, newest
    first, with who resolved each and why (the overseer's words, decrypted for the page)."""
    return list(
        alerts_visible(user=user, open_only=False)
        .filter(resolved_at__gte=since)
        .select_related("resolved_by")
        .order_by("-resolved_at", "-pk")[:limit]
    )


def alerts_resolvable(*, user: User | AnonymousUser) -> QuerySet[Alert]:
    """Alerts the user may resolve: on concerns they oversee as a governor, commissioner or regulator,
    and never on one they handle. Sidelining is what the guardians and handlers of a concern are
    alerted about, so none of them may close an alert on it, wherever their body sits: a guardian
    further up the route handles the concern once it reaches them, and the one it came from keeps a
    view of it."""
    overseen = Concern.objects.filter(scope.oversight_q(user=user)).exclude(scope.handling_q(user=user))
    return Alert.objects.filter(concern__in=overseen.values("pk"))


def alert_ids_resolvable(*, user: User | AnonymousUser, alerts: Iterable[Alert]) -> set[int]:
    """Which of these alerts the user may resolve (one query), so a page offers the form only there."""
    ids = [alert.pk for alert in alerts]
    return set(alerts_resolvable(user=user).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
