"""The inbound SMS webhook under load: 50 signed requests a second for 60 seconds, 20% of them
Twilio's retries of a MessageSid already sent. Goal: p99 at most 200 ms; every distinct MessageSid
stored once (and one concern or message for each).

Run by `make bench` (python -m tests.bench.bench_webhook) after infra/scripts/bench.sh has started
durable PostgreSQL and Redis. gunicorn serves Candour with infra/gunicorn.conf.py.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "backend.config.settings"
django.setup()

from backend.concerns.models import Concern, InboundSms, Message  # noqa: E402
from tests.bench.common import ROOT, machine, max_rss_mib, section_write  # noqa: E402
from tests.bench.steady import run  # noqa: E402
from tests.support.fake_twilio import inbound_params, new_sid, sign  # noqa: E402

RATE, SECONDS, REPEAT_SHARE = 50.0, float(os.environ.get("CANDOUR_BENCH_WEBHOOK_SECONDS", "60")), 0.2
TRUST_NUMBER = "+447700900101"


def _requests(base: str, n: int) -> tuple[list[tuple[bytes, dict[str, str]]], int]:
    """n signed requests; one in five repeats an earlier MessageSid exactly (Twilio's retry)."""
    rng = random.Random(7)
    url = f"{base}/twilio/sms/"
    sent: list[tuple[bytes, dict[str, str]]] = []
    distinct = 0
    for i in range(n):
        if sent and rng.random() < REPEAT_SHARE:
            sent.append(sent[rng.randrange(len(sent))])
            continue
        distinct += 1
        sender = f"+4477009{rng.randrange(10_000, 99_999)}"
        params = inbound_params(
            from_=sender, to=TRUST_NUMBER, body=f"Concern number {i}: staffing on ward", message_sid=new_sid()
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign("test-token", url, params),
        }
        sent.append((urllib.parse.urlencode(params).encode(), headers))
    return sent, distinct


def main() -> int:
    port = 28700 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CANDOUR_BASE_URL": base,
        "TWILIO_AUTH_TOKEN": "test-token",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "backend.config.settings",
    }
    web = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "backend.config.wsgi",
            "-c",
            str(ROOT / "infra" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "/dev/null",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        before = InboundSms.objects.count(), Concern.objects.count(), Message.objects.count()
        requests, distinct = _requests(base, int(RATE * SECONDS))
        result = run(
            url=f"{base}/twilio/sms/",
            bodies=requests,
            rate=RATE,
            seconds=SECONDS,
            threads=16,
            timeout=10,
            give_up=5,
            ordered=True,
            headers={"Accept": "application/xml"},
        )
        rss_server = 0.0
        with open(f"/proc/{web.pid}/status") as fh:  # the master; workers are summed below
            rss_server += int(next(line for line in fh if line.startswith("VmHWM")).split()[1]) / 1024
        children = subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True).stdout.split()
        for child in children:
            with open(f"/proc/{child}/status") as fh:
                rss_server += int(next(line for line in fh if line.startswith("VmHWM")).split()[1]) / 1024
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
    stored = InboundSms.objects.count() - before[0]
    concerns = Concern.objects.count() - before[1]
    messages = Message.objects.count() - before[2]
    p99 = result["latency_ms"]["99"]
    once = stored == distinct and concerns + messages == distinct
    verdict_p99 = "MET" if p99 <= 200 else "NOT MET"
    latency = result["latency_ms"]
    row = (
        f"| {result['requests']} | {result['ok']} | {distinct} | {stored} | {concerns + messages} "
        f"| {latency['50']:.1f} ms | {p99:.1f} ms | {latency['max']:.1f} ms |"
    )
    section_write(
        "SMS webhook",
        f"""{machine()}. {RATE:.0f} signed requests a second for {SECONDS:.0f} s to /twilio/sms/ (open loop,
latency from when each request was due), {REPEAT_SHARE:.0%} of them exact repeats of an earlier MessageSid;
gunicorn with infra/gunicorn.conf.py on durable PostgreSQL. Each distinct text raises a concern or adds
to one, so this measures intake by SMS as well as the webhook itself.

| requests | answered 2xx | distinct MessageSids | stored | concerns + messages | p50 | p99 | max |
|---|---|---|---|---|---|---|---|
{row}

- p99 {p99:.1f} ms (goal at most 200 ms): **{verdict_p99}**
- every distinct MessageSid stored once, one concern or message each: **{"MET" if once else "NOT MET"}**
- peak memory (max RSS): gunicorn master and workers {rss_server:.0f} MiB; load generator {max_rss_mib():.0f} MiB
""",
    )
    print(result)
    print(f"distinct={distinct} stored={stored} concerns+messages={concerns + messages} p99={p99:.1f} ms")
    return 0 if once else 1


if __name__ == "__main__":
    sys.exit(main())
