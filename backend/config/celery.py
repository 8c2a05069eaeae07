import gc
import os

from celery import Celery
from celery.signals import worker_process_init

from backend.config.env import settings_module_default

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module_default())

app = Celery("candour")
app.config_from_object("django.conf:settings", namespace="CELERY")


@worker_process_init.connect
def _startup_objects_freeze(**_: object) -> None:
    """What a worker process holds once started (Django, its models, the tasks) lives as long as the
    process. Frozen, the cyclic garbage collector no longer walks it on each full collection: a clock
    sweep allocates enough to set off several, which took about a tenth of its time."""
    gc.freeze()
