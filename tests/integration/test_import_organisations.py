"""manage.py import_organisations: all rows checked first, then all imported or none."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backend.organisations.importer import ImportResult, OrganisationImportError, organisations_import
from backend.organisations.models import Organisation

pytestmark = pytest.mark.django_db

HEADER = "code,name,kind,parent_code,escalates_to_code,closure_days\n"

# A second trust under the demo ICB. The ward comes before its trust, and the trust before its board,
# on purpose: the file's order must not matter.
GOOD = HEADER + (
    "RYX01,Ward 1,unit,RYX,RYX,\n"
    "RYX,Southshire Hospitals NHS Trust,provider,,RYXB,2026-12-24;2026-12-31\n"
    "RYXB,Southshire Hospitals Trust Board,trust_board,,QNX,\n"
    'RNX08,"Ward 8, Surgery",unit,RNX,RNX, 2026-01-02 ;\n'
)


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "organisations.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _org(code: str) -> Organisation:
    return Organisation.objects.select_related("parent", "escalates_to").get(code=code)


def test_a_good_file_creates_every_row_with_parents_paths_and_route(demo: None, tmp_path: Path) -> None:
    before = Organisation.objects.count()

    result = organisations_import(source=_csv(tmp_path, GOOD))

    assert result == ImportResult(created=4, updated=0)
    assert Organisation.objects.count() == before + 4
    ward, trust, board, surgery = (_org(c) for c in ("RYX01", "RYX", "RYXB", "RNX08"))
    assert (ward.parent, ward.escalates_to, ward.path, ward.kind) == (trust, trust, "/RYX/RYX01/", "unit")
    assert (trust.parent, trust.escalates_to, trust.path) == (None, board, "/RYX/")
    assert trust.closure_days == ["2026-12-24", "2026-12-31"]
    assert board.escalates_to == _org("QNX")
    assert surgery.name == "Ward 8, Surgery"
    assert (surgery.parent, surgery.path, surgery.closure_days) == (_org("RNX"), "/RNX/RNX08/", ["2026-01-02"])


def test_importing_again_updates_in_place(demo: None, tmp_path: Path) -> None:
    organisations_import(source=_csv(tmp_path, GOOD))
    count = Organisation.objects.count()
    ward_id = _org("RYX01").pk

    again = GOOD.replace("Ward 1,", "Ward 1 (Elderly Care),").replace("2026-12-24;2026-12-31", "")
    # An existing demo organisation may be in the file too: it is updated like the rest.
    again += 'RNX07,"Ward 7, Acute Medicine",unit,RNX,RNXB,\n'
    result = organisations_import(source=_csv(tmp_path, again))

    assert result == ImportResult(created=0, updated=5)
    assert Organisation.objects.count() == count
    ward = _org("RYX01")
    assert (ward.pk, ward.name, ward.path) == (ward_id, "Ward 1 (Elderly Care)", "/RYX/RYX01/")
    assert _org("RYX").closure_days == []
    assert _org("RNX07").escalates_to == _org("RNXB")


def test_moving_an_organisation_moves_the_paths_of_descendants_outside_the_file(demo: None, tmp_path: Path) -> None:
    text = HEADER + (
        # A ward under RNX07, which is not in the file but moves with RNX.
        "RNX07A,Ward 7 Annex,unit,RNX07,RNX,\n"
        "RNX,Northshire Hospitals NHS Foundation Trust,provider,NHG,RNXB,\n"
        "NHG,Northshire Group,provider,,QNX,\n"
    )

    organisations_import(source=_csv(tmp_path, text))

    assert _org("RNX").path == "/NHG/RNX/"
    assert _org("RNX07").path == "/NHG/RNX/RNX07/"
    assert _org("RNXMAT").path == "/NHG/RNX/RNXMAT/"
    assert _org("RNX07A").path == "/NHG/RNX/RNX07/RNX07A/"
    assert _org("RCXDNE").path == "/RCX/RCXDNE/"


BAD = HEADER + (
    "RYX,Southshire Hospitals NHS Trust,hospital,,QNX,\n"  # 2: bad kind
    "RYX01,Ward 1,unit,RZZ,RNX,\n"  # 3: unknown parent
    "RYX01,Ward 1 again,unit,RNX,RNX,\n"  # 4: duplicate code
    "RYX02,Ward 2,unit,RNX,RNX,2026-02-30\n"  # 5: bad date
    "RYX03,Ward 3,unit,RNX,RYX04,\n"  # 6: escalation cycle with line 7
    "RYX04,Ward 4,unit,RNX,RYX03,\n"  # 7
    "RYX05,Ward 5,unit,RNX,RNX,\n"  # 8: good
    "QNX,NHS Northshire Integrated Care Board,icb,,RNX,\n"  # 9: cycle through the database: RNX → RNXB → QNX
    ",No code,unit,RNX,RNX,\n"  # 10: missing code
    "RYX06,Ward 6,unit,RNX\n"  # 11: too few fields
    f"RYX07,{'x' * 201},unit,RNX,RNX,\n"  # 12: name too long
    "RYX08,Ward 8,unit,RYX09,RNX,\n"  # 13: parent cycle with line 14
    "RYX09,Ward 9,unit,RYX08,RNX,\n"  # 14
)


def test_a_file_with_bad_rows_reports_each_by_line_and_imports_nothing(demo: None, tmp_path: Path) -> None:
    count = Organisation.objects.count()

    with pytest.raises(OrganisationImportError) as caught:
        organisations_import(source=_csv(tmp_path, BAD))

    messages = [str(error) for error in caught.value.errors]
    expected = {
        2: "kind 'hospital' is not one of",
        3: "parent_code 'RZZ' is neither in the file nor in the database",
        4: "code 'RYX01' appears again (first on line 3)",
        5: "closure day '2026-02-30' is not a date",
        6: "escalation route goes round in a circle: RYX03 → RYX04 → RYX03",
        7: "escalation route goes round in a circle: RYX03 → RYX04 → RYX03",
        9: "escalation route goes round in a circle: QNX → RNX → RNXB → QNX",
        10: "code is required",
        11: "expected 6 fields, found 4",
        12: "name is longer than 200 characters",
        13: "parent chain goes round in a circle",
        14: "parent chain goes round in a circle",
    }
    for line, message in expected.items():
        assert any(m.startswith(f"line {line}: {message}") for m in messages), (line, messages)
    assert not any(m.startswith("line 8:") for m in messages)
    assert [e.line for e in caught.value.errors] == sorted(e.line for e in caught.value.errors)
    assert Organisation.objects.count() == count
    assert _org("QNX").escalates_to == _org("RGX")


def test_a_wrong_header_is_reported_on_line_1(db: None, tmp_path: Path) -> None:
    text = "code,name,type,parent_code,escalates_to_code,closure_days\nRYX,Trust,provider,,,\n"

    with pytest.raises(OrganisationImportError) as caught:
        organisations_import(source=_csv(tmp_path, text))

    assert [str(e) for e in caught.value.errors] == [
        "line 1: missing column(s): kind",
        "line 1: unknown column(s): type",
    ]


def test_a_stream_works_and_progress_is_reported_every_batch(db: None) -> None:
    rows = "".join(f"U{i:04},Unit {i},unit,TOP,TOP,\n" for i in range(25))
    stream = io.StringIO("\ufeff" + HEADER + rows + "TOP,Top,provider,,,\n")
    calls: list[tuple[str, int, int | None]] = []

    result = organisations_import(
        source=stream, progress=lambda stage, done, total: calls.append((stage, done, total)), batch_size=10
    )

    assert result == ImportResult(created=26, updated=0)
    assert _org("U0024").path == "/TOP/U0024/"
    assert [c for c in calls if c[0] == "imported"] == [
        ("imported", 10, 26),
        ("imported", 20, 26),
        ("imported", 26, 26),
    ]
    assert ("checked", 26, 26) in calls
    assert calls[-1] == ("linked", 26, 26)


def test_command_prints_a_summary(demo: None, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()

    call_command("import_organisations", str(_csv(tmp_path, GOOD)), stdout=out, stderr=err)

    assert out.getvalue().strip() == "created 4, updated 0"
    assert "\rimported 4/4 rows" in err.getvalue()


def test_command_lists_every_bad_line_and_fails(demo: None, tmp_path: Path) -> None:
    count = Organisation.objects.count()
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_organisations", str(_csv(tmp_path, BAD)), stdout=out, stderr=err)

    lines = err.getvalue().splitlines()
    assert "line 2: kind 'hospital' is not one of: icb, patient_group, provider, regulator, trust_board, unit" in lines
    assert "line 3: parent_code 'RZZ' is neither in the file nor in the database" in lines
    assert "line 4: code 'RYX01' appears again (first on line 3)" in lines
    assert out.getvalue() == ""
    assert Organisation.objects.count() == count


def test_command_rejects_a_missing_file(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_organisations", str(tmp_path / "nope.csv"))
