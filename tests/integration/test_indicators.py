"""Other indicators (triangulation): a CSV imports all rows or none, reporting each bad row by its line,
and a signal's page shows those of the unit and its trust over the chart's year."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from backend.organisations.models import Organisation
from backend.oversight.indicators import ImportResult, IndicatorImportError, indicators_import
from backend.oversight.models import Indicator
from backend.oversight.signals import SignalFound, signals_open
from tests.support.sign_in import sign_in, staff_client

pytestmark = pytest.mark.django_db

HEADER = "organisation,indicator,label,month,value,source\n"
GOOD = HEADER + (
    "RNX,staff_survey_secure_raising,Staff who would feel secure raising concerns (%),2025-11,58.3,Staff Survey 2025\n"
    "RNX,complaints,Complaints received,2026-01,47,Complaints register\n"
    "RNX07,complaints,Complaints received,2026-02,9,Complaints register\n"
)
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "indicators-example.csv"


def _values() -> dict[tuple[str, str, date], float]:
    return {(i.organisation.code, i.name, i.month): i.value for i in Indicator.objects.select_related("organisation")}


def test_a_good_file_imports_and_importing_it_again_updates_rather_than_duplicates(demo: None) -> None:
    assert indicators_import(source=io.StringIO(GOOD), batch_size=2) == ImportResult(created=3, updated=0)
    assert _values()[("RNX", "staff_survey_secure_raising", date(2025, 11, 1))] == 58.3
    changed = GOOD.replace(",47,", ",52,")
    assert indicators_import(source=changed.splitlines(keepends=True), batch_size=2) == ImportResult(
        created=0, updated=3
    )
    assert Indicator.objects.count() == 3
    assert _values()[("RNX", "complaints", date(2026, 1, 1))] == 52.0


def test_one_bad_row_among_good_ones_imports_nothing_and_is_reported_by_its_line(demo: None) -> None:
    bad = GOOD + "RNX,complaints,Complaints received,2026-13,12,Complaints register\n" + GOOD.removeprefix(HEADER)
    # A small batch, so the good rows before the bad one are written before it is met: all rolled back.
    with pytest.raises(IndicatorImportError) as rejected:
        indicators_import(source=io.StringIO(bad), batch_size=1)
    messages = [str(e) for e in rejected.value.errors]
    assert messages[0] == "line 5: month '2026-13' is not a month (YYYY-MM)"
    assert messages[1:] == [
        "line 6: staff_survey_secure_raising for RNX in 2025-11 appears again (first on line 2)",
        "line 7: complaints for RNX in 2026-01 appears again (first on line 3)",
        "line 8: complaints for RNX07 in 2026-02 appears again (first on line 4)",
    ]
    assert Indicator.objects.count() == 0


def test_every_kind_of_bad_row_is_named(demo: None) -> None:
    bad = HEADER + (
        "NOPE,complaints,Complaints received,2026-01,4,Register\n"
        "RNX,complaints,Complaints received,Jan 2026,4,Register\n"
        "RNX,complaints,Complaints received,2026-01,many,Register\n"
        "RNX,complaints,,2026-01,4,Register\n"
        "RNX,complaints,Complaints received,2026-01\n"
    )
    with pytest.raises(IndicatorImportError) as rejected:
        indicators_import(source=io.StringIO(bad))
    assert [str(e) for e in rejected.value.errors] == [
        "line 2: organisation 'NOPE' is not in Candour",
        "line 3: month 'Jan 2026' is not a month (YYYY-MM)",
        "line 4: value 'many' is not a number",
        "line 5: label is required",
        "line 6: expected 6 fields, found 4",
    ]
    assert Indicator.objects.count() == 0


def test_the_command_prints_a_summary_or_the_errors_and_fails(demo: None, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("import_indicators", str(EXAMPLE), stdout=out)
    assert out.getvalue().strip() == "created 6, updated 0"
    bad = tmp_path / "indicators.csv"
    bad.write_text(HEADER + "RNX,complaints,Complaints received,2026-01,lots,Register\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_indicators", str(bad), stdout=io.StringIO(), stderr=err)
    assert "line 2: value 'lots' is not a number" in err.getvalue()
    assert Indicator.objects.count() == 6


def test_a_signal_page_shows_the_indicators_of_the_unit_and_its_trust_over_the_chart_year(demo: None) -> None:
    indicators_import(source=io.StringIO(GOOD))
    maternity = Organisation.objects.get(code="RNXMAT")
    old = "RNX,complaints,Complaints received,2024-06,99,Complaints register\n"
    sibling = "RNXMAT,complaints,Complaints received,2026-02,77,Complaints register\n"
    indicators_import(source=io.StringIO(HEADER + old + sibling))
    found = SignalFound(
        unit_id=Organisation.objects.get(code="RNX07").pk,
        measure="w_received",
        theme="",
        kind="rise",
        week=date(2026, 3, 2),
        baseline=1.2,
        recent=3.4,
        statistic=7.1,
        threshold=4.6,
    )
    [signal_id] = signals_open(found=[found], now=timezone.now())
    client = Client()
    sign_in(client, "governor")
    html = client.get(f"/oversight/signals/{signal_id}/").content.decode()
    assert "Other indicators for Northshire Hospitals NHS Foundation Trust" in html
    assert html.index("November 2025") < html.index("January 2026") < html.index("February 2026")
    # On the ward's time line: its own indicators by name, its trust's named with the trust.
    trust = "Northshire Hospitals NHS Foundation Trust"
    assert f"Staff who would feel secure raising concerns (%) ({trust})" in html and "58.3" in html
    assert f"Complaints received ({trust})" in html and "Complaints received</th>" in html
    assert "June 2024" not in html, "outside the chart's year"
    assert maternity.name not in html and ">77<" not in html, "a sibling ward's figures are not the unit's"
    assert "staff_survey_secure_raising" not in html  # words, never the stored code

    Indicator.objects.all().delete()
    html = client.get(f"/oversight/signals/{signal_id}/").content.decode()
    assert "No other indicators imported." in html
    assert "Concerns raised (a month)" in html, "the timeline still draws the concerns and the warnings"


def test_the_admin_lists_indicators_and_opens_one_to_correct(demo: None) -> None:
    indicators_import(source=io.StringIO(GOOD))
    admin_client_ = staff_client("admin")
    listed = admin_client_.get("/admin/oversight/indicator/?name=complaints")
    assert listed.status_code == 200 and "Complaints register" in listed.content.decode()
    indicator = Indicator.objects.get(organisation__code="RNX", name="complaints")
    form = admin_client_.get(f"/admin/oversight/indicator/{indicator.pk}/change/")
    assert form.status_code == 200
