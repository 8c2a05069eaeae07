"""Which Celery tasks the code under test sends, by name and arguments, without publishing them.

For tests without a worker: wrap the code in ``django_capture_on_commit_callbacks(execute=True)``
(tasks are sent after commit) and in ``tasks_sent()``, then look at what was sent and run its
service as the task would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import Celery


@contextmanager
def tasks_sent() -> Iterator[list[tuple[str, list[Any]]]]:
    sent: list[tuple[str, list[Any]]] = []

    def send_task(self: Celery, name: str, args: Any = None, *rest: Any, **options: Any) -> None:
        sent.append((name, list(args or [])))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Celery, "send_task", send_task)
        yield sent
