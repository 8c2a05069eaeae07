from django.apps import AppConfig


class ConcernsConfig(AppConfig):
    name = "backend.concerns"
    label = "concerns"
