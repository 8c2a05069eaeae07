"""The inbound SMS webhook under load: 50 signed requests a second for 60 seconds, 20% of them
Twilio's retries of a MessageSid already sent. Goal: p99 at most 200 ms; every distinct MessageSid
stored once, and (once the worker has drained) one concern or message for each.

Real processes throughout: gunicorn (infra/gunicorn.conf.py) answers the webhook and stores each
text; a Celery worker on Redis processes the stored texts after commit and sends each reply through
the outbox to a fake Twilio API (a separate process, tests/support/fake_twilio.py); all on durable
PostgreSQL. The load generator is this process (tests/bench/steady.py: open loop, latency from when
each request was due). After the load it waits for the worker to process every stored text (and
send every reply), up to CANDOUR_BENCH_DRAIN_SECONDS, then checks the counts.

Run by `make bench` (python -m tests.bench.bench_webhook) after infra/scripts/bench.sh has started
durable PostgreSQL and Redis, migrated and seeded the demo.
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

os.environ["DJANGO_SETTINGS_MODULE"] = "backend.config.settings.local"
django.setup()

from backend.concerns.models import Concern, InboundSms, Message  # noqa: E402
from notifications.models import Delivery, DeliveryStatus  # noqa: E402
from tests.bench.common import ROOT, machine, max_rss_mib, section_write  # noqa: E402
from tests.bench.steady import run  # noqa: E402
from tests.support.fake_twilio import inbound_params, new_sid, sign  # noqa: E402

RATE, SECONDS, REPEAT_SHARE = 50.0, float(os.environ.get("CANDOUR_BENCH_WEBHOOK_SECONDS", "60")), 0.2
DRAIN_SECONDS = float(os.environ.get("CANDOUR_BENCH_DRAIN_SECONDS", "600"))
WORKER_CONCURRENCY = int(os.environ.get("CANDOUR_BENCH_WORKER_CONCURRENCY", "2"))
WORKER_NICE = int(os.environ.get("CANDOUR_BENCH_WORKER_NICE", "10"))
TRUST_NUMBER = "+447700900101"
BIN = Path(sys.executable).parent


def _requests(base: str, n: int) -> tuple[list[tuple[bytes, dict[str, str]]], set[str]]:
    """n signed requests; one in five repeats an earlier MessageSid exactly (Twilio's retry). Senders
    are drawn from 90,000 numbers, so a few text twice and their second text adds to their concern."""
    rng = random.Random(7)
    url = f"{base}/twilio/sms/"
    sent: list[tuple[bytes, dict[str, str]]] = []
    sids: set[str] = set()
    for i in range(n):
        if sent and rng.random() < REPEAT_SHARE:
            sent.append(sent[rng.randrange(len(sent))])
            continue
        sender = f"+4477009{rng.randrange(10_000, 99_999)}"
        sid = new_sid()
        sids.add(sid)
        params = inbound_params(
            from_=sender, to=TRUST_NUMBER, body=f"Concern number {i}: staffing on ward", message_sid=sid
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign("test-token", url, params),
        }
        sent.append((urllib.parse.urlencode(params).encode(), headers))
    return sent, sids


def _tree_hwm_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and all its descendants, summed, in MiB."""
    total = 0.0
    try:
        with open(f"/proc/{pid}/status") as fh:
            total += int(next(line for line in fh if line.startswith("VmHWM")).split()[1]) / 1024
    except (OSError, StopIteration):
        return 0.0
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return total + sum(_tree_hwm_mib(int(child)) for child in children)


def _wait_http(url: str, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _warm_up(base: str, *, texts: int = 32) -> None:
    """A server in service is warm: each gunicorn thread has loaded the webhook's code and holds a
    broker connection, and the worker has loaded the conversation's. These texts are not counted:
    the run's figures start after they have all been processed."""
    url = f"{base}/twilio/sms/"
    for i in range(texts):
        params = inbound_params(from_=f"+44770090{i:04d}", to=TRUST_NUMBER, body="HELP", message_sid=new_sid())
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(
            url, data=data, headers={"X-Twilio-Signature": sign("test-token", url, params)}
        )
        urllib.request.urlopen(request, timeout=10).close()
    deadline = time.monotonic() + 60
    while InboundSms.objects.filter(processed_at=None).exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def _start(name: str, cmd: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"{name}.log").open("ab")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def main() -> int:
    port = 28700 + os.getpid() % 1000
    twilio_port = port + 1000
    base = f"http://127.0.0.1:{port}"
    logs = Path(os.environ.get("CANDOUR_VAR_DIR", "/tmp")) / "bench-webhook-logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CANDOUR_BASE_URL": base,
        "TWILIO_ACCOUNT_SID": "ACtest",
        "TWILIO_AUTH_TOKEN": "test-token",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio_port}",
        # Status callbacks would be a second stream of webhooks to the same server: not this benchmark.
        "TWILIO_STATUS_CALLBACK": "0",
        "CANDOUR_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "backend.config.settings.local",
    }
    twilio = _start(
        "fake-twilio",
        [
            *("nice", "-n", str(WORKER_NICE)),
            *(sys.executable, "-m", "tests.support.fake_twilio"),
            *("--port", str(twilio_port), "--no-callbacks"),
        ],
        env,
        logs,
    )
    web = _start(
        "gunicorn",
        [
            str(BIN / "gunicorn"),
            "backend.config.wsgi",
            "-c",
            str(ROOT / "infra" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "/dev/null",
        ],
        env,
        logs,
    )
    # The worker runs at a lower CPU priority: on these 2 shared cores the texts' processing (which
    # may lag by seconds) must not starve the webhook (which must answer in milliseconds). Deployed,
    # the web tier and the workers get cores of their own.
    worker = _start(
        "worker",
        [
            "nice",
            "-n",
            str(WORKER_NICE),
            str(BIN / "celery"),
            "-A",
            "backend.config",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            str(WORKER_CONCURRENCY),
            "--pool",
            "prefork",
            "--without-mingle",
            "--without-gossip",
            # Both queues, as every worker Candour starts (the clock sweep has its own).
            "-Q",
            "celery,clocks",
        ],
        env,
        logs,
    )
    procs = [twilio, web, worker]
    try:
        _wait_http(f"{base}/healthz")
        _wait_http(f"http://127.0.0.1:{twilio_port}/_fake/messages")
        _warm_up(base)
        last_inbound = InboundSms.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        last_delivery = Delivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        before = Concern.objects.count(), Message.objects.count()
        requests, sids = _requests(base, int(RATE * SECONDS))
        load_before = os.getloadavg()[0]
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
        load_done = time.monotonic()
        load_after = os.getloadavg()[0]
        ours = InboundSms.objects.filter(pk__gt=last_inbound)
        replies = Delivery.objects.filter(pk__gt=last_delivery, channel="sms")
        deadline = load_done + DRAIN_SECONDS
        while time.monotonic() < deadline:
            waiting = ours.filter(processed_at=None).count()
            unsent = replies.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED])
            unsent = unsent.count()
            if not waiting and not unsent:
                break
            time.sleep(0.5)
        drain = time.monotonic() - load_done
        rss = {"gunicorn": _tree_hwm_mib(web.pid), "worker": _tree_hwm_mib(worker.pid)}
    finally:
        for proc in procs:
            _stop(proc)
    stored_sids = list(ours.values_list("message_sid", flat=True))
    stored = len(stored_sids)
    stored_once = stored == len(set(stored_sids)) == len(sids) and set(stored_sids) == sids
    processed = ours.exclude(processed_at=None).count()
    left_in_clear = ours.exclude(processed_at=None).exclude(payload="").count()
    concerns = Concern.objects.count() - before[0]
    messages = Message.objects.count() - before[1]
    sent = replies.filter(status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED]).count()
    one_each = concerns + messages == len(sids) and processed == len(sids) and left_in_clear == 0
    latency = result["latency_ms"]
    p99 = latency["99"]
    drained = (
        processed == len(sids)
        and not replies.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED]
        ).exists()
    )
    row = (
        f"| {result['requests']} | {result['ok']} | {len(sids)} | {stored} | {processed} | {concerns + messages} "
        f"| {sent} | {latency['50']:.1f} ms | {p99:.1f} ms | {latency['max']:.1f} ms |"
    )
    section_write(
        "SMS webhook",
        f"""{machine()}. {RATE:.0f} signed requests a second for {SECONDS:.0f} s to /twilio/sms/ (open loop,
latency from when each request was due), {REPEAT_SHARE:.0%} of them exact repeats of an earlier MessageSid;
gunicorn with infra/gunicorn.conf.py on durable PostgreSQL. The webhook stores each text (encrypted, once
per MessageSid) and answers empty TwiML; a Celery worker (prefork, concurrency {WORKER_CONCURRENCY}, nice
{WORKER_NICE}) on Redis processes the stored texts after commit (each raises a concern or adds to one) and sends
each reply through the outbox to a fake Twilio API (also niced), all on the same 2 cores as the server and
the load generator. Load average (1 min) {load_before:.1f} before the run, {load_after:.1f} at its end: the
machine is shared, and anything else running shows in the tail.

| requests | answered 2xx | distinct sids | stored | processed | concerns + messages | replies sent | p50 | p99 | max |
|---|---|---|---|---|---|---|---|---|---|
{row}

- p99 {p99:.1f} ms (goal at most 200 ms): **{"MET" if p99 <= 200 else "NOT MET"}**
- every distinct MessageSid stored once: **{"MET" if stored_once else "NOT MET"}**; one concern or message
  each, every stored text emptied once processed: **{"MET" if one_each else "NOT MET"}**
- {"the worker had processed every text and sent every reply" if drained else "NOT drained:"} {drain:.1f} s
  after the load ended (worker throughput {len(sids) / (SECONDS + drain):.1f} texts a second)
- peak memory (max RSS): gunicorn master and workers {rss["gunicorn"]:.0f} MiB; Celery worker and its
  children {rss["worker"]:.0f} MiB; load generator {max_rss_mib():.0f} MiB
""",
    )
    print(result)
    print(
        f"distinct={len(sids)} stored={stored} processed={processed} concerns+messages={concerns + messages} "
        f"replies sent={sent} drain={drain:.1f}s p99={p99:.1f} ms rss={rss}"
    )
    return 0 if stored_once and one_each and drained else 1


if __name__ == "__main__":
    sys.exit(main())
