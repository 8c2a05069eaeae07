"""The public page's charts obey the published suppression: each quarter's figure in a chart is the
table's figure, a count from 1 to 4 or a share built on one is a gap with the table's words, and
the limits rest on the published values alone. Governors' charts show the truth (tests elsewhere)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.test import Client

from backend.organisations.models import Organisation
from backend.oversight.models import OrganisationQuarterFigures
from backend.oversight.selectors import public_figures_for_organisation
from backend.oversight.trends import public_trends
from workflows.engine import spc

pytestmark = pytest.mark.django_db

# Eight ended quarters at Northshire: received, closed, closed without feedback.
QUARTERS = [
    (date(2024, 10, 1), 21, 20, 2),
    (date(2025, 1, 1), 3, 3, 0),  # 3 received: "fewer than 5"; 3 closed: the share is withheld
    (date(2025, 4, 1), 25, 22, 6),
    (date(2025, 7, 1), 18, 18, 9),
    (date(2025, 10, 1), 30, 26, 7),
    (date(2026, 1, 1), 0, 0, 0),  # none: a count of nothing is shown; a share of nothing is not applicable
    (date(2026, 4, 1), 27, 25, 5),
    (date(2026, 7, 1), 22, 20, 11),
    (date(2026, 10, 1), 12, 6, 1),  # so far: in the table, not in the charts
]


@pytest.fixture
def quarters(demo: None) -> None:
    trust = Organisation.objects.get(code="RNX")
    OrganisationQuarterFigures.objects.bulk_create(
        OrganisationQuarterFigures(
            organisation=trust, quarter=q, received=r, closed=c, closed_without_feedback=w, ack_decided=r
        )
        for q, r, c, w in QUARTERS
    )


def test_public_charts_are_built_from_the_published_figures_alone(quarters: None) -> None:
    figures = public_figures_for_organisation(code="RNX")
    assert figures is not None
    by_title = {t.title.split(",")[0]: t for t in public_trends(figures=figures)}
    received = by_title["Concerns received"]
    assert [f.display for f in received.figures] == ["21", "fewer than 5", "25", "18", "30", "0", "27", "22"]
    assert received.xmr is not None
    published = [21, 25, 18, 30, 0, 27, 22]
    assert received.xmr.mean == pytest.approx(sum(published) / 7), "the suppressed 3 plays no part"
    closed_without = by_title["Closed without feedback"]
    # 2 of 20 withheld (a part of 1 to 4), as is anything of 3 closed; 0 of 0 is not applicable.
    assert [f.display for f in closed_without.figures] == [
        "withheld",
        "withheld",
        "27%",
        "50%",
        "27%",
        "not applicable",
        "20%",
        "55%",
    ]
    # Charted to the published precision (6 of 22 is 27.3%, published as 27%), nothing finer.
    assert closed_without.values == [None, None, 27.0, 50.0, 27.0, None, 20.0, 55.0]
    assert closed_without.xmr is not None
    assert closed_without.xmr.mean == pytest.approx(spc.xmr_chart(values=[27.0, 50.0, 27.0, 20.0, 55.0]).mean)


def test_the_public_page_draws_each_chart_with_the_tables_words_for_what_it_leaves_out(quarters: None) -> None:
    page = Client().get("/figures/RNX/")
    assert page.status_code == 200
    html = page.content.decode()
    # Feedback was never due in these quarters: that one says so instead of drawing nothing.
    assert html.count('<div class="candour-chart">') == 3
    assert html.count("Not enough quarters to chart yet.") == 1
    assert "Concerns received, Northshire Hospitals NHS Foundation Trust" in html
    # The chart's own table: January to March 2025 is "fewer than 5", as in the published table, and
    # its dot is not drawn (7 shown quarters of concerns received).
    assert "Concerns a quarter </span>fewer than 5</td>" in html
    svg = re.search(r'<svg[^>]*aria-labelledby="(spc-[0-9a-f]+)-title[^"]*".*?</svg>', html, re.S)
    assert svg is not None and svg.group(0).count('class="candour-chart__dot') == 7
    assert "% of concerns closed </span>withheld</td>" in html
    assert "% of concerns closed </span>not applicable</td>" in html
    # Nothing the table withholds appears in a chart: no "3" concerns, no 10% (2 of 20) anywhere.
    assert "Concerns a quarter </span>3</td>" not in html
    assert "</span>10</td>" not in html
    assert "27.3" not in html
    # The quarter so far is in the table but not charted (it would look like a fall).
    assert html.count("October to December 2026") == 1
