"""Sidelining alerts: what governors see until someone resolves it with a reason."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models

from backend.concerns.models import Concern
from backend.config.encryption import EncryptedTextField
from workflows.engine.sidelining import LABELS, Rule
from workflows.engine.vocabulary import Theme


class Alert(models.Model):
    concern = models.ForeignKey(Concern, on_delete=models.PROTECT, related_name="alerts")
    rule = models.CharField(max_length=30, choices=[(r.value, LABELS[r]) for r in Rule])
    # Where the concern was when the alert opened, so dashboards count it against that body.
    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="alerts")
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    # An overseer's own words: encrypted like the narrative (they may name staff or patients).
    resolution = EncryptedTextField(blank=True)
    # For a rule that alerts once per thing within a concern (a conflicted placement: once per person
    # tried), an opaque keyed digest of that thing; "" for the rest. Never shown, never a name.
    subject = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            # One open alert per concern, rule and subject: detectors that fire twice change nothing.
            models.UniqueConstraint(
                fields=["concern", "rule", "subject"],
                condition=models.Q(resolved_at__isnull=True),
                name="alert_one_open",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "resolved_at"], name="alert_org_open")]

    def __str__(self) -> str:
        return f"{self.rule} on concern {self.concern_id}"

    @property
    def opened_on(self) -> date:
        return self.opened_at.date()


class Measure(models.TextChoices):
    """What a FigureDelta changes. The first group is public, per organisation and quarter received;
    the second is the governors' dashboard, per unit the concern is about and body holding it now."""

    RECEIVED = "received", "Concerns received"
    # Acknowledged, or its acknowledge deadline passed unanswered: the base for "acknowledged in time".
    ACK_DECIDED = "ack_decided", "Acknowledgement due"
    ACK_IN_TIME = "ack_in_time", "Acknowledged in time"
    # One concern in histogram bucket ``bucket``: whole days from receipt to first acknowledgement.
    ACK_DAYS = "ack_days", "Days to acknowledge"
    FEEDBACK_DECIDED = "feedback_decided", "Feedback due"
    FEEDBACK_IN_TIME = "feedback_in_time", "Feedback in time"
    ESCALATED = "escalated", "Escalated"
    CLOSED = "closed", "Closed"
    CLOSED_WITHOUT_FEEDBACK = "closed_without_feedback", "Closed without feedback"
    OPEN_ESCALATIONS = "open_escalations", "Open escalations"
    OVERDUE_CLOCKS = "overdue_clocks", "Overdue clocks"
    OPEN_ALERTS = "open_alerts", "Open alerts"
    # Weekly, per unit (the early-warning series): ``quarter`` carries the week (its Monday) and
    # ``bucket`` the theme (0: every theme; n: the n-th of the Theme vocabulary, for w_received).
    WEEK_RECEIVED = "w_received", "Concerns received"
    WEEK_DETRIMENT = "w_detriment", "Detriment reported"
    WEEK_NOTHING_DONE = "w_nothing_done", "Raisers who said nothing was done"
    WEEK_SPEAK_UP_ANSWERED = "w_speak_answered", "Raisers asked whether they would speak up again"
    WEEK_WOULD_NOT_SPEAK_UP = "w_no_speak_again", "Raisers who would not speak up again"
    WEEK_CLOSED = "w_closed", "Concerns closed"
    WEEK_CLOSED_WITHOUT_FEEDBACK = "w_closed_no_fb", "Concerns closed without feedback"
    WEEK_ACK_DECIDED = "w_ack_decided", "Acknowledgements due"
    WEEK_ACK_LATE = "w_ack_late", "Acknowledgements late"
    # The quarterly speaking-up data return, per organisation and quarter received (``bucket``: the
    # n-th theme, professional group or answer of its vocabulary, backend.oversight.figures says which).
    RETURN_CASES = "r_cases", "Cases"
    RETURN_ANONYMOUS = "r_anonymous", "Raised anonymously"
    RETURN_THEME = "r_theme", "Cases by theme"
    RETURN_DETRIMENT = "r_detriment", "Detriment indicated"
    RETURN_GROUP = "r_group", "Cases by professional group"
    RETURN_SPEAK_UP = "r_speak_up", "Would speak up again"


WEEKLY_MEASURES: frozenset[str] = frozenset(m for m in Measure.values if m.startswith("w_"))
RETURN_MEASURES: frozenset[str] = frozenset(m for m in Measure.values if m.startswith("r_"))


