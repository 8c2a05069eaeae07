"""Celery entry points for the rulebook's sweeps: each calls one backend service and holds no logic."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from backend.concerns.audit import audit_heads_export
from backend.concerns.services import clocks_fire_due
from backend.concerns.sms import sms_inbound_process, sms_inbound_requeue_stale
from backend.concerns.vault import vault_purge_stale
from backend.config.sessions import sessions_clear_expired
from backend.oversight.figures import figures_rollup
from backend.oversight.services import concerns_arrival_check
from backend.oversight.signals import signals_detect
from backend.retention.services import retention_schedule, retention_sweep


@shared_task(name="workflows.tasks.clocks_sweep", acks_late=True, ignore_result=True)
def clocks_sweep() -> dict[str, int]:
    result = clocks_fire_due()
    return {
        "fired": result.fired,
        "escalated": result.escalated,
        "alerts": result.alerts,
        "reminded": result.reminded,
        "check_ins_asked": result.check_ins_asked,
    }


@shared_task(name="workflows.tasks.vault_purge_stale", acks_late=True, ignore_result=True)
def vault_purge_stale_task() -> int:
    return vault_purge_stale(now=timezone.now(), older_than=retention_schedule().vault_stale)


@shared_task(name="workflows.tasks.sessions_clear_expired", acks_late=True, ignore_result=True)
def sessions_clear_expired_task() -> int:
    return sessions_clear_expired()


# Daily. acks_late: a worker killed mid-sweep leaves the message to be delivered again, and the sweep
# is idempotent, so the second run only finishes what the first began.
@shared_task(name="workflows.tasks.retention_sweep", acks_late=True, ignore_result=True)
def retention_sweep_task() -> dict[str, int]:
    return retention_sweep(now=timezone.now())


@shared_task(name="workflows.tasks.figures_rollup", acks_late=True, ignore_result=True)
def figures_rollup_task() -> dict[str, int]:
    return {"folded": figures_rollup()}


@shared_task(name="workflows.tasks.arrival_checks_sweep", acks_late=True, ignore_result=True)
def arrival_checks_sweep() -> int:
    return concerns_arrival_check()


# acks_late + reject_on_worker_lost: a worker killed mid-text leaves the message to be delivered
# again; the service locks the row and skips a text already processed, so that is harmless.
@shared_task(name="workflows.tasks.sms_inbound_process", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def sms_inbound_process_task(inbound_id: int) -> str:
    return sms_inbound_process(inbound_id=inbound_id)


@shared_task(name="workflows.tasks.sms_inbound_requeue_stale", acks_late=True, ignore_result=True)
def sms_inbound_requeue_stale_task() -> int:
    return sms_inbound_requeue_stale()


@shared_task(name="workflows.tasks.audit_heads_export", acks_late=True, ignore_result=True)
def audit_heads_export_task() -> int:
    return audit_heads_export(path=Path(settings.CANDOUR_AUDIT_HEADS_FILE), now=timezone.now()).heads


# Nightly (CANDOUR_SIGNALS_SECONDS). Idempotent: a second run, or a second beat, opens nothing new.
@shared_task(name="workflows.tasks.signals_detect", acks_late=True, ignore_result=True)
def signals_detect_task() -> int:
    return len(signals_detect().opened)
