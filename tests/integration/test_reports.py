"""The guardian's board report (a trust's quarter, as a page and a tagged PDF) and the prescribed
person's annual report (SI 2017/507, as a page, a CSV and a PDF): their numbers match a known set of
concerns counted by hand, nothing in them names anyone or repeats anyone's words, and only those who
may read a report get it (everyone else 404, page and download alike).

Every concern is raised and moved through the services, at fixed times in the past, and the figures
are folded as the beat task folds them. The PDFs are read back with poppler's pdftotext and pdfinfo."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from backend.concerns import services
from backend.concerns.models import Concern
from backend.learning.services import SUMMARY_CHECKLIST, summary_approve, summary_write
from backend.organisations.models import Organisation, Role
from backend.oversight.figures import figures_rollup
from backend.oversight.models import Alert
from backend.oversight.services import alert_resolve
from tests.support.factories import (
    CareSystemFactory,
    ConcernFactory,
    MembershipFactory,
    RegulatorFactory,
    StaffFactory,
    WardFactory,
)
from tests.support.sign_in import staff_client

CANARY = "CANARY-7f3a the sluice room door"
STAFF_NAME = "Bronwen Canaryfield"
Q3 = datetime(2026, 7, 6, 10, tzinfo=UTC)  # a Monday in July to September 2026
AFTER = datetime(2026, 10, 5, 10, tzinfo=UTC)


def _pdf_text(pdf: bytes, tmp_path: Path) -> tuple[str, str]:
    """The PDF's text as pdftotext lays it out, and what pdfinfo says of it."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    return text.stdout, info.stdout


def _raise(code: str, when: datetime, themes: list[str] | None = None) -> Concern:
    return ConcernFactory(
        unit=Organisation.objects.get(code=code),
        identity_mode="confidential",
        raiser_name=STAFF_NAME,
        raiser_contact="07700 900777",
        what_happened=f"{CANARY}: {STAFF_NAME} shouted at a patient",
        themes=themes or ["patient_safety"],
        now=when,
    )


# The guardian's board report -----------------------------------------------------------------------


@pytest.fixture
def board_world(demo: None, user_named) -> None:  # type: ignore[no-untyped-def]
    """Five concerns about Northshire Hospitals (RNX) received in July to September 2026, by hand:
    three acknowledged in time (a day after each arrived), one of them given feedback and its raiser
    would not speak up again, one escalated by its guardian to the trust, one closed without feedback
    (an alert the governor resolves; its "you said, we did" summary is published), and one whose
    raiser reports detriment (an alert left open). One in the quarter before and one about another
    trust must not count. Themes: patient safety 3, bullying 1, inappropriate behaviours 1;
    detriment indicated 1."""
    guardian, governor = user_named("guardian"), user_named("governor")
    acknowledged = [_raise("RNX07", Q3 + timedelta(days=d)) for d in (0, 1)]
    for concern in acknowledged:
        services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=concern.received_at + timedelta(days=1))
    services.concern_give_feedback(
        concern_id=acknowledged[0].pk, user=guardian, feedback="Rotas changed", now=Q3 + timedelta(days=5)
    )
    services.concern_answer_speak_up_again(concern_id=acknowledged[0].pk, answer="no", now=Q3 + timedelta(days=6))
    escalated = _raise("RNXMAT", Q3 + timedelta(days=3), ["bullying"])
    services.concern_escalate_by_guardian(
        concern_id=escalated.pk, user=guardian, reason="A conflict of interest", now=Q3 + timedelta(days=4)
    )
    closed = _raise("RNX07", Q3 + timedelta(days=10), ["behaviour"])
    services.concern_acknowledge(concern_id=closed.pk, user=guardian, now=Q3 + timedelta(days=11))
    services.concern_close(concern_id=closed.pk, user=guardian, reason="Raiser left", now=Q3 + timedelta(days=12))
    # Its "you said, we did" summary, written and approved by a second guardian: public from October.
    summary = summary_write(
        concern_id=closed.pk,
        user=guardian,
        text="SUMMARY-WORDS rotas are now checked by two people",
        checklist=list(SUMMARY_CHECKLIST),
        now=Q3 + timedelta(days=12, hours=1),
    )
    second = StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=Organisation.objects.get(code="RNX"))
    summary_approve(summary_id=summary.pk, user=second, now=Q3 + timedelta(days=14))
    alert = Alert.objects.get(concern=closed, rule="closed_without_feedback")
    alert_resolve(alert_id=alert.pk, user=governor, reason="Spoke to the guardian", now=Q3 + timedelta(days=13))
    harmed = _raise("RNXMAT", Q3 + timedelta(days=20))
    services.concern_message_from_raiser(
        concern_id=harmed.pk, body=f"{STAFF_NAME} moved my shifts", kind="detriment", now=Q3 + timedelta(days=21)
    )
    _raise("RNX07", Q3 - timedelta(days=30))  # June: the quarter before
    _raise("RCXDNE", Q3 + timedelta(days=2))  # another trust
    figures_rollup(now=AFTER)


