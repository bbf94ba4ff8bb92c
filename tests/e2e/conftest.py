"""End-to-end fixtures: the installed ``nix-audit`` command, a feed mirror, a built index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.nvd_feeds import cpe_match, record, write_mirror

OPENSSL = "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*"

# Shaped after the real NVD records of the same ids (ranges as the NVD gives them).
RECORDS = [
    record(
        "CVE-2014-0160",
        [cpe_match(OPENSSL, versionStartIncluding="1.0.1", versionEndExcluding="1.0.1g")],
        score=7.5,
        description="Heartbleed: TLS heartbeat read overrun",
    ),
    record(
        "CVE-2014-0224",
        [
            cpe_match(OPENSSL, versionEndExcluding="0.9.8za"),
            cpe_match(OPENSSL, versionStartIncluding="1.0.0", versionEndExcluding="1.0.0m"),
            cpe_match(OPENSSL, versionStartIncluding="1.0.1", versionEndExcluding="1.0.1h"),
        ],
        score=7.4,
        description="CCS injection",
    ),
    record(
        "CVE-2016-9840",
        [cpe_match("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", versionEndIncluding="1.2.8")],
        score=8.8,
        description="inffast.c pointer arithmetic",
    ),
    record(
        "CVE-2016-5419",
        [cpe_match("cpe:2.3:a:haxx:curl:7.50.0:*:*:*:*:*:*:*")],
        score=None,
        description="TLS session resumption client cert bypass",
    ),
    # Synthetic (no such NVD record): gives the fixture store's build-only tool a finding.
    record(
        "CVE-2025-90001",
        [cpe_match("cpe:2.3:a:kitware:cmake:*:*:*:*:*:*:*:*", versionEndExcluding="3.11")],
        score=5.5,
        description="synthetic test record for a build-time-only package",
    ),
    # Synthetic: a product whose vendor says nothing of the Nix package of the same name, the
    # shape of a bare-name collision (issue #4): a low-confidence match.
    record(
        "CVE-2025-90002",
        [
            cpe_match(
                "cpe:2.3:a:unrelated_corp:frobnicator:*:*:*:*:*:*:*:*", versionEndExcluding="2.0"
            )
        ],
        score=9.8,
        description="synthetic test record of a product that shares a Nix package's name",
    ),
]


@dataclass(frozen=True)
class Run:
    """One finished ``nix-audit`` process."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def nix_audit_exe() -> str:
    exe = Path(sys.executable).with_name("nix-audit")
    if not exe.exists():
        pytest.skip("the nix-audit command is not installed in this environment")
    return str(exe)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """Run the installed command as a subprocess, as an operator would."""
    done = subprocess.run(
        [nix_audit_exe(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder mirror of hand-made feeds: one per year plus ``modified``."""
    return write_mirror(tmp_path_factory.mktemp("mirror"), RECORDS)


@pytest.fixture(scope="session")
def db(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """An index built from ``mirror`` by ``nix-audit db update``."""
    path = tmp_path_factory.mktemp("db")
    run = run_cli("db", "update", "--db", str(path), "--mirror", str(mirror))
    assert run.returncode == 0, run.stderr
    return path


def write_packages(path: Path, packages: Sequence[dict[str, Any]]) -> Path:
    """A nixpkgs-style packages.json (``{"packages": {attr: pkg}}``)."""
    path.write_text(json.dumps({"version": 2, "packages": {p["name"]: p for p in packages}}))
    return path
