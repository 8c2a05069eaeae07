"""What the API returns. Inputs for raising a concern live in backend.concerns.inputs (shared with pages)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from backend.concerns import action_selectors, inputs
from backend.concerns.inputs import NARRATIVE_MAX
from workflows.engine.vocabulary import EscalationReason, label_of


class ReceiptInput(serializers.Serializer):
    receipt = serializers.CharField(max_length=100)


class RaiserMessageInput(ReceiptInput, inputs.RaiserMessageInput):
    pass


class SpeakUpAgainInput(ReceiptInput, inputs.SpeakUpAgainInput):
    pass


class RaiserEscalateInput(ReceiptInput, inputs.RaiserEscalateInput):
    pass


class RaiserReopenInput(ReceiptInput, inputs.RaiserReopenInput):
    pass


class StaffMessageInput(serializers.Serializer):
    body = serializers.CharField(max_length=NARRATIVE_MAX)


class StaffNoteInput(inputs.StaffNoteInput):
    pass


class StaffNoteOutput(serializers.Serializer):
    seq = serializers.IntegerField(help_text="The link of the concern's audit chain this note is.")
    author = serializers.CharField()
    note = serializers.CharField(source="text")
    created_at = serializers.DateTimeField()
    audience = serializers.SerializerMethodField(help_text="Always `staff`: the raiser never sees a note.")

    def get_audience(self, note: object) -> str:
        return "staff"


class FeedbackInput(serializers.Serializer):
    feedback = serializers.CharField(max_length=NARRATIVE_MAX)


class CloseInput(inputs.CloseOutcomeInput):
    reason = serializers.CharField(max_length=200)


class DisclosureCertificateOutput(serializers.Serializer):
    certificate = serializers.DictField(
        help_text="The signed fields: version, kind, key_id, reference, organisation_code, organisation_name, "
        "received_hour (UTC), words_rule, words_sha256 (of what_happened)."
    )
    signature = serializers.CharField(help_text="Base64 Ed25519 signature over the fields' canonical JSON.")


class RaisedOutput(serializers.Serializer):
    reference = serializers.CharField()
    receipt = serializers.CharField(help_text="Shown once. Keep it: it is the only way to follow up.")
    disclosure_certificate = DisclosureCertificateOutput(
        help_text="Proof of disclosure: save it as a .json file; Candour keeps no copy. "
        "Check it at /disclosure/verify/ against the public keys at /.well-known/candour-disclosure-keys.json."
    )


class MessageOutput(serializers.Serializer):
    direction = serializers.CharField()
    kind = serializers.CharField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class TimelineOutput(serializers.Serializer):
    kind = serializers.CharField()
    state = serializers.CharField()
    on = serializers.DateField()


class RaiserStatusOutput(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.CharField()
    route_level = serializers.IntegerField()
    received_on = serializers.DateField()
    would_speak_up_again = serializers.CharField()
    timeline = TimelineOutput(many=True)
    messages = MessageOutput(many=True)


class ConcernSummaryOutput(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.CharField()
    unit = serializers.CharField(source="unit.code")
    holder = serializers.CharField(source="holder.code")
    route_level = serializers.IntegerField()
    raiser_kind = serializers.CharField()
    identity_mode = serializers.CharField()
    themes = serializers.ListField(child=serializers.CharField())
    urgent = serializers.BooleanField()
    detriment_reported = serializers.BooleanField()
    received_on = serializers.DateField()
    due_soon = serializers.BooleanField(
        default=False,
        read_only=True,
        help_text="In the inbox: a deadline's reminder time has passed, the deadline not.",
    )
    conflict_of_interest = serializers.SerializerMethodField(
        help_text="Someone is recorded as not to handle this concern (named by the raiser, declared, or "
        "named by the guardian). That one exists, never who named whom."
    )

    def get_conflict_of_interest(self, concern: Any) -> bool:
        # The lists annotate it; a single concern (a move's answer) is asked once.
        recorded = getattr(concern, "conflict_of_interest", None)
        return bool(recorded) if recorded is not None else concern.conflicts.exists()


class _CaseViewOutput(serializers.Serializer):
    """A concern as ``selectors.concern_case`` shows it to the caller (a CaseView): its summary, and
    ``view`` saying which view this is. Identity is in neither view (the audited identity look-up)."""

    reference = serializers.CharField(source="concern.reference")
    state = serializers.CharField(source="concern.state")
    unit = serializers.CharField(source="concern.unit.code")
    holder = serializers.CharField(source="concern.holder.code")
    route_level = serializers.IntegerField(source="concern.route_level")
    raiser_kind = serializers.CharField(source="concern.raiser_kind")
    identity_mode = serializers.CharField(source="concern.identity_mode")
    themes = serializers.ListField(child=serializers.CharField(), source="concern.themes")
    urgent = serializers.BooleanField(source="concern.urgent")
    detriment_reported = serializers.BooleanField(source="concern.detriment_reported")
    received_on = serializers.DateField(source="concern.received_on")
    what_happened = serializers.CharField(source="concern.what_happened")
    when_happened = serializers.CharField(source="concern.when_happened")
    conflict_of_interest = serializers.BooleanField(
        help_text="Someone is recorded as not to handle this concern; who, only its guardian sees."
    )
    actions = serializers.SerializerMethodField(
        help_text="Actions agreed on it: in the packet, titles and dates only (no owner, no evidence)."
    )

    def get_actions(self, case: Any) -> list[dict[str, Any]]:
        found = action_selectors.concern_actions(concern=case.concern, packet=case.packet, now=timezone.now())
        return list(ActionOutput(found, many=True).data)


class ConcernDetailOutput(_CaseViewOutput):
    """The whole case, for those handling the concern at its origin: with the conversation."""

    view = serializers.ChoiceField(choices=["case"], help_text="`case`: the whole case, at the concern's origin.")
    desired_outcome = serializers.CharField(source="concern.desired_outcome")
    on_behalf_of = serializers.CharField(
        source="concern.on_behalf_of", help_text="Whom a representative raised it for: never in the packet."
    )
    messages = MessageOutput(many=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        # Everything recorded, with staff's words: as the packet's history (defined below).
        return super().get_fields() | {"history": HistoryOutput(many=True)}


class DayField(serializers.DateField):
    """The day of a moment (UTC), as the case shows it: no exact time of anything the raiser did."""

    def to_representation(self, value: Any) -> Any:
        return super().to_representation(value.date())


class EscalationOutput(serializers.Serializer):
    on = DayField(source="created_at")
    from_ = serializers.CharField(source="data.from")
    to = serializers.CharField(source="data.to")
    level = serializers.IntegerField(source="data.level")
    reason = serializers.CharField(source="data.reason")
    reason_label = serializers.SerializerMethodField(help_text="Why it went up the route, in words.")
    # The guardian's own words, if they escalated it by hand; the raiser's, if they judged the
    # feedback inadequate (reason "feedback_inadequate"): never who they are.
    note = serializers.CharField(source="reason", default="")

    def get_reason_label(self, event: Any) -> str:
        return label_of(EscalationReason, event.data.get("reason", ""))

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a keyword in Python, a plain name in JSON.
        return {("from" if name == "from_" else name): field for name, field in super().get_fields().items()}


class HistoryOutput(serializers.Serializer):
    on = DayField(source="created_at")
    kind = serializers.CharField()
    kind_label = serializers.CharField(source="get_kind_display")
    reason = serializers.CharField(help_text="Staff's own words given with the move, if any.")


class ClockOutput(serializers.Serializer):
    kind = serializers.CharField()
    route_level = serializers.IntegerField()
    due_at = serializers.DateTimeField()
    paused = serializers.SerializerMethodField()

    def get_paused(self, clock: object) -> bool:
        return getattr(clock, "paused_at", None) is not None


class ConcernPacketOutput(_CaseViewOutput):
    """The escalation packet, for a body further up the route: what happened, when, what was done
    (the steps up the route, the kinds and days of everything recorded, the running deadlines);
    never the conversation with the raiser, never who raised it."""

    view = serializers.ChoiceField(
        choices=["packet"], help_text="`packet`: the escalation packet, for a body further up the route."
    )
    escalations = EscalationOutput(many=True)
    history = HistoryOutput(many=True)
    clocks = ClockOutput(many=True)


class SmsPlaceInput(inputs.SmsPlaceInput):
    pass


class ActionRecordInput(inputs.ActionRecordInput):
    pass


class ActionCompleteInput(inputs.ActionCompleteInput):
    pass


class ActionOutput(serializers.Serializer):
    action = serializers.IntegerField(source="seq", help_text="The action's number on the concern.")
    title = serializers.CharField(help_text="What will change.")
    owner = serializers.CharField(help_text="Who owns it: empty in the escalation packet.")
    due_on = serializers.DateField()
    done_on = serializers.DateField(allow_null=True)
    evidence = serializers.CharField(help_text="What shows it was done: empty in the escalation packet.")
    overdue = serializers.BooleanField()


class ActionRecordedOutput(serializers.Serializer):
    action = serializers.IntegerField(source="seq", help_text="The action's number on the concern.")
    due_on = serializers.DateField()


class ActionDoneOutput(serializers.Serializer):
    action = serializers.IntegerField(source="seq")
    done_at = serializers.DateTimeField()


class AssignInput(serializers.Serializer):
    handler = serializers.CharField(max_length=150, help_text="The handler's username")


class ConflictDeclareInput(inputs.ConflictDeclareInput):
    pass


class ConflictDeclaredOutput(serializers.Serializer):
    reference = serializers.CharField(source="concern.reference")
    basis = serializers.CharField()
    declared_on = DayField(source="created_at")


class ConflictOutput(serializers.Serializer):
    """One record of who must not handle the concern, for its guardian."""

    basis = serializers.CharField(help_text="raiser_words, line_manager, ward_manager, declared or guardian.")
    basis_label = serializers.CharField()
    person = serializers.CharField(help_text="Empty for the raiser's naming until the guardian says who it is.")
    username = serializers.CharField()
    words = serializers.CharField(help_text="The raiser's own words naming who must not handle it.")
    resolves = serializers.CharField(help_text="Which of the raiser's naming the guardian's answers, if any.")
    reason = serializers.CharField(help_text="The declarant's reason, if they gave one.")
    on = serializers.DateField()


class IdentityOutput(serializers.Serializer):
    name = serializers.CharField()
    contact = serializers.CharField()


class PublicStatusOutput(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.CharField()
    route_level = serializers.IntegerField()
    holder = serializers.CharField(source="holder.name")
    received_on = serializers.DateField()


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class AlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    rule = serializers.CharField()
    rule_label = serializers.CharField(source="get_rule_display")
    concern = serializers.CharField(source="concern.reference")
    organisation = serializers.CharField(source="organisation.code")
    opened_on = serializers.DateField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolution = serializers.CharField()


class SignalOutput(serializers.Serializer):
    """An early warning on a unit: the series, what the detector saw, and where it stands. Counts
    only: no concern, no raiser."""

    id = serializers.IntegerField()
    unit = serializers.CharField(source="unit.code")
    unit_name = serializers.CharField(source="unit.name")
    measure = serializers.CharField()
    measure_label = serializers.CharField(source="get_measure_display")
    theme = serializers.CharField(help_text="A theme of the vocabulary, or empty for every theme together.")
    kind = serializers.CharField()
    kind_label = serializers.CharField(source="get_kind_display")
    state = serializers.CharField()
    state_label = serializers.CharField(source="get_state_display")
    week = serializers.DateField(help_text="Monday of the week whose count crossed the threshold")
    baseline = serializers.FloatField(help_text="Concerns a week expected from the unit's own history")
    recent = serializers.FloatField(help_text="Concerns a week lately")
    opened_on = serializers.DateField()