BOARD = "/oversight/board-report/RNX/2026Q3/"


def test_the_board_report_shows_the_quarter_s_numbers_and_no_words_or_names(board_world: None, tmp_path: Path) -> None:
    client = staff_client("guardian")
    page = client.get(BOARD)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="received">5<' in html
    assert 'data-testid="ack-in-time">3 of 3 due<' in html
    assert 'data-testid="escalated">1<' in html
    assert '<span data-testid="alerts-opened">2</span>' in html
    assert '<span data-testid="alerts-resolved">1</span>' in html
    assert 'data-testid="detriment">1<' in html
    assert 'data-testid="answered">1<' in html
    assert "Closed without feedback to the raiser" in html
    assert "Raiser reports detriment" in html
    assert "Raisers who would not speak up again, Northshire Hospitals NHS Foundation Trust" in html
    assert "<svg" in html
    assert "report.pdf" in html

    started = time.perf_counter()
    pdf = client.get(f"{BOARD}report.pdf")
    rendered = time.perf_counter() - started
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    text, info = _pdf_text(pdf.content, tmp_path)
    print(f"board report PDF: {len(pdf.content)} bytes in {rendered:.2f} s")
    assert re.search(r"^Tagged:\s+yes$", info, re.MULTILINE), info
    assert re.search(r"Concerns received\s+5", text), text
    assert re.search(r"Acknowledged in time\s+3 of 3 due\s+100%", text), text
    assert re.search(r"Northshire Hospitals NHS Foundation Trust\s+1", text), text  # the escalation
    assert re.search(r"Closed without feedback to the raiser\s+1\s+1\s+0", text), text
    assert re.search(r"Raiser reports detriment\s+1\s+0\s+1", text), text
    # A chart's title, wrapped in its column: read in the PDF's own order, not as laid out.
    in_order = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True)
    assert "Raisers who would not speak up again" in " ".join(in_order.stdout.split())
    # The quarterly return, as submitted: true numbers.
    assert re.search(r"Patient safety or quality\s+3\s+60.0%", text), text
    assert re.search(r"Bullying or harassment\s+1\s+20.0%", text), text
    assert re.search(r"Inappropriate attitudes or behaviours\s+1\s+20.0%", text), text
    assert re.search(r"Detriment indicated\s+1\s+20.0% of concerns", text), text
    assert re.search(r"Answered whether they would speak up again\s+1", text), text
    assert re.search(r"Would speak up again: No\s+1\s+100.0%", text), text
    assert re.search(r"Not known\s+5\s+100.0%", text, re.IGNORECASE), text
    # The learning loop: the count of published summaries, never their words.
    assert "Fewer than 5 public" in " ".join(in_order.stdout.split())
    assert 'data-testid="summaries-published">Fewer than 5 public' in html
    for secret in (CANARY, "CANARY", STAFF_NAME, "Canaryfield", "Bronwen", "07700", "SUMMARY-WORDS"):
        assert secret not in html
        assert secret not in text


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("guardian", 200),
        ("governor", 200),
        ("commissioner", 200),
        ("guardian-community", 404),  # a guardian of another trust
        ("handler", 404),
        ("patient-group", 404),
        ("regulator", 404),
    ],
)
def test_only_the_trust_s_guardians_governors_and_commissioners_get_its_board_report(
    demo: None, username: str, status: int
) -> None:
    client = staff_client(username)
    assert client.get(BOARD).status_code == status
    assert client.get(f"{BOARD}report.pdf").status_code == status


