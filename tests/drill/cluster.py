"""The drill's nodes: each a real process (group) that can be SIGKILLed and started again.

Two gunicorn nodes (infra/gunicorn.conf.py) behind the balancer (tests/drill/balancer.py), three
Celery workers, two beats and PgBouncer in transaction pooling (infra/pgbouncer/pgbouncer.ini's
settings, pointed at the throwaway PostgreSQL), plus the outer edge that is never killed: the
balancer itself and the fake Twilio API. Every node is started in a session of its own, so a kill
takes the whole node (a gunicorn arbiter and its workers, a Celery worker and its pool), as a lost
machine would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Each worker takes two of the three queues, so every queue keeps a consumer while any one worker is
# dead; a queue with a single consumer would wait out each of its kills.
# A worker that takes the texts' queue runs threads, as production's worker-sms does
# (infra/k8s/base/workers.yaml): its tasks wait on Twilio's API.
WORKER_QUEUES = (("celery,clocks", "prefork", 2), ("clocks,sms", "threads", 16), ("sms,celery", "threads", 16))
# How long the fake Twilio takes to answer each API call: the real one is across the internet.
TWILIO_LATENCY_MS = os.environ.get("CANDOUR_DRILL_TWILIO_LATENCY_MS", "200")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Node:
    name: str
    kind: str  # web, worker, beat, pgbouncer; or edge (never killed)
    cmd: list[str]
    env: dict[str, str]
    log: Path
    user: str | None = None
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _fh: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._fh = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=self.user,
        )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL the whole node, and reap it."""
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        if self._fh:
            self._fh.close()

    def terminate(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def reap(self, *, timeout: float) -> None:
        """The end of the drill: wait for the node to go, then SIGKILL what is left of it (a pool child
        mid-task, in its session)."""
        if self.popen is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        if self._fh:
            self._fh.close()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def ready(self) -> bool:
        if self.kind == "web" and self.port is not None:
            # As the balancer judges a node: its readiness probe answers (the first request is slow).
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=60) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False
        return self.port is None or port_open(self.port)


def _pgbouncer_files(folder: Path, *, pg_port: int, port: int) -> Path:
    """A PgBouncer for the throwaway PostgreSQL, with the pooling settings of
    infra/pgbouncer/pgbouncer.ini; trust authentication, as the throwaway server has."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        line.split("=", 1)[0].strip(): line.split("=", 1)[1].strip()
        for line in (ROOT / "infra" / "pgbouncer" / "pgbouncer.ini").read_text().splitlines()
        if "=" in line and not line.startswith((";", "candour"))
    }
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
candour = host=127.0.0.1 port={pg_port} dbname=candour

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "userlist.txt"}
pool_mode = {settings["pool_mode"]}
max_client_conn = {settings["max_client_conn"]}
default_pool_size = {settings["default_pool_size"]}
reserve_pool_size = {settings["reserve_pool_size"]}
server_reset_query =
ignore_startup_parameters = {settings["ignore_startup_parameters"]}
logfile = {folder / "pgbouncer.log"}
"""
    )
    (folder / "userlist.txt").write_text('"postgres" ""\n')
    if os.getuid() == 0:
        # PgBouncer will not run as root; the throwaway PostgreSQL's own user runs it.
        pw = pwd.getpwnam("postgres")
        for path in (folder, ini, folder / "userlist.txt"):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    return ini


