"""`make run`: the web server, a Celery worker and beat in one foreground command; Ctrl-C stops all.

The embedded default needs no server: SQLite under var/ and Celery's filesystem broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def main() -> int:
    port = os.environ.get("PORT", "8000")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "backend.config.settings.local"}
    env.setdefault("CANDOUR_BASE_URL", f"http://127.0.0.1:{port}")
    var = Path(env.get("CANDOUR_VAR_DIR", ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)
    # SMS in development goes to a local stand-in for Twilio's API, never to the real one.
    twilio_port = str(int(port) + 1)
    env.setdefault("TWILIO_API_BASE_URL", f"http://127.0.0.1:{twilio_port}")
    commands = {
        "fake-twilio": [str(VENV_BIN / "python"), "-m", "tests.support.fake_twilio", "--port", twilio_port],
        "web": [
            str(VENV_BIN / "gunicorn"),
            "backend.config.wsgi",
            "-c",
            str(ROOT / "infra" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--graceful-timeout",
            "5",
        ],
        "worker": [
            str(VENV_BIN / "celery"),
            "-A",
            "backend.config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--without-mingle",
            "--without-gossip",
            # Every queue: the default, the clock sweep's and the texts' (CELERY_TASK_ROUTES in settings).
            "-Q",
            "celery,clocks,sms",
        ],
        "beat": [
            str(VENV_BIN / "celery"),
            "-A",
            "backend.config",
            "beat",
            "--loglevel",
            "INFO",
        ],
    }
    procs = {name: subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True) for name, cmd in commands.items()}

    def stop(*_: object) -> None:
        # Each to its main process only: gunicorn's master and Celery's worker stop their own children.
        # Sent to the whole group, the children would die under them, and the worker would log each
        # as an error.
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(
        f"\nCandour is running at http://127.0.0.1:{port}/  (Ctrl-C stops the web server, worker and beat)\n"
        f"Text messages go to a local stand-in for Twilio: see {env['TWILIO_API_BASE_URL']}/_fake/messages\n"
        "Send Candour a text: curl --data-urlencode From=+447700900555 --data-urlencode To=+447700900101 \\\n"
        f"  -d Body=hello {env['TWILIO_API_BASE_URL']}/_fake/inbound   (the reply appears at /_fake/messages)\n",
        flush=True,
    )
    try:
        while all(proc.poll() is None for proc in procs.values()):
            time.sleep(0.5)
    finally:
        stop()
        deadline = time.monotonic() + 10
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    failed = [name for name, proc in procs.items() if proc.returncode not in (0, -signal.SIGTERM, None)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
