from django import forms
from django.contrib import admin
from django.http import HttpRequest

from backend.organisations.models import EscalationPolicy, Membership, Organisation
from backend.organisations.policies import policy_publish
from backend.organisations.services import organisation_place_refusal, organisation_save
from workflows.engine.policy import PolicyError, policy_document_load, policy_parse


class OrganisationForm(forms.ModelForm):
    """A new parent may not be the organisation itself or below it, nor put a path past its column."""

    class Meta:
        model = Organisation
        fields = (
            "code",
            "name",
            "kind",
            "parent",
            "escalates_to",
            "governs",
            "commissioned_by",
            "closure_days",
            "sms_number",
        )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        code = cleaned.get("code")
        if isinstance(code, str):
            parent = cleaned.get("parent")
            refusal = organisation_place_refusal(
                pk=self.instance.pk, parent=parent if isinstance(parent, Organisation) else None, code=code
            )
            if refusal:
                raise forms.ValidationError(refusal)
        return cleaned


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    """Moving an organisation (a new parent or code) moves its whole subtree with it (organisation_save),
    so roles held above it reach every ward below it at once."""

    form = OrganisationForm
    list_display = ("code", "name", "kind", "parent", "escalates_to")
    list_filter = ("kind",)
    search_fields = ("code", "name")

    def save_model(self, request: HttpRequest, obj: Organisation, form: object, change: bool) -> None:
        organisation_save(organisation=obj)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organisation", "role")
    list_filter = ("role",)


class EscalationPolicyForm(forms.ModelForm):
    """A policy document is checked against the schema before it can be saved."""

    class Meta:
        model = EscalationPolicy
        fields = ("organisation", "document")

    def clean_document(self) -> dict[str, object]:
        document = self.cleaned_data["document"]
        if not isinstance(document, dict):
            raise forms.ValidationError("A policy is a JSON object with a name and a list of clocks.")
        try:
            policy_parse(document)
        except PolicyError as exc:
            raise forms.ValidationError(f"This policy is not valid: {exc}") from exc
        return document


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    """Versions are never edited: saving publishes a new version for the organisation (or the
    default), and concerns already running keep the version they started under."""

    form = EscalationPolicyForm
    list_display = ("__str__", "organisation", "version", "created_at", "created_by")
    list_filter = ("organisation",)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, object]:  # type: ignore[override]
        return {"document": policy_document_load()}

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: EscalationPolicy, form: object, change: bool) -> None:
        published = policy_publish(organisation=obj.organisation, document=obj.document, user=request.user)  # type: ignore[arg-type]
        obj.pk, obj.version = published.pk, published.version
