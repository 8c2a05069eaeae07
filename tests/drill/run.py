"""The multi-node drill (`make drill`): Candour under steady load while its nodes are SIGKILLed.

Two gunicorn nodes behind a round-robin balancer, three Celery workers across the default, clocks
and sms queues, two beats, PgBouncer in transaction pooling in front of PostgreSQL, and Redis
(tests/drill/cluster.py). For CANDOUR_DRILL_SECONDS the load generator (tests/drill/load.py) drives
raises, follow-ups, signed texts and staff moves at steady rates while a chaos thread SIGKILLs a
random node (web, worker, beat or PgBouncer) every few seconds and starts it again. Before the load,
CANDOUR_DRILL_DUE concerns are seeded whose acknowledge clocks fall due one after another during
the first two thirds of it, so the beat-driven sweep must fire them while nodes die. After the
load the cluster is left whole to drain (deliveries and texts a killed worker held are picked up
by the requeue sweeps), then stopped, and the invariants are checked by SQL against PostgreSQL
(tests/drill/invariants.py). Prints the figures and writes "## Multi-node drill" to BENCHMARKS.md.

Run by infra/scripts/drill.sh after it has started durable PostgreSQL and Redis, migrated and seeded
the demo. Exits non-zero if anything was lost or doubled. Environment (defaults in brackets):
CANDOUR_DRILL_SECONDS [180], CANDOUR_DRILL_RAISE_RATE [4], CANDOUR_DRILL_FOLLOW_UP_RATE [2],
CANDOUR_DRILL_SMS_RATE [20], CANDOUR_DRILL_STAFF_RATE [2] (a second each), CANDOUR_DRILL_KILL_EVERY [8]
(seconds between kills, on average; 0 for none), CANDOUR_DRILL_DUE [300], CANDOUR_DRILL_DRAIN_SECONDS [300],
CANDOUR_DRILL_WRITE [1] (0: leave BENCHMARKS.md alone).
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.drill.settings"
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from backend.concerns.models import Clock, ClockStatus, Concern, InboundSms  # noqa: E402
from backend.organisations.demo import SMS_NUMBERS  # noqa: E402
from backend.organisations.models import Organisation  # noqa: E402
from notifications.models import Delivery, DeliveryStatus  # noqa: E402
from tests.bench.common import machine, max_rss_mib, section_write  # noqa: E402
from tests.bench.steady import percentile  # noqa: E402
from tests.drill.cluster import Cluster, cluster_build  # noqa: E402
from tests.drill.invariants import Check, checks_run  # noqa: E402
from tests.drill.load import Drill, Outcome  # noqa: E402
from tests.support.fake_smtp import FakeSmtp  # noqa: E402
from tests.support.seeding import concerns_seed  # noqa: E402


def _env(name: str, default: float) -> float:
    return float(os.environ.get(f"CANDOUR_DRILL_{name}", str(default)))


SECONDS = _env("SECONDS", 180)
# What two CPUs hold with room to spare: at 23 requests a second of raises the cluster, its restarts
# and the load generator on the same two cores fell seconds behind; a text costs the web one stored
# row, and the texts' goal is 20 a second with every reply within 10 s.
RATES = {
    "raise": _env("RAISE_RATE", 4),
    "follow-up": _env("FOLLOW_UP_RATE", 2),
    "sms": _env("SMS_RATE", 20),
    "staff": _env("STAFF_RATE", 2),
}
KILL_EVERY = _env("KILL_EVERY", 8)
DUE = int(_env("DUE", 300))
DRAIN_SECONDS = _env("DRAIN_SECONDS", 300)
RESTART_AFTER = 0.5  # seconds a killed node stays down: its supervisor's restart delay
KINDS = ("web", "worker", "beat", "pgbouncer")
GUARDIANS = {"RNX": "guardian", "RCX": "guardian-community"}
# What the drill has found in Candour, kept with its figures (and what became of it).
FINDINGS = """**Found by the drill, and fixed (40682df): a 500 under concurrent follow-ups.** `FollowUpApi.post`
ended with `concern.refresh_from_db()`, and django-fsm-2's `FSMModelMixin.refresh_from_db` made the
protected `state` field writable by turning the *field's* (class-wide) `protected` flag off while it
queried: another thread of the same gunicorn worker (gthread, `threads = 4`) refreshing a concern then
got `AttributeError: Direct state modification is not allowed`, a 500 after the raiser's message was
stored. `Concern.refresh_from_db` now reloads without touching the flag, and the view reloads the
concern by id; tests/integration/test_concern_refresh.py fails on the old refresh (a deterministic check
of the flag during the query, and four threads refreshing). The run above, after the fix, had none.

