import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")

app = Celery("candour")
app.config_from_object("django.conf:settings", namespace="CELERY")
