"""What the quarterly return's page, API and download take: one schema, so each refuses the same bad
input with the same words (400), and an organisation the caller may not see is answered 404 later."""

from __future__ import annotations

from datetime import date
from typing import Any

from rest_framework import serializers

from backend.oversight.returns import return_quarter_parse


class QuarterlyReturnQuery(serializers.Serializer):
    organisation = serializers.CharField(
        max_length=16, error_messages={"required": "Say which organisation: its code, like RNX."}
    )
    quarter = serializers.CharField(
        max_length=10, error_messages={"required": "Say which quarter, like 2026Q3 (July to September 2026)."}
    )
    published = serializers.BooleanField(
        default=False,
        help_text="true: small numbers suppressed, as published; false (default): the true numbers, as submitted.",
    )

    def validate_quarter(self, value: str) -> date:
        quarter = return_quarter_parse(value)
        if quarter is None:
            raise serializers.ValidationError("Give a quarter like 2026Q3 (July to September 2026).")
        return quarter

    def validate_organisation(self, value: str) -> str:
        return value.strip().upper()

    def query(self) -> dict[str, Any]:
        """The selector's keywords (code, quarter, published)."""
        data = self.validated_data
        return {"code": data["organisation"], "quarter": data["quarter"], "published": data["published"]}
