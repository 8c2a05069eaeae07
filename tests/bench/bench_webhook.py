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

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "backend.config.settings.local"
django.setup()

from backend.concerns.models import Concern, InboundSms, Message  # noqa: E402
from notifications.models import Delivery, DeliveryStatus, Redaction, RedactionStatus  # noqa: E402
from tests.bench.common import ROOT, machine, max_rss_mib, section_write  # noqa: E402
from tests.bench.steady import percentile, run  # noqa: E402
from tests.support.fake_twilio import inbound_params, new_sid, sign  # noqa: E402

RATE = float(os.environ.get("CANDOUR_BENCH_WEBHOOK_RATE", "50"))
SECONDS = float(os.environ.get("CANDOUR_BENCH_WEBHOOK_SECONDS", "60"))
REPEAT_SHARE = 0.2
DRAIN_SECONDS = float(os.environ.get("CANDOUR_BENCH_DRAIN_SECONDS", "600"))
# Worker layouts, each "queues:pool:concurrency" per worker, ";" between workers. The first is as
# deployed (infra/k8s/base/workers.yaml): one worker for the default and clock queues, one with threads
# for the texts'. The second is one prefork worker of two processes taking every queue (make run's, a
# small site's), to show what the threads bring.
LAYOUTS = os.environ.get("CANDOUR_BENCH_LAYOUTS", "celery,clocks:prefork:2;sms:threads:16|celery,clocks,sms:prefork:2")
# The conversation's rates a second, for the first layout; the others are driven at the first rate only.
TEXT_RATES = [float(r) for r in os.environ.get("CANDOUR_BENCH_TEXT_RATES", "20,40").split(",")]
WORKER_NICE = int(os.environ.get("CANDOUR_BENCH_WORKER_NICE", "10"))
TRUST_NUMBER = "+447700900101"
# The conversation: how long each rate is sustained, and the goal for a reply reaching its sender (p99)
# at 20 texts a second.
TEXT_SECONDS = float(os.environ.get("CANDOUR_BENCH_TEXT_SECONDS", "60"))
REPLY_GOAL_SECONDS = 10.0
# Each call to the fake Twilio API is answered after this long, as the real one is across the internet.
TWILIO_LATENCY_MS = float(os.environ.get("CANDOUR_BENCH_TWILIO_LATENCY_MS", "200"))
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


def _texts(base: str, n: int, *, first: int) -> tuple[list[tuple[bytes, dict[str, str]]], list[str]]:
    """n signed texts, each from a number that has not texted before (each raises a concern: the
    heaviest path), and the senders in order."""
    url = f"{base}/twilio/sms/"
    texts: list[tuple[bytes, dict[str, str]]] = []
    senders: list[str] = []
    for i in range(first, first + n):
        sender = f"+447701{i:06d}"
        params = inbound_params(
            from_=sender, to=TRUST_NUMBER, body=f"Text {i}: nobody answers the call bells", message_sid=new_sid()
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign("test-token", url, params),
        }
        texts.append((urllib.parse.urlencode(params).encode(), headers))
        senders.append(sender)
    return texts, senders


