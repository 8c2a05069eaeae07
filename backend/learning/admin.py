"""Summaries and lessons in the admin: to look at, never to write. Every change goes through the
services (checked for identifying detail, approved by a second guardian, audited on the concern's
trail); a summary's words stay out of the list, as a concern's narrative does."""

from django.contrib import admin

from backend.concerns.admin import ReadOnlyAdmin
from backend.learning.models import Lesson, LessonMark, Summary


@admin.register(Summary)
class SummaryAdmin(ReadOnlyAdmin):
    list_display = ("concern", "organisation", "state", "quarter", "publish_at", "written_at", "approved_at")
    list_filter = ("state", "quarter")
    fields = list_display
    readonly_fields = list_display


@admin.register(Lesson)
class LessonAdmin(ReadOnlyAdmin):
    list_display = ("title", "organisation", "unit_type", "shared_at", "signalled_at")
    list_filter = ("unit_type",)
    search_fields = ("title",)


@admin.register(LessonMark)
class LessonMarkAdmin(ReadOnlyAdmin):
    list_display = ("lesson", "organisation", "marked_at")
