"""Celery entry points for the rulebook's sweeps: each calls one backend service and holds no logic."""

from __future__ import annotations

from celery import shared_task

from backend.concerns.services import clocks_fire_due


@shared_task(name="workflows.tasks.clocks_sweep", acks_late=True, ignore_result=True)
def clocks_sweep() -> dict[str, int]:
    result = clocks_fire_due()
    return {"fired": result.fired, "escalated": result.escalated, "alerts": result.alerts}
