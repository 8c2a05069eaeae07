"""PostgreSQL nodes, their WAL archive and PgBouncer in front, on 127.0.0.1, for the failover drill.

No Django here: the drill (tests/drill/pg_failover.py) drives Candour; this module starts, stops,
copies and promotes the database servers beneath it, as an operator would with the same binaries.
The servers and PgBouncer run as the postgres user (both refuse root); when the drill runs as root
they are started through runuser, as infra/scripts/services.sh does.

Backups are pg_basebackup plus archive_command, not pgBackRest: Candour's database is small (rows of
words, not blobs), the binaries already come with PostgreSQL, and every step of a restore is a plain
file copy an operator can read. pgBackRest earns its place when base backups get big enough to need
incremental or parallel backups, or when the archive lives in an object store; the runbook says so.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
PGBOUNCER_INI = ROOT / "infra" / "pgbouncer" / "pgbouncer.ini"
PGBIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
DATABASE = "candour"
# PgBouncer authenticates Candour with SCRAM, as in production; the servers behind it trust 127.0.0.1.
USER, PASSWORD = "postgres", "drill-only-password"


def as_postgres(argv: Sequence[str | Path]) -> list[str]:
    words = [str(a) for a in argv]
    return ["runuser", "-u", "postgres", "--", *words] if os.geteuid() == 0 else words


def run(argv: Sequence[str | Path], *, log: Path | None = None) -> None:
    """Run a command as the postgres user; on failure show what it said."""
    done = subprocess.run(as_postgres(argv), capture_output=True, text=True)
    if log is not None:
        with open(log, "a") as fh:
            fh.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed: {done.stdout}{done.stderr}")


def free_port() -> int:
    """A free port below 32768: a node keeps its port across restarts, and above 32768 the kernel may
    hand it out meanwhile as the source port of an outgoing connection (services.sh uses 20000-28000)."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(28000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 28000 and 32000")


