"""The database drill: switchover, failover and point-in-time recovery, with Candour raising throughout.

Run by `make drill-db` (infra/scripts/pg-drill.sh), never by `make test`. On 127.0.0.1 it builds
a durable primary that archives every WAL segment (tests/drill/pg_nodes.py), a streaming replica made
by pg_basebackup -R, and PgBouncer in front (infra/pgbouncer/pgbouncer.ini, transaction pooling);
migrates Candour through PgBouncer and seeds the demo's organisations. Then, with a raiser calling
Candour's own concern_raise in a loop (each call one request's worth: connections checked and
recycled as a web worker does between requests) and keeping every reference and receipt it was
given:

1. Switchover (planned): PAUSE Candour's database in PgBouncer (raises wait, none refused), stop
   the primary cleanly (its last WAL goes to the replica before it exits), promote the replica,
   repoint PgBouncer and RESUME. The old primary rejoins as a replica of the new one.
2. Failover (unplanned), twice: the primary killed outright mid-raise, the replica promoted and
   PgBouncer repointed; first with asynchronous replication, then, after pg_rewind brings the dead
   node back as a replica, with synchronous_standby_names naming it.
3. Point-in-time recovery: a base backup, raises, a target time, raises, the segment archived,
   raises, then the primary's data directory destroyed. Restored from the base backup and the
   archive to the end of the archive (what a lost disk costs), and to the target time (undoing what
   came after it): exactly the concerns held at the target, each audit chain intact, and Candour
   raising again on the restored server.

After every step, every concern acknowledged to a raiser is looked up by its receipt, with its
first audit Event, and manage.py audit_verify checks every chain. Prints the figures, writes the
"## Database failover and recovery" section of BENCHMARKS.md, exits non-zero if a check failed.
Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.drill.pg_nodes import PGBIN, Node, Site, as_postgres, run

UNITS = ("RNX07", "RNXMAT", "RCXDNE", "RCXMHC")


@dataclass(frozen=True)
class Ack:
    """What a raiser was told: the reference and the receipt, and when (monotonic seconds)."""

    reference: str
    receipt: str
    started: float
    at: float


@dataclass(eq=False)  # a thread: hashed by identity
class Raiser(threading.Thread):
    """Raises concerns one after another until stopped, as raisers arriving at a web worker would."""

    name_: str
    pause: float = 0.02
    acks: list[Ack] = field(default_factory=list)
    refusals: list[tuple[float, str]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, name=self.name_, daemon=True)

    def run(self) -> None:
        from django.db import close_old_connections, connection

        n = 0
        while not self.stopping.is_set():
            n += 1
            close_old_connections()  # what request_started does
            started = time.monotonic()
            try:
                ack = raise_one(n, started)
            except Exception as exc:  # refused: the database was not there
                self.refusals.append((time.monotonic(), type(exc).__name__))
            else:
                self.acks.append(ack)
            close_old_connections()  # what request_finished does
            time.sleep(self.pause)
        connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def raise_one(n: int, started: float | None = None) -> Ack:
    from backend.concerns.models import IdentityMode
    from backend.concerns.services.intake import ConcernDraft, concern_raise
    from backend.organisations.models import Organisation

    started = time.monotonic() if started is None else started
    anonymous = n % 2 == 0
    draft = ConcernDraft(
        unit=Organisation.objects.get(code=UNITS[n % len(UNITS)]),
        raiser_kind="staff",
        identity_mode=IdentityMode.ANONYMOUS if anonymous else IdentityMode.CONFIDENTIAL,
        themes=["patient_safety"],
        what_happened=f"Night shift on the ward was short of two nurses again; drill concern {n}.",
        raiser_name="" if anonymous else "Drill Raiser",
    )
    raised = concern_raise(draft=draft)
    return Ack(raised.concern.reference, raised.receipt, started, time.monotonic())


def raise_many(count: int) -> list[Ack]:
    return [raise_one(n) for n in range(count)]


# --- checks, through PgBouncer to whichever node Candour is on -----------------------------------


def references_held() -> set[str]:
    from django.db import close_old_connections

    from backend.concerns.models import Concern

    close_old_connections()
    return set(Concern.objects.values_list("reference", flat=True))


def acks_missing(acks: list[Ack]) -> list[Ack]:
    """Acknowledged concerns the database does not hold whole: the reference, the receipt opening
    it, and its first audit Event (raised)."""
    from backend.concerns.models import Concern, Event
    from backend.concerns.services.raiser import concern_for_receipt
    from workflows.engine.vocabulary import EventKind

    held = references_held()
    missing = []
    for ack in acks:
        if ack.reference not in held:
            missing.append(ack)
            continue
        concern = concern_for_receipt(code=ack.receipt)
        raised = Event.objects.filter(concern=concern, seq=1, kind=EventKind.RAISED).exists()
        if not isinstance(concern, Concern) or concern.reference != ack.reference or not raised:
            missing.append(ack)
    return missing


def audit_chains() -> str:
    """manage.py audit_verify, as the operator runs it: every concern's chain, first broken link."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    try:
        call_command("audit_verify", stdout=out)
    except CommandError as exc:
        return f"BROKEN: {exc}"
    return out.getvalue().strip().splitlines()[0]


