from django.contrib import admin
from django.http import HttpRequest

from backend.concerns.models import Clock, Concern, Event


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows only the services write: the admin may look, never add, change or delete. An Event is a
    link of the audit chain; a Clock is a deadline the sweep and the services keep."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Concern)
class ConcernAdmin(ReadOnlyAdmin):
    # Narrative and identity stay out of the admin: it is for structure, not for reading concerns.
    list_display = ("reference", "state", "holder", "route_level", "received_at")
    list_filter = ("state",)
    search_fields = ("reference",)
    fields = ("reference", "state", "unit", "holder", "route_level", "received_at", "last_activity_at")
    readonly_fields = fields


@admin.register(Clock)
class ClockAdmin(ReadOnlyAdmin):
    list_display = ("concern", "kind", "route_level", "due_at", "status", "late")
    list_filter = ("kind", "status")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("concern", "seq", "kind", "actor_role", "created_at")
