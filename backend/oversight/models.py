"""Sidelining alerts: what governors see until someone resolves it with a reason."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models

from backend.concerns.models import Concern
from workflows.engine.sidelining import LABELS, Rule


class Alert(models.Model):
    concern = models.ForeignKey(Concern, on_delete=models.PROTECT, related_name="alerts")
    rule = models.CharField(max_length=30, choices=[(r.value, LABELS[r]) for r in Rule])
    # Where the concern was when the alert opened, so dashboards count it against that body.
    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="alerts")
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    resolution = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            # One open alert per concern and rule: detectors that fire twice change nothing.
            models.UniqueConstraint(
                fields=["concern", "rule"], condition=models.Q(resolved_at__isnull=True), name="alert_one_open"
            ),
        ]
        indexes = [models.Index(fields=["organisation", "resolved_at"], name="alert_org_open")]

    def __str__(self) -> str:
        return f"{self.rule} on concern {self.concern_id}"

    @property
    def opened_on(self) -> date:
        return self.opened_at.date()
