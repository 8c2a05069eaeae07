from django.apps import AppConfig


class BareConfig(AppConfig):
    """The benchmark's comparators: a plain DRF create of a row shaped like a concern, and the rows a raise
    writes, written bare in one statement (same_rows.py). Bench settings only."""

    name = "tests.bench.bare"
    label = "bench_bare"
    default_auto_field = "django.db.models.BigAutoField"