def owned_by_postgres(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    return path


def archive_command(archive: Path) -> str:
    """Never overwrite a segment already archived (a second server on the same timeline would be a
    mistake to surface, not hide), and make the copy durable and whole before it gets its name: a
    crash mid-copy leaves a .part file, never a short segment that restore would trust."""
    a = str(archive)
    return f"test ! -f '{a}/%f' && cp %p '{a}/%f.part' && sync '{a}/%f.part' && mv '{a}/%f.part' '{a}/%f'"


@dataclass
class Node:
    """One PostgreSQL server: its data directory and port."""

    name: str
    data: Path
    port: int
    sockets: Path

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={DATABASE}"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets}"
        try:
            run([PGBIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "600", "-o", options, "start"])
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.name}'s log ends:\n{self.log.read_text()[-3000:]}") from None

    def stop(self, mode: str = "fast") -> None:
        run([PGBIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"])

    def kill(self) -> None:
        """The server gone at once, as when its machine dies: SIGKILL to the postmaster. Its
        children notice the postmaster has gone and exit; nothing is flushed or sent on the way."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        for _ in range(200):
            if not self.running():
                return
            time.sleep(0.05)

    def running(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def promote(self) -> None:
        run([PGBIN / "pg_ctl", "-D", self.data, "-w", "promote"])

    def sql(self, query: str, dbname: str = DATABASE) -> list[tuple[object, ...]]:
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={USER} dbname={dbname}", autocommit=True, connect_timeout=5
        ) as conn:
            cur = conn.execute(query)
            return list(cur.fetchall()) if cur.description else []

    def one(self, query: str) -> object:
        return self.sql(query)[0][0]

    def in_recovery(self) -> bool:
        return bool(self.one("SELECT pg_is_in_recovery()"))

    def wait_writable(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not self.in_recovery():
                    return
            except psycopg.OperationalError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not leave recovery")

    def destroy(self) -> None:
        """The data directory lost: the server stopped dead, then its files deleted."""
        if self.running():
            self.kill()
        shutil.rmtree(self.data)

    def conf_add(self, settings: dict[str, str], *, auto: bool = True) -> None:
        """Settings appended to postgresql.auto.conf (or postgresql.conf): later lines win."""
        name = "postgresql.auto.conf" if auto else "postgresql.conf"
        quoted = {key: value.replace("'", "''") for key, value in settings.items()}
        lines = "".join(f"{key} = '{value}'\n" for key, value in quoted.items())
        with open(self.data / name, "a") as fh:
            fh.write(lines)


@dataclass
class Site:
    """Everything the drill starts, under one folder: nodes, the WAL archive, base backups, PgBouncer."""

    root: Path
    archive_timeout: int
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.chmod(0o755)  # the postgres user must reach the folders inside
        self.archive = owned_by_postgres(self.root / "archive")
        self.sockets = owned_by_postgres(self.root / "sock")
        self.backups = owned_by_postgres(self.root / "backups")
        self.bouncer = PgBouncer(owned_by_postgres(self.root / "pgbouncer"))

    def node(self, name: str) -> Node:
        node = Node(name=name, data=self.root / "nodes" / name, port=free_port(), sockets=self.sockets)
        owned_by_postgres(node.data.parent)
        self.nodes.append(node)
        return node

    def primary_init(self, name: str) -> Node:
        """A new cluster, durable (fsync and synchronous commit on, as production), with data checksums
        (so pg_rewind can bring an old primary back) and every segment archived."""
        node = self.node(name)
        run(
            [
                PGBIN / "initdb",
                "-D",
                node.data,
                "-U",
                USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--data-checksums",
            ],
            log=self.root / "initdb.log",
        )
        node.conf_add(
            {
                "listen_addresses": "127.0.0.1",
                "max_connections": "100",
                "fsync": "on",
                "synchronous_commit": "on",
                "full_page_writes": "on",
                "wal_level": "replica",
                "max_wal_senders": "10",
                "wal_keep_size": "256MB",
                "hot_standby": "on",
                # A replica whose primary has gone retries the connection this often, and a promotion
                # asked for meanwhile waited out the interval: the default 5 s showed in the failover.
                "wal_retrieve_retry_interval": "1s",
                "archive_mode": "on",
                "archive_command": archive_command(self.archive),
                "archive_timeout": f"{self.archive_timeout}s",
                "log_line_prefix": "%m [%p] ",
            },
            auto=False,  # in postgresql.conf, so base backups and replicas carry them
        )
        node.start()
        run([PGBIN / "createdb", "-h", "127.0.0.1", "-p", str(node.port), "-U", USER, DATABASE])
        return node

    def replica_of(self, primary: Node, name: str) -> Node:
        """A streaming replica: pg_basebackup -R writes standby.signal and primary_conninfo."""
        node = self.node(name)
        self.base_backup(primary, node.data, replica=True)
        node.conf_add({"primary_conninfo": f"{primary.conninfo} application_name={name}"})
        node.start()
        return node

    def base_backup(self, source: Node, target: Path, *, replica: bool = False) -> None:
        argv: list[str | Path] = [PGBIN / "pg_basebackup", "-h", "127.0.0.1", "-p", str(source.port), "-U", USER]
        argv += ["-D", target, "-X", "stream", "-c", "fast", *(["-R"] if replica else [])]
        run(argv)

    def restore(self, backup: Path, name: str, settings: dict[str, str]) -> Node:
        """A new node from a base backup, recovering from the archive with ``settings`` (a target, or
        none: to the end of the archive), promoted when recovery ends."""
        node = self.node(name)
        run(["cp", "-a", backup, node.data])
        (node.data / "standby.signal").unlink(missing_ok=True)
        run(["touch", node.data / "recovery.signal"])
        node.conf_add(
            {
                "restore_command": f"cp '{self.archive}/%f' '%p'",
                "recovery_target_action": "promote",
                **settings,
            }
        )
        node.start()
        return node

    def stop_all(self) -> None:
        self.bouncer.stop()
        for node in self.nodes:
            if node.data.exists() and (node.data / "postmaster.pid").exists():
                with contextlib.suppress(RuntimeError):  # already gone
                    node.stop("immediate")


class PgBouncer:
    """PgBouncer from infra/pgbouncer/pgbouncer.ini (transaction pooling and its pool sizes as in
    production), listening on 127.0.0.1 with a drill-only user list, its [databases] line naming the
    node Candour writes to."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.ini = root / "pgbouncer.ini"
        self.pidfile = root / "pgbouncer.pid"

    @property
    def database_url(self) -> str:
        return f"postgres://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def configure(self, node: Node) -> None:
        config = configparser.ConfigParser(interpolation=None)
        config.read(PGBOUNCER_INI)
        config["databases"] = {DATABASE: f"host=127.0.0.1 port={node.port} dbname={DATABASE}"}
        site = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "auth_file": str(self.root / "userlist.txt"),
            "admin_users": USER,
            "logfile": str(self.root / "pgbouncer.log"),
            "pidfile": str(self.pidfile),
        }
        config["pgbouncer"].update(site)
        (self.root / "userlist.txt").write_text(f'"{USER}" "{PASSWORD}"\n')
        part = self.ini.with_suffix(".part")
        with open(part, "w") as fh:
            fh.write(
                f"; Written by tests/drill from {PGBOUNCER_INI.relative_to(ROOT)}: Candour writes to {node.name}.\n"
            )
            config.write(fh)
        part.replace(self.ini)  # a reload never reads half a file
        for path in (self.ini, self.root / "userlist.txt"):
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")

    def start(self, node: Node) -> None:
        self.configure(node)
        run(["/usr/sbin/pgbouncer", "-d", self.ini])
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("PgBouncer did not start: " + (self.root / "pgbouncer.log").read_text()[-2000:])

    def admin(self, command: str) -> None:
        """One command on PgBouncer's admin console (simple query protocol, so psql)."""
        done = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", "pgbouncer", "-c", command],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": PASSWORD},
        )
        if done.returncode != 0:
            raise RuntimeError(f"PgBouncer {command}: {done.stderr}")

    def repoint(self, node: Node) -> None:
        """Rewrite the [databases] line and RELOAD: server connections to the old node are closed as
        they are released, and new ones go to ``node``."""
        self.configure(node)
        self.admin("RELOAD")

    def stop(self) -> None:
        if self.pidfile.exists():
            try:
                pid = int(self.pidfile.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except (ProcessLookupError, ValueError):
                pass