def _replies_accepted(twilio_port: int) -> dict[str, float]:
    """When the fake Twilio accepted the first text to each number (epoch seconds)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{twilio_port}/_fake/messages", timeout=30) as response:
        messages = json.load(response)["messages"]
    first: dict[str, float] = {}
    for message in messages:
        at = float(message["accepted_at"])
        first[message["To"]] = min(at, first.get(message["To"], at))
    return first


def _conversation(base: str, twilio_port: int, *, rate: float, first: int) -> dict[str, Any]:
    """``rate`` new texts a second for TEXT_SECONDS; each reply timed from when its text was due to
    when it reached the fake Twilio (what the sender waits for, less the carrier's hop)."""
    texts, senders = _texts(base, int(rate * TEXT_SECONDS), first=first)
    last_delivery = Delivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    result = run(
        url=f"{base}/twilio/sms/",
        bodies=texts,
        rate=rate,
        seconds=TEXT_SECONDS,
        threads=8,
        timeout=10,
        give_up=5,
        ordered=True,
        headers={"Accept": "application/xml"},
        log=True,
    )
    load_done = time.monotonic()
    replies = Delivery.objects.filter(pk__gt=last_delivery, channel="sms")
    while time.monotonic() < load_done + DRAIN_SECONDS:
        accepted = _replies_accepted(twilio_port)
        if all(sender in accepted for sender in senders):
            break
        time.sleep(1)
    drain = time.monotonic() - load_done
    accepted = _replies_accepted(twilio_port)
    waits = sorted(
        accepted[senders[index]] - due if senders[index] in accepted else float("inf")
        for index, due, status in result["log"]
        if 200 <= status < 300
    )
    return {
        "rate": rate,
        "drain_s": drain,
        "load": os.getloadavg()[0],
        "texts": len(texts),
        "answered": sum(1 for _, _, status in result["log"] if 200 <= status < 300),
        "replied": sum(1 for sender in senders if sender in accepted),
        "replies_sent": replies.filter(status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED]).count(),
        "webhook_p99_ms": result["latency_ms"]["99"],
        "reply_s": {p: percentile(waits, p) for p in (50, 90, 99)} | {"max": waits[-1] if waits else float("nan")},
    }


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


def _queues_empty() -> int:
    """Empty the (throwaway) broker's queues, returning how many messages they held: the benchmarks
    before this one (the sweeps, the mass breach) publish hundreds of thousands of sends that no worker
    of theirs consumed, and this one's workers would otherwise spend the run on them."""
    from celery import current_app

    with current_app.connection_for_write() as conn:
        channel = conn.default_channel
        return sum(channel.queue_purge(queue) or 0 for queue in ("celery", "clocks", "sms"))


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


def _workers(layout: str, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    # The workers run at a lower CPU priority: on these 2 shared cores the texts' processing (which
    # may lag by seconds) must not starve the webhook (which must answer in milliseconds). Deployed,
    # the web tier and the workers get cores of their own.
    workers = []
    for spec in layout.split(";"):
        queues, pool, concurrency = spec.split(":")
        cmd = [
            *("nice", "-n", str(WORKER_NICE)),
            *(str(BIN / "celery"), "-A", "backend.config", "worker"),
            *("--loglevel", os.environ.get("CANDOUR_BENCH_WORKER_LOGLEVEL", "WARNING")),
            *("--pool", pool, "--concurrency", concurrency),
            *("--without-mingle", "--without-gossip", "-Q", queues, "-n", f"{queues.replace(',', '-')}@bench"),
        ]
        workers.append(_start(f"worker-{queues.replace(',', '-')}", cmd, env, logs))
    return workers


def _layout_words(layout: str) -> str:
    words = []
    for spec in layout.split(";"):
        queues, pool, concurrency = spec.split(":")
        what = f"{concurrency} threads" if pool == "threads" else f"{pool} x {concurrency}"
        words.append(f"`{queues}` ({what})")
    return " + ".join(words)


def _webhook(base: str) -> dict[str, Any]:
    """RATE signed requests a second for SECONDS, a fifth of them Twilio's retries; then the checks."""
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
    unsent = [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED]
    while time.monotonic() < load_done + DRAIN_SECONDS:
        if not ours.filter(processed_at=None).exists() and not replies.filter(status__in=unsent).exists():
            break
        time.sleep(0.5)
    drain = time.monotonic() - load_done
    # The requests asking Twilio to forget these texts share the texts' queue: the conversation that
    # follows starts once they are done, not behind them.
    forgetting = Redaction.objects.filter(provider_id__in=sids, status=RedactionStatus.PENDING)
    while forgetting.exists() and time.monotonic() < load_done + DRAIN_SECONDS:
        time.sleep(0.5)
    forgotten = time.monotonic() - load_done
    stored_sids = list(ours.values_list("message_sid", flat=True))
    processed = ours.exclude(processed_at=None).count()
    left_in_clear = ours.exclude(processed_at=None).exclude(payload="").count()
    raised = Concern.objects.count() - before[0] + Message.objects.count() - before[1]
    return {
        "result": result,
        "distinct": len(sids),
        "stored": len(stored_sids),
        "stored_once": len(stored_sids) == len(set(stored_sids)) == len(sids) and set(stored_sids) == sids,
        "processed": processed,
        "raised": raised,
        "one_each": raised == len(sids) and processed == len(sids) and left_in_clear == 0,
        "sent": replies.filter(status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED]).count(),
        "drained": processed == len(sids) and not replies.filter(status__in=unsent).exists(),
        "drain": drain,
        "forgotten": forgotten,
        "load": (load_before, load_after),
    }


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
            *("--port", str(twilio_port), "--no-callbacks", "--latency-ms", str(TWILIO_LATENCY_MS)),
        ],
        env,
        logs,
    )
    web = _start(
        "gunicorn",
        [
            *(str(BIN / "gunicorn"), "backend.config.wsgi", "-c", str(ROOT / "infra" / "gunicorn.conf.py")),
            *("--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null"),
        ],
        env,
        logs,
    )
    layouts = LAYOUTS.split("|")
    conversations: list[tuple[str, dict[str, Any]]] = []
    rss: dict[str, float] = {}
    webhook: dict[str, Any] | None = None
    first = 0
    purged = _queues_empty()
    print(f"{purged} messages left in the broker by earlier benchmarks, purged")
    try:
        _wait_http(f"{base}/healthz")
        _wait_http(f"http://127.0.0.1:{twilio_port}/_fake/messages")
        for n, layout in enumerate(layouts):
            workers = _workers(layout, env, logs)
            try:
                _warm_up(base)
                if n == 0 and SECONDS > 0:
                    webhook = _webhook(base)
                    print(webhook)
                for rate in TEXT_RATES if n == 0 else TEXT_RATES[:1]:
                    conversation = _conversation(base, twilio_port, rate=rate, first=first)
                    first += conversation["texts"]
                    print(layout, conversation)
                    conversations.append((layout, conversation))
                rss[layout] = sum(_tree_hwm_mib(w.pid) for w in workers)
                rss.setdefault("gunicorn", _tree_hwm_mib(web.pid))
            finally:
                for worker in workers:
                    _stop(worker)
    finally:
        for proc in (twilio, web):
            _stop(proc)
    ok = _write(webhook, conversations, rss)
    return 0 if ok else 1


