"""What a raiser may send after closure (services.aftercare), checked: human messages for each error."""

from __future__ import annotations

from rest_framework import serializers

from backend.concerns.models import SpeakUpAgain

YES_NO = [("yes", "Yes"), ("no", "No")]
WORDS_MAX = 20000


class CheckInAnswerInput(serializers.Serializer):
    detriment = serializers.ChoiceField(
        choices=YES_NO,
        error_messages={
            "invalid_choice": "Say whether you have been treated badly because you spoke up.",
            "required": "Say whether you have been treated badly because you spoke up.",
        },
    )
    answer = serializers.ChoiceField(
        choices=SpeakUpAgain.choices,
        error_messages={
            "invalid_choice": "Say whether you would speak up again.",
            "required": "Say whether you would speak up again.",
        },
    )
    words = serializers.CharField(max_length=WORDS_MAX, required=False, allow_blank=True, default="")

    def validate_detriment(self, value: str) -> bool:
        return value == "yes"


class DetrimentReportInput(serializers.Serializer):
    report = serializers.CharField(
        max_length=WORDS_MAX,
        error_messages={
            "blank": "Tell us what has happened to you, so the guardian can look into it.",
            "required": "Tell us what has happened to you, so the guardian can look into it.",
            "max_length": "Keep it under 20,000 characters.",
        },
    )


class AftercareConsentInput(serializers.Serializer):
    consent = serializers.ChoiceField(
        choices=YES_NO,
        error_messages={"invalid_choice": "Choose yes or no.", "required": "Choose yes or no."},
    )

    def validate_consent(self, value: str) -> bool:
        return value == "yes"
