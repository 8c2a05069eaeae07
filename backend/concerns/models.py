"""Concerns, their clocks, their audit trail and their receipts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from backend.concerns.crypto import ContactSpace
from backend.config.encryption import EncryptedTextField
from backend.organisations.models import Organisation
from workflows.engine.lifecycle import BY_NAME, State
from workflows.engine.policy import ClockKind
from workflows.engine.vocabulary import EventKind, Outcome, RaiserKind, Theme, choices

# Unique and looked-up text columns get plain btree indexes here, declared in Meta: a field's own
# unique=True or db_index=True also makes PostgreSQL a second "_like" index for LIKE 'x%', which
# nothing asks of these columns and every intake would pay for.


class IdentityMode(models.TextChoices):
    NAMED = "named", "Named"
    CONFIDENTIAL = "confidential", "Confidential"
    ANONYMOUS = "anonymous", "Anonymous"


class SpeakUpAgain(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    MAYBE = "maybe", "Maybe"
    DONT_KNOW = "dont_know", "I don't know"


class AftercareConsent(models.TextChoices):
    """Whether a raiser agreed, at closure, to be asked how things are afterwards by text (an SMS
    raiser, whose number is then kept until the last check-in) or by the page (a web raiser who left
    a contact). "" when never asked (an anonymous web raiser: the page asks them when they sign in)."""

    ASKED = "asked", "Asked, no answer yet"
    YES = "yes", "Agreed"
    NO = "no", "Declined"
    UNANSWERED = "unanswered", "Did not answer"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    SMS = "sms", "SMS"


RAISER_KIND_CHOICES = choices(RaiserKind)
THEME_CHOICES = choices(Theme)
EVENT_CHOICES = choices(EventKind)
STATE_CHOICES = [(s.value, s.value.replace("_", " ").capitalize()) for s in State]


def _move(name: str) -> Callable[[Any], None]:
    """The model's side of a move of the transition table: django-fsm checks the source and sets the
    target, nothing else (no side effects in transitions; the services do the work)."""

    def move(self: Any) -> None: ...

    move.__name__ = move.__qualname__ = name
    table = BY_NAME[name]
    return transition(field="state", source=sorted(str(s) for s in table.sources), target=str(table.target))(move)


class Concern(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    reference = models.CharField(max_length=16)
    raiser_kind = models.CharField(max_length=20, choices=RAISER_KIND_CHOICES)
    professional_group = models.CharField(max_length=60, blank=True)
    identity_mode = models.CharField(max_length=12, choices=IdentityMode.choices)
    themes = models.JSONField(default=list)
    urgent = models.BooleanField(default=False, help_text="Patient safety, marked urgent")
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.WEB)
    # For an SMS raiser: the vault token of their number (a keyed hash, never the number itself).
    contact_token = models.CharField(max_length=64, blank=True)
    # The unit the concern is about, and the body that holds it now (moves up the route).
    unit = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="concerns_about")
    holder = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="concerns_held")
    route_level = models.PositiveSmallIntegerField(default=0)
    # The policy version the concern started under; it keeps it wherever it goes.
    policy = models.ForeignKey("organisations.EscalationPolicy", on_delete=models.PROTECT, related_name="+")
    # Reassignments after the first placement plus escalations: three or more is "bounced".
    handovers = models.PositiveSmallIntegerField(default=0)
    # A named raiser may agree that bodies further up the route learn who they are.
    identity_shared_on_escalation = models.BooleanField(default=False)
    # The handler the guardian placed the concern with, if any.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_concerns"
    )
    state = FSMField(default=State.RECEIVED.value, choices=STATE_CHOICES, protected=True)

    what_happened = EncryptedTextField()
    when_happened = EncryptedTextField(blank=True)
    desired_outcome = EncryptedTextField(blank=True)
    raised_before = models.BooleanField(null=True)
    raiser_name = EncryptedTextField(blank=True)
    raiser_contact = EncryptedTextField(blank=True)
    # Whom a representative raises it for, in their words ("residents of a care home"): for those
    # handling it at its origin only, never in the packet, since a group's name may point to its raiser.
    on_behalf_of = EncryptedTextField(blank=True)

    # Keyed hash of the submitting form's one-time token: a refresh or retry finds the first concern.
    # NULL, not "", when there was no token: many NULLs live under the unique constraint, "" would clash.
    submission_digest = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    detriment_reported = models.BooleanField(default=False)
    would_speak_up_again = models.CharField(max_length=10, choices=SpeakUpAgain.choices, blank=True)
    # The raiser lets anyone with the reference (a patient group, a friend) follow its status: the stage
    # and the body holding it, nothing they wrote and never who they are. Off until they turn it on.
    status_shared = models.BooleanField(default=False)
    # What the guardian found, recorded on closing ("" until then, and for concerns closed before
    # outcomes were recorded). Upheld or partly upheld with no action recorded needs a reason.
    outcome = models.CharField(max_length=14, choices=choices(Outcome), blank=True)

    # For an anonymous raiser this is rounded down to the hour: no exact second is kept to show staff.
    received_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    # Head of this concern's audit chain. Chaining per concern (the row is locked by every service
    # that writes an Event anyway) means concurrent intakes never queue on one global lock.
    audit_seq = models.PositiveIntegerField(default=0)
    audit_head = models.CharField(max_length=64, default="")
    # Detectors that look at a concern once it has arrived (a repeat on the same unit and theme) run
    # after the raise commits, off the raiser's request; until they have, this stays true, and a sweep
    # runs them for any concern whose task was lost.
    arrival_checks_pending = models.BooleanField(default=True)
    # After closure (services.aftercare): a detriment case is a concern of its own that follows the
    # closed one it was reported on; the closed one keeps its SMS raiser's token (and the vault the
    # number) only until ``contact_kept_until``, then it is purged as at closure.
    detriment_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="detriment_cases"
    )
    aftercare_consent = models.CharField(max_length=10, choices=AftercareConsent.choices, blank=True)
    contact_kept_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        # See the note on plain indexes at the top of this module.
        constraints = [
            models.UniqueConstraint(fields=["reference"], name="concern_reference_unique"),
            models.UniqueConstraint(fields=["submission_digest"], name="concern_submission_unique"),
        ]
        indexes = [
            models.Index(fields=["state"], name="concern_state"),
            models.Index(fields=["contact_token"], name="concern_contact_token"),
            models.Index(fields=["holder", "state"], name="concern_holder_state"),
            models.Index(
                fields=["id"], name="concern_arrival_pending", condition=models.Q(arrival_checks_pending=True)
            ),
            # The aftercare sweep reads only closed concerns still keeping a number, by when it goes.
            models.Index(
                fields=["contact_kept_until"],
                name="concern_contact_kept",
                condition=models.Q(contact_kept_until__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def refresh_from_db(self, using: str | None = None, fields: Any = None, from_queryset: Any = None) -> None:
        """Thread-safe. django-fsm's mixin unlocks the protected state field for a refresh by turning off
        a flag on the field, which every thread shares: a refresh in one gunicorn thread could then be
        refused in another (the multi-node drill saw a raiser's message saved and a 500 in answer), and
        for that moment no thread's state was protected. The field refuses a set only while the instance
        already holds a state, so the refresh forgets this instance's state first and leaves the flag be."""
        if fields is None:  # every field, named: a state forgotten here would otherwise count as deferred
            fields = [f.attname for f in self._meta.concrete_fields]
        if "state" in fields:
            self.__dict__.pop("state", None)
        models.Model.refresh_from_db(self, using=using, fields=fields, from_queryset=from_queryset)

    @property
    def received_on(self) -> date:
        """The day only: what staff and the API show, so no exact submission time identifies a raiser."""
        return self.received_at.date()

    @property
    def theme_labels(self) -> list[str]:
        """The themes in words, as every page shows them (a stored value never reaches a page)."""
        known = {theme.value: theme.label for theme in Theme}
        return [known.get(t, t) for t in self.themes]

    # The transitions only check the table in workflows.engine.lifecycle; services do the work.
    acknowledge = _move("acknowledge")
    start_review = _move("start_review")
    give_feedback = _move("give_feedback")
    close = _move("close")
    escalate = _move("escalate")
    withdraw = _move("withdraw")
    reopen = _move("reopen")


class Direction(models.TextChoices):
    TO_RAISER = "to_raiser", "To the raiser"
    FROM_RAISER = "from_raiser", "From the raiser"


class MessageKind(models.TextChoices):
    MESSAGE = "message", "Message"
    INFORMATION = "information", "Further information"
    DETRIMENT = "detriment", "Detriment reported"
    NOTHING_DONE = "nothing_done", "Nothing was done"
    FEEDBACK = "feedback", "Feedback"


class Message(models.Model):
    """Two-way conversation between the raiser and those handling the concern."""

    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=12, choices=Direction.choices)
    kind = models.CharField(max_length=12, choices=MessageKind.choices, default=MessageKind.MESSAGE)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    body = EncryptedTextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.direction} on concern {self.concern_id}"


