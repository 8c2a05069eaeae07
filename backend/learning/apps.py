from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "backend.learning"
    label = "learning"
    verbose_name = "You said, we did, and lessons"
