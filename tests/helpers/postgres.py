"""A throwaway PostgreSQL server for tests: Debian's binaries, a tmp data dir, 127.0.0.1 only.

The server runs for the test session, as the ``postgres`` OS user when the tests run as root
(``initdb`` refuses root), with ``trust`` authentication, listening only on loopback on a free
port and on a socket inside its own folder; it is stopped and deleted at the end. Each test
takes a database of its own (:meth:`PostgresServer.new_database`), so tests share no rows.

Without PostgreSQL (Debian package ``postgresql``; ``scripts/bootstrap --test`` installs it)
the tests that need it skip, except on CI (``CI=true``), where they fail: CI must really test
PostgreSQL.

Example::

    @pytest.fixture(scope="session")
    def postgres_server() -> Iterator[PostgresServer]:
        with running_postgres() as server:
            yield server

    def test_something(postgres_server: PostgresServer) -> None:
        url = postgres_server.new_database()  # postgresql://postgres@127.0.0.1:PORT/t_...
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

__all__ = ["PostgresServer", "postgres_bin_dir", "running_postgres"]

POSTGRES_ROOT = Path("/usr/lib/postgresql")


@dataclass(frozen=True, slots=True)
class PostgresServer:
    port: int

    @property
    def url(self) -> str:
        """The server's maintenance database, as the superuser ``postgres``."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def new_database(self) -> str:
        """Create an empty database with a fresh name; its URL."""
        name = f"t_{secrets.token_hex(8)}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)


def postgres_bin_dir() -> Path:
    """``/usr/lib/postgresql/<newest>/bin``; skips the test (fails it on CI) when absent."""
    found = [p.parent for p in POSTGRES_ROOT.glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    reason = None
    if not found:
        reason = f"PostgreSQL is not installed: no {POSTGRES_ROOT}/*/bin/initdb"
    elif os.geteuid() == 0 and not _has_user("postgres"):
        reason = "running as root, and there is no 'postgres' user to run PostgreSQL as"
    if reason is not None:
        reason += " (Debian package postgresql; scripts/bootstrap --test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true, so PostgreSQL must be tested", pytrace=False)
        pytest.skip(reason)
    return max(found, key=lambda p: int(p.parent.name))


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a new server in a tmp folder, yield it, then stop it and delete the folder."""
    bin_dir = postgres_bin_dir()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    # Directly in /tmp: pytest's tmp folders are private to root, which postgres cannot enter.
    base = Path(tempfile.mkdtemp(prefix="nix-audit-pg-"))
    data = base / "data"
    if as_root:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)

    def run(*argv: str | Path) -> None:
        cmd = [*prefix, *map(str, argv)]
        done = subprocess.run(cmd, cwd=base, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}{tail}")

    port = _free_port()
    try:
        options = "--username=postgres --auth=trust --encoding=UTF8 --no-locale --no-sync"
        run(bin_dir / "initdb", "-D", data, *options.split())
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{base}'",
            "fsync": "off",  # throwaway data: durability only costs time
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        try:
            run(
                bin_dir / "pg_ctl", "start", "-D", data, "-l", base / "server.log", "-w", "-t", "60"
            )
            server = PostgresServer(port)
            _wait_until_ready(server.url)
            yield server
        finally:
            if (data / "postmaster.pid").exists():  # also after a start that timed out
                run(bin_dir / "pg_ctl", "stop", "-D", data, "-m", "immediate", "-w")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
