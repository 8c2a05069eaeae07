"""Production settings: refuse to start without secrets; pass `check --deploy` with them."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "backend/manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CANDOUR_"))}
    env.update(CANDOUR_PRODUCTION="1", CANDOUR_VAR_DIR=str(tmp_path / "var"), DJANGO_ALLOWED_HOSTS="candour.example")
    env.update(extra)
    return env


def test_production_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    result = _manage("check", env=_production_env(tmp_path))
    assert result.returncode != 0
    assert "will not start in production without its secrets" in result.stderr
    assert "CANDOUR_RECEIPT_PEPPER" in result.stderr
    assert not (tmp_path / "var" / "secrets.json").exists()


def test_production_passes_check_deploy(tmp_path: Path) -> None:
    secrets = {
        "DJANGO_SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "CANDOUR_RECEIPT_PEPPER": os.urandom(32).hex(),
        "CANDOUR_CONTACT_PEPPER": os.urandom(32).hex(),
        "CANDOUR_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env(tmp_path, **secrets))
    assert result.returncode == 0, result.stdout + result.stderr


def test_naming_the_production_settings_module_is_production(tmp_path: Path) -> None:
    env = _production_env(tmp_path, DJANGO_SETTINGS_MODULE="backend.config.settings.production")
    del env["CANDOUR_PRODUCTION"]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "will not start in production without its secrets" in result.stderr


def test_the_production_flag_never_runs_the_embedded_default(tmp_path: Path) -> None:
    env = _production_env(tmp_path, DJANGO_SETTINGS_MODULE="backend.config.settings.local")
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "CANDOUR_PRODUCTION=1 runs backend.config.settings.production" in result.stderr
    assert not (tmp_path / "var" / "secrets.json").exists()
