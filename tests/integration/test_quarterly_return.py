"""The quarterly speaking-up data return: counted from the folded figures, checked against hand counts
for a told story (multi-theme, anonymous, detriment, groups, speak-up answers, suppression), moved by
a guardian's correction in the quarter received, rebuilt from the audit trail to the same numbers,
produced by the command as CSV, and professional groups checked at intake."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from backend.concerns import services
from backend.concerns.models import Concern, Event, MessageKind
from backend.organisations.models import Organisation
from backend.oversight.figures import figures_rebuild, figures_rollup
from backend.oversight.models import ReturnCount
from backend.oversight.returns import QuarterlyReturn, quarterly_return, return_quarter_parse
from tests.support.concern_bodies import concern_body
from tests.support.raise_pages import journey_begin, raise_on_the_web
from workflows.engine.vocabulary import EventKind

pytestmark = pytest.mark.django_db

Q2 = date(2026, 4, 1)
Q3 = date(2026, 7, 1)
IN_Q2 = datetime(2026, 5, 12, 10, 15, tzinfo=UTC)
IN_Q3 = datetime(2026, 8, 3, 10, 15, tzinfo=UTC)


def org(code: str) -> Organisation:
    return Organisation.objects.get(code=code)


def raise_at(moment: datetime, unit: str = "RNX07", **extra: Any) -> Concern:
    fields: dict[str, Any] = {
        "raiser_kind": "staff",
        "identity_mode": "named",
        "raiser_name": "Raiser Canary",
        "themes": ["patient_safety"],
        "what_happened": "NARRATIVE-CANARY",
    }
    fields.update(extra)
    with time_machine.travel(moment, tick=False):
        return services.concern_raise(draft=services.ConcernDraft(unit=org(unit), **fields), now=moment).concern


def guardian(username: str = "guardian") -> Any:
    return get_user_model().objects.get(username=username)


def fed_back(concern: Concern, at: datetime, answer: str) -> None:
    """Acknowledged, given feedback, and the raiser's answer to "would you speak up again?"."""
    user = guardian("guardian-community" if concern.unit.code.startswith("RCX") else "guardian")
    services.concern_acknowledge(concern_id=concern.pk, user=user, now=at)
    services.concern_give_feedback(concern_id=concern.pk, user=user, feedback="We changed the rota.", now=at)
    services.concern_answer_speak_up_again(concern_id=concern.pk, answer=answer, now=at + timedelta(hours=1))


def counts(found: QuarterlyReturn) -> dict[tuple[str, str], str]:
    """Every line's count as shown, by (measure, key)."""
    return {(line.measure, line.key): line.count.display for line in found.lines}


def shares(found: QuarterlyReturn) -> dict[tuple[str, str], str]:
    return {(line.measure, line.key): line.share.display for line in found.lines}


def told_story() -> dict[str, Concern]:
    """RNX in Q3: 7 cases. Three anonymous; two about patient safety and bullying (both themes); four
    about patient safety in all; one detriment reported twice; groups: 3 nurses, 2 medical, 2 not
    recorded; speak up again: 2 yes, 1 no. RCX in Q3: 5 cases, all worker safety, 5 allied health.
    RNX in Q2: 1 case (not in Q3's return)."""
    story: dict[str, Concern] = {}
    story["nurse_anon_1"] = raise_at(
        IN_Q3,
        identity_mode="anonymous",
        raiser_name="",
        themes=["patient_safety", "bullying"],
        professional_group="nurses_midwives",
    )
    story["nurse_anon_2"] = raise_at(
        IN_Q3 + timedelta(days=1),
        unit="RNXMAT",
        identity_mode="anonymous",
        raiser_name="",
        themes=["bullying", "patient_safety"],
        professional_group="nurses_midwives",
    )
    story["nurse_3"] = raise_at(IN_Q3 + timedelta(days=2), themes=["behaviour"], professional_group="nurses_midwives")
    story["doctor_1"] = raise_at(IN_Q3 + timedelta(days=3), professional_group="medical_dental")
    story["doctor_2"] = raise_at(IN_Q3 + timedelta(days=4), themes=["other"], professional_group="medical_dental")
    story["unknown_anon"] = raise_at(
        IN_Q3 + timedelta(days=5), identity_mode="anonymous", raiser_name="", themes=["patient_safety"]
    )
    story["unknown_2"] = raise_at(IN_Q3 + timedelta(days=6), themes=["worker_safety"])
    for n in range(5):
        story[f"community_{n}"] = raise_at(
            IN_Q3 + timedelta(days=n), unit="RCXDNE", themes=["worker_safety"], professional_group="allied_health"
        )
    story["earlier"] = raise_at(IN_Q2, professional_group="medical_dental", themes=["bullying"])
    # Detriment reported twice on one concern: the return counts the concern once.
    for day in (10, 11):
        services.concern_message_from_raiser(
            concern_id=story["nurse_3"].pk,
            body="I lost my shifts",
            kind=MessageKind.DETRIMENT,
            now=IN_Q3 + timedelta(days=day),
        )
    fed_back(story["nurse_3"], IN_Q3 + timedelta(days=20), "yes")
    fed_back(story["doctor_1"], IN_Q3 + timedelta(days=20), "yes")
    fed_back(story["doctor_2"], IN_Q3 + timedelta(days=20), "no")
    figures_rollup()
    return story


