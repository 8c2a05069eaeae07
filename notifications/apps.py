from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from backend.config.db import rows_written
        from notifications.models import Delivery
        from notifications.services import deliveries_send_after_commit

        # Whoever writes outbox rows, through whichever flush: a key already there is the same notice
        # (skipped), and every row written is sent once its transaction commits.
        rows_written(Delivery, deliveries_send_after_commit, on_conflict="skip")
