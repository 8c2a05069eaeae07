"""Production settings: refuse to start without secrets; pass `check --deploy` with them."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.config.secrets import signing_key_new

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


# Servers production would be given; nothing here connects to them.
SERVERS = {"DATABASE_URL": "postgres://candour@127.0.0.1:5432/candour", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CANDOUR_", "TWILIO_"))}
    env.update(SERVERS)
    env.update(CANDOUR_PRODUCTION="1", CANDOUR_VAR_DIR=str(tmp_path / "var"), DJANGO_ALLOWED_HOSTS="candour.example")
    env.update(extra)
    return env


def _secrets() -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "CANDOUR_RECEIPT_PEPPER": os.urandom(32).hex(),
        "CANDOUR_CONTACT_PEPPER": os.urandom(32).hex(),
        "CANDOUR_AUDIT_KEY": os.urandom(32).hex(),
        "CANDOUR_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "CANDOUR_SIGNING_KEYS": signing_key_new(),
    }


def test_production_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    result = _manage("check", env=_production_env(tmp_path))
    assert result.returncode != 0
    assert "will not start in production without its secrets" in result.stderr
    assert "CANDOUR_RECEIPT_PEPPER" in result.stderr
    assert not (tmp_path / "var" / "secrets.json").exists()


def test_production_passes_check_deploy(tmp_path: Path) -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env(tmp_path, **_secrets()))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        ("k1:c2VjcmV0LXNlZWQ", "key k1 is not a base64url Ed25519 seed of 32 bytes"),
        (signing_key_new() + "," + signing_key_new().replace("-", "_", 1)[:8] + ":c2VjcmV0LXNlZWQ", "not a base64url"),
        ("no id here", "each entry is key_id:seed"),
    ],
)
def test_production_refuses_a_signing_key_that_is_not_one(tmp_path: Path, keys: str, said: str) -> None:
    """A bad disclosure key stops Candour starting (not a raise, later), and the refusal never shows a seed."""
    result = _manage("check", env=_production_env(tmp_path, **(_secrets() | {"CANDOUR_SIGNING_KEYS": keys})))
    assert result.returncode != 0
    assert said in result.stderr
    assert "c2VjcmV0LXNlZWQ" not in result.stderr


@pytest.mark.parametrize(
    ("servers", "said"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL is unset"),
        ({"DATABASE_URL": "sqlite:////tmp/candour.sqlite3"}, "DATABASE_URL names sqlite3, not PostgreSQL"),
        ({"CELERY_BROKER_URL": ""}, "CELERY_BROKER_URL is unset"),
        ({"CELERY_BROKER_URL": "filesystem://"}, "CELERY_BROKER_URL names the filesystem broker"),
    ],
)
def test_production_refuses_the_demos_database_and_broker(tmp_path: Path, servers: dict[str, str], said: str) -> None:
    env = _production_env(tmp_path, **_secrets())
    for name, value in servers.items():
        if value:
            env[name] = value
        else:
            del env[name]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "will not start in production on the embedded demo's database or broker" in result.stderr
    assert said in result.stderr


def _twilio_settings(env: dict[str, str]) -> list[str]:
    code = "from django.conf import settings as s; print(repr(s.TWILIO_ACCOUNT_SID), repr(s.TWILIO_AUTH_TOKEN))"
    result = _manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_no_twilio_token_is_known_outside_the_local_fake(tmp_path: Path) -> None:
    assert _twilio_settings(_production_env(tmp_path, **_secrets())) == ["''", "''"]
    local = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CANDOUR_", "TWILIO_"))}
    local.update(DJANGO_SETTINGS_MODULE="backend.config.settings.local", CANDOUR_VAR_DIR=str(tmp_path / "var"))
    # The embedded default aimed at the real Twilio: no stand-in that would let anyone sign a webhook.
    assert _twilio_settings(local) == ["''", "''"]
    # `make run` aims it at the local fake, which takes the stand-ins.
    fake = {**local, "TWILIO_API_BASE_URL": "http://127.0.0.1:8001"}
    assert _twilio_settings(fake) == ["'ACtest'", "'test-token'"]


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
