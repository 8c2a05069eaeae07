from django.contrib import admin

from backend.concerns.models import Clock, Concern, Event


@admin.register(Concern)
class ConcernAdmin(admin.ModelAdmin):
    # Narrative and identity stay out of the admin: it is for structure, not for reading concerns.
    list_display = ("reference", "state", "holder", "route_level", "received_at")
    list_filter = ("state",)
    search_fields = ("reference",)
    fields = ("reference", "state", "unit", "holder", "route_level", "received_at", "last_activity_at")
    readonly_fields = fields

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(Clock)
class ClockAdmin(admin.ModelAdmin):
    list_display = ("concern", "kind", "route_level", "due_at", "status", "late")
    list_filter = ("kind", "status")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("concern", "seq", "kind", "actor_role", "created_at")

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
