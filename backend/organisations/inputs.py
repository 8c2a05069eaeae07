"""What a member of staff may send about themselves."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from backend.organisations.models import AlertChannel

MOBILE = re.compile(r"^\+?[0-9 ()-]{10,20}$")


class StaffProfileInput(serializers.Serializer):
    alert_channel = serializers.ChoiceField(choices=AlertChannel.choices)
    mobile = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")

    def validate_mobile(self, value: str) -> str:
        if value and not MOBILE.match(value):
            raise serializers.ValidationError("Enter a mobile number, like 07700 900123.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_number = bool(self.context.get("has_number"))
        if attrs["alert_channel"] == AlertChannel.SMS and not attrs.get("mobile") and not has_number:
            raise serializers.ValidationError({"mobile": "Enter the mobile number for text messages."})
        return attrs