@dataclass
class Cluster:
    folder: Path
    pg_port: int
    env: dict[str, str]
    nodes: list[Node] = field(default_factory=list)
    balancer_port: int = 0
    twilio_port: int = 0
    pgbouncer_port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.balancer_port}"

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def stop(self, *, grace: float = 15) -> None:
        """SIGTERM to every node at once, then SIGKILL to whatever is left after ``grace`` seconds."""
        for node in self.nodes:
            node.terminate()
        deadline = time.monotonic() + grace
        for node in self.nodes:
            node.reap(timeout=max(0.1, deadline - time.monotonic()))

    def wait_ready(self, *, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(n.alive() and n.ready() for n in self.nodes):
                return
            dead = [n.name for n in self.nodes if not n.alive()]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while starting (logs in {self.folder})")
            time.sleep(0.3)
        raise RuntimeError(f"the cluster did not start within {timeout:.0f} s (logs in {self.folder})")


def cluster_build(*, folder: Path, pg_port: int, base_env: dict[str, str], smtp_port: int) -> Cluster:
    """Every node's command line and environment; nothing started yet."""
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(folder=folder, pg_port=pg_port, env={})
    cluster.pgbouncer_port, cluster.balancer_port, cluster.twilio_port = free_port(), free_port(), free_port()
    web_ports = [free_port(), free_port()]
    env = {
        **base_env,
        # Every Candour process reaches PostgreSQL through PgBouncer only.
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{cluster.pgbouncer_port}/candour",
        "DATABASE_TRANSACTION_POOLING": "1",
        "DJANGO_SETTINGS_MODULE": "tests.drill.settings",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "CANDOUR_BASE_URL": cluster.base_url,
        "CANDOUR_LOG_LEVEL": "WARNING",
        "TWILIO_ACCOUNT_SID": "ACtest",
        "TWILIO_AUTH_TOKEN": "test-token",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{cluster.twilio_port}",
        "TWILIO_STATUS_CALLBACK": "0",
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_TIMEOUT": "5",
        # The sweeps at drill speed: clocks every 2 s; work a killed worker held is sent again after
        # tens of seconds, not minutes (production: 30 s, and 60 s / 120 s).
        "CANDOUR_SWEEP_SECONDS": os.environ.get("CANDOUR_DRILL_SWEEP_SECONDS", "2"),
        "CANDOUR_REQUEUE_SECONDS": "5",
        "CANDOUR_REQUEUE_AFTER_SECONDS": "30",
        "CANDOUR_SMS_REQUEUE_AFTER_SECONDS": "15",
    }
    cluster.env = env
    ini = _pgbouncer_files(folder / "pgbouncer", pg_port=pg_port, port=cluster.pgbouncer_port)
    pgbouncer = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    cluster.nodes.append(
        Node(
            "pgbouncer",
            "pgbouncer",
            [pgbouncer, str(ini)],
            env,
            logs / "pgbouncer.out",
            user="postgres" if os.getuid() == 0 else None,
            port=cluster.pgbouncer_port,
        )
    )
    cluster.nodes.append(
        Node(
            "fake-twilio",
            "edge",
            [
                *(sys.executable, "-m", "tests.support.fake_twilio", "--port", str(cluster.twilio_port)),
                *("--no-callbacks", "--latency-ms", TWILIO_LATENCY_MS),
            ],
            env,
            logs / "fake-twilio.log",
            port=cluster.twilio_port,
        )
    )
    for i, port in enumerate(web_ports, start=1):
        cmd = [str(BIN / "gunicorn"), "backend.config.wsgi", "-c", str(ROOT / "infra" / "gunicorn.conf.py")]
        # One process of eight threads a node: a restart loads Django once, not once per worker, which
        # on two shared cores is most of what a kill costs.
        cmd += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8"]
        cluster.nodes.append(Node(f"web-{i}", "web", cmd, env, logs / f"web-{i}.log", port=port))
    balancer = [sys.executable, "-m", "tests.drill.balancer", "--listen", f"127.0.0.1:{cluster.balancer_port}"]
    for port in web_ports:
        balancer += ["--backend", f"127.0.0.1:{port}"]
    cluster.nodes.append(Node("balancer", "edge", balancer, env, logs / "balancer.log", port=cluster.balancer_port))
    # Workers and beats at a lower CPU priority, as in tests/bench/bench_webhook.py: on two shared cores
    # the background work (which may lag by seconds) must not starve the web nodes (which answer in
    # milliseconds); deployed, the tiers get cores of their own.
    nice = ["nice", "-n", "10"]
    for i, (queues, pool, concurrency) in enumerate(WORKER_QUEUES, start=1):
        cmd = [*nice, str(BIN / "celery"), "-A", "backend.config", "worker", "--loglevel", "WARNING", "-n", f"w{i}@%h"]
        cmd += ["--concurrency", str(concurrency), "--pool", pool, "--without-mingle", "--without-gossip", "-Q", queues]
        cluster.nodes.append(Node(f"worker-{i}", "worker", cmd, env, logs / f"worker-{i}.log"))
    for i in (1, 2):
        cmd = [*nice, str(BIN / "celery"), "-A", "backend.config", "beat", "--loglevel", "INFO"]
        cmd += ["-s", str(folder / f"beat-{i}-schedule")]
        cluster.nodes.append(Node(f"beat-{i}", "beat", cmd, env, logs / f"beat-{i}.log"))
    return cluster