class ReturnCount(models.Model):
    """One count of the quarterly speaking-up data return: an organisation (the trust a concern is
    about, as the public figures count), the quarter the concern was received in, a measure, and its
    key (a theme, a professional group or an answer from their vocabularies; "" for a measure with
    none). Kept up to date by the figures fold, so a return reads these rows, never the concerns.
    Stored exact: suppression happens on the way out (backend.oversight.returns)."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    quarter = models.DateField(help_text="First day of the quarter the concerns were received in")
    measure = models.CharField(max_length=24, choices=[(m.value, m.label) for m in Measure if m.value.startswith("r_")])
    key = models.CharField(max_length=40, blank=True)
    value = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "quarter", "measure", "key"], name="return_count_one_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.measure} {self.key} of {self.organisation_id} in {self.quarter:%Y-%m}"


class WeeklyCount(models.Model):
    """One weekly count of one unit: concerns received (all themes, or one), and the other measures
    early warning watches. Kept up to date by the figures fold, so a signal pass or a chart reads
    these rows, never the concerns. Counts only: nothing names a raiser or a member of staff, and
    the week is as close as a time gets."""

    unit = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    week = models.DateField(help_text="Monday of the week (local time)")
    measure = models.CharField(max_length=24, choices=[(m.value, m.label) for m in Measure if m.value.startswith("w_")])
    # A theme's value from the vocabulary, or empty for every theme together.
    theme = models.CharField(max_length=30, blank=True)
    value = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "measure", "theme", "week"], name="weekly_count_one_per_series_week"
            )
        ]
        indexes = [models.Index(fields=["week"], name="weekly_count_week")]

    def __str__(self) -> str:
        return f"{self.measure} {self.theme or 'all'} of {self.unit_id} in week {self.week}"


class FigureDelta(models.Model):
    """One change to a figure, appended in the same transaction as the change that causes it.

    Insert only, so concurrent intakes never queue on a shared counter row. ``figures_rollup`` folds
    them into OrganisationQuarterFigures and OversightTally and deletes them. Public measures carry
    ``quarter`` (the quarter the concern was received); dashboard measures carry ``holder``.
    The unit, not its trust, is stored: mapping it to the reporting organisation is the rollup's work."""

    # No indexes beyond the key: the rollup reads in key order, and every index would slow intake.
    unit = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False)
    holder = models.ForeignKey(
        "organisations.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    quarter = models.DateField(null=True, blank=True)
    measure = models.CharField(max_length=24, choices=Measure.choices)
    bucket = models.PositiveSmallIntegerField(default=0)
    value = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.measure} {self.value:+d} for {self.unit_id}"


