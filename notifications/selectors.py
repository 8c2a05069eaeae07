"""Read-only questions about the outbox, for dashboards and metrics: counts only, by indexed queries."""

from __future__ import annotations

from datetime import datetime, timedelta

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


def deliveries_pending_count() -> int:
    """Notices still to send: written, being sent, or failed and waiting for their next try."""
    return Delivery.objects.filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED]
    ).count()
