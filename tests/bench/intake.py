"""Intake benchmark: raising a concern through gunicorn on PostgreSQL, beside a bare DRF create.

Run by `make bench` (infra/scripts/bench.sh), which starts throwaway durable PostgreSQL and Redis,
migrates and seeds the demo data with DJANGO_SETTINGS_MODULE=tests.bench.settings, then runs this.

One gunicorn serves every side in the same run:
  raise  POST /api/v1/concerns/raise/  everything concern_raise does: validation, encryption, the
         concern, its receipt, its first Event (hash chain), its clocks, its figures and the
         guardians' new-concern notices (outbox rows, sent after commit), in one statement; the
         repeat detector runs later in the beat's arrival sweep, which has no worker here
  bare   POST /bench/bare/             a plain DRF ModelSerializer + CreateAPIView of a row with the
         same fields (tests/bench/bare: bench settings only, never in production)
  same-rows  POST /bench/bare-same-rows/  the same serializer's checks, then the rows a raise writes
         (one concern, one receipt, one Event, three clocks, two notices, one figure delta) in one
         statement into copies of those tables, with nothing encrypted, keyed, looked up or checked
         (tests/bench/bare/same_rows.py)
All get the same request bodies (tests/bench/bodies.py) and the same middleware. raise/bare is what
the goals are about; raise/same-rows says how much of a raise is the rows it writes and how much the
work around them.

Closed loop: wrk at each concurrency, the sides interleaved bare, same-rows, raise, raise, same-rows,
bare so that drift (a busier machine, growing tables) falls on all alike; each side's two runs are
merged from wrk's full latency histograms. Open loop: tests/bench/steady.py at a fixed rate, latency
measured from when each request was due. Goals (from the issue): raise throughput >= 0.8x bare and
raise p99 <= 1.25x bare p99 at each concurrency; raise p99 <= 50 ms at a steady 50 requests a second.

Prints a table and writes the "## Intake" section of BENCHMARKS.md (other sections are kept).
Exits non-zero if any request failed or the server would not start; a missed goal is reported as
NOT MET, not as a failure. Not collected by pytest (no test_ prefix). Never a timed assertion.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.bodies import write_bodies
from tests.bench.common import BENCHMARKS, section_write

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LUA = Path(__file__).with_name("post.lua")
SIDES = {"bare": "/bench/bare/", "same-rows": "/bench/bare-same-rows/", "raise": "/api/v1/concerns/raise/"}
# Each round runs every side early and late alike; the report lists them in this order.
ROUND = ("bare", "same-rows", "raise", "raise", "same-rows", "bare")
REPORTED = ("raise", "same-rows", "bare")
# Apps whose rows a raise writes (the bare side's rows are counted apart); the demo's units.
WRITTEN = ("concerns", "oversight", "notifications")
UNITS = 4
GOAL_THROUGHPUT = 0.8
GOAL_P99 = 1.25
GOAL_STEADY_P99_MS = 50.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- processes and /proc -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def status_kib(pid: int, key: str) -> int:
    """A 'kB' line of /proc/PID/status (VmHWM is the process's peak RSS), or 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def machine_busy_ticks() -> int:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle


class MemorySampler:
    """Polls the gunicorn master and its workers; keeps each process's VmHWM (peak RSS, in KiB)."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def pids(self) -> list[int]:
        return [self.master, *children(self.master)]

    def sample(self) -> None:
        for pid in self.pids():
            hwm = status_kib(pid, "VmHWM")
            if hwm:
                self.peak[pid] = max(self.peak.get(pid, 0), hwm)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


class CpuMeter:
    """How much CPU the server side (gunicorn, PostgreSQL, Redis) and everything else on the machine
    used over a stretch: on a shared 2-core machine the rest is other people's work."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots

    def _ours(self) -> dict[int, int]:
        pids: list[int] = []
        for root in self.roots:
            pids += [root, *children(root)]
        return {pid: cpu_ticks(pid) for pid in pids}

    def begin(self) -> tuple[float, int, dict[int, int]]:
        return time.monotonic(), machine_busy_ticks(), self._ours()

    def end(self, mark: tuple[float, int, dict[int, int]], loadgen_seconds: float) -> dict[str, float]:
        t0, busy0, ours0 = mark
        seconds = time.monotonic() - t0
        busy = (machine_busy_ticks() - busy0) / CLK_TCK
        server = sum(ticks - ours0.get(pid, 0) for pid, ticks in self._ours().items()) / CLK_TCK
        other = max(0.0, busy - server - loadgen_seconds)
        cores = os.cpu_count() or 1
        return {
            "server_seconds": server,
            "server_cores": server / seconds,
            "loadgen_cores": loadgen_seconds / seconds,
            "other_cores": other / seconds,
            "machine_busy": busy / seconds / cores,
        }


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[int, str, float, float]:
    """Run a load generator; return its exit code, output, peak RSS (MiB) and CPU seconds."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


# --- results ---------------------------------------------------------------------------------------


def percentile_us(hist: Counter[int], pct: float) -> int:
    total = sum(hist.values())
    rank = max(1, -(-total * pct // 100))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return 0


@dataclass
class Closed:
    """One side at one concurrency, merged over its runs."""

    requests: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    hist: Counter[int] = field(default_factory=Counter)
    runs: list[float] = field(default_factory=list)  # req/s of each run
    loadgen_rss_mib: float = 0.0
    server_cpu_seconds: float = 0.0  # gunicorn + PostgreSQL + Redis over these runs

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request: unlike req/s, hardly moved by what else the machine is doing."""
        return self.server_cpu_seconds / self.requests * 1000 if self.requests else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def p(self, pct: float) -> float:
        return percentile_us(self.hist, pct) / 1000


@dataclass
class Bench:
    args: argparse.Namespace
    env: dict[str, str]
    base: str
    bodies: Path
    log: list[str] = field(default_factory=list)
    closed: dict[tuple[str, int], Closed] = field(default_factory=dict)
    steady: dict[str, dict] = field(default_factory=dict)
    steady_rss_mib: float = 0.0
    cpu: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    wrk_rss_mib: float = 0.0

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.append(text)

    def wrk(self, side: str, concurrency: int, seconds: float) -> dict:
        cmd = ["wrk", "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", f"{seconds:g}s"]
        cmd += ["--timeout", "10s", "--latency", "-s", str(LUA), self.base + SIDES[side]]
        code, out, rss, cpu = run_child(cmd, {**os.environ, "BENCH_BODIES": str(self.bodies)})
        self.wrk_rss_mib = max(self.wrk_rss_mib, rss)
        line = next((ln for ln in out.splitlines() if ln.startswith("BENCHJSON ")), None)
        if code != 0 or line is None:
            raise RuntimeError(f"wrk failed ({code}):\n{out}")
        result = json.loads(line.removeprefix("BENCHJSON "))
        result["rss_mib"], result["cpu_seconds"] = rss, cpu
        return result


def post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited while starting")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout:g}s")