def test_a_return_matches_hand_counts_with_multi_theme_and_suppression(demo: None) -> None:
    told_story()
    submitted = quarterly_return(organisation=org("RNX"), quarter=Q3, published=False)
    got = counts(submitted)
    assert submitted.cases.display == "7"  # a concern with two themes is one case
    assert got[("r_anonymous", "")] == "3"
    assert got[("r_theme", "patient_safety")] == "4"  # two with both themes count under both
    assert got[("r_theme", "bullying")] == "2"
    assert got[("r_theme", "behaviour")] == "1"
    assert got[("r_theme", "other")] == "1"
    assert got[("r_theme", "worker_safety")] == "1"
    assert (
        sum(int(got[("r_theme", t)]) for t in ("patient_safety", "bullying", "behaviour", "other", "worker_safety"))
        == 9
    )
    assert got[("r_detriment", "")] == "1"  # reported twice, one concern
    assert got[("r_group", "nurses_midwives")] == "3"
    assert got[("r_group", "medical_dental")] == "2"
    assert got[("r_group", "not_known")] == "2"  # none recorded
    assert got[("r_group", "allied_health")] == "0"
    assert got[("answered", "")] == "3"
    assert (got[("r_speak_up", "yes")], got[("r_speak_up", "no")], got[("r_speak_up", "maybe")]) == ("2", "1", "0")
    assert shares(submitted)[("r_anonymous", "")] == "42.9%"
    assert shares(submitted)[("r_speak_up", "yes")] == "66.7%"  # of those who answered, not of the cases

    published = quarterly_return(organisation=org("RNX"), quarter=Q3, published=True)
    shown, shown_shares = counts(published), shares(published)
    assert published.cases.display == "7"
    assert shown[("r_anonymous", "")] == "fewer than 5"
    assert shown[("r_theme", "patient_safety")] == "fewer than 5"
    assert shown[("r_theme", "worker_safety")] == "fewer than 5"
    assert shown[("r_theme", "bullying")] == "fewer than 5"
    assert shown[("r_group", "allied_health")] == "0"  # zero is not suppressed
    assert shown_shares[("r_anonymous", "")] == "withheld"
    assert shown_shares[("r_group", "allied_health")] == "0%"  # none of 7: nothing small to give away
    assert shown[("answered", "")] == "fewer than 5"
    assert all(s == "withheld" for (m, _), s in shown_shares.items() if m == "r_speak_up")

    community = quarterly_return(organisation=org("RCX"), quarter=Q3, published=True)
    assert counts(community)[("r_theme", "worker_safety")] == "5"
    assert shares(community)[("r_theme", "worker_safety")] == "100%"
    assert counts(community)[("r_group", "allied_health")] == "5"

    # The integrated care board's return is its providers' rolled up, counted once each.
    board = quarterly_return(organisation=org("QNX"), quarter=Q3, published=False)
    assert board.cases.display == "12"
    assert counts(board)[("r_theme", "worker_safety")] == "6"
    assert counts(board)[("r_group", "allied_health")] == "5"
    assert {code for code, _ in board.providers} == {"RNX", "RCX"}

    # The quarter before holds only the concern received then.
    earlier = quarterly_return(organisation=org("RNX"), quarter=Q2, published=False)
    assert earlier.cases.display == "1"
    assert counts(earlier)[("r_theme", "bullying")] == "1"


def test_a_reclassified_concern_moves_between_counts_in_its_received_quarter(demo: None) -> None:
    concern = raise_at(IN_Q2, themes=["patient_safety"], professional_group="")
    figures_rollup()
    before = counts(quarterly_return(organisation=org("RNX"), quarter=Q2, published=False))
    assert (before[("r_theme", "patient_safety")], before[("r_group", "not_known")]) == ("1", "1")

    # Corrected in the next quarter: it still counts in the quarter it was received.
    services.concern_reclassify(
        concern_id=concern.pk,
        user=guardian(),
        themes=["bullying", "worker_safety"],
        professional_group="healthcare_scientists",
        now=IN_Q3,
    )
    figures_rollup()
    after = counts(quarterly_return(organisation=org("RNX"), quarter=Q2, published=False))
    assert after[("r_cases", "")] == "1"
    assert after[("r_theme", "patient_safety")] == "0"
    assert (after[("r_theme", "bullying")], after[("r_theme", "worker_safety")]) == ("1", "1")
    assert (after[("r_group", "not_known")], after[("r_group", "healthcare_scientists")]) == ("0", "1")
    assert counts(quarterly_return(organisation=org("RNX"), quarter=Q3, published=False))[("r_cases", "")] == "0"

    event = Event.objects.get(concern=concern, kind=EventKind.RECLASSIFIED)
    assert event.data == {
        "themes": ["bullying", "worker_safety"],
        "group": "healthcare_scientists",
        "was": {"themes": ["patient_safety"], "group": ""},
    }
    # Nothing differs: nothing recorded, nothing moves.
    services.concern_reclassify(concern_id=concern.pk, user=guardian(), themes=["worker_safety", "bullying"], now=IN_Q3)
    assert Event.objects.filter(concern=concern, kind=EventKind.RECLASSIFIED).count() == 1