def _write(
    webhook: dict[str, Any] | None, conversations: list[tuple[str, dict[str, Any]]], rss: dict[str, float]
) -> bool:
    ok = True
    parts = [
        f"""{machine()}. Texts to /twilio/sms/, signed as Twilio signs them, from an open-loop generator (latency
from when each request was due); gunicorn with infra/gunicorn.conf.py on durable PostgreSQL. The webhook
stores each text (encrypted, once per MessageSid) and answers empty TwiML; Celery workers on Redis
process the stored texts after commit (each raises a concern or adds to one), send each reply, and ask
Twilio to forget each text, through a fake Twilio API that answers each call after {TWILIO_LATENCY_MS:.0f} ms
(the real one is a round trip across the internet). The workers and the fake Twilio run niced
({WORKER_NICE}), all on the same 2 cores as the server and the load generator."""
    ]
    if webhook is not None:
        result, latency = webhook["result"], webhook["result"]["latency_ms"]
        p99 = latency["99"]
        ok = ok and webhook["stored_once"] and webhook["one_each"] and webhook["drained"]
        row = (
            f"| {result['requests']} | {result['ok']} | {webhook['distinct']} | {webhook['stored']} "
            f"| {webhook['processed']} | {webhook['raised']} | {webhook['sent']} | {latency['50']:.1f} ms "
            f"| {p99:.1f} ms | {latency['max']:.1f} ms |"
        )
        drained = "every text processed and every reply sent" if webhook["drained"] else "NOT drained:"
        parts.append(
            f"""### The webhook

{RATE:.0f} requests a second for {SECONDS:.0f} s, {REPEAT_SHARE:.0%} of them exact repeats of an earlier
MessageSid (Twilio's retries), workers as deployed ({_layout_words(LAYOUTS.split("|")[0])}). Load
average (1 min) {webhook["load"][0]:.1f} before, {webhook["load"][1]:.1f} at its end.

| requests | answered 2xx | distinct sids | stored | processed | concerns + messages | replies sent | p50 | p99 | max |
|---|---|---|---|---|---|---|---|---|---|
{row}

- p99 {p99:.1f} ms (goal at most 200 ms): **{"MET" if p99 <= 200 else "NOT MET"}**
- every distinct MessageSid stored once: **{"MET" if webhook["stored_once"] else "NOT MET"}**; one concern or
  message each, every stored text emptied once processed: **{"MET" if webhook["one_each"] else "NOT MET"}**
- {drained} {webhook["drain"]:.1f} s after the load ended; Twilio asked to forget every text
  {webhook["forgotten"]:.1f} s after"""
        )
    rows = []
    goal_met = None
    for layout, c in conversations:
        reply = c["reply_s"]
        rows.append(
            f"| {_layout_words(layout)} | {c['rate']:.0f}/s for {TEXT_SECONDS:.0f} s | {c['texts']} | {c['answered']} "
            f"| {c['replied']} | {reply[50]:.2f} s | {reply[90]:.2f} s | {reply[99]:.2f} s | {reply['max']:.2f} s "
            f"| {c['drain_s']:.1f} s | {c['load']:.1f} |"
        )
        if layout == LAYOUTS.split("|")[0] and c["rate"] == 20:
            goal_met = reply[99] <= REPLY_GOAL_SECONDS and c["replied"] == c["texts"]
    if conversations:
        table = "\n".join(rows)
        verdict = "not run" if goal_met is None else "MET" if goal_met else "NOT MET"
        memory = "; ".join(f"{_layout_words(k)} {v:.0f} MiB" for k, v in rss.items() if k != "gunicorn")
        memory += f"; gunicorn master and workers {rss.get('gunicorn', 0):.0f} MiB"
        memory += f"; load generator {max_rss_mib():.0f} MiB"
        parts.append(
            f"""### The conversation: replies under sustained load

Each text from a number that has not texted before (so each raises a concern, the heaviest path); each
reply timed from when its text was due to when the fake Twilio accepted it (what the sender waits
for, less the carrier's hop to the phone), after a warm-up of 32 texts.

| workers | load | texts | answered 2xx | replied | reply p50 | p90 | p99 | max | last reply after the load | load avg |
|---|---|---|---|---|---|---|---|---|---|---|
{table}

- replies within {REPLY_GOAL_SECONDS:.0f} s (p99) at 20 texts a second, workers as deployed: **{verdict}**
- peak memory (max RSS) of each layout's workers, children included: {memory}"""
        )
        ok = ok and bool(goal_met)
    parts.append(WHAT_LIMITED)
    section_write("SMS webhook", "\n\n".join(parts))
    return ok


