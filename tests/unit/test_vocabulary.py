"""Contract tests: each vocabulary is defined once, and every other list that names the same things
(the transition table, the policy schema, the models' choices, the dispatch tables of the services,
the figures, the pages) says the same words. A word added in one place and not the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

from backend.concerns.inputs import RaiserMessageInput
from backend.concerns.models import Clock, Concern, Event, MessageKind
from backend.concerns.services.raiser import RAISER_ALERTS, RAISER_MESSAGE_EVENTS
from backend.concerns.services.sweep import ON_BREACH
from backend.oversight import figures
from backend.oversight.models import Alert
from frontend.views import STAFF_ACTIONS
from workflows.engine import lifecycle
from workflows.engine.policy import POLICY_SCHEMA, BreachAction, ClockKind
from workflows.engine.sidelining import BREACH_RULE, LABELS, Rule
from workflows.engine.vocabulary import Action, EventKind, RaiserKind, Theme, choices

TEMPLATES = Path(__file__).resolve().parents[2] / "frontend" / "templates" / "frontend"


def _field_choices(model: type, name: str) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in model._meta.get_field(name).choices]  # type: ignore[attr-defined]


def test_every_word_has_a_human_label() -> None:
    for words in (RaiserKind, Theme, EventKind):
        for word in words:
            assert word.label and word.label != word.value, f"{words.__name__}.{word.name} has no label"
            assert "_" not in word.label, f"{words.__name__}.{word.name}: {word.label!r} reads as a raw value"
    assert set(LABELS) == set(Rule)


def test_every_move_of_the_table_is_recorded_under_its_own_event_kind() -> None:
    names = {t.name for t in lifecycle.TRANSITIONS}
    assert names <= {k.value for k in EventKind}
    # And the other way: an event kind named like a move is that move.
    assert {k.value for k in EventKind if k.value in lifecycle.BY_NAME} == names


def test_the_models_store_the_engine_words_with_their_labels() -> None:
    assert _field_choices(Concern, "raiser_kind") == choices(RaiserKind)
    assert _field_choices(Event, "kind") == choices(EventKind)
    assert _field_choices(Alert, "rule") == [(r.value, LABELS[r]) for r in Rule]
    assert {value for value, _ in _field_choices(Clock, "kind")} == {k.value for k in ClockKind}
    assert {value for value, _ in _field_choices(Concern, "state")} == {s.value for s in lifecycle.State}


def test_the_policy_schema_names_the_same_raiser_kinds_themes_clocks_and_actions() -> None:
    rule = POLICY_SCHEMA["properties"]["clocks"]["items"]["properties"]
    when = rule["when"]["properties"]
    assert rule["kind"]["enum"] == [k.value for k in ClockKind]
    assert when["raiser_kind"]["items"]["enum"] == [k.value for k in RaiserKind]
    assert when["themes"]["items"]["enum"] == [t.value for t in Theme]
    assert rule["on_breach"]["items"]["enum"] == [a.value for a in BreachAction]


def test_dispatch_tables_cover_their_whole_vocabulary() -> None:
    # Every breach action a policy may list has a handler in the sweep, every clock an alert rule.
    assert set(ON_BREACH) == set(BreachAction)
    assert set(BREACH_RULE) == {k.value for k in ClockKind}
    # Everything a raiser may send is recorded under an event kind; detriment and "nothing was done"
    # are sidelining.
    sendable = {value for value in RaiserMessageInput().fields["kind"].choices}
    assert sendable == {k.value for k in RAISER_MESSAGE_EVENTS}
    assert set(RAISER_ALERTS) == {MessageKind.DETRIMENT, MessageKind.NOTHING_DONE}


def test_the_figures_read_only_words_that_exist() -> None:
    kinds = {k.value for k in EventKind}
    assert kinds >= figures.STORY_KINDS
    assert figures.ACTIVITY_KINDS <= figures.STORY_KINDS
    assert set(figures._STORY) <= figures.STORY_KINDS


def test_staff_actions_are_the_staff_moves_of_the_table_and_the_work_on_an_open_case() -> None:
    staff = {lifecycle.Actor.GUARDIAN, lifecycle.Actor.HANDLER}
    moves = {t.name for t in lifecycle.TRANSITIONS if t.actors & staff}
    assert moves <= {a.value for a in Action}
    assert {a.value for a in Action} - moves == {
        "message",
        "note",
        "assign",
        "pause",
        "resume",
        "declare_conflict",
        "record_action",
        "complete_action",
        "reclassify",
    }


def test_the_case_page_and_its_dispatch_offer_every_action_and_no_other() -> None:
    offered = set(re.findall(r'"(\w+)" in actions', (TEMPLATES / "case.html").read_text()))
    assert offered == {a.value for a in Action}
    assert set(STAFF_ACTIONS) == set(Action)
