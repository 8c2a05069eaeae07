"""Helpers for fault tests: a broker of the test's own, tasks sent by name, readiness, open transactions."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import redis
from django.db import connection

from backend.config.celery import app as celery_app
from tests.support.processes import Proc, test_database_url, wait_for


def redis_broker_url(*, db: int) -> str:
    """The throwaway Redis of CELERY_BROKER_URL, another database number: what the test's processes
    leave in it (tasks of a killed worker, deliveries nobody consumes) never reaches another test."""
    url = urlsplit(os.environ.get("CELERY_BROKER_URL", ""))
    if url.scheme != "redis":
        raise RuntimeError("fault tests need CELERY_BROKER_URL=redis://... (infra/scripts/services.sh start)")
    return url._replace(path=f"/{db}").geturl()


def redis_flush(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def tasks_send(name: str, *, broker: str, queue: str, count: int = 1) -> None:
    """Send ``count`` messages for the task ``name`` to ``queue`` on ``broker``, as beat would."""
    with celery_app.connection_for_write(broker) as conn:
        for _ in range(count):
            celery_app.send_task(name, queue=queue, connection=conn)


def worker_ready(proc: Proc, *, timeout: float = 60) -> None:
    """Wait for the worker's "ready." line (its log must be at INFO)."""

    def ready() -> bool:
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.output()[-3000:]}")
        return " ready." in proc.output()

    wait_for(ready, timeout=timeout, interval=0.1, what=f"{proc.name} to be ready")


def database_url_named(application_name: str) -> str:
    """The test database's URL for a process whose sessions show as ``application_name``."""
    return f"{test_database_url()}?application_name={application_name}"


def transactions_open(application_name: str) -> int:
    """Sessions of that name inside a transaction right now: a sweep batch in flight, say."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s AND xact_start IS NOT NULL",
            [application_name],
        )
        return int(cursor.fetchone()[0])


def sessions_open(application_name: str) -> int:
    """Sessions of that name at all: after its process is killed, PostgreSQL ends them (and releases
    their locks) once it notices the connection is gone, which can take until a running statement ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [application_name],
        )
        return int(cursor.fetchone()[0])