# What the conversation measured before and after the change that brought the texts' queue (in prose:
# the "before" can no longer be run, its code being gone).
WHAT_LIMITED = """### What limited the replies, and what changed

Measured on this machine with the code before the change (one prefork worker of 2 processes on every
queue, the fake Twilio answering after 200 ms): 20 texts a second for 40 s were answered by 3.8 a
second, the last reply 174 s after its text. Each text took three tasks in turn, and each of
the two processes spent its time waiting: `sms_inbound_process` 24 ms, then `delivery_send` for the
reply 254 ms and `redaction_run` 251 ms, both waiting on Twilio's API; the reply's task, queued behind
every text that had arrived meanwhile, went out last. A profile (py-spy) of the worker put a seventh of
its CPU in opening and closing PostgreSQL connections: Celery closes a task's connection after it
unless told otherwise. The per-sender lock never waited (a lock on one number; only two texts from one
sender at once contend, and those must).

The change: the texts have a queue of their own (`sms`, with the requests asking Twilio to forget
them), whose worker runs 16 threads in one process, as they wait on Twilio, not on the CPU; the
processing task sends the reply itself the moment its transaction commits (`deliveries_sent_here`:
the reply is still an outbox row first, so a worker killed between the two leaves it to the requeue
sweep, sent within CANDOUR_REQUEUE_AFTER_SECONDS); and workers keep their database connections, closing
the broken and the old ones around each task as Django does around each request (backend/config/celery.py).
Twilio's own limit is next: a long code sends about 1 message a second, a short code or a messaging
service's pool 30 to 100 or more (README, Scale on paper)."""


if __name__ == "__main__":
    sys.exit(main())
