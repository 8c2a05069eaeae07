"""Prometheus metrics at /metrics, for a bearer token only.

Two sources. django-prometheus counts requests (by view name, method and status, with latencies):
its middlewares wrap the chain in settings. Candour's own gauges are computed at each scrape by
cheap indexed queries (``CandourCollector``), so they are the same whichever process answers:

    candour_deliveries_waiting{status}          notices still to send (pending, sending, failed)
    candour_deliveries_given_up_7d              notices given up in the last week
    candour_clock_lag_seconds                   how late the oldest due, unfired clock is
    candour_oldest_unanswered_concern_seconds   how long the oldest unacknowledged concern has waited
    candour_queue_depth{queue}                  messages waiting in each Celery queue (Redis broker)

Nothing in them names a person, a concern or a request: labels are statuses, queue names, view
names, methods and status codes. /metrics is not public: it answers 403 unless the request carries
``Authorization: Bearer <CANDOUR_METRICS_TOKEN>`` (unset: 403 always), before any query runs.
With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess
mode) so the request counters of every worker are summed.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from backend.config.access import access
from backend.oversight.operational import clock_lag_seconds, oldest_unanswered_concern_age_seconds
from notifications.selectors import deliveries_given_up_count, deliveries_pending_by_status

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "celery"


def celery_queues() -> list[str]:
    """The default queue and every queue a task is routed to."""
    routes = getattr(settings, "CELERY_TASK_ROUTES", {}) or {}
    return sorted({DEFAULT_QUEUE, *(route["queue"] for route in routes.values() if "queue" in route)})


def queue_depths() -> dict[str, int] | None:
    """Each queue's length, read from Redis (a Celery queue there is a list); None for another broker
    or a Redis that does not answer (the other gauges are still worth a scrape)."""
    url = str(getattr(settings, "CELERY_BROKER_URL", ""))
    if not url.startswith(("redis://", "rediss://")):
        return None
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return {queue: int(client.llen(queue)) for queue in celery_queues()}
        finally:
            client.close()
    except redis.RedisError as exc:
        logger.warning("metrics: the broker did not answer (%s)", type(exc).__name__)
        return None


class CandourCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        waiting = GaugeMetricFamily("candour_deliveries_waiting", "Notices still to send, by status", labels=["status"])
        for status, count in sorted(deliveries_pending_by_status().items()):
            waiting.add_metric([status], count)
        yield waiting
        yield GaugeMetricFamily(
            "candour_deliveries_given_up_7d",
            "Notices given up in the last 7 days (refused, or still failing when retries ran out)",
            value=deliveries_given_up_count(now=now),
        )
        yield GaugeMetricFamily(
            "candour_clock_lag_seconds",
            "How late the oldest due clock not yet fired is (0: the sweep is keeping up)",
            value=clock_lag_seconds(now=now),
        )
        yield GaugeMetricFamily(
            "candour_oldest_unanswered_concern_seconds",
            "How long the oldest concern still waiting for acknowledgement has waited",
            value=oldest_unanswered_concern_age_seconds(now=now),
        )
        depths = queue_depths()
        if depths is not None:
            depth = GaugeMetricFamily("candour_queue_depth", "Messages waiting in each Celery queue", labels=["queue"])
            for queue, length in depths.items():
                depth.add_metric([queue], length)
            yield depth


def metrics_exposition() -> bytes:
    """The text a scrape gets: the request metrics (every worker's, in multiprocess mode) and
    Candour's gauges, computed now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        requests_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(requests_registry)
    else:
        requests_registry = REGISTRY
    own = CollectorRegistry(auto_describe=False)
    own.register(CandourCollector())
    return generate_latest(requests_registry) + generate_latest(own)


def metrics_token_matches(authorization: str) -> bool:
    expected = str(getattr(settings, "CANDOUR_METRICS_TOKEN", "") or "")
    if not expected:
        return False
    return hmac.compare_digest(authorization.encode(), f"Bearer {expected}".encode())


@access("public")  # reaches the view, which asks for the bearer token: scrapers do not sign in
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_token_matches(request.headers.get("Authorization", "")):
        return HttpResponse(
            "Metrics are for the monitoring system: send Authorization: Bearer and the token in "
            "CANDOUR_METRICS_TOKEN.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
