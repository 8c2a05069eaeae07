"""The image definition and the compose file for a small site, read as text and YAML (no Docker
engine is needed): the image is multi-stage, installs only the hash-pinned runtime lock and ends as a
non-root user; the compose file runs web x2, worker x2, beat x1, PgBouncer, PostgreSQL and Redis,
every container read-only, non-root, with a health check, started in order."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.infra.conftest import INFRA

DOCKERFILE = (INFRA / "Dockerfile").read_text()


def _instructions() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_image_is_multi_stage_and_ends_non_root() -> None:
    steps = _instructions()
    stages = [args for op, args in steps if op == "FROM"]
    assert len(stages) >= 3 and stages[-1].endswith("AS runtime")
    assert all(":" in s.split()[0] and not s.split()[0].endswith(":latest") for s in stages), stages
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and int(users[-1].split(":")[0]) >= 10000, users
    assert not [args for op, args in final if op == "RUN" and ("pip" in args or "apt-get" in args)]
    assert [op for op, _ in final][-1] == "CMD" and any(op == "HEALTHCHECK" for op, _ in final)


def test_image_installs_the_hash_pinned_lock_only() -> None:
    installs = [args for op, args in _instructions() if op == "RUN" and "pip install" in args]
    assert len(installs) == 1
    assert "--require-hashes" in installs[0] and "--no-deps" in installs[0]
    assert "-r /tmp/requirements.txt" in installs[0]
    assert "COPY requirements.txt /tmp/requirements.txt" in DOCKERFILE
    assert "requirements-dev" not in DOCKERFILE
    assert "npm ci" in DOCKERFILE and "npm install" not in DOCKERFILE
    ignored = [line for line in (INFRA / "Dockerfile.dockerignore").read_text().splitlines() if line]
    assert ignored.index("**") < ignored.index("!backend/"), "the build context starts from nothing"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((INFRA / "compose" / "compose.yaml").read_text())


def test_compose_services_and_sizes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"web", "worker", "beat", "migrate", "pgbouncer", "postgresql", "redis"}
    replicas = {name: s.get("deploy", {}).get("replicas", 1) for name, s in services.items()}
    assert (replicas["web"], replicas["worker"], replicas["beat"]) == (2, 2, 1)
    for name in ("web", "worker", "beat", "migrate"):
        assert services[name]["image"] == "${CANDOUR_IMAGE:-candour:1}"
    for name in ("pgbouncer", "postgresql", "redis"):
        image = services[name]["image"]
        assert ":" in image and not image.endswith(":latest"), image
    worker = services["worker"]["command"]
    assert worker[worker.index("-Q") + 1] == "celery,clocks,sms"
    assert "@pgbouncer:6432/" in services["web"]["environment"]["DATABASE_URL"]
    assert services["web"]["environment"]["DATABASE_TRANSACTION_POOLING"] == "1"


def test_compose_containers_are_read_only_non_root_and_checked(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        uid = int(str(service["user"]).split(":")[0])
        assert uid != 0, name
        if name != "migrate":
            assert service["healthcheck"]["test"], name
    assert "/readyz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])


def test_compose_starts_in_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    assert services["migrate"]["depends_on"] == {"postgresql": {"condition": "service_healthy"}}
    assert services["pgbouncer"]["depends_on"] == {"postgresql": {"condition": "service_healthy"}}
    mounted = [v for v in services["pgbouncer"]["volumes"] if "pgbouncer.ini" in v]
    assert mounted == ["../pgbouncer/pgbouncer.ini:/etc/pgbouncer/pgbouncer.ini:ro"]
    assert (INFRA / "compose" / mounted[0].split(":")[0]).resolve() == INFRA / "pgbouncer" / "pgbouncer.ini"


def test_transaction_pooling_turns_server_side_cursors_off() -> None:
    """PgBouncer in transaction pooling: the flag compose and the ConfigMap set reaches the settings."""
    import os
    import subprocess
    import sys

    script = "from django.conf import settings; print(settings.DATABASES['default'].get('DISABLE_SERVER_SIDE_CURSORS'))"
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "backend.config.settings.test"}
    for flag, expected in (("1", "True"), ("", "False")):
        out = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {script}"],
            env=env | {"DATABASE_TRANSACTION_POOLING": flag},
            capture_output=True,
            text=True,
            check=True,
            cwd=INFRA.parent,
        )
        assert out.stdout.strip() == expected, out.stderr[-1000:]