def test_a_board_report_of_a_ward_or_a_malformed_quarter_is_not_found(demo: None) -> None:
    client = staff_client("guardian")
    assert client.get("/oversight/board-report/RNX07/2026Q3/").status_code == 404
    assert client.get("/oversight/board-report/RNX/2026Q5/").status_code == 404
    assert client.get("/oversight/board-report/RNX/2026-07-01/").status_code == 404


def test_the_trends_page_and_the_dashboard_link_the_board_report(demo: None) -> None:
    client = staff_client("governor")
    assert "/oversight/board-report/RNX/" in client.get("/oversight/trends/RNX/").content.decode()
    assert "/oversight/board-report/RNX/" in client.get("/oversight/").content.decode()


# The prescribed person's annual report -------------------------------------------------------------

YEAR_START = datetime(2025, 5, 6, 10, tzinfo=UTC)  # in 1 April 2025 to 31 March 2026


@dataclass(frozen=True)
class AnnualWorld:
    regulator: Organisation
    member: User
    trust: Organisation
    ward: Organisation


def _to_regulator(concern: Concern, guardian: User, when: datetime, steps: int = 4) -> None:
    """Ward -> trust -> board -> ICB -> regulator, by its guardian at each, a minute apart."""
    for step in range(steps):
        services.concern_escalate_by_guardian(
            concern_id=concern.pk, user=guardian, reason="Out of our hands", now=when + timedelta(minutes=step)
        )


@pytest.fixture
def annual_world(db: None) -> AnnualWorld:
    """Concerns that reached a regulator in 2025/26, by hand: received 5; further action 2 (an action
    agreed there; closed there upheld), no further action 1 (closed there not upheld), referred 1
    (escalated on to another regulator), still being considered 1. Themes: patient safety 2, worker
    safety 1, bullying 2, inappropriate behaviours 1, other 1. Not counted: one that reached it in
    March 2025, one in April 2026, and one that stopped at the integrated care board."""
    system = CareSystemFactory()
    regulator, beyond = system.regulator, RegulatorFactory()
    Organisation.objects.filter(pk=regulator.pk).update(escalates_to=beyond)
    guardian = StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=system.trust)
    for body in (system.board, system.icb, regulator):
        MembershipFactory(user=guardian, organisation=body, role=Role.GUARDIAN)
    member = StaffFactory(membership__role=Role.REGULATOR, membership__organisation=regulator)
    ward = system.wards[0]

    def arrived(themes: list[str], when: datetime) -> Concern:
        concern = _raise(ward.code, when, themes)
        _to_regulator(concern, guardian, when + timedelta(hours=1))
        services.concern_acknowledge(concern_id=concern.pk, user=guardian, now=when + timedelta(days=1))
        return concern

    acted = arrived(["patient_safety", "bullying"], YEAR_START)
    services.concern_action_record(
        concern_id=acted.pk,
        user=guardian,
        title=f"{CANARY} retrain",
        owner=STAFF_NAME,
        due_on=date(2025, 7, 1),
        now=YEAR_START + timedelta(days=2),
    )
    upheld = arrived(["bullying"], YEAR_START + timedelta(days=30))
    services.concern_close(
        concern_id=upheld.pk,
        user=guardian,
        reason="Found",
        outcome="upheld",
        no_action_reason="Handled by the trust",
        now=YEAR_START + timedelta(days=40),
    )
    not_upheld = arrived(["worker_safety"], YEAR_START + timedelta(days=60))
    services.concern_close(
        concern_id=not_upheld.pk,
        user=guardian,
        reason="Looked into",
        outcome="not_upheld",
        now=YEAR_START + timedelta(days=70),
    )
    referred = arrived(["behaviour"], YEAR_START + timedelta(days=90))
    services.concern_escalate_by_guardian(
        concern_id=referred.pk, user=guardian, reason="Theirs", now=YEAR_START + timedelta(days=91)
    )
    arrived(["other", "patient_safety"], YEAR_START + timedelta(days=120))
    # Not this year's, or never reached the regulator.
    arrived(["bullying"], datetime(2025, 3, 3, 10, tzinfo=UTC))
    arrived(["bullying"], datetime(2026, 4, 7, 10, tzinfo=UTC))
    stopped = _raise(ward.code, YEAR_START, ["bullying"])
    _to_regulator(stopped, guardian, YEAR_START + timedelta(hours=1), steps=3)
    return AnnualWorld(regulator=regulator, member=member, trust=system.trust, ward=ward)


