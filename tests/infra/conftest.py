"""Shared for the deployment tests: the repository's infra/ folder and every rendered manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.kustomize import kustomize_build

INFRA = Path(__file__).resolve().parents[2] / "infra"
K8S = INFRA / "k8s"
# Everything `kubectl apply -k` is ever given: the base, each overlay and each overlay's migration Job.
KUSTOMIZATIONS = (
    "base",
    "migrate",
    "overlays/small",
    "overlays/production",
    "overlays/small/migrate",
    "overlays/production/migrate",
)


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: kustomize_build(K8S / name) for name in KUSTOMIZATIONS}
