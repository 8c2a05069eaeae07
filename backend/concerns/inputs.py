"""What a raiser may send when raising a concern: one schema for the web form and the API."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from backend.concerns.groups import professional_group_choices
from backend.concerns.models import (
    RAISER_KIND_CHOICES,
    RAISER_NAMING,
    THEME_CHOICES,
    ConflictBasis,
    IdentityMode,
    MessageKind,
    SpeakUpAgain,
)
from backend.concerns.services.intake import ConcernDraft
from backend.organisations.models import Organisation, OrganisationKind
from workflows.engine.vocabulary import Outcome, RaiserKind, choices

NARRATIVE_MAX = 20_000
SHORT_MAX = 2_000
NAME_MAX = 200

# The roles a raiser may tick as "must not handle my concern", in their words.
NOT_TO_HANDLE_ROLES = [
    (ConflictBasis.LINE_MANAGER.value, "My line manager"),
    (ConflictBasis.WARD_MANAGER.value, "The manager of the ward or team"),
]


class ConcernRaiseInput(serializers.Serializer):
    unit = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Organisation.objects.filter(kind=OrganisationKind.UNIT),
        error_messages={"does_not_exist": _("Choose the ward or team your concern is about.")},
    )
    raiser_kind = serializers.ChoiceField(choices=RAISER_KIND_CHOICES)
    identity_mode = serializers.ChoiceField(choices=IdentityMode.choices)
    themes = serializers.MultipleChoiceField(
        choices=THEME_CHOICES,
        allow_empty=False,
        error_messages={"empty": _("Choose at least one thing your concern is about.")},
    )
    urgent = serializers.BooleanField(default=False)
    # Asked for the quarterly speaking-up data return, optional: "" when the raiser leaves it out.
    professional_group = serializers.ChoiceField(
        choices=professional_group_choices(),
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid_choice": _("Choose a professional group from the list, or leave it out.")},
        help_text="The raiser's professional group (a value of the list), for the quarterly return; optional.",
    )
    what_happened = serializers.CharField(max_length=NARRATIVE_MAX, trim_whitespace=True)
    when_happened = serializers.CharField(max_length=SHORT_MAX, required=False, allow_blank=True, default="")
    desired_outcome = serializers.CharField(max_length=SHORT_MAX, required=False, allow_blank=True, default="")
    raiser_name = serializers.CharField(max_length=NAME_MAX, required=False, allow_blank=True, default="")
    raiser_contact = serializers.CharField(max_length=NAME_MAX, required=False, allow_blank=True, default="")
    on_behalf_of = serializers.CharField(
        max_length=SHORT_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text='Whom a representative raises it for ("residents of a care home"); for raiser_kind '
        "`representative` only. Those handling it at its origin read it; it never goes up the route.",
    )
    not_to_handle = serializers.CharField(
        max_length=SHORT_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text="Anyone who must not handle this concern, in the raiser's words. Only the guardian reads it; "
        "Candour never places the concern with them.",
    )
    not_to_handle_roles = serializers.MultipleChoiceField(
        choices=NOT_TO_HANDLE_ROLES,
        required=False,
        help_text="Roles that must not handle this concern (the guardian says who holds them).",
    )
    submission_key = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="A one-time token for this submission; sending it again gives 409, not a second concern.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["identity_mode"] != IdentityMode.ANONYMOUS and not attrs.get("raiser_name"):
            raise serializers.ValidationError(
                {"raiser_name": gettext("Give your name, or choose to raise the concern anonymously.")}
            )
        representative = attrs["raiser_kind"] == RaiserKind.REPRESENTATIVE
        if representative and not attrs.get("on_behalf_of", "").strip():
            raise serializers.ValidationError(
                {
                    "on_behalf_of": gettext(
                        "Say who you are raising the concern for, for example the residents of a care home."
                    )
                }
            )
        if not representative and attrs.get("on_behalf_of"):
            raise serializers.ValidationError(
                {"on_behalf_of": gettext("Only someone raising a concern for others says whom it is for.")}
            )
        attrs["themes"] = sorted(attrs["themes"])
        attrs["not_to_handle_roles"] = sorted(attrs.get("not_to_handle_roles") or ())
        return attrs

    def draft(self) -> ConcernDraft:
        """The validated concern, as intake takes it (the submission key travels beside it)."""
        return ConcernDraft(**{k: v for k, v in self.validated_data.items() if k != "submission_key"})


class ReclassifyInput(serializers.Serializer):
    """A guardian's correction of how a concern is counted: its themes, its raiser's professional
    group, or both (a field left out is left as it is). One schema for the case page and the API."""

    themes = serializers.MultipleChoiceField(
        choices=THEME_CHOICES,
        required=False,
        allow_empty=False,
        error_messages={"empty": _("Choose at least one thing the concern is about.")},
    )
    professional_group = serializers.ChoiceField(
        choices=professional_group_choices(),
        required=False,
        allow_blank=True,
        error_messages={"invalid_choice": _("Choose a professional group from the list.")},
        help_text='A value of the list, or "" for not recorded.',
    )

    def arguments(self) -> dict[str, Any]:
        """The service's keywords: None for a field not sent (left as it is)."""
        data = self.validated_data
        themes = data.get("themes")
        return {
            "themes": sorted(themes) if themes is not None else None,
            "professional_group": data.get("professional_group"),
        }