def _annual_url(world: AnnualWorld, suffix: str = "") -> str:
    return f"/oversight/annual-report/{world.regulator.code}/2025/{suffix}"


EXPECTED = {
    ("Disclosures received", "Concerns that reached it by escalation"): "5",
    ("What was done", "Further action taken"): "2",
    ("What was done", "Referred to another body"): "1",
    ("What was done", "No further action"): "1",
    ("What was done", "Still being considered"): "1",
    ("Themes", "Patient safety or quality"): "2",
    ("Themes", "Worker safety or wellbeing"): "1",
    ("Themes", "Bullying or harassment"): "2",
    ("Themes", "Inappropriate attitudes or behaviours"): "1",
    ("Themes", "Other"): "1",
}


def test_the_annual_report_counts_match_a_hand_count_in_csv_and_pdf(annual_world: AnnualWorld, tmp_path: Path) -> None:
    client = staff_client(annual_world.member.get_username())

    answer = client.get(_annual_url(annual_world, "report.csv"))
    assert answer.status_code == 200
    assert answer.streaming
    assert answer["Content-Type"].startswith("text/csv")
    body = b"".join(answer.streaming_content).decode()  # type: ignore[arg-type]
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["section", "measure", "count"]
    assert rows[1] == ["Period", "1 April 2025 to 31 March 2026", ""]
    assert {(s, m): c for s, m, c in rows[2:]} == EXPECTED

    pdf = client.get(_annual_url(annual_world, "report.pdf"))
    assert pdf.status_code == 200
    text, info = _pdf_text(pdf.content, tmp_path)
    assert re.search(r"^Tagged:\s+yes$", info, re.MULTILINE), info
    for (_, measure), count in EXPECTED.items():
        if measure == "Concerns that reached it by escalation":
            measure = "Concerns received by escalation"
        assert re.search(rf"{re.escape(measure)}\s+{count}\b", text), (measure, text)

    page = client.get(_annual_url(annual_world)).content.decode()
    assert 'data-testid="received">5<' in page
    # Nothing identifies the worker or the employer.
    for words in (annual_world.trust.name, annual_world.ward.name, annual_world.trust.code, STAFF_NAME, "CANARY"):
        assert words not in body
        assert words not in text
        assert words not in page


def test_only_the_regulator_s_own_members_get_its_annual_report(annual_world: AnnualWorld) -> None:
    outsiders = [
        StaffFactory(membership__role=Role.REGULATOR, membership__organisation=RegulatorFactory()),
        StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=annual_world.trust),
        StaffFactory(membership__role=Role.HANDLER, membership__organisation=WardFactory(parent=annual_world.trust)),
    ]
    member = staff_client(annual_world.member.get_username())
    for suffix in ("", "report.csv", "report.pdf"):
        assert member.get(_annual_url(annual_world, suffix)).status_code == 200
        for outsider in outsiders:
            got = staff_client(outsider.get_username()).get(_annual_url(annual_world, suffix))
            assert got.status_code == 404, (outsider, suffix)
    # A body that is not a prescribed person has no annual report.
    assert member.get(f"/oversight/annual-report/{annual_world.trust.code}/2025/").status_code == 404


def test_the_annual_report_counts_in_sql_and_streams_not_the_table(annual_world: AnnualWorld) -> None:
    """A fixed number of queries, however many concerns: the disposals grouped in SQL, the themes
    read a chunk at a time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backend.oversight.reports import annual_report

    with CaptureQueriesContext(connection) as few:
        annual_report(user=annual_world.member, code=annual_world.regulator.code, year=2025)
    for extra in range(3):
        arrived = _raise(annual_world.ward.code, YEAR_START + timedelta(days=150 + extra))
        guardian = get_user_model().objects.filter(memberships__role=Role.GUARDIAN).first()
        assert guardian is not None
        _to_regulator(arrived, guardian, YEAR_START + timedelta(days=150 + extra, hours=1))
    with CaptureQueriesContext(connection) as more:
        found = annual_report(user=annual_world.member, code=annual_world.regulator.code, year=2025)
    assert found.received == 8
    assert len(more.captured_queries) == len(few.captured_queries)
