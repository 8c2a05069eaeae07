"""The systemd units for a single machine: web, workers and beat under a dedicated user, each hardened
(read-only system but for the var dir, no new privileges, private /tmp, no capabilities), after the
migrations."""

from __future__ import annotations

import pytest

from tests.infra.conftest import INFRA

UNITS = ("candour-web.service", "candour-worker@.service", "candour-beat.service", "candour-migrate.service")
HARDENING = {
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "ReadWritePaths": "/var/lib/candour",
    "CapabilityBoundingSet": "",
    "User": "candour",
}


def _unit(name: str) -> dict[str, dict[str, str]]:
    """Section, key and value; a key given twice (Environment=, ExecStart=) keeps every value,
    joined by a space."""
    sections: dict[str, dict[str, str]] = {}
    section: dict[str, str] = {}
    for line in (INFRA / "systemd" / name).read_text().splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = sections.setdefault(line[1:-1], {})
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            section[key] = f"{section[key]} {value}" if key in section else value
    return sections


@pytest.mark.parametrize("name", UNITS)
def test_units_are_hardened(name: str) -> None:
    service = _unit(name)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, (name, key)
    assert "CANDOUR_VAR_DIR=/var/lib/candour" in service["Environment"]
    assert service["EnvironmentFile"] == "/etc/candour/candour.env"


@pytest.mark.parametrize("name", ["candour-web.service", "candour-worker@.service", "candour-beat.service"])
def test_processes_start_after_the_migrations(name: str) -> None:
    unit = _unit(name)
    assert "candour-migrate.service" in unit["Unit"]["After"] and unit["Unit"]["Requires"] == "candour-migrate.service"
    assert unit["Install"]["WantedBy"] == "candour.target"


def test_target_starts_one_beat_and_two_workers() -> None:
    wants = _unit("candour.target")["Unit"]["Wants"].split()
    assert wants.count("candour-beat.service") == 1
    assert sorted(w for w in wants if w.startswith("candour-worker@")) == [
        "candour-worker@1.service",
        "candour-worker@2.service",
    ]