def test_figures_rebuild_gives_the_same_return_as_the_folded_deltas(demo: None) -> None:
    story = told_story()
    services.concern_reclassify(
        concern_id=story["doctor_2"].pk, user=guardian(), themes=["bullying"], professional_group="", now=IN_Q3
    )
    figures_rollup()
    folded = {(r.organisation_id, r.quarter, r.measure, r.key): r.value for r in ReturnCount.objects.all()}
    returned = [
        quarterly_return(organisation=org(code), quarter=q, published=p)
        for code in ("RNX", "RCX", "QNX")
        for q in (Q2, Q3)
        for p in (False, True)
    ]
    figures_rebuild()
    rebuilt = {(r.organisation_id, r.quarter, r.measure, r.key): r.value for r in ReturnCount.objects.all()}
    assert {k: v for k, v in rebuilt.items() if v} == {k: v for k, v in folded.items() if v}
    again = [
        quarterly_return(organisation=org(code), quarter=q, published=p)
        for code in ("RNX", "RCX", "QNX")
        for q in (Q2, Q3)
        for p in (False, True)
    ]
    assert [r.lines for r in again] == [r.lines for r in returned]


def test_the_command_writes_the_csv(demo: None, tmp_path: Path) -> None:
    told_story()
    out, err = io.StringIO(), io.StringIO()
    call_command("return_quarterly", "--org", "QNX", "--quarter", "2026Q3", stdout=out, stderr=err)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["organisation", "organisation_name", "quarter", "measure", "key", "label", "count", "share"]
    by = {(r[0], r[3], r[4]): r for r in rows[1:]}
    assert by[("QNX", "r_cases", "")][6] == "12"
    assert by[("RNX", "r_anonymous", "")][6] == "3"  # each provider follows the roll-up
    assert by[("RCX", "r_group", "allied_health")][6] == "5"
    assert "2/2 organisations" in err.getvalue()

    target = tmp_path / "return.csv"
    call_command(
        "return_quarterly", "--org", "RNX", "--quarter", "2026Q3", "--published", "--output", str(target), stderr=err
    )
    published = {(r[3], r[4]): r for r in csv.reader(target.open(encoding="utf-8"))}
    assert published[("r_cases", "")][6] == "7"
    assert published[("r_anonymous", "")][6:] == ["fewer than 5", "withheld"]
    assert "RCX" not in target.read_text()


def test_quarters_are_named_as_the_return_names_them() -> None:
    assert return_quarter_parse("2026Q3") == Q3
    assert return_quarter_parse("2026-04-01") == Q2
    assert return_quarter_parse("2026Q5") is None
    assert return_quarter_parse("2026-05-01") is None


def test_intake_refuses_an_unknown_professional_group_and_keeps_a_known_one(demo: None) -> None:
    client = Client()
    refused = client.post(
        "/api/v1/concerns/raise/",
        json.dumps(concern_body(professional_group="astronaut")),
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "Choose a professional group from the list" in json.dumps(refused.json())
    accepted = client.post(
        "/api/v1/concerns/raise/",
        json.dumps(concern_body(professional_group="estates_ancillary")),
        content_type="application/json",
    )
    assert accepted.status_code == 201, accepted.content
    concern = Concern.objects.get(reference=accepted.json()["reference"])
    assert concern.professional_group == "estates_ancillary"
    raised = Event.objects.get(concern=concern, kind=EventKind.RAISED)
    assert raised.data["group"] == "estates_ancillary"


def test_the_raise_journey_asks_the_group_optionally_and_says_why(demo: None) -> None:
    client = Client()
    journey_begin(client)
    page = client.get("/raise/your-group/").content.decode()
    assert "Which of these best describes you? (optional)" in page
    assert "sends NHS England a count" in page and "Registered nurses and midwives" in page
    assert client.post("/raise/your-group/", {"professional_group": "astronaut"}).status_code == 400
    sent = raise_on_the_web(Client(), concern_body(professional_group="students"))
    assert sent.status_code == 200, sent.content[:300]
    assert Concern.objects.filter(professional_group="students").count() == 1
    left_out = raise_on_the_web(Client(), concern_body(what_happened="Another thing."))
    assert left_out.status_code == 200
    assert Concern.objects.filter(professional_group="").count() == 1
