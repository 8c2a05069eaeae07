"""The lifecycle of a concern: the one transition table.

The Concern model's django-fsm transitions check this table and nothing else; a contract test keeps
the two in step. Pure Python: it decides, it never stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    UNDER_REVIEW = "under_review"
    FEEDBACK_GIVEN = "feedback_given"
    CLOSED = "closed"
    ESCALATED = "escalated"
    WITHDRAWN = "withdrawn"
    REOPENED = "reopened"


class Actor(StrEnum):
    """Who may make a move. SYSTEM is the clock sweep; RAISER holds the receipt or the phone."""

    RAISER = "raiser"
    HANDLER = "handler"
    GUARDIAN = "guardian"
    SYSTEM = "system"


TERMINAL: frozenset[State] = frozenset({State.CLOSED, State.WITHDRAWN})
OPEN: frozenset[State] = frozenset(State) - TERMINAL


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[State]
    target: State
    actors: frozenset[Actor]


def _t(name: str, sources: set[State] | frozenset[State], target: State, actors: set[Actor]) -> Transition:
    return Transition(name=name, sources=frozenset(sources), target=target, actors=frozenset(actors))


S, A = State, Actor
TRANSITIONS: tuple[Transition, ...] = (
    _t("acknowledge", {S.RECEIVED, S.ESCALATED, S.REOPENED}, S.ACKNOWLEDGED, {A.HANDLER, A.GUARDIAN}),
    _t("start_review", {S.ACKNOWLEDGED}, S.UNDER_REVIEW, {A.HANDLER, A.GUARDIAN}),
    _t("give_feedback", {S.ACKNOWLEDGED, S.UNDER_REVIEW}, S.FEEDBACK_GIVEN, {A.HANDLER, A.GUARDIAN}),
    # Closing without feedback is allowed (a raiser may stop answering) but is itself a sidelining signal.
    _t("close", OPEN - {S.RECEIVED}, S.CLOSED, {A.GUARDIAN}),
    # From feedback given too: a raiser who judges the feedback inadequate may take it further (with
    # their reason); the sweep never escalates a concern whose feedback is given (sweep.ESCALATABLE).
    _t(
        "escalate",
        {S.RECEIVED, S.ACKNOWLEDGED, S.UNDER_REVIEW, S.FEEDBACK_GIVEN, S.ESCALATED, S.REOPENED},
        S.ESCALATED,
        {A.SYSTEM, A.RAISER, A.GUARDIAN},
    ),
    _t("withdraw", set(OPEN), S.WITHDRAWN, {A.RAISER}),
    _t("reopen", {S.FEEDBACK_GIVEN}, S.REOPENED, {A.RAISER, A.GUARDIAN}),
)
BY_NAME: dict[str, Transition] = {t.name: t for t in TRANSITIONS}


class IllegalTransition(Exception):
    def __init__(self, name: str, state: str, actor: str) -> None:
        super().__init__(f"{actor} may not {name} a concern that is {state}")
        self.name, self.state, self.actor = name, state, actor


def check(*, name: str, state: str, actor: Actor) -> State:
    """Return the target state, or raise IllegalTransition."""
    transition = BY_NAME.get(name)
    if transition is None or State(state) not in transition.sources or actor not in transition.actors:
        raise IllegalTransition(name, state, actor)
    return transition.target


def ever_allowed(*, name: str, actor: Actor) -> bool:
    """Whether the table lets ``actor`` make the move ``name`` from any state at all."""
    transition = BY_NAME.get(name)
    return transition is not None and actor in transition.actors


def allowed(*, state: str, actor: Actor) -> list[str]:
    return [t.name for t in TRANSITIONS if State(state) in t.sources and actor in t.actors]
