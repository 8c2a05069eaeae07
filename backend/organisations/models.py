"""Organisations, their escalation route, and who holds which role where."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models

from workflows.engine.calendar import WorkingCalendar


class OrganisationKind(models.TextChoices):
    UNIT = "unit", "Ward or team"
    PROVIDER = "provider", "Provider trust"
    TRUST_BOARD = "trust_board", "Trust board"
    ICB = "icb", "Integrated care board"
    REGULATOR = "regulator", "Regulator or prescribed person"
    PATIENT_GROUP = "patient_group", "Patient group"


class Organisation(models.Model):
    code = models.CharField(max_length=16, unique=True, help_text="ODS-style code")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=OrganisationKind.choices)
    # The structural parent (a ward's trust): roles held in an organisation reach its whole subtree.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    # The next body on the escalation route: where a breached concern goes.
    escalates_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="escalated_from"
    )
    # A trust board governs its trust; an integrated care board commissions providers. These say whose
    # concerns a governor or a commissioner may see exist, without handling them.
    governs = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="governed_by",
        help_text="For a trust board: the trust it governs",
    )
    commissioned_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="commissions",
        help_text="For a provider: the integrated care board that commissions it",
    )
    # Materialised path ("/RX1/RX1W1/") so a subtree is one indexed prefix match, not a recursive walk.
    path = models.CharField(max_length=400, editable=False, db_index=True)
    closure_days = models.JSONField(default=list, blank=True, help_text="ISO dates the organisation is closed")
    # The organisation's Twilio number (E.164): a text to it raises a concern with this body.
    sms_number = models.CharField(max_length=20, blank=True, db_index=True)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def save(self, *args: object, **kwargs: object) -> None:
        self.path = self.path_for(
            parent_path=self.parent.path if self.parent_id and self.parent else None, code=self.code
        )
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @staticmethod
    def path_for(*, parent_path: str | None, code: str) -> str:
        """The one rule for materialised paths, shared by save() and the CSV importer."""
        return f"{parent_path or '/'}{code}/"

    @property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar.with_closures(date.fromisoformat(d) for d in self.closure_days)


class Role(models.TextChoices):
    HANDLER = "handler", "Handler"
    GUARDIAN = "guardian", "Freedom to Speak Up guardian"
    GOVERNOR = "governor", "Governor or board member"
    COMMISSIONER = "commissioner", "Commissioner"
    REGULATOR = "regulator", "Regulator or prescribed person"
    PATIENT_GROUP = "patient_group", "Patient group"
    ADMINISTRATOR = "administrator", "Administrator"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation", "role"], name="membership_unique_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} @ {self.organisation_id}"


class AlertChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "Text message"
    IN_APP = "in_app", "Only in Candour"


class StaffProfile(models.Model):
    """How a member of staff wants to be told. Their mobile number, if any, lives in the contact
    vault like a raiser's; the profile keeps only its token."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    alert_channel = models.CharField(max_length=10, choices=AlertChannel.choices, default=AlertChannel.EMAIL)
    sms_token = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"profile of user {self.user_id}"


class EscalationPolicy(models.Model):
    """One version of a policy document (workflows/engine/policy.py). Versions are never edited: a
    change is a new row, and each concern keeps the version it started under.

    organisation empty: the default for everyone without a policy of their own; otherwise it applies
    to the organisation and its subtree (the nearest one up the tree wins)."""

    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="policies"
    )
    version = models.PositiveIntegerField()
    document = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "version"], name="policy_version_unique"),
            models.UniqueConstraint(
                fields=["version"], condition=models.Q(organisation__isnull=True), name="default_policy_version_unique"
            ),
        ]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        owner = self.organisation.code if self.organisation_id and self.organisation else "default"
        return f"{owner} policy v{self.version}"
