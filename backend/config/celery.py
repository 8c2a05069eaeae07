import gc
import os

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun, worker_process_init
from django.db import close_old_connections

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


@task_prerun.connect
@task_postrun.connect
def _connections_tidy(sender: Task | None = None, **_: object) -> None:
    """Around each task, what Django does around each request: close a connection that is broken or
    older than CONN_MAX_AGE, and keep the rest (checked before first use: CONN_HEALTH_CHECKS).

    Celery's own Django fixup closes every connection before and after every task unless
    CELERY_DB_REUSE_MAX is set (it is, in settings): a new PostgreSQL connection for each task, whose
    setup cost more than the work of a short task (about a seventh of a worker's CPU processing texts)."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return  # run in the caller's process (task.apply()): its connections, maybe mid-transaction
    close_old_connections()
