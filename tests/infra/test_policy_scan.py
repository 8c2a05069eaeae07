"""The policy scan: checkov over the manifests as the overlays render them and over infra/Dockerfile,
with infra/policy/checkov.yaml (two checks skipped, each with its reason there). It must find nothing;
and a copy of a manifest made worse (a container allowed to run as root) must be flagged by the same
scan, so a pass means something. checkov has a venv of its own (infra/scripts/policy-deps.sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import INFRA, KUSTOMIZATIONS

CHECKOV = INFRA.parent / ".venv-policy" / "bin" / "checkov"
CONFIG = INFRA / "policy" / "checkov.yaml"


def _scan(directory: Path) -> list[dict[str, Any]]:
    """Every failed check in the directory, as checkov reports it."""
    assert CHECKOV.exists(), "checkov is missing: infra/scripts/policy-deps.sh installs it (make test runs it)"
    out = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "-d", str(directory), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode in (0, 1), out.stderr[-2000:]
    reports = json.loads(out.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {r["check_type"] for r in reports} >= {"kubernetes", "dockerfile"}, "a framework was not scanned"
    assert all(r["summary"]["passed"] > 0 for r in reports)
    return [check for r in reports for check in r["results"]["failed_checks"]]


def _write(directory: Path, rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in KUSTOMIZATIONS:
        (directory / f"{name.replace('/', '-')}.yaml").write_text(yaml.safe_dump_all(rendered[name]))
    shutil.copy(INFRA / "Dockerfile", directory / "Dockerfile")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, rendered: dict[str, list[dict[str, Any]]]) -> Path:
    directory = tmp_path_factory.mktemp("scan")
    _write(directory, rendered)
    return directory


def test_the_scan_finds_nothing(scanned: Path) -> None:
    failed = _scan(scanned)
    assert failed == [], [(c["check_id"], c["resource"], c["file_path"]) for c in failed]


def test_the_scan_flags_a_container_and_an_image_that_may_run_as_root(
    tmp_path: Path, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    """One scan of copies made worse: the web pod without runAsNonRoot, allowed to escalate, and the
    Dockerfile without its USER."""
    docs = yaml.safe_load_all(yaml.safe_dump_all(rendered["overlays/production"]))
    web = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "web")
    pod = web["spec"]["template"]["spec"]
    del pod["securityContext"]["runAsNonRoot"], pod["securityContext"]["runAsUser"]
    del pod["containers"][0]["securityContext"]["runAsNonRoot"]
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    (tmp_path / "web.yaml").write_text(yaml.safe_dump(web))
    dockerfile = (INFRA / "Dockerfile").read_text()
    assert "\nUSER 10001:10001\n" in dockerfile
    (tmp_path / "Dockerfile").write_text(dockerfile.replace("\nUSER 10001:10001\n", "\n"))
    flagged = {(c["check_id"], c["resource"].rsplit(".", 1)[-1]) for c in _scan(tmp_path)}
    assert {("CKV_K8S_23", "web"), ("CKV_K8S_20", "web")} <= flagged, flagged
    assert "CKV_DOCKER_3" in {check for check, _ in flagged}, flagged