def closed() -> None:
    from django.conf import settings
    from django.db import connections

    if settings.configured:
        connections.close_all()


# --- the report --------------------------------------------------------------------------------


@dataclass
class Report:
    rows: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    median_raise_ms: float = float("nan")

    def add(self, what: str, value: str) -> None:
        self.rows.append((what, value))
        print(f"  {what}: {value}", flush=True)

    def check(self, ok: bool, what: str) -> None:
        print(f"  {'ok' if ok else 'FAILED'}: {what}", flush=True)
        if not ok:
            self.failures.append(what)


def normal_gap(raiser: Raiser, until: float) -> float:
    before = [a.at - a.started for a in raiser.acks[1:] if a.at < until]  # the first warms up
    return sorted(before)[len(before) // 2] if before else float("nan")


def with_raiser(name: str, during: float, acks: int = 10) -> Raiser:
    """A raiser started, and given ``during`` seconds and at least ``acks`` raises before the step."""
    raiser = Raiser(name)
    raiser.start()
    time.sleep(during)
    deadline = time.monotonic() + 60
    while len(raiser.acks) < acks and time.monotonic() < deadline:
        time.sleep(0.05)
    return raiser


def wait_until_acked_after(raiser: Raiser, since: float, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(a.started >= since for a in raiser.acks) and (
            not raiser.refusals or any(a.started > raiser.refusals[-1][0] for a in raiser.acks)
        ):
            return
        time.sleep(0.02)
    raise RuntimeError("Candour did not raise again after the switch")


def wait_streaming(primary: Node, standby: Node, *, sync: bool = False) -> None:
    want = "sync" if sync else "async"
    for _ in range(600):
        rows = primary.sql(
            f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{standby.name}' "
            "AND state = 'streaming'"
        )
        if rows and rows[0][0] == want:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{standby.name} is not streaming ({want}) from {primary.name}")


def checkpoint_lsn(node: Node) -> str:
    out = subprocess.run(as_postgres([PGBIN / "pg_controldata", node.data]), capture_output=True, text=True).stdout
    return next(
        line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Latest checkpoint location")
    )


# --- the scenarios -----------------------------------------------------------------------------


def switchover(site: Site, primary: Node, standby: Node, report: Report) -> None:
    print(f"== switchover: {primary.name} -> {standby.name} (PAUSE, clean stop, promote, repoint, RESUME)")
    raiser = with_raiser("switchover", 2.0)
    t0 = time.monotonic()
    site.bouncer.admin("PAUSE candour")
    paused = time.monotonic()
    primary.stop("fast")
    final = checkpoint_lsn(primary)
    while not standby.one(f"SELECT pg_last_wal_replay_lsn() >= '{final}'::pg_lsn"):
        time.sleep(0.01)
    standby.promote()
    standby.wait_writable()
    site.bouncer.repoint(standby)
    site.bouncer.admin("RESUME candour")
    t1 = time.monotonic()
    wait_until_acked_after(raiser, t1)
    time.sleep(2.0)
    raiser.stop()
    before = [a for a in raiser.acks if a.at < t0]
    missing = acks_missing(raiser.acks)
    longest = max(a.at - a.started for a in raiser.acks)
    report.median_raise_ms = normal_gap(raiser, t0) * 1000
    report.add("Switchover: writes paused (PAUSE to RESUME)", f"{t1 - t0:.2f} s (PAUSE itself {paused - t0:.2f} s)")
    report.add(
        "Switchover: longest a raise waited", f"{longest:.2f} s (median before: {report.median_raise_ms:.0f} ms)"
    )
    report.add("Switchover: raises refused", str(len([t for t, _ in raiser.refusals if t >= t0])))
    report.add(
        "Switchover: acknowledged before / after / missing",
        f"{len(before)} / {len(raiser.acks) - len(before)} / {len(missing)}",
    )
    report.check(
        not missing and bool(before),
        "every concern acknowledged before the switchover is held after it, receipt and audit Event",
    )
    report.check(not raiser.refusals, "no raise was refused during the switchover (PgBouncer held them)")


def rejoin(site: Site, old: Node, primary: Node) -> None:
    """The cleanly stopped old primary follows the new one: its last checkpoint is behind the new
    timeline's start, so it needs no rewind: standby.signal and a primary_conninfo."""
    old.conf_add({"primary_conninfo": f"{primary.conninfo} application_name={old.name}"})
    run(["touch", old.data / "standby.signal"])
    old.start()
    wait_streaming(primary, old)


def failover(site: Site, primary: Node, standby: Node, report: Report, *, sync: bool) -> None:
    mode = "synchronous" if sync else "asynchronous"
    print(f"== failover ({mode}): {primary.name} killed, {standby.name} promoted")
    if sync:
        primary.sql(f"ALTER SYSTEM SET synchronous_standby_names = '{standby.name}'", "postgres")
        primary.sql("SELECT pg_reload_conf()", "postgres")
    wait_streaming(primary, standby, sync=sync)
    raiser = with_raiser(f"failover-{mode}", 2.0)
    t0 = time.monotonic()
    primary.kill()
    killed = time.monotonic()
    standby.promote()
    standby.wait_writable()
    promoted = time.monotonic()
    # Raises held in PgBouncer since the kill go to the new primary at its next login attempt
    # (server_login_retry, 1 s in infra/pgbouncer/pgbouncer.ini; its default 15 s cost 15 s here).
    site.bouncer.repoint(standby)
    wait_until_acked_after(raiser, promoted)
    t1 = min(a.at for a in raiser.acks if a.started >= promoted)
    time.sleep(2.0)
    raiser.stop()
    before = [a for a in raiser.acks if a.at < t0]
    missing = acks_missing(raiser.acks)
    label = f"Failover ({mode})"
    report.add(
        f"{label}: kill to the first raise acknowledged again (RTO)",
        f"{t1 - t0:.2f} s (promote {promoted - killed:.2f} s; detection not included)",
    )
    report.add(f"{label}: raises refused (in flight at the kill)", str(len([t for t, _ in raiser.refusals if t >= t0])))
    report.add(f"{label}: acknowledged before the kill / lost (RPO)", f"{len(before)} / {len(missing)}")
    if sync:
        report.check(not missing, "synchronous: no acknowledged concern lost when the primary died")
    else:
        report.check(True, f"asynchronous: {len(missing)} acknowledged concerns lost (committed, not yet streamed)")


def rewind(site: Site, dead: Node, primary: Node) -> float:
    """The killed node back as a replica: pg_rewind (data checksums on) takes back what it wrote
    past the fork, then it streams from the new primary."""
    started = time.monotonic()
    # A freshly promoted source's control file names its new timeline only after a checkpoint; before
    # it, pg_rewind reads the old one and the rewound node refuses to start (pg_rewind's manual).
    primary.sql("CHECKPOINT")
    run(
        [
            PGBIN / "pg_rewind",
            f"--target-pgdata={dead.data}",
            f"--source-server=host=127.0.0.1 port={primary.port} user=postgres dbname=postgres",
            "--write-recovery-conf",
        ]
    )
    dead.conf_add({"primary_conninfo": f"{primary.conninfo} application_name={dead.name}"})
    dead.start()
    wait_streaming(primary, dead)
    return time.monotonic() - started


def wait_archived(node: Node, timeout: float) -> float:
    """Wait for the segment holding everything written so far to reach the archive (at most
    archive_timeout, with nothing forcing it). Seconds waited."""
    segment = str(node.one("SELECT pg_walfile_name(pg_current_wal_lsn())"))
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        last = node.one("SELECT last_archived_wal FROM pg_stat_archiver")
        if last is not None and str(last)[:24] >= segment and not str(last).endswith(".partial"):
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"segment {segment} was not archived within {timeout:.0f} s")


def pitr(site: Site, primary: Node, report: Report) -> None:
    print(f"== point-in-time recovery: base backup of {primary.name}, raises, target, raises, destroy, restore")
    backup = site.backups / "base"
    started = time.monotonic()
    site.base_backup(primary, backup)
    run([PGBIN / "pg_verifybackup", "-n", backup])
    report.add(
        "PITR: base backup (pg_basebackup -X stream -c fast, then pg_verifybackup)",
        f"{time.monotonic() - started:.2f} s",
    )
    a = raise_many(20)
    time.sleep(1.0)
    held_at_target = references_held()
    target = primary.one("SELECT clock_timestamp()")
    assert isinstance(target, datetime)
    time.sleep(1.0)
    b = raise_many(20)
    waited = wait_archived(primary, site.archive_timeout * 3 + 10)
    c = raise_many(10)
    closed()
    lost_at = time.monotonic()
    primary.destroy()
    report.add(
        "PITR: waited for the segment after the target to be archived",
        f"{waited:.1f} s (archive_timeout {site.archive_timeout} s)",
    )

    # The disk lost: everything the archive holds, nothing more.
    t0 = time.monotonic()
    latest = site.restore(backup, "restored-latest", {"recovery_target_timeline": "latest", "archive_mode": "off"})
    latest.wait_writable()
    replayed = time.monotonic() - t0
    site.bouncer.repoint(latest)
    held = references_held()
    lost_c = [x for x in c if x.reference not in held]
    report.add("PITR to the end of the archive: restore + replay until writable", f"{replayed:.2f} s")
    window = lost_at - min((x.started for x in lost_c), default=lost_at)
    report.add(
        "PITR to the end of the archive: acknowledged concerns lost (RPO; at most archive_timeout of commits)",
        f"{len(lost_c)} of the {len(c)} raised after the last archived segment: the last {window:.1f} s",
    )
    report.check(
        held_at_target <= held and {x.reference for x in b} <= held,
        "restore to the end of the archive holds everything raised before the last archived segment",
    )
    closed()
    latest.stop("fast")

    # A bad change at a known time: back to the moment before it.
    t0 = time.monotonic()
    restored = site.restore(
        backup,
        "restored-target",
        {"recovery_target_time": target.isoformat(), "recovery_target_timeline": "latest"},
    )
    restored.wait_writable()
    replayed = time.monotonic() - t0
    site.bouncer.repoint(restored)
    again = raise_one(0)
    back = time.monotonic() - t0
    held = references_held() - {again.reference}
    report.add(
        "PITR to a time: restore + replay until writable (RTO)",
        f"{replayed:.2f} s; Candour raising again after {back:.2f} s",
    )
    report.check(held == held_at_target, f"exactly the {len(held_at_target)} concerns held at the target time are back")
    report.check(not (held & {x.reference for x in b + c}), "none raised after the target time")
    report.check({x.reference for x in a} <= held, "every concern raised just before the target is back")
    chains = audit_chains()
    report.add("PITR: manage.py audit_verify on the restored server", chains)
    report.check(chains.startswith("audit chain intact"), "every audit chain verifies after the restore")


# --- main --------------------------------------------------------------------------------------


def django_up(url: str, var_dir: Path) -> None:
    os.environ.update(
        DATABASE_URL=url,
        DATABASE_TRANSACTION_POOLING="1",
        DJANGO_SETTINGS_MODULE="backend.config.settings.local",
        CANDOUR_VAR_DIR=str(var_dir),
    )
    for name in ("CELERY_BROKER_URL", "REDIS_URL", "SENTRY_DSN"):
        os.environ.pop(name, None)  # the filesystem broker under the drill's folder; nothing sent out
    import django

    django.setup()
    from django.core.management import call_command

    logging.getLogger("backend").setLevel(logging.WARNING)  # a line per raise would bury the figures
    logging.getLogger("kombu").setLevel(logging.ERROR)
    call_command("migrate", verbosity=0, interactive=False)
    call_command("demo_seed", stdout=io.StringIO())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: a new temporary folder)")
    parser.add_argument("--archive-timeout", type=int, default=30, help="seconds (the drill's; production 60)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite BENCHMARKS.md")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="candour-drill-"))
    root.mkdir(parents=True, exist_ok=True)
    site = Site(root=root, archive_timeout=args.archive_timeout)
    report = Report()
    began = time.monotonic()
    try:
        print(f"== building in {root}: primary a, replica b, PgBouncer, Candour migrated")
        a = site.primary_init("a")
        b = site.replica_of(a, "b")
        site.bouncer.start(a)
        django_up(site.bouncer.database_url, root / "var")
        closed()
        switchover(site, a, b, report)
        rejoin(site, a, b)
        failover(site, b, a, report, sync=False)
        report.add("pg_rewind of the killed primary until it streams again", f"{rewind(site, b, a):.2f} s")
        failover(site, a, b, report, sync=True)
        chains = audit_chains()
        report.add("After the switchover and failovers: manage.py audit_verify", chains)
        report.check(chains.startswith("audit chain intact"), "every audit chain verifies after the failovers")
        pitr(site, b, report)
    finally:
        closed()
        site.stop_all()
    print(f"== drill finished in {time.monotonic() - began:.0f} s; {len(report.failures)} checks failed")
    if not args.no_write:
        write_section(report, args.archive_timeout)
    return 1 if report.failures else 0


def write_section(report: Report, archive_timeout: int) -> None:
    from tests.bench.common import machine, section_write

    lines = [
        f"From `make drill-db` (tests/drill/pg_failover.py): {machine()}. One primary, one streaming replica, "
        f"PgBouncer (transaction pooling) in front, fsync on, archive_timeout {archive_timeout} s; Candour "
        f"raising through concern_raise throughout (median raise {report.median_raise_ms:.0f} ms; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, shared). A small database: replay time grows "
        "with the WAL written since the base backup.",
        "",
        "| Step | Figure |",
        "|---|---|",
        *(f"| {what} | {value} |" for what, value in report.rows),
        "",
        "Checks: " + ("all passed." if not report.failures else "FAILED: " + "; ".join(report.failures)),
    ]
    section_write("Database failover and recovery", "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