**Found by the drill, and fixed: a request that loses the database answered 500.** Every 500 left
in the run before this one was a PgBouncer kill (`connection refused` in the web nodes' logs): the
view's first query could not connect. Such a request now answers 503 with Retry-After, in the API's
error shape under /api/ (backend/config/middleware.py, DatabaseUnavailableMiddleware; the run above
had 2; tests/api/test_database_unavailable.py points the connection at a closed port). The raise page and
Twilio's fallback URL send again; a follow-up's sender is asked to try again in a few seconds.

**Doubles: the at-least-once window, and Twilio asked before a second send.** A delivery whose worker
was killed after the provider accepted it and before its row said so (or whose answer was lost to a
timeout) has an unknown outcome. With the texts' workers at 16 threads a kill caught several sends in
that window at once: 28 doubles in one run. Now, before a text is sent again, Candour asks Twilio's
message list for it (the newest to that number with its sender and words, made since the row was
written, recorded by no other delivery) and records it instead (`TwilioSmsChannel.sent_already`). In
the run above no text reached Twilio twice. An e-mail sent again cannot be asked about (SMTP keeps no
list); the copy carries the first one's Message-ID, so a mail system can drop it: the 1 double left."""


class Chaos(threading.Thread):
    """Every few seconds (uniform around KILL_EVERY): a node kind at random, one node of it at random,
    SIGKILLed, and started again RESTART_AFTER later."""

    def __init__(self, cluster: Cluster, *, seed: int = 15) -> None:
        super().__init__(daemon=True)
        self.cluster, self.rng = cluster, random.Random(seed)
        self.kills: Counter[str] = Counter()
        self.log: list[tuple[float, str]] = []
        self.halt = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.halt.wait(self.rng.uniform(0.5 * KILL_EVERY, 1.5 * KILL_EVERY)):
            node = self.rng.choice(self.cluster.of_kind(self.rng.choice(KINDS)))
            node.kill()
            self.kills[node.kind] += 1
            self.log.append((time.monotonic() - self.started_at, node.name))
            time.sleep(RESTART_AFTER)
            node.start()


def _tokens() -> dict[str, str]:
    users = get_user_model().objects
    return {
        trust: Token.objects.get_or_create(user=users.get(username=name))[0].key for trust, name in GUARDIANS.items()
    }


def _seed_due() -> tuple[list[int], list[tuple[str, str]]]:
    """DUE anonymous concerns, half on a ward of each trust, their acknowledge clocks not yet due."""
    ids: list[int] = []
    for code in ("RNX07", "RCXDNE"):
        ids += concerns_seed(unit=Organisation.objects.get(code=code), count=DUE // 2)
    Clock.objects.filter(concern_id__in=ids, kind="acknowledge").update(due_at=timezone.now() + timedelta(days=1))
    refs = [(ref, code[:3]) for ref, code in Concern.objects.filter(pk__in=ids).values_list("reference", "unit__code")]
    return ids, refs


def _due_during_load(ids: list[int], start: datetime) -> None:
    """The seeded clocks fall due one after another from 10 s into the load to two thirds of it."""
    span = max(SECONDS * 2 / 3 - 10, 1)
    clocks = list(Clock.objects.filter(concern_id__in=ids, kind="acknowledge").order_by("concern_id"))
    for i, clock in enumerate(clocks):
        clock.due_at = start + timedelta(seconds=10 + span * i / max(len(clocks), 1))
    Clock.objects.bulk_update(clocks, ["due_at"])


def _drain(load_end: datetime) -> tuple[float, datetime]:
    """Wait (the cluster whole) until every due notice is sent, every text processed, and every clock
    due before the load ended has fired; how long it took, and the moment it found them so. Notices
    held back (``not_before``) keep falling due after it: the checks count those due by that moment."""
    began = time.monotonic()
    waiting = InboundSms.objects.filter(processed_at=None)
    due = Clock.objects.filter(status=ClockStatus.PENDING, paused_at=None, due_at__lte=load_end)
    while time.monotonic() - began < DRAIN_SECONDS:
        now = timezone.now()
        unsent = Delivery.objects.filter(
            Q(not_before__isnull=True) | Q(not_before__lte=now),
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED],
        )
        if not unsent.exists() and not waiting.exists() and not due.exists():
            return time.monotonic() - began, now
        time.sleep(1)
    return time.monotonic() - began, timezone.now()


def _fake_texts(cluster: Cluster) -> list[dict[str, str]]:
    """Every text the fake Twilio accepted: its form, its sid and when it was accepted."""
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.twilio_port}/_fake/messages", timeout=10) as resp:
        messages: list[dict[str, str]] = json.loads(resp.read())["messages"]
        return messages


