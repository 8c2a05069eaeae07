from django.contrib import admin

from backend.oversight.models import Indicator


@admin.register(Indicator)
class IndicatorAdmin(admin.ModelAdmin):
    """Imported figures, editable by hand to correct one value; whole files go through
    ``manage.py import_indicators``, which checks every row first."""

    list_display = ("organisation", "name", "month", "value", "source")
    list_filter = ("name",)
    search_fields = ("organisation__code", "organisation__name", "name", "label")
    date_hierarchy = "month"
    autocomplete_fields = ("organisation",)
    ordering = ("organisation__path", "name", "month")