class OrganisationQuarterFigures(models.Model):
    """Public figures for one organisation (the trust a concern is about) and one quarter received.

    Counts only: nothing here names a raiser or a member of staff. Suppression of small numbers
    happens on the way out (backend.oversight.selectors), so the stored counts stay exact."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    quarter = models.DateField(help_text="First day of the quarter the concerns were received in")
    received = models.IntegerField(default=0)
    ack_decided = models.IntegerField(default=0)
    ack_in_time = models.IntegerField(default=0)
    acknowledged = models.IntegerField(default=0)
    # Concerns by whole days to first acknowledgement; the last bucket holds that many days or more.
    ack_days = models.JSONField(default=list)
    # Kept up to date by the rollup from ack_days, so a read never walks the histogram.
    median_days_to_acknowledge = models.FloatField(null=True, blank=True)
    feedback_decided = models.IntegerField(default=0)
    feedback_in_time = models.IntegerField(default=0)
    escalated = models.IntegerField(default=0)
    closed = models.IntegerField(default=0)
    closed_without_feedback = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "quarter"], name="figures_one_per_org_quarter"),
        ]
        indexes = [models.Index(fields=["quarter"], name="figures_quarter")]
        verbose_name_plural = "organisation quarter figures"

    def __str__(self) -> str:
        return f"figures of {self.organisation_id} for {self.quarter:%Y-%m}"


class OversightTally(models.Model):
    """What governors see, kept up to date: per unit a concern is about and body holding it now.

    Two organisation columns, named as on Concern, so ``scope.oversight_q`` filters this table exactly
    as it filters concerns."""

    unit = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    holder = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    open_escalations = models.IntegerField(default=0)
    # Breached clocks on open concerns still held where they breached, not yet answered.
    overdue_clocks = models.IntegerField(default=0)
    open_alerts = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["unit", "holder"], name="tally_one_per_unit_holder")]
        verbose_name_plural = "oversight tallies"

    def __str__(self) -> str:
        return f"tally of {self.unit_id} held by {self.holder_id}"


class FiguresRollup(models.Model):
    """A single row. A rollup holds it locked while it folds, so two never fold at once; it also says
    when the figures were last brought up to date (pages show it)."""

    rolled_at = models.DateTimeField(null=True, blank=True)
    folded = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"figures rolled up at {self.rolled_at}"


class SignalKind(models.TextChoices):
    """What a series did: the early-warning detectors (workflows.engine.early_warning)."""

    RISE = "rise", "More than usual"
    FALL = "fall", "Fewer than usual"
    QUIET = "quiet", "Gone quiet"
    # A trust's monthly trend (the share who would not speak up again, say) began a concerning special
    # cause on its Making Data Count chart (backend.oversight.trends.trend_shifts).
    SHIFT = "shift", "Worse than usual"


class SignalState(models.TextChoices):
    NEW = "new", "New"
    UNDER_REVIEW = "under_review", "Under review"
    CLOSED = "closed", "Closed"


class Signal(models.Model):
    """An early warning: one weekly series of one unit (concerns received, all themes or one; or
    another measure) crossed its detector's threshold. One open signal per series and kind; the
    nightly pass opens it, those who watch the unit review and close it with a reason (each change
    a SignalChange). Counts and a unit only: nothing names a concern, a raiser or a member of staff."""

    unit = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    measure = models.CharField(max_length=24, choices=[(m.value, m.label) for m in Measure if m.value.startswith("w_")])
    theme = models.CharField(max_length=30, blank=True)
    kind = models.CharField(max_length=10, choices=SignalKind.choices)
    state = models.CharField(max_length=15, choices=SignalState.choices, default=SignalState.NEW)
    # The week whose count crossed the threshold, and what the detector saw then.
    week = models.DateField()
    # For a weekly series: concerns a week. For a trust's monthly trend (kind "shift"): the month's
    # value (a count, or a share in per cent), the chart's mean, and the upper process limit.
    baseline = models.FloatField(help_text="Expected from the series' own history (a week, or a month for a trend)")
    recent = models.FloatField(help_text="Seen lately (a week, or the month for a trend)")
    statistic = models.FloatField()
    threshold = models.FloatField()
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # Words of whoever closed it: encrypted like every member of staff's own words.
    closed_reason = EncryptedTextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "measure", "theme", "kind"],
                condition=~models.Q(state="closed"),
                name="signal_one_open_per_series",
            ),
        ]
        indexes = [models.Index(fields=["state", "opened_at"], name="signal_state_opened")]

    def __str__(self) -> str:
        return f"{self.kind} signal on {self.unit_id} ({self.measure} {self.theme or 'all'})"

    @property
    def opened_on(self) -> date:
        return self.opened_at.date()

    @property
    def theme_label(self) -> str:
        """The theme in words ("" for every theme together)."""
        return Theme(self.theme).label if self.theme else ""


class SignalChange(models.Model):
    """The audit of a signal's lifecycle: who moved it, when, and why."""

    signal = models.ForeignKey(Signal, on_delete=models.CASCADE, related_name="changes")
    from_state = models.CharField(max_length=15, blank=True)
    to_state = models.CharField(max_length=15)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    at = models.DateTimeField()
    reason = EncryptedTextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"signal {self.signal_id}: {self.from_state or 'opened'} -> {self.to_state}"


class Indicator(models.Model):
    """Another measure of one organisation for one month, imported from elsewhere (the staff survey's
    "I would feel secure raising concerns", complaints, a mortality index), so the concern signals can
    be read beside it: a quiet ward in a trust whose staff say they would not feel secure is no comfort."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    # A short code the file uses again month after month ("staff_survey_secure_raising").
    name = models.SlugField(max_length=60)
    label = models.CharField(max_length=200, help_text="The indicator in words, as the page shows it")
    month = models.DateField(help_text="The first day of the month the value is for")
    value = models.FloatField()
    source = models.CharField(max_length=200, help_text="Where the figure comes from")

    class Meta:
        ordering = ["organisation", "name", "month"]
        constraints = [
            # One value per organisation, indicator and month: a file imported again updates it.
            models.UniqueConstraint(fields=["organisation", "name", "month"], name="indicator_one_per_month"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.month:%Y-%m} for {self.organisation_id}"
