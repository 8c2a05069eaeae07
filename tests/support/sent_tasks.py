"""Which Celery tasks the code under test sends, by name and arguments, without publishing them.

For tests without a worker: wrap the code in ``django_capture_on_commit_callbacks(execute=True)``
(tasks are sent after commit) and in ``tasks_sent()``, then look at what was sent and run its
service as the task would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import Celery

from notifications.redactions import REDACTION_RUN_TASK


@contextmanager
def tasks_sent() -> Iterator[list[tuple[str, list[Any]]]]:
    sent: list[tuple[str, list[Any]]] = []

    def send_task(self: Celery, name: str, args: Any = None, *rest: Any, **options: Any) -> None:
        sent.append((name, list(args or [])))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Celery, "send_task", send_task)
        yield sent


@contextmanager
def tasks_sent_after_commit(capture: Callable[..., Any]) -> Iterator[list[tuple[str, list[Any]]]]:
    """The tasks the block sends once it commits, by name and arguments (none is published).
    ``capture``: pytest-django's ``django_capture_on_commit_callbacks``."""
    with tasks_sent() as sent, capture(execute=True):
        yield sent


def redactions_sent(sent: list[tuple[str, list[Any]]]) -> list[int]:
    """The redaction rows whose task was sent."""
    return [args[0] for name, args in sent if name == REDACTION_RUN_TASK]