class Reason(models.Model):
    """A member of staff's own words given with a move: why a concern was closed, its clocks paused or
    it was escalated. Encrypted like the narrative, and kept beside its Event (the concern's link of
    the same ``seq``) rather than in it: the link holds a keyed digest of the words, so keys can
    rotate and retention can delete the words without touching the insert-only chain."""

    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="reasons")
    seq = models.PositiveIntegerField()
    text = EncryptedTextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["concern", "seq"], name="reason_one_per_event")]

    def __str__(self) -> str:
        return f"reason for event #{self.seq} of concern {self.concern_id}"


class VaultEntry(models.Model):
    """The contact vault: the only place a raiser's phone number lives, encrypted, found by a keyed
    hash of the number. Concerns and deliveries carry the token, never the number."""

    token = models.CharField(max_length=64, unique=True)
    # Whose number: its token is hashed in that space (crypto.contact_token), and only raisers'
    # numbers are purged with their concerns.
    space = models.CharField(max_length=8, choices=choices(ContactSpace), default=ContactSpace.RAISER.value)
    number = EncryptedTextField()
    opted_out = models.BooleanField(default=False, help_text="The raiser texted STOP")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "vault entries"

    def __str__(self) -> str:
        return f"vault entry {self.pk}"


class InboundSms(models.Model):
    """One row per Twilio MessageSid: the webhook stores the text here and answers at once; a worker
    processes it after commit. The unique sid makes a retried webhook store nothing new.

    ``payload`` (From, To and Body as JSON) is encrypted, because From is a phone number and the
    number lives nowhere in clear outside the contact vault; it is emptied once the text is processed,
    so afterwards only the sid and the times remain."""

    message_sid = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField()
    payload = EncryptedTextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # When the requeue sweep sends a task for it again if it is still waiting (a lost broker message,
    # a killed worker), and how many times it has; each wait is longer than the last.
    retry_at = models.DateTimeField(null=True, blank=True)
    requeues = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "inbound SMS"
        verbose_name_plural = "inbound SMS"
        indexes = [
            # The requeue sweep reads only texts still waiting, by when they are due again.
            models.Index(fields=["retry_at"], name="inboundsms_waiting", condition=models.Q(processed_at=None)),
        ]

    def __str__(self) -> str:
        return self.message_sid


