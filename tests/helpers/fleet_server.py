"""A real ``nix-audit serve`` process for tests, on a free loopback port.

``running_fleet(database, db_dir)`` sets an admin up with ``nix-audit fleet set-admin``, starts
the server as a subprocess (as an operator would), waits until it answers, and stops it at
the end. ``wait_evaluated`` polls ``/api/v1/status`` until every reported host is triaged.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ADMIN", "RunningFleet", "free_port", "running_fleet"]

ADMIN = ("admin", "correct horse battery")


def nix_audit() -> str:
    return str(Path(sys.executable).with_name("nix-audit"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningFleet:
    url: str
    database: str
    log: Path

    def cli(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """``nix-audit fleet ...`` against this server's database."""
        return subprocess.run(
            [nix_audit(), "fleet", *args, "--database", self.database],
            capture_output=True,
            text=True,
            input=input_text,
            timeout=60,
            check=False,
        )

    def add_host(self, name: str) -> str:
        done = self.cli("add-host", name)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def admin(self) -> httpx.Client:
        """A client logged in as the admin (a session token as Bearer)."""
        answer = httpx.post(
            f"{self.url}/api/v1/session", json={"name": ADMIN[0], "password": ADMIN[1]}
        )
        answer.raise_for_status()
        token = answer.json()["token"]
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"})

    def report(
        self, token_file: Path, hostname: str, *paths: str
    ) -> subprocess.CompletedProcess[str]:
        """A real ``nix-audit report`` process."""
        return subprocess.run(
            [
                nix_audit(),
                "report",
                "--server",
                self.url,
                "--token-file",
                str(token_file),
                "--hostname",
                hostname,
                *paths,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def wait_evaluated(self, client: httpx.Client, timeout: float = 60) -> dict[str, Any]:
        """The status once every reported host has been triaged with the current data."""
        deadline = time.monotonic() + timeout
        while True:
            status: dict[str, Any] = client.get("/api/v1/status").raise_for_status().json()
            done = (
                status["hosts_evaluated"] == status["hosts_reported"]
                and status["closures_matched"] == status["closures"]
            )
            if done or time.monotonic() > deadline:
                assert done, f"not evaluated within {timeout} s: {status}"
                return status
            time.sleep(0.1)


@contextmanager
def running_fleet(
    database: str,
    db_dir: Path,
    log_dir: Path,
    *,
    mirror: Path | None = None,
    cve_list: Path | None = None,
) -> Iterator[RunningFleet]:
    """Start ``nix-audit serve`` on ``database`` with the index in ``db_dir``.

    Without ``mirror`` the server never updates its index; with one, it updates from that
    folder (and from the CVE List folder ``cve_list``, if given) at start and whenever
    ``POST /api/v1/index/update`` asks.
    """
    updates = (
        ["--mirror", str(mirror), "--update-every", "24"] if mirror else ["--update-every", "0"]
    )
    env = dict(os.environ)
    if cve_list is not None:
        updates += ["--cve-list", str(cve_list)]
        env["NIX_AUDIT_NO_CVE_LIST"] = ""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    fleet = RunningFleet(url, database, log_dir / "serve.log")
    done = fleet.cli("set-admin", ADMIN[0], "--password-file", "-", input_text=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    with fleet.log.open("w") as log:
        process = subprocess.Popen(
            [
                nix_audit(),
                "serve",
                "--database",
                database,
                "--db",
                str(db_dir),
                "--listen",
                f"127.0.0.1:{port}",
                *updates,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            _wait_ready(url, process, fleet.log)
            yield fleet
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nix-audit serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"nix-audit serve did not answer within 30 s: {log.read_text()}")