def _emails(smtp: FakeSmtp) -> Counter[str]:
    ids: Counter[str] = Counter()
    for _, raw in smtp.received:
        found = re.search(rb"^Message-ID:\s*(<[^>]+>)", raw, re.MULTILINE | re.IGNORECASE)
        ids[found.group(1).decode() if found else "(none)"] += 1
    return ids


def _figures(outcomes: list[Outcome], seconds: float) -> dict[str, dict[str, object]]:
    figures: dict[str, dict[str, object]] = {}
    for stream in [*RATES, "all"]:
        mine = [o for o in outcomes if stream in ("all", o.stream)]
        ok = [o for o in mine if o.what in ("ok", "conflict")]
        abandoned = [o for o in mine if o.status == -1]
        # An abandoned request counts as slower than any answer, as in tests/bench/steady.py.
        latency = sorted([(o.done - o.due) * 1000 for o in ok] + [float("inf")] * len(abandoned))
        figures[stream] = {
            "requests": len(mine),
            "ok": len(ok),
            "rate": len(ok) / seconds if seconds else 0.0,
            "retried": sum(1 for o in mine if o.attempts > 1),
            "p50": percentile(latency, 50),
            "p99": percentile(latency, 99),
            "max": latency[-1] if latency else float("nan"),
            "errors": Counter(o.what for o in mine if o.what not in ("ok", "conflict")),
            "conflicts": sum(1 for o in mine if o.what == "conflict"),
        }
    return figures


def _terminated(signum: int, frame: object) -> None:
    # Stopped from outside (make interrupted, a CI timeout): unwind, so the nodes are stopped too.
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _terminated)
    if os.environ.get("CANDOUR_DRILL_DEBUG"):
        # Where every thread is, now and then after the load should have ended.
        faulthandler.dump_traceback_later(SECONDS + 30, repeat=True)
    folder = Path(os.environ.get("CANDOUR_VAR_DIR", "/tmp")).parent / "drill"
    folder.mkdir(parents=True, exist_ok=True)
    pg_port = int(os.environ["CANDOUR_PG_PORT"])
    tokens = _tokens()
    seeded_ids, seeded_refs = _seed_due()
    with FakeSmtp() as smtp:
        cluster = cluster_build(folder=folder, pg_port=pg_port, base_env=dict(os.environ), smtp_port=smtp.port)
        cluster.start()
        chaos = Chaos(cluster)
        try:
            cluster.wait_ready()
            time.sleep(2)  # the workers and beats connect to Redis
            drill = Drill(base_url=cluster.base_url, tokens=tokens, seeded=seeded_refs, sms_numbers=SMS_NUMBERS)
            start = timezone.now()
            _due_during_load(seeded_ids, start)
            print(f"drill: {SECONDS:.0f} s at {RATES}, a kill every ~{KILL_EVERY:.0f} s; logs in {folder}", flush=True)
            if KILL_EVERY > 0:  # 0: a baseline, the same load with nothing killed
                chaos.start()
            elapsed = drill.run(rates=RATES, seconds=SECONDS)
            chaos.halt.set()
            if chaos.is_alive():
                chaos.join()
            load_end = timezone.now()
            for node in cluster.nodes:
                if not node.alive():
                    node.start()
            cluster.wait_ready()
            drain, drained_at = _drain(load_end)
            texts = _fake_texts(cluster)
        finally:
            chaos.halt.set()
            cluster.stop()
        emails = _emails(smtp)
    checks = checks_run(
        ledger=drill.ledger, seeded=seeded_ids, load_end=load_end, drained_at=drained_at, emails=emails, texts=texts
    )
    figures = _figures(drill.outcomes, elapsed)
    report(figures=figures, chaos=chaos, checks=checks, drain=drain, elapsed=elapsed, drill=drill)
    return 0 if all(c.ok for c in checks) else 1


