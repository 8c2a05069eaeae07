"""The delivery status order: forward only, terminal statuses stick, the retry loop is the one sideways move."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications.models import STATUS_RANK, TERMINAL, DeliveryStatus, status_may_move

S = DeliveryStatus


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PENDING, S.SENDING),
        (S.PENDING, S.SENT),
        (S.PENDING, S.UNDELIVERABLE),
        (S.SENDING, S.SENT),
        (S.SENDING, S.FAILED),
        (S.FAILED, S.SENDING),  # the next attempt
        (S.SENT, S.DELIVERED),
        (S.SENT, S.UNDELIVERABLE),  # the provider accepted it, then gave up
    ],
)
def test_forward_moves_are_allowed(current: str, new: str) -> None:
    assert status_may_move(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.SENT, S.SENDING),  # a late "sending" callback after "sent"
        (S.SENT, S.FAILED),
        (S.SENT, S.PENDING),
        (S.FAILED, S.PENDING),
        (S.DELIVERED, S.SENT),
        (S.DELIVERED, S.UNDELIVERABLE),
        (S.UNDELIVERABLE, S.DELIVERED),
        (S.UNDELIVERABLE, S.SENDING),
        (S.SENT, S.SENT),  # a callback twice
    ],
)
def test_backward_terminal_and_repeated_moves_are_refused(current: str, new: str) -> None:
    assert not status_may_move(current, new)


def test_unknown_status_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown delivery status"):
        status_may_move(S.PENDING, "opened")


def test_every_status_has_a_rank() -> None:
    assert set(STATUS_RANK) == set(S.values)


@given(st.lists(st.sampled_from(S.values), max_size=30))
def test_any_stream_of_reports_only_moves_forward(reports: list[str]) -> None:
    """Callbacks in any order, any number of times: the rank never falls, and a terminal status never changes."""
    current: str = S.PENDING
    for report in reports:
        before = current
        if status_may_move(current, report):
            current = report
        assert STATUS_RANK[current] >= STATUS_RANK[before]
        if before in TERMINAL:
            assert current == before
