"""The raiser's professional group in words: the vocabulary's (workflows.engine.vocabulary
ProfessionalGroup), reworded where the operator says so (CANDOUR_PROFESSIONAL_GROUP_LABELS). Policy
data, read here once for the raise journey, the API, the case page and the quarterly return."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from workflows.engine.vocabulary import ProfessionalGroup


def professional_group_labels() -> dict[str, str]:
    """Each group's words in the vocabulary's order; a value the vocabulary does not know is a
    configuration error, said at once rather than shown as nothing."""
    configured: dict[str, str] = dict(getattr(settings, "CANDOUR_PROFESSIONAL_GROUP_LABELS", {}) or {})
    unknown = sorted(set(configured) - {g.value for g in ProfessionalGroup})
    if unknown:
        raise ImproperlyConfigured(f"CANDOUR_PROFESSIONAL_GROUP_LABELS: unknown groups {unknown}")
    return {g.value: str(configured.get(g.value) or g.label) for g in ProfessionalGroup}


def professional_group_choices() -> list[tuple[str, str]]:
    """(value, words) pairs, as a form's or a serializer's choices."""
    return list(professional_group_labels().items())


def professional_group_label(value: str) -> str:
    """The words for a stored group; "Not recorded" when none was given."""
    return professional_group_labels().get(value, "Not recorded") if value else "Not recorded"
