from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "backend.retention"
    label = "retention"
    verbose_name = "Retention"

    def ready(self) -> None:
        from django.core import checks

        from backend.retention.services import retention_check

        # A schedule that would delete too early (a period under a day, a misspelt key left at its
        # default) stops `manage.py check` and every command that runs the checks, not the nightly job.
        checks.register(retention_check)