class Receipt(models.Model):
    """Only the keyed hash of a receipt code is kept; the code itself is shown once."""

    concern = models.OneToOneField(Concern, on_delete=models.CASCADE, related_name="receipt")
    digest = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["digest"], name="receipt_digest_unique")]

    def __str__(self) -> str:
        return f"receipt for concern {self.concern_id}"


class ReceiptGuessWindow(models.Model):
    """One row per minute: every follow-up attempt, right or wrong, adds one, atomically.

    A global ceiling rather than a per-address one: Candour keeps no addresses."""

    window_start = models.DateTimeField(unique=True)
    attempts = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.window_start:%H:%M} {self.attempts}"


class ClockStatus(models.TextChoices):
    PENDING = "pending", "Running"
    FIRED = "fired", "Breached"
    STOPPED = "stopped", "Stopped"


class Clock(models.Model):
    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="clocks")
    kind = models.CharField(max_length=20, choices=[(k.value, k.value) for k in ClockKind])
    # Whose clock it is: the body holding the concern at this level of its route.
    holder = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    route_level = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ClockStatus.choices, default=ClockStatus.PENDING)
    # How it counts and what a breach does, copied from the policy rule when the clock started.
    unit = models.CharField(max_length=15, default="calendar_days")
    on_breach = models.JSONField(default=list)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Staff's own words: encrypted like the narrative.
    pause_reason = EncryptedTextField(blank=True)
    fired_at = models.DateTimeField(null=True, blank=True)
    late = models.BooleanField(default=False, help_text="Fired after its sweep interval had passed")
    # When those handling the concern are reminded that the deadline is near (the policy rule's lead
    # before due_at; NULL for none), and when they were: set in the transaction that writes the
    # reminder's outbox rows, so a reminder goes once. Moves with due_at (pauses, activity).
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # At most one running clock of a kind per concern: a second sweep, or a reopen racing a
            # sweep, cannot start a duplicate. Fired and stopped clocks stay as history.
            models.UniqueConstraint(
                fields=["concern", "kind"],
                name="clock_one_running_per_kind",
                condition=models.Q(status="pending"),
            ),
        ]
        indexes = [
            # The sweep reads only pending clocks by due time: its cost grows with due clocks, not concerns.
            models.Index(
                fields=["due_at"],
                name="clock_pending_due",
                condition=models.Q(status=ClockStatus.PENDING, paused_at__isnull=True),
            ),
            # The reminder pass reads only running clocks not yet reminded, by reminder time.
            models.Index(
                fields=["remind_at"],
                name="clock_pending_remind",
                condition=models.Q(
                    status=ClockStatus.PENDING,
                    paused_at__isnull=True,
                    reminded_at__isnull=True,
                    remind_at__isnull=False,
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} clock of concern {self.concern_id} at level {self.route_level}"


class Event(models.Model):
    """Append-only audit entry, hash-chained per concern. Never updated, never deleted."""

    concern = models.ForeignKey(Concern, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=40, choices=EVENT_CHOICES)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    actor_role = models.CharField(max_length=20)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    # Ids, levels and codes only: never narrative or identity.
    data = models.JSONField(default=dict)
    visible_to_raiser = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["concern_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["concern", "seq"], name="event_seq_unique"),
            models.UniqueConstraint(fields=["hash"], name="event_hash_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} of concern {self.concern_id}"


class ConflictBasis(models.TextChoices):
    """Why someone must not handle a concern: the raiser named them (in words or by role), they said
    so themselves, or the guardian named them (resolving the raiser's naming to a person)."""

    RAISER_WORDS = "raiser_words", "Named by the raiser in their own words"
    LINE_MANAGER = "line_manager", "The raiser's line manager"
    WARD_MANAGER = "ward_manager", "The manager of the ward or team"
    DECLARED = "declared", "Declared by the member of staff"
    GUARDIAN = "guardian", "Named by the guardian"


# What the raiser may name: the roles they may tick, and their words (as the guardian resolves them).
RAISER_ROLES = (ConflictBasis.LINE_MANAGER, ConflictBasis.WARD_MANAGER)
RAISER_NAMING = (ConflictBasis.RAISER_WORDS, *RAISER_ROLES)


class ConflictOfInterest(models.Model):
    """Someone who must not handle this concern. Candour never places the concern with a ``person``
    here, and a try opens a sidelining alert. The raiser's naming (their words, or a role such as
    their line manager) has no person until the guardian resolves it: the guardian's naming is then
    a row of its own (``resolves`` says which naming it answers), so what the raiser said stays as
    they said it. Only the concern's guardian sees these rows; governors learn that one exists."""

    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="conflicts")
    basis = models.CharField(max_length=20, choices=ConflictBasis.choices)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The raiser's own words naming who must not handle it: identifying, so encrypted like the
    # narrative, shown to the guardian alone, never in the packet, a notice or a log.
    words = EncryptedTextField(blank=True)
    # For the guardian's naming: which of the raiser's (a RAISER_NAMING value), or "" for their own.
    resolves = models.CharField(max_length=20, blank=True)
    # The link of the concern's audit chain that recorded a member of staff's declaration (its reason,
    # if any, is the Reason of the same seq); NULL for the raiser's, recorded with the raise.
    seq = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The same declaration twice is one: a retried form records nothing new.
            models.UniqueConstraint(
                fields=["concern", "person", "basis", "resolves"],
                condition=models.Q(person__isnull=False),
                name="conflict_once_per_person",
            ),
        ]
        verbose_name_plural = "conflicts of interest"

    def __str__(self) -> str:
        return f"{self.basis} conflict on concern {self.concern_id}"


class ConcernAction(models.Model):
    """An action agreed on a concern: what will change, who owns it, by when, and once done the
    evidence that it was. Its words are staff's own (they may name people), so encrypted like the
    narrative; the Event that recorded it (``seq``) holds no words. Its due date is a deadline of its
    own: the sweep opens one "action overdue" sidelining alert for it once it passes undone
    (``overdue_alerted_at`` says it has, so it never opens twice)."""

    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="improvement_actions")
    # The link of the concern's audit chain that recorded it: its number on the concern, too.
    seq = models.PositiveIntegerField()
    title = EncryptedTextField()
    owner = EncryptedTextField()
    due_on = models.DateField()
    # The end of the due day where the concern is held: from then on the action is overdue.
    due_at = models.DateTimeField()
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    evidence = EncryptedTextField(blank=True)
    overdue_alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["concern", "seq"], name="concern_action_seq_unique")]
        indexes = [
            # The sweep reads only undone actions not yet alerted, by due time.
            models.Index(
                fields=["due_at"],
                name="concern_action_overdue",
                condition=models.Q(done_at__isnull=True, overdue_alerted_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"action #{self.seq} of concern {self.concern_id}"


class CheckIn(models.Model):
    """One "how are things?" asked of a raiser after their concern closed, at a number of months the
    policy names (workflows.engine.aftercare): made at closure, asked once when due (shown on the
    follow-up page, and texted once to an SMS raiser who agreed), open until ``closes_at`` (the next
    check-in's due time, or the policy's wait after the last), then it lapses unanswered. The answers
    are Events on the concern (SPEAK_UP_AGAIN_ANSWERED, DETRIMENT_REPORTED), so they count in the
    figures; this row only says when it was asked and answered."""

    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="check_ins")
    months = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    asked_at = models.DateTimeField(null=True, blank=True)
    texted = models.BooleanField(default=False)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["concern", "months"], name="check_in_once_per_offset")]
        indexes = [
            # The sweep reads only check-ins not yet asked, by due time.
            models.Index(fields=["due_at"], name="check_in_unasked", condition=models.Q(asked_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.months}-month check-in of concern {self.concern_id}"
