"""Drill-only settings: Candour's own (backend.config.settings.local, configured by the environment as
in the benchmarks). The drill's three workers split the three queues production routes to (default,
clocks, sms: CELERY_TASK_ROUTES). Never used in production."""

from backend.config.settings.local import *  # noqa: F403
