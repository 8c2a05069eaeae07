"""Start real Candour processes (Celery worker, beat, gunicorn) against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        self._fh: IO[bytes] = log.open("ab")
        self.popen = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        self._fh.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def worker_cmd(*, concurrency: int = 2, name: str = "w1") -> list[str]:
    return [
        str(BIN / "celery"),
        "-A",
        "backend.config",
        "worker",
        "--loglevel",
        "INFO",
        "-n",
        f"{name}@%h",
        "--concurrency",
        str(concurrency),
        "--without-mingle",
        "--without-gossip",
        "--pool",
        "prefork",
        # Every queue: the default, the clock sweep's and the texts' (CELERY_TASK_ROUTES).
        "-Q",
        "celery,clocks,sms",
    ]


def beat_cmd(schedule: Path) -> list[str]:
    return [str(BIN / "celery"), "-A", "backend.config", "beat", "--loglevel", "INFO", "-s", str(schedule)]


@contextmanager
def running(procs: list[Proc]) -> Iterator[list[Proc]]:
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def wait_for(predicate, *, timeout: float, interval: float = 0.25, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_http(url: str, *, timeout: float = 90) -> None:
    """Wait for a server to answer 200. Generous: a loaded two-core machine starts gunicorn slowly, and
    a slow start is not what any test here is about."""
    import urllib.request

    def up() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    wait_for(up, timeout=timeout, what=url)