def measure(b: Bench, meter: CpuMeter) -> None:
    a = b.args
    b.say(f"warm-up: {a.warmup:g}s per side at concurrency 8, again while any request took over 2 s")
    for side in SIDES:
        # A worker's first requests import and set up what the app loads lazily (over a second for the
        # first raise on a busy machine): every worker must be past that before anything is measured.
        for _ in range(4):
            r = b.wrk(side, 8, a.warmup)
            if r["requests"] and max(_pairs(r["hist"]), default=0) < 2_000_000:
                break
    for concurrency in a.concurrency:
        # bare, same-rows, raise, raise, same-rows, bare (times --rounds): each side early and late alike.
        for side in ROUND * a.rounds:
            time.sleep(1)
            mark = meter.begin()
            r = b.wrk(side, concurrency, a.seconds / (2 * a.rounds))
            cpu = meter.end(mark, r["cpu_seconds"])
            b.cpu.setdefault(f"{side} c{concurrency}", []).append(cpu)
            agg = b.closed.setdefault((side, concurrency), Closed())
            agg.server_cpu_seconds += cpu["server_seconds"]
            secs = r["duration_us"] / 1e6
            agg.requests += r["requests"]
            agg.seconds += secs
            agg.runs.append(r["requests"] / secs)
            agg.errors.update({k: r[k] for k in ("connect", "read", "write", "status", "timeout") if r[k]})
            agg.loadgen_rss_mib = max(agg.loadgen_rss_mib, r["rss_mib"])
            hist = Counter(_pairs(r["hist"]))
            agg.hist.update(hist)
            b.say(
                f"  {side:9} c={concurrency:<3} {r['requests'] / secs:7.1f} req/s"
                f"  p50 {percentile_us(hist, 50) / 1000:6.1f} ms  p99 {percentile_us(hist, 99) / 1000:6.1f} ms"
            )
    for side in REPORTED:
        time.sleep(1)
        mark = meter.begin()
        cmd = [sys.executable, "-m", "tests.bench.steady", "--url", b.base + SIDES[side], "--bodies", str(b.bodies)]
        cmd += ["--rate", f"{a.steady_rate:g}", "--seconds", f"{a.steady_seconds:g}", "--give-up", "10"]
        code, out, rss, cpu = run_child(cmd, {**os.environ, "PYTHONPATH": str(ROOT)})
        b.cpu.setdefault(f"{side} steady", []).append(meter.end(mark, cpu))
        if code != 0:
            raise RuntimeError(f"steady load failed ({code}):\n{out}")
        b.steady[side] = json.loads(out.strip().splitlines()[-1])
        b.steady_rss_mib = max(b.steady_rss_mib, rss)
        s = b.steady[side]
        b.say(
            f"  {side:9} steady {s['achieved_rate']:5.1f}/s  p50 {ms(s['latency_ms']['50'])} ms"
            f"  p99 {ms(s['latency_ms']['99'])} ms  errors {s['errors']}  not sent (over 10 s late) {s['abandoned']}"
        )


