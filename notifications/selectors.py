"""Read-only questions about the outbox, for dashboards and metrics: counts only, by indexed queries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus

# How far back the dashboard's "notices that could not be sent" looks: long enough to span a weekend.
GIVEN_UP_WINDOW = timedelta(days=7)


def deliveries_given_up_count(*, now: datetime | None = None, window: timedelta = GIVEN_UP_WINDOW) -> int:
    """Notices given up (undeliverable: refused for good, or still failing when their retries ran out)
    in the last ``window``. Each recipient's in-app notice of the same change stands; this counts
    the e-mails and texts that did not reach them (the index delivery_status_updated)."""
    since = (now or timezone.now()) - window
    return Delivery.objects.filter(status=DeliveryStatus.UNDELIVERABLE, updated_at__gte=since).count()


def deliveries_pending_by_status() -> dict[str, int]:
    """Notices still to send, by status: written (pending), being sent, or failed and waiting for
    their next try. Every status is present, zero or not, so a gauge does not vanish."""
    waiting = [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED]
    counts = dict.fromkeys((str(s) for s in waiting), 0)
    rows = Delivery.objects.filter(status__in=waiting).values("status").annotate(n=Count("pk")).order_by()
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts
