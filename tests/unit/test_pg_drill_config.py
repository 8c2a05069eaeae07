"""The database drill's configuration, as the runbook (README, Failover and point-in-time recovery)
gives it: the archive_command never overwrites or half-writes a segment, and the PgBouncer the drill
runs is infra/pgbouncer/pgbouncer.ini with only its site lines changed. `make drill-db` runs the rest."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

from tests.drill.pg_nodes import PGBOUNCER_INI, Node, PgBouncer, archive_command


def _archive(command: str, segment: Path) -> int:
    """Run an archive_command as PostgreSQL would: %p the segment's path, %f its name."""
    shell = command.replace("%p", str(segment)).replace("%f", segment.name)
    return subprocess.run(["sh", "-c", shell], capture_output=True).returncode


def test_archive_command_copies_a_segment_whole_and_never_overwrites_one(tmp_path: Path) -> None:
    archive, wal = tmp_path / "archive", tmp_path / "pg_wal"
    archive.mkdir()
    wal.mkdir()
    segment = wal / "000000010000000000000003"
    segment.write_bytes(b"first" * 1000)
    command = archive_command(archive)

    assert _archive(command, segment) == 0
    assert (archive / segment.name).read_bytes() == b"first" * 1000
    assert sorted(p.name for p in archive.iterdir()) == [segment.name]  # no .part left behind

    # The same name again (a second server on the same timeline): refused, the archived copy kept.
    segment.write_bytes(b"other")
    assert _archive(command, segment) != 0
    assert (archive / segment.name).read_bytes() == b"first" * 1000


def test_drill_pgbouncer_is_the_production_ini_pointed_at_the_node(tmp_path: Path) -> None:
    bouncer = PgBouncer(tmp_path)
    node = Node(name="b", data=tmp_path / "b", port=29123, sockets=tmp_path)
    bouncer.configure(node)
    drill, production = configparser.ConfigParser(interpolation=None), configparser.ConfigParser(interpolation=None)
    drill.read(bouncer.ini)
    production.read(PGBOUNCER_INI)

    assert dict(drill["databases"]) == {"candour": "host=127.0.0.1 port=29123 dbname=candour"}
    site_lines = {"listen_addr", "listen_port", "auth_file", "admin_users", "logfile", "pidfile"}
    kept = {k: v for k, v in drill["pgbouncer"].items() if k not in site_lines}
    assert kept == {k: v for k, v in production["pgbouncer"].items() if k not in site_lines}
    assert kept["pool_mode"] == "transaction"
    # A failover's raises reach the new primary within a second of the repoint, not 15.
    assert kept["server_login_retry"] == "1"
    assert drill["pgbouncer"]["listen_addr"] == "127.0.0.1"
