"""Receipt look-ups that cannot lock real raisers out (trust item 5): 50 clients at once, each sending
100 wrong codes, against a ceiling far below their 5,000 failures, never stop the right code opening
its concern; the wrong codes over the ceiling are answered busy."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from backend.concerns import services
from backend.concerns.crypto import receipt_new
from tests.support.factories import RaisedConcernFactory

CLIENTS, WRONG_EACH = 50, 100


@pytest.mark.django_db(transaction=True)
def test_fifty_clients_of_wrong_codes_never_block_the_right_one(demo: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CANDOUR_RECEIPT_ATTEMPTS_PER_MINUTE = 100
    raised = RaisedConcernFactory()
    answers: Counter[str] = Counter()
    opened: list[bool] = []
    lock = threading.Lock()

    def flood() -> None:
        try:
            for _ in range(WRONG_EACH):
                try:
                    found = services.concern_for_receipt(code=receipt_new())
                    outcome = "not found" if found is None else "found"
                except services.TooManyAttempts:
                    outcome = "busy"
                with lock:
                    answers[outcome] += 1
        finally:
            connection.close()

    def raiser() -> None:
        try:
            for _ in range(20):  # the raiser keeps looking while the flood runs
                concern = services.concern_for_receipt(code=raised.receipt)
                with lock:
                    opened.append(concern is not None and concern.pk == raised.concern.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=flood) for _ in range(CLIENTS)] + [threading.Thread(target=raiser)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)

    assert sum(answers.values()) == CLIENTS * WRONG_EACH
    assert answers["found"] == 0
    assert answers["busy"] > 0  # the ceiling was reached...
    assert opened == [True] * 20  # ...and the right code opened the concern every time
