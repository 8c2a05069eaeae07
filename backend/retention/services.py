"""The retention schedule: what Candour forgets, and when.

``CANDOUR_RETENTION`` (settings) gives each kind its period; ``retention_sweep`` works out from its
``now`` the moment before which each kind is old, and has the app that owns the rows forget them:
concerns (identities, case files, inbound texts, receipt look-up windows, the contact vault),
oversight (alert resolutions), notifications (the outbox) and the session store. Beat runs it daily
(workflows.tasks.retention_sweep); `manage.py retention_sweep` runs it by hand. Every step works in
batches by primary key and is idempotent, so two sweeps at once, or one cut short, do no harm: the
next run carries on.

Downstream of every app it calls, and imported by entry points only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from backend.concerns.services.retention import (
    case_files_forget,
    confidential_identities_forget,
    inbound_sms_purge,
    receipt_windows_purge,
)
from backend.concerns.vault import vault_purge_stale
from backend.config.sessions import sessions_clear_expired
from backend.oversight.services import alert_resolutions_forget
from notifications.services import deliveries_purge

logger = logging.getLogger(__name__)

# The keys of CANDOUR_RETENTION: each period in whole days, and the rows a statement takes.
PERIOD_KEYS = (
    "CONFIDENTIAL_IDENTITY_DAYS",
    "CASE_FILE_DAYS",
    "DELIVERY_DAYS",
    "INBOUND_SMS_DAYS",
    "THROTTLE_WINDOW_DAYS",
    "VAULT_STALE_DAYS",
)
KEYS = (*PERIOD_KEYS, "BATCH")


@dataclass(frozen=True)
class RetentionSchedule:
    """How long each kind is kept after the moment it is counted from (see the settings' comments)."""

    confidential_identity: timedelta  # after its concern ended
    case_file: timedelta  # after its concern ended
    delivery: timedelta  # after its final status (an in-app notice: after it was read)
    inbound_sms: timedelta  # after it was processed
    throttle_window: timedelta  # after its minute ended
    vault_stale: timedelta  # after it was stored, once no open concern needs it
    batch: int


def retention_schedule(configured: Mapping[str, Any] | None = None) -> RetentionSchedule:
    """The schedule ``CANDOUR_RETENTION`` (or ``configured``) gives. ImproperlyConfigured for a
    missing or unknown key (a misspelt key would otherwise leave its default in place unnoticed) or a
    value that is not a whole number of at least 1 (0 days would forget a case file the day it closed)."""
    values = dict(settings.CANDOUR_RETENTION if configured is None else configured)
    unknown, missing = sorted(set(values) - set(KEYS)), sorted(set(KEYS) - set(values))
    if unknown or missing:
        raise ImproperlyConfigured(f"CANDOUR_RETENTION: unknown keys {unknown}, missing keys {missing}")
    for key in KEYS:
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ImproperlyConfigured(
                f"CANDOUR_RETENTION[{key!r}] must be a whole number of at least 1, not {value!r}"
            )
    days = {key: timedelta(days=values[key]) for key in PERIOD_KEYS}
    return RetentionSchedule(
        confidential_identity=days["CONFIDENTIAL_IDENTITY_DAYS"],
        case_file=days["CASE_FILE_DAYS"],
        delivery=days["DELIVERY_DAYS"],
        inbound_sms=days["INBOUND_SMS_DAYS"],
        throttle_window=days["THROTTLE_WINDOW_DAYS"],
        vault_stale=days["VAULT_STALE_DAYS"],
        batch=values["BATCH"],
    )


def retention_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The system check (`manage.py check`): the schedule reads."""
    try:
        retention_schedule()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="retention.E001")]
    return []


class RetentionIncomplete(Exception):
    """One or more kinds failed (each logged with its traceback); every other kind was still swept."""

    def __init__(self, failed: list[str], counts: dict[str, int]) -> None:
        super().__init__(f"retention sweep incomplete: {', '.join(failed)} failed")
        self.failed, self.counts = failed, counts


def retention_sweep(*, now: datetime | None = None, batch: int | None = None) -> dict[str, int]:
    """Forget everything the schedule says is old at ``now``; returns how many of each kind went
    (concerns changed for identities and case files, alerts changed for resolutions, rows deleted for
    the rest). ``batch``: rows a statement (the schedule's BATCH unless given).

    Each kind runs on its own: one that fails is logged, the others still run, and then
    RetentionIncomplete is raised with the counts of those that ran, so the job shows as failed."""
    schedule = retention_schedule()
    now = now or timezone.now()
    size = schedule.batch if batch is None else batch
    if size < 1:
        raise ValueError("batch must be at least 1")
    case_file_ended = now - schedule.case_file
    counts: dict[str, int] = {}

    def case_files() -> int:
        forgotten = case_files_forget(ended=case_file_ended, batch=size, now=now)
        counts["messages"] = forgotten.messages
        counts["reasons"] = forgotten.reasons
        return forgotten.concerns

    steps: dict[str, Callable[[], int]] = {
        "confidential_identities": lambda: confidential_identities_forget(
            ended=now - schedule.confidential_identity, batch=size, now=now
        ),
        "case_files": case_files,
        "alert_resolutions": lambda: alert_resolutions_forget(ended=case_file_ended, batch=size),
        "deliveries": lambda: deliveries_purge(final_before=now - schedule.delivery, batch=size),
        "inbound_sms": lambda: inbound_sms_purge(processed=now - schedule.inbound_sms, batch=size),
        "receipt_windows": lambda: receipt_windows_purge(ended=now - schedule.throttle_window, batch=size),
        "vault_entries": lambda: vault_purge_stale(now=now, older_than=schedule.vault_stale, batch=size),
        "sessions": lambda: sessions_clear_expired(now=now, batch=size),
    }
    failed = []
    for kind, step in steps.items():
        try:
            counts[kind] = step()
        except Exception:
            logger.exception("retention: %s failed", kind)
            failed.append(kind)
    logger.info("retention: %s", " ".join(f"{kind}={n}" for kind, n in counts.items()))
    if failed:
        raise RetentionIncomplete(failed, counts)
    return counts
