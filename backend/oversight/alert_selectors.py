"""Read-only queries over sidelining alerts, scoped to what the caller may see."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from backend.concerns import scope
from backend.oversight.models import Alert


def alerts_visible(*, user: User | AnonymousUser, open_only: bool = True) -> QuerySet[Alert]:
    """Alerts on concerns the user oversees or handles; open ones first by age."""
    alerts = Alert.objects.filter(concern__in=scope.concerns_visible_q_subquery(user=user)).select_related(
        "concern", "organisation"
    )
    if open_only:
        alerts = alerts.filter(resolved_at__isnull=True)
    return alerts.order_by("opened_at", "pk")
