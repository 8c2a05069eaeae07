from django.contrib import admin
from django.http import HttpRequest

from notifications.models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: the outbox is written by services alone. Filter by status to find failed deliveries
    (with their next try) and undeliverable ones (given up: refused for good, or still failing
    CANDOUR_DELIVERY_GIVE_UP_HOURS after they were written; last_error says which). The body stays
    out (short as it is, it is the words sent to a person); the recipient is an address, a user id or
    a vault token, which an admin may see."""

    list_display = (
        "id",
        "channel",
        "status",
        "attempts",
        "recipient",
        "created_at",
        "sent_at",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("status", "channel")
    search_fields = ("idempotency_key", "provider_id")
    ordering = ("-created_at",)
    fields = (
        "idempotency_key",
        "channel",
        "recipient",
        "subject",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "provider_id",
        "created_at",
        "sent_at",
        "updated_at",
        "read_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
