"""Refreshing a concern from the database leaves its state protected for every other thread.

django-fsm's own refresh turns the state field's ``protected`` flag off for the length of the query; the
flag lives on the field, shared by every thread of a gunicorn worker, so another thread's refresh could
be refused and, for that moment, nothing stopped a direct write of a state. Concern.refresh_from_db
reloads without touching the flag. The check is deterministic: Django's execute_wrapper (a hook on the
database connection, not on our code) reads the flag while the refresh's own query runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from backend.concerns import services
from backend.concerns.models import Concern
from backend.organisations.models import Organisation
from tests.support.concern_bodies import concern_body

pytestmark = pytest.mark.django_db


def _concern() -> Concern:
    body = concern_body(unit=Organisation.objects.get(code="RNX07"))
    return services.concern_raise(draft=services.ConcernDraft(**body)).concern


def test_the_state_stays_protected_while_a_refresh_queries(demo: None) -> None:
    concern = _concern()
    field = Concern._meta.get_field("state")
    seen: list[bool] = []

    def watch(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(bool(getattr(field, "protected", False)))
        return execute(sql, params, many, context)

    Concern.objects.filter(pk=concern.pk).update(state="acknowledged")  # changed by someone else
    with connection.execute_wrapper(watch):
        concern.refresh_from_db()
    assert seen and all(seen), "the state field was unprotected during the refresh"
    assert concern.state == "acknowledged"  # and the refresh did reload it
    with pytest.raises(AttributeError):
        concern.state = "closed"  # still refused outside a transition


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_in_threads_are_never_refused(demo: None) -> None:
    concern_id = _concern().pk
    errors: list[BaseException] = []

    def refresh_many() -> None:
        try:
            mine = Concern.objects.get(pk=concern_id)
            for _ in range(300):
                mine.refresh_from_db()
        except BaseException as exc:  # any refusal is the failure this test looks for
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