def report(
    *,
    figures: dict[str, dict[str, object]],
    chaos: Chaos,
    checks: list[Check],
    drain: float,
    elapsed: float,
    drill: Drill,
) -> None:
    rows = []
    for stream, f in figures.items():
        target = sum(RATES.values()) if stream == "all" else RATES[stream]
        errors = ", ".join(f"{n} {what}" for what, n in f["errors"].most_common()) or "none"  # type: ignore[attr-defined]
        rows.append(
            f"| {stream} | {target:g}/s | {f['rate']:.1f}/s | {f['requests']} | {f['retried']} | {f['conflicts']} "
            f"| {errors} | {f['p50']:.0f} ms | {f['p99']:.0f} ms | {f['max']:.0f} ms |"
        )
    kills = ", ".join(f"{kind} {chaos.kills[kind]}" for kind in KINDS)
    lost = sum(c.lost for c in checks)
    doubled = sum(c.doubled for c in checks)
    verdicts = "\n".join(
        f"- {c.name}: **{'MET' if c.ok else 'NOT MET'}** (lost {c.lost}, doubled {c.doubled}): {c.detail}"
        for c in checks
    )
    body = f"""{machine()}. `make drill` (tests/drill/): two gunicorn nodes (infra/gunicorn.conf.py) behind a
round-robin TCP balancer, three Celery workers (queues celery+clocks, clocks+sms, sms+celery), two
beats, PgBouncer in transaction pooling in front of durable PostgreSQL, Redis; all on the same
{os.cpu_count()} CPUs as the load generator. For {SECONDS:.0f} s, open-loop load (latency from when each request
was due, retries included) while a random node (web, worker, beat or PgBouncer) was SIGKILLed every
{0.5 * KILL_EVERY:.1f} to {1.5 * KILL_EVERY:.1f} s and restarted {RESTART_AFTER} s later:
{sum(chaos.kills.values())} kills ({kills}).
{DUE} seeded concerns' acknowledge clocks fell due during the first two thirds (the sweep every
2 s, from both beats). Then the cluster, whole again, drained in {drain:.0f} s, and the invariants were
checked by SQL against PostgreSQL. Load average (1 min) at the end {os.getloadavg()[0]:.1f}.

| stream | target | held (2xx) | requests | retried | 409 after retry | errors (final) | p50 | p99 | max |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{verdicts}

Lost: **{lost}**; doubled: **{doubled}** (the goal is nothing). A request whose node was killed
under it has no answer; the raise page and Twilio send again (raises with the same submission key,
so a second attempt answers 409 when the first was stored), a follow-up or staff message is not
sent again and counts as an error above. Peak memory of the load generator {max_rss_mib():.0f} MiB.

{FINDINGS}
"""
    print(body)
    print("kills:", " ".join(f"{t:.0f}s:{name}" for t, name in chaos.log))
    if os.environ.get("CANDOUR_DRILL_WRITE", "1") != "0":
        section_write("Multi-node drill", body)


if __name__ == "__main__":
    sys.exit(main())
