"""The transition table, and the Concern model's FSM kept in step with it."""

from __future__ import annotations

import pytest

from backend.concerns.models import Concern
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor, IllegalTransition, State


def _model_graph() -> dict[str, tuple[frozenset[str], str]]:
    graph: dict[str, tuple[set[str], str]] = {}
    field = Concern._meta.get_field("state")
    for t in field.get_all_transitions(Concern):  # type: ignore[attr-defined]
        sources, target = graph.setdefault(t.name, (set(), t.target))
        assert target == t.target
        sources.add(t.source)
    return {name: (frozenset(s), target) for name, (s, target) in graph.items()}


def test_model_transitions_match_the_table() -> None:
    table = {t.name: (frozenset(str(s) for s in t.sources), str(t.target)) for t in lifecycle.TRANSITIONS}
    assert _model_graph() == table


def test_terminal_states_have_no_way_out() -> None:
    for t in lifecycle.TRANSITIONS:
        assert not (t.sources & lifecycle.TERMINAL), t.name


def test_check_refuses_the_wrong_actor_and_the_wrong_state() -> None:
    assert lifecycle.check(name="acknowledge", state="received", actor=Actor.GUARDIAN) is State.ACKNOWLEDGED
    with pytest.raises(IllegalTransition):
        lifecycle.check(name="acknowledge", state="received", actor=Actor.RAISER)
    with pytest.raises(IllegalTransition):
        lifecycle.check(name="acknowledge", state="closed", actor=Actor.GUARDIAN)
    with pytest.raises(IllegalTransition):
        lifecycle.check(name="no_such_move", state="received", actor=Actor.GUARDIAN)


def test_only_the_raiser_withdraws_and_the_system_cannot_close() -> None:
    assert "withdraw" in lifecycle.allowed(state="under_review", actor=Actor.RAISER)
    assert "withdraw" not in lifecycle.allowed(state="under_review", actor=Actor.GUARDIAN)
    assert "close" not in lifecycle.allowed(state="feedback_given", actor=Actor.SYSTEM)
