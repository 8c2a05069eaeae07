"""tests/unit holds only tests that need no database; this file keeps it so.

Two locks, so that a test needing the database fails here instead of quietly running (and belongs in
tests/integration):

1. Asking for it. Before any fixture is set up, a test marked ``django_db`` or whose fixtures need the
   database (``db``, ``transactional_db``, ``live_server``, ``admin_client``, the shared ``demo``, ...:
   anything whose fixture closure holds one of DATABASE_FIXTURES) fails at setup, saying why. So no
   test database is ever created for a run of tests/unit alone.
2. Reaching it anyway. While each test runs, opening a connection fails the test (pytest-django only
   raises a RuntimeError there for unmarked tests, which a broad ``except`` could swallow, and a test
   may lift its block with ``django_db_blocker.unblock()``), and so does any SQL that still gets to a
   connection (an execute wrapper on each). Both fail with pytest's own outcome, not an Exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any, NoReturn

import pytest
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

# pytest-django's fixtures that open the database; every fixture built on them (admin_client,
# live_server, the shared demo, ward and user_named) has one of them in its closure.
DATABASE_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
        "django_db_setup",
        "_django_db_helper",
        "live_server",
    }
)
MOVE = "tests/unit is for tests without a database: move this test to tests/integration"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("django_db") is not None:
        pytest.fail(f"{item.nodeid} is marked django_db. {MOVE}", pytrace=False)
    asked = sorted(DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))
    if asked:
        pytest.fail(f"{item.nodeid} asks for the database ({', '.join(asked)}). {MOVE}", pytrace=False)


def _refuse_connection(self: BaseDatabaseWrapper, *args: Any, **kwargs: Any) -> NoReturn:
    pytest.fail(f"a unit test opened the database connection {self.alias!r}. {MOVE}", pytrace=False)


def _refuse_sql(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> NoReturn:
    pytest.fail(f"a unit test ran SQL: {sql.split()[0] if sql else ''} ... {MOVE}", pytrace=False)


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", _refuse_connection)
    with ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(_refuse_sql))
        yield
