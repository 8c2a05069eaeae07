from django.apps import AppConfig


class BareConfig(AppConfig):
    """The benchmark's comparator: a plain DRF create of a row shaped like a concern. Bench settings only."""

    name = "tests.bench.bare"
    label = "bench_bare"
    default_auto_field = "django.db.models.BigAutoField"
