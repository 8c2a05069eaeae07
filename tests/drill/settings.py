"""Drill-only settings: Candour's own (backend.config.settings.local, configured by the environment as
in the benchmarks), with the inbound-text tasks routed to a queue of their own, "sms", so that the
drill's three workers split three real queues (default, clocks, sms). Never used in production."""

from backend.config.settings.local import *  # noqa: F403
from backend.config.settings.local import CELERY_TASK_ROUTES as _ROUTES

CELERY_TASK_ROUTES = {
    **_ROUTES,
    "workflows.tasks.sms_inbound_process": {"queue": "sms"},
    "workflows.tasks.sms_inbound_requeue_stale": {"queue": "sms"},
}
