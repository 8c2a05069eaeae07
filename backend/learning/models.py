""" "You said, we did" summaries of closed concerns, and the lessons shared from them across
organisations.

A summary is a guardian's short public account of what a concern raised and what changed. It is
checked for identifying detail before anyone else reads it, approved by a second guardian, offered to
the raiser first, and published on the organisation's public page no sooner than the end of the
quarter in which the concern closed (the public figures' own time bucket), so it cannot be tied to a
day. Until then its words are encrypted like every member of staff's words.

A published summary may be shared to the network as a Lesson: its title, the summary, themes and the
unit type it came from; never the concern, its reference or anything about its raiser. Guardians in
other organisations mark "we have this too" (a LessonMark per organisation) and link a concern of
their own to it (a LessonLink, seen only by the organisation that linked it).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models.expressions import CombinedExpression

from backend.concerns.models import Concern
from backend.config.encryption import EncryptedTextField
from backend.organisations.models import Organisation
from workflows.engine.vocabulary import Theme, choices

# The one text-search configuration: the index and every query must name the same one, or
# PostgreSQL cannot use the index.
SEARCH_CONFIG = "english"


def lesson_search_vector() -> CombinedExpression:
    """The words a lesson is found by, weighted title first: the GIN index is built on exactly this."""
    return SearchVector("title", weight="A", config=SEARCH_CONFIG) + SearchVector(
        "text", weight="B", config=SEARCH_CONFIG
    )


class SummaryState(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Waiting for a second guardian to approve it"
    APPROVED = "approved", "Approved"
    OBJECTED = "objected", "The raiser objected: it will not be published"


class Summary(models.Model):
    """One "you said, we did" summary of a closed concern. Public once approved and its
    ``publish_at`` has come (the start of the quarter after the one the concern closed in), unless
    the raiser objected first."""

    concern = models.OneToOneField(Concern, on_delete=models.CASCADE, related_name="public_summary")
    # The organisation whose public page shows it: the provider the concern's unit belongs to.
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    text = EncryptedTextField()
    # The guardian's confirmation of the identifying-detail checklist (SUMMARY_CHECKLIST's values).
    checklist = models.JSONField(default=list)
    state = models.CharField(max_length=20, choices=SummaryState.choices, default=SummaryState.AWAITING_APPROVAL)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField()
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # The quarter the concern closed in (its first day), and when the summary may first be public.
    quarter = models.DateField()
    publish_at = models.DateTimeField()
    objected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "summaries"
        indexes = [models.Index(fields=["organisation", "state", "publish_at"], name="summary_public")]

    def __str__(self) -> str:
        return f"summary of concern {self.concern_id}"


class UnitType(models.TextChoices):
    """What kind of ward or team a lesson came from: enough to say whether it applies elsewhere,
    never which ward."""

    ACUTE_WARD = "acute_ward", "Acute or medical ward"
    SURGICAL = "surgical", "Surgical ward or theatres"
    EMERGENCY = "emergency", "Emergency department"
    MATERNITY = "maternity", "Maternity"
    CHILDREN = "children", "Children's services"
    MENTAL_HEALTH = "mental_health", "Mental health"
    COMMUNITY = "community", "Community nursing or therapy"
    PRIMARY_CARE = "primary_care", "GP practice or primary care"
    CARE_HOME = "care_home", "Care home or social care"
    CORPORATE = "corporate", "Corporate or support services"
    OTHER = "other", "Other"


class Lesson(models.Model):
    """A published summary shared with the network. Holds its own copy of the words (published, so
    plain, and searched by PostgreSQL's full text), and nothing that leads back to the concern for
    anyone outside the organisation that shared it."""

    summary = models.OneToOneField(Summary, on_delete=models.CASCADE, related_name="lesson")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    text = models.TextField()
    themes = models.JSONField(default=list)
    unit_type = models.CharField(max_length=20, choices=UnitType.choices)
    shared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    shared_at = models.DateTimeField()
    # Set in the transaction that opened the system signal (three providers marked it): never twice.
    signalled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [GinIndex(lesson_search_vector(), name="lesson_search")]

    def __str__(self) -> str:
        return self.title

    @property
    def theme_labels(self) -> list[str]:
        known = {theme.value: theme.label for theme in Theme}
        return [known.get(t, t) for t in self.themes]


class LessonTheme(models.Model):
    """A lesson's theme as a row of its own: filtering by theme is one indexed join on any engine
    (a JSON containment test is PostgreSQL's alone)."""

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="theme_rows")
    theme = models.CharField(max_length=30, choices=choices(Theme))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lesson", "theme"], name="lesson_theme_once")]
        indexes = [models.Index(fields=["theme"], name="lesson_theme")]

    def __str__(self) -> str:
        return f"{self.theme} of lesson {self.lesson_id}"


class LessonMark(models.Model):
    """An organisation says "we have this too": once per organisation, whoever of its guardians marks."""

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="marks")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lesson", "organisation"], name="lesson_mark_once")]

    def __str__(self) -> str:
        return f"lesson {self.lesson_id} marked by {self.organisation_id}"


class LessonLink(models.Model):
    """One of an organisation's own concerns linked to a lesson shared by another. Seen only by
    those who handle that concern: the lesson's organisation never learns which concern it is."""

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="links")
    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="lesson_links")
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    linked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lesson", "concern"], name="lesson_link_once")]

    def __str__(self) -> str:
        return f"concern {self.concern_id} linked to lesson {self.lesson_id}"