def ms(value: float | None) -> str:
    """A latency for the table; requests given up on count as longer than any measured."""
    if value is None:
        return "-"
    return "> 10000" if value == float("inf") else f"{value:.1f}"


def _pairs(hist: str) -> dict[int, int]:
    return {int(v): int(c) for v, c in (p.split(":") for p in hist.split(",") if p)}


# --- facts and report ------------------------------------------------------------------------------


def facts(env: dict[str, str]) -> dict[str, str]:
    import django
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        pg = row[0] if row else "?"
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.machine(),
    )
    gunicorn = subprocess.run([str(BIN / "gunicorn"), "--version"], capture_output=True, text=True).stdout.strip()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} ({cpu})",
        "python": platform.python_version(),
        "postgresql": f"{pg} (durable: fsync and synchronous_commit on)",
        "django": django.get_version(),
        "gunicorn": gunicorn.replace("gunicorn (version ", "").rstrip(")"),
        "wrk": " ".join(wrk.split()[:2]),
    }


def rows_written(env: dict[str, str]) -> dict[str, int]:
    code = (
        "import json, django; django.setup()\n"
        "from django.apps import apps\n"
        "out = {}\n"
        "for cfg in apps.get_app_configs():\n"
        "    if cfg.name.split('.')[0] in ('backend', 'notifications', 'workflows', 'tests'):\n"
        "        for m in cfg.get_models():\n"
        "            n = m.objects.count()\n"
        "            if n: out[f'{cfg.label}.{m.__name__}'] = n\n"
        "from django.db import connection\n"
        "from tests.bench.bare.same_rows import MODELS, copy_table\n"
        "with connection.cursor() as cursor:\n"
        "    for m in MODELS:\n"
        "        cursor.execute(f'SELECT count(*) FROM {connection.ops.quote_name(copy_table(m))}')\n"
        "        n = cursor.fetchone()[0]\n"
        "        if n: out[f'same-rows.{m.__name__}'] = n\n"
        "print(json.dumps(out))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def report(b: Bench, info: dict[str, str], memory: dict[str, float], rows: dict[str, int]) -> tuple[str, bool]:
    a = b.args
    lines: list[str] = []
    all_met = True
    lines.append(
        f"{info['date']}. {info['cpus']} CPUs; Python {info['python']}, PostgreSQL {info['postgresql']}, "
        f"Django {info['django']}, gunicorn {info['gunicorn']}, {info['wrk']}."
    )
    lines.append("")
    lines.append(
        f"gunicorn `{a.worker_class}` with {a.workers} workers x {a.threads} thread(s), infra/gunicorn.conf.py "
        "(access log on), CONN_MAX_AGE 60; bench settings `tests.bench.settings`. Closed loop: wrk, "
        f"{a.seconds:g} s per side per concurrency in {2 * a.rounds} runs ({', '.join(ROUND)} x {a.rounds}), "
        f"after a "
        f"{a.warmup:g} s warm-up. Open loop: {a.steady_rate:g} requests/s for {a.steady_seconds:g} s, latency "
        "from when each request was due. Load generator and server share the 2 cores."
    )
    lines.append("")
    lines.append(
        "| concurrency | side | req/s | p50 ms | p99 ms | max ms | errors | server CPU ms/request | req/s of each run |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for c in a.concurrency:
        for side in REPORTED:
            r = b.closed[(side, c)]
            runs = ", ".join(f"{x:.0f}" for x in r.runs)
            errs = sum(r.errors.values())
            lines.append(
                f"| {c} | {side} | {r.rps:.0f} | {r.p(50):.1f} | {r.p(99):.1f} | {r.p(100):.1f} | {errs} | "
                f"{r.cpu_ms:.1f} | {runs} |"
            )
    lines.append("")
    lines.append(
        "| concurrency | throughput raise/bare (goal >= 0.80) | p99 raise/bare (goal <= 1.25) "
        "| server CPU per request raise/bare |"
    )
    lines.append("|---|---|---|---|")
    for c in a.concurrency:
        raise_, bare = b.closed[("raise", c)], b.closed[("bare", c)]
        tr = raise_.rps / bare.rps if bare.rps else 0.0
        pr = raise_.p(99) / bare.p(99) if bare.p(99) else float("inf")
        cr = raise_.cpu_ms / bare.cpu_ms if bare.cpu_ms else float("inf")
        all_met &= tr >= GOAL_THROUGHPUT and pr <= GOAL_P99
        lines.append(
            f"| {c} | {tr:.2f} {verdict(tr >= GOAL_THROUGHPUT)} | {pr:.2f} {verdict(pr <= GOAL_P99)} | {cr:.1f}x |"
        )
    lines.append("")
    lines.append(
        "| concurrency | throughput raise/same-rows | p99 raise/same-rows | server CPU per request raise/same-rows "
        "| server CPU per request same-rows/bare |"
    )
    lines.append("|---|---|---|---|---|")
    for c in a.concurrency:
        raise_, same, bare = b.closed[("raise", c)], b.closed[("same-rows", c)], b.closed[("bare", c)]
        tr = raise_.rps / same.rps if same.rps else 0.0
        pr = raise_.p(99) / same.p(99) if same.p(99) else float("inf")
        cr = raise_.cpu_ms / same.cpu_ms if same.cpu_ms else float("inf")
        sr = same.cpu_ms / bare.cpu_ms if bare.cpu_ms else float("inf")
        lines.append(f"| {c} | {tr:.2f} | {pr:.2f} | {cr:.1f}x | {sr:.1f}x |")
    lines.append("")
    lines.append(
        "same-rows writes the rows a raise writes, in one statement, with none of its work (no encryption, "
        "receipt HMAC, hash chain, policy or guardian look-up, reserved key or send after commit; copies of the "
        "tables without foreign keys): raise/same-rows is the price of that work, same-rows/bare the price of "
        "the rows. The goals are on raise/bare."
    )
    lines.append("")
    lines.append(
        f"| steady {a.steady_rate:g}/s | answered/s | p50 ms | p90 ms | p99 ms | max ms | errors "
        "| not sent: over 10 s late |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for side in REPORTED:
        s = b.steady[side]
        q = s["latency_ms"]
        lines.append(
            f"| {side} | {s['achieved_rate']:.1f} | {ms(q['50'])} | {ms(q['90'])} | {ms(q['99'])} | "
            f"{ms(q['max'])} | {s['errors']} | {s['abandoned']} |"
        )
    steady_p99 = b.steady["raise"]["latency_ms"]["99"]
    steady_ok = steady_p99 <= GOAL_STEADY_P99_MS
    all_met &= steady_ok
    lines.append("")
    saturated = b.steady["raise"]["achieved_rate"] < 0.95 * a.steady_rate or b.steady["raise"]["abandoned"]
    lines.append(
        f"Steady raise p99 {ms(steady_p99)} ms against a goal of <= {GOAL_STEADY_P99_MS:g} ms: {verdict(steady_ok)}."
        + (
            f" The server could not keep up with {a.steady_rate:g} raises a second on this run, so the queue grew:"
            " this rate was above saturation here."
            if saturated
            else ""
        )
    )
    lines.append("")
    lines.append(
        f"Peak memory (max RSS, VmHWM): gunicorn master {memory['master']:.0f} MiB; workers max "
        f"{memory['worker_max']:.0f} MiB per process, sum {memory['worker_sum']:.0f} MiB over {memory['workers']:.0f} "
        f"workers (the sum counts pages the workers share once for each). One gunicorn serves every side, so "
        f"this is for all of them. Load generators: wrk {b.wrk_rss_mib:.0f} MiB, steady generator "
        f"{b.steady_rss_mib:.0f} MiB."
    )
    lines.append("")
    cpu_bits = []
    for name, marks in b.cpu.items():
        other = sum(m["other_cores"] for m in marks) / len(marks)
        server = sum(m["server_cores"] for m in marks) / len(marks)
        cpu_bits.append(f"{name} {server:.2f}/{other:.2f}")
    lines.append(
        "CPU in cores, server (gunicorn + PostgreSQL + Redis) / other processes on the machine, per phase: "
        + "; ".join(cpu_bits)
        + f". Load average at start {b.env.get('_LOAD_START', '?')}, at end {os.getloadavg()[0]:.2f}."
    )
    lines.append("")
    lines.append("Rows in the database at the end: " + ", ".join(f"{k} {v}" for k, v in sorted(rows.items())) + ".")
    concerns = rows.get("concerns.Concern", 0)
    if concerns:
        per = [f"{k.split('.')[1]} {v / concerns:.2f}" for k, v in sorted(rows.items()) if k.split(".")[0] in WRITTEN]
        lines.append(
            f"Written per concern raised: {', '.join(per)}. The demo has {UNITS} units, so by the end each held about "
            f"{concerns // UNITS} concerns, all open. Deliveries are the guardians' new-concern notices (in-app "
            "and e-mail); repeat alerts come later from the arrival sweep, which runs in the worker, not here."
        )
    same = rows.get("same-rows.Concern", 0)
    if same:
        per = [f"{k.split('.')[1]} {v / same:.2f}" for k, v in sorted(rows.items()) if k.startswith("same-rows.")]
        lines.append(f"Written per same-rows request: {', '.join(per)}.")
    lines.append("")
    lines.append(f"All goals: {verdict(all_met)}.")
    return "\n".join(lines), all_met


# --- main ------------------------------------------------------------------------------------------


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Intake benchmark (see the module docstring).")
    p.add_argument("--seconds", type=float, default=20, help="per side per concurrency, over all its runs")
    p.add_argument("--rounds", type=int, default=2, help="times to repeat bare, raise, raise, bare")
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[8, 32])
    p.add_argument("--steady-rate", type=float, default=50)
    p.add_argument("--steady-seconds", type=float, default=30)
    # 2 cores: sync workers, one request each, 2 per core. A request spends part of its time waiting on
    # PostgreSQL (round trips, the commit's WAL flush), so more workers than cores keeps the CPUs busy,
    # while PostgreSQL and the load generator need CPU too. Threads add little for Python-bound work.
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--worker-class", default="sync")
    p.add_argument("--run-dir", type=Path, default=Path(os.environ.get("CANDOUR_SERVICES_DIR", "/tmp")))
    p.add_argument("--out", type=Path, default=BENCHMARKS)
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    return p.parse_args()


def main() -> int:
    args = parse()
    if "DATABASE_URL" not in os.environ:
        print("DATABASE_URL is not set: run through `make bench` (infra/scripts/bench.sh)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.bench.settings"}
    os.environ.update(env)
    env["_LOAD_START"] = f"{os.getloadavg()[0]:.2f}"
    run_dir = args.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    bodies = write_bodies(run_dir / "bodies.jsonl")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "gunicorn"), "backend.config.wsgi", "-c", str(ROOT / "infra" / "gunicorn.conf.py")]
    cmd += ["--bind", f"127.0.0.1:{port}", "--workers", str(args.workers), "--threads", str(args.threads)]
    cmd += ["--worker-class", args.worker_class, "--no-control-socket", "--pid", str(run_dir / "gunicorn.pid")]
    (run_dir / "gunicorn.pid").unlink(missing_ok=True)
    gunicorn_log = run_dir / "gunicorn.log"
    with gunicorn_log.open("ab") as log:
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    bench = Bench(args=args, env=env, base=base, bodies=bodies)
    sampler: MemorySampler | None = None
    try:
        wait_up(base + "/healthz", server)
        first = bodies.read_text().splitlines()[0].encode()
        for side, path in SIDES.items():
            status, text = post(base + path, first)
            if status != 201:
                raise RuntimeError(f"{side}: expected 201 from {path}, got {status}: {text[:500]}")
        sampler = MemorySampler(server.pid)
        sampler.start()
        pg_pid = int((Path(env["CANDOUR_SERVICES_DIR"]) / "pg" / "postmaster.pid").read_text().split()[0])
        redis_pid = int((Path(env["CANDOUR_SERVICES_DIR"]) / "redis" / "redis.pid").read_text().split()[0])
        bench.say(f"gunicorn {args.worker_class} x{args.workers} (threads {args.threads}) on {base}")
        measure(bench, CpuMeter([server.pid, pg_pid, redis_pid]))
    finally:
        if sampler:
            sampler.stop()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert sampler is not None
    workers = {pid: kib for pid, kib in sampler.peak.items() if pid != server.pid}
    memory = {
        "master": sampler.peak.get(server.pid, 0) / 1024,
        "worker_max": max(workers.values(), default=0) / 1024,
        "worker_sum": sum(workers.values()) / 1024,
        "workers": float(len(workers)),
    }
    info = facts(env)
    rows = rows_written(env)
    text, _ = report(bench, info, memory, rows)
    print("\n" + text)
    if not args.no_write:
        section_write("Intake", text, path=args.out)
        print(f"\nWrote the Intake section of {args.out}")
    failed = {f"{s} c{c}": dict(r.errors) for (s, c), r in bench.closed.items() if r.errors}
    failed |= {f"{s} steady": {"errors": v["errors"]} for s, v in bench.steady.items() if v["errors"]}
    if failed:
        print(f"Requests failed: {failed}; see {gunicorn_log}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
