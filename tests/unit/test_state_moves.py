"""A concern's state moves one way only: ``state_move``, which asks the transition table. The
single-concern path (a person's move) and the bulk path (the sweep's escalation step) both go through
it, so a move the table forbids is refused on both, and nothing about the concern changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.concerns.models import Concern
from backend.concerns.services.common import Act, state_move
from backend.concerns.services.escalation import escalation_step
from backend.config.db import UnitOfWork
from backend.errors import Conflict, Forbidden, IllegalMove, NotTheirMove
from backend.organisations.models import Organisation
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor, IllegalTransition, State

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NAMES = [t.name for t in lifecycle.TRANSITIONS]


def _concern(state: State) -> Concern:
    """An unsaved concern in ``state``, held by a trust whose route goes on to its board."""
    board = Organisation(pk=2, code="RNXB", name="Board")
    trust = Organisation(pk=1, code="RNX", name="Trust", escalates_to=board)
    return Concern(pk=7, state=state.value, holder=trust, unit=trust, route_level=0, handovers=0)


def _allowed(name: str, state: State, actor: Actor) -> bool:
    try:
        lifecycle.check(name=name, state=state, actor=actor)
    except IllegalTransition:
        return False
    return True


@given(st.sampled_from(list(State)), st.sampled_from(NAMES), st.sampled_from(list(Actor)))
def test_a_person_moves_exactly_as_the_table_says(state: State, name: str, actor: Actor) -> None:
    concern = _concern(state)
    if _allowed(name, state, actor):
        assert state_move(concern=concern, name=name, actor=actor) == state
        assert concern.state == lifecycle.BY_NAME[name].target
    else:
        # A move the actor may never make is refused as their role's (403); one they may make from
        # another state, as the state's (409).
        refusal = IllegalMove if lifecycle.ever_allowed(name=name, actor=actor) else NotTheirMove
        with pytest.raises(refusal):
            state_move(concern=concern, name=name, actor=actor)
        assert concern.state == state.value


@given(st.sampled_from(list(State)), st.sampled_from(list(Actor)))
def test_the_sweeps_escalation_step_moves_exactly_as_the_table_says(state: State, actor: Actor) -> None:
    concern = _concern(state)
    work = UnitOfWork()
    if _allowed("escalate", state, actor):
        step = escalation_step(Act(concern, actor, None, NOW, work=work), reason="test")
        assert step is not None
        assert (concern.state, concern.route_level, concern.holder.code) == (State.ESCALATED, 1, "RNXB")
    else:
        with pytest.raises(IllegalMove if lifecycle.ever_allowed(name="escalate", actor=actor) else NotTheirMove):
            escalation_step(Act(concern, actor, None, NOW, work=work), reason="test")
        assert (concern.state, concern.route_level, concern.holder.code) == (state.value, 0, "RNX")
        assert concern.handovers == 0


def test_a_refused_move_is_a_conflict_and_still_the_engines_illegal_transition() -> None:
    concern = _concern(State.CLOSED)
    with pytest.raises(IllegalMove) as refused:
        state_move(concern=concern, name="acknowledge", actor=Actor.GUARDIAN)
    assert isinstance(refused.value, Conflict)
    assert isinstance(refused.value, IllegalTransition)


def test_a_move_the_role_may_never_make_is_forbidden_and_still_the_engines_illegal_transition() -> None:
    concern = _concern(State.ACKNOWLEDGED)
    with pytest.raises(NotTheirMove) as refused:
        state_move(concern=concern, name="close", actor=Actor.HANDLER)
    assert isinstance(refused.value, Forbidden)
    assert isinstance(refused.value, IllegalTransition)
    assert concern.state == State.ACKNOWLEDGED
