"""What a guardian's or handler's inbox may be asked for: the filters, the order and the page, one
schema for the inbox page's GET form and the API's list (backend.api.views.ConcernFilter uses the
same names). Each filter is done by a selector (backend.concerns.selectors)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rest_framework import serializers

from workflows.engine.vocabulary import Labelled, Theme, choices


class InboxSort(Labelled):
    NEWEST = "newest", "Newest first"
    OLDEST = "oldest", "Oldest first"
    DUE = "due", "Next deadline first"


class InboxFilter(StrEnum):
    """The yes-or-no filters, by their query parameter: each has a count on the inbox page."""

    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    ESCALATED_TO_US = "escalated_to_us"
    WITH_ALERTS = "with_alerts"


FILTER_LABELS = {
    InboxFilter.OVERDUE: "Overdue",
    InboxFilter.DUE_SOON: "Due soon",
    InboxFilter.ESCALATED_TO_US: "Escalated to us",
    InboxFilter.WITH_ALERTS: "With open alerts",
}


@dataclass(frozen=True)
class InboxQuery:
    overdue: bool = False
    due_soon: bool = False
    escalated_to_us: bool = False
    with_alerts: bool = False
    unit: str = ""  # a unit's code; "" for every unit
    theme: str = ""  # a Theme value; "" for every theme
    sort: InboxSort = InboxSort.NEWEST
    page: int = 1

    def flags(self) -> set[InboxFilter]:
        return {f for f in InboxFilter if getattr(self, f.value)}


class InboxQueryInput(serializers.Serializer):
    overdue = serializers.BooleanField(required=False, default=False)
    due_soon = serializers.BooleanField(required=False, default=False)
    escalated_to_us = serializers.BooleanField(required=False, default=False)
    with_alerts = serializers.BooleanField(required=False, default=False)
    # The inbox's first link, kept working: ?due=soon is ?due_soon=true.
    due = serializers.ChoiceField(choices=["soon"], required=False, allow_blank=True, default="")
    unit = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    theme = serializers.ChoiceField(
        choices=choices(Theme),
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid_choice": "Choose a theme from the list."},
    )
    sort = serializers.ChoiceField(
        choices=choices(InboxSort),
        required=False,
        default=InboxSort.NEWEST.value,
        error_messages={"invalid_choice": "Choose an order from the list."},
    )
    page = serializers.IntegerField(
        required=False,
        default=1,
        min_value=1,
        max_value=100_000,
        error_messages={"invalid": "A page is a whole number."},
    )

    def query(self) -> InboxQuery:
        data: dict[str, Any] = dict(self.validated_data)
        return InboxQuery(
            overdue=data["overdue"],
            due_soon=data["due_soon"] or data["due"] == "soon",
            escalated_to_us=data["escalated_to_us"],
            with_alerts=data["with_alerts"],
            unit=data["unit"],
            theme=data["theme"],
            sort=InboxSort(data["sort"]),
            page=data["page"],
        )