class RaiserMessageInput(serializers.Serializer):
    body = serializers.CharField(max_length=NARRATIVE_MAX)
    kind = serializers.ChoiceField(
        choices=[MessageKind.MESSAGE, MessageKind.INFORMATION, MessageKind.DETRIMENT, MessageKind.NOTHING_DONE],
        default=MessageKind.MESSAGE,
    )


class SpeakUpAgainInput(serializers.Serializer):
    answer = serializers.ChoiceField(
        choices=SpeakUpAgain.choices, error_messages={"invalid_choice": _("Choose an answer.")}
    )


class StatusShareInput(serializers.Serializer):
    shared = serializers.BooleanField(help_text="True: anyone with the reference may follow its status; false: stop.")


class StaffTextInput(serializers.Serializer):
    """The one free-text field a staff move may carry: feedback, a message, or a reason to close."""

    text = serializers.CharField(max_length=NARRATIVE_MAX)


class StaffNoteInput(serializers.Serializer):
    """A staff-only note: a field of its own name, so its form and its errors never mix with a
    message to the raiser's."""

    note = serializers.CharField(
        max_length=NARRATIVE_MAX,
        help_text="For those handling the concern only: never sent to the raiser, never in the packet.",
    )


class ConflictDeclareInput(serializers.Serializer):
    """A conflict of interest on a concern: the caller's own (no ``person``), or, for its guardian,
    someone they name (``resolves``: which of the raiser's naming that person is, if any)."""

    person = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        default="",
        help_text="Username of the member of staff who must not handle it (guardian only); empty: yourself.",
    )
    resolves = serializers.ChoiceField(
        choices=[(basis.value, basis.label) for basis in RAISER_NAMING],
        required=False,
        allow_blank=True,
        default="",
        help_text="Which of the raiser's naming this person is (guardian only), if any.",
    )
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why, if you wish: kept encrypted, for the guardian only.",
    )


class SmsPlaceInput(serializers.Serializer):
    """Placing a concern raised by text: the ward or team it is about (by code), who raised it and
    what it is about. One schema for the case page's form and the API."""

    unit = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Organisation.objects.filter(kind=OrganisationKind.UNIT),
        error_messages={
            "required": _("Choose the ward or team the concern is about."),
            "does_not_exist": _("Choose the ward or team the concern is about."),
        },
    )
    raiser_kind = serializers.ChoiceField(
        choices=RAISER_KIND_CHOICES,
        error_messages={
            "required": _("Choose who raised the concern."),
            "invalid_choice": _("Choose who raised the concern."),
        },
    )
    themes = serializers.MultipleChoiceField(
        choices=THEME_CHOICES,
        allow_empty=False,
        error_messages={
            "required": _("Choose at least one thing the concern is about."),
            "empty": _("Choose at least one thing the concern is about."),
        },
    )


class ActionRecordInput(serializers.Serializer):
    """An action agreed on a concern: what will change, who owns it, and by when."""

    title = serializers.CharField(
        max_length=500, error_messages={"required": _("Say what will change."), "blank": _("Say what will change.")}
    )
    owner = serializers.CharField(
        max_length=200,
        error_messages={"required": _("Say who owns the action."), "blank": _("Say who owns the action.")},
    )
    due_on = serializers.DateField(
        error_messages={
            "required": _("Give the date the action is due."),
            "invalid": _("Give the due date as a date, for example 2027-03-31."),
        }
    )


class ActionCompleteInput(serializers.Serializer):
    """An action done: its number on the concern, and what shows it was done."""

    action = serializers.IntegerField(min_value=1, error_messages={"required": _("Choose the action.")})
    evidence = serializers.CharField(
        max_length=2000,
        error_messages={
            "required": _("Say what shows the action was done."),
            "blank": _("Say what shows the action was done."),
        },
    )


class CloseOutcomeInput(serializers.Serializer):
    """What the guardian found, given on closing, and why nothing will change if it was upheld and
    no action is recorded."""

    outcome = serializers.ChoiceField(
        choices=choices(Outcome),
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid_choice": _("Choose upheld, partly upheld or not upheld.")},
    )
    no_action_reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RaiserEscalateInput(serializers.Serializer):
    """The raiser takes their concern further: why, if it is because the feedback falls short
    (required then; the receiving body reads it, encrypted at rest)."""

    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class RaiserReopenInput(serializers.Serializer):
    """The raiser reopens their concern (once): what is still wrong, if they wish."""

    reason = serializers.CharField(max_length=NARRATIVE_MAX, required=False, allow_blank=True, default="")
