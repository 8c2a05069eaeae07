from django import forms
from django.contrib import admin
from django.http import HttpRequest

from backend.organisations.models import EscalationPolicy, Membership, Organisation
from backend.organisations.policies import policy_publish
from workflows.engine.policy import PolicyError, policy_document_load, policy_parse


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "parent", "escalates_to")
    list_filter = ("kind",)
    search_fields = ("code", "name")


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
