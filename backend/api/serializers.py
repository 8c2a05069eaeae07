"""What the API returns. Inputs for raising a concern live in backend.concerns.inputs (shared with pages)."""

from __future__ import annotations

from rest_framework import serializers

from backend.concerns import inputs
from backend.concerns.inputs import NARRATIVE_MAX


class ReceiptInput(serializers.Serializer):
    receipt = serializers.CharField(max_length=100)


class RaiserMessageInput(ReceiptInput, inputs.RaiserMessageInput):
    pass


class SpeakUpAgainInput(ReceiptInput, inputs.SpeakUpAgainInput):
    pass


class StaffMessageInput(serializers.Serializer):
    body = serializers.CharField(max_length=NARRATIVE_MAX)


class FeedbackInput(serializers.Serializer):
    feedback = serializers.CharField(max_length=NARRATIVE_MAX)


class CloseInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class RaisedOutput(serializers.Serializer):
    reference = serializers.CharField()
    receipt = serializers.CharField(help_text="Shown once. Keep it: it is the only way to follow up.")


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


class ConcernDetailOutput(ConcernSummaryOutput):
    what_happened = serializers.CharField()
    when_happened = serializers.CharField()
    desired_outcome = serializers.CharField()
    messages = MessageOutput(many=True, source="messages.all")


class AssignInput(serializers.Serializer):
    handler = serializers.CharField(max_length=150, help_text="The handler's username")


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
