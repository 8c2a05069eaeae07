from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from backend.concerns.crypto import CROCKFORD, RECEIPT_CHARS, receipt_new, receipt_normalise


def test_a_receipt_carries_at_least_112_bits() -> None:
    assert RECEIPT_CHARS * math.log2(len(CROCKFORD)) >= 112
    code = receipt_new()
    assert receipt_normalise(code) == code.replace("-", "")


def test_receipts_survive_being_read_aloud_and_retyped() -> None:
    code = receipt_new()
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert receipt_normalise(typed) == code.replace("-", "")


@given(st.text(max_size=60))
def test_anything_else_is_not_a_receipt_or_normalises_to_valid_characters(text: str) -> None:
    normalised = receipt_normalise(text)
    assert normalised is None or (len(normalised) == RECEIPT_CHARS and set(normalised) <= set(CROCKFORD))
