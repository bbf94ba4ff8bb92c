"""Fixtures of the robustness suite (issue #6): the real command, feeds, indexes, a marker CVE.

Every test here runs the installed ``nix-audit`` as an operator would (a subprocess), against
hand-made feeds served from a folder or from the loopback ``FeedServer``, and checks the
failure contract of ``cli.py``: exit code 3, one line on stderr naming what failed, nothing
on stdout, and the last good index left as it was.

The *marker* record ``CVE-2020-0001`` tells the index generations apart: in the "old" feeds
it affects ``marker-1.0``, in the "new" ``modified`` feed it affects ``marker-3.0`` instead,
and the new feed brings ``FILLER`` more records, so a scan names exactly one of the two
versions and ``db status`` shows one of two record counts, and anything else is a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RECORDS, nix_audit_exe
from tests.helpers.feed_server import FeedServer
from tests.helpers.nvd_feeds import Record, cpe_match, record, write_feed, write_mirror

__all__ = [
    "FILLER",
    "MARKER",
    "MODIFIED",
    "Measured",
    "assert_failed",
    "classify",
    "generation",
    "new_records",
    "old_records",
    "run_measured",
    "scan_packages",
    "write_packages",
]

MARKER = "CVE-2020-0001"
MODIFIED = "/nvdcve-2.0-modified.json.gz"
FILLER = 20_000  # records of the new "modified" feed: enough for an update to take a while
_MARKER_CPE = "cpe:2.3:a:marker:marker:*:*:*:*:*:*:*:*"
_NEW_TIME = "2026-03-15T00:00:00.000"


def old_records() -> list[Record]:
    """The e2e records plus the marker as it is in the old index (affects marker < 2.0)."""
    marker = record(MARKER, [cpe_match(_MARKER_CPE, versionEndExcluding="2.0")])
    return [*RECORDS, marker]


def new_records(filler: int = FILLER) -> list[Record]:
    """The new ``modified`` feed: the marker moved to 3.x, and ``filler`` unrelated records."""
    marker = record(
        MARKER,
        [cpe_match(_MARKER_CPE, versionStartIncluding="3.0", versionEndExcluding="4.0")],
        last_modified=_NEW_TIME,
    )
    fill = [
        record(
            f"CVE-2026-{10000 + i}",
            [cpe_match(f"cpe:2.3:a:filler{i % 997}:filler{i}:*:*:*:*:*:*:*:*")],
            description=f"filler record {i}",
            last_modified=_NEW_TIME,
        )
        for i in range(filler)
    ]
    return [marker, *fill]


def write_packages(path: Path, names: Sequence[str]) -> Path:
    """A nixpkgs-style ``packages.json`` naming ``names`` (``pname-version`` each)."""
    packages = {name: {"name": name} for name in names}
    path.write_text(json.dumps({"version": 2, "packages": packages}))
    return path


@dataclass(frozen=True)
class Measured:
    """One finished ``nix-audit`` process, with its peak memory and wall time."""

    returncode: int
    stdout: str
    stderr: str
    max_rss_kib: int
    seconds: float


# Forks the command from a small process and writes its peak RSS (KiB) to argv[1]. Linux
# keeps ru_maxrss across execve, so forking straight from pytest (hundreds of MB once the
# nixpkgs names are loaded) would count the test's own memory as the command's.
_LAUNCHER = """
import os, signal, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
if code < 0:
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def run_measured(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    prefix: Sequence[str] = (),
) -> Measured:
    """Run the command (after ``prefix``, e.g. ``setpriv ...``); measure peak RSS and time."""
    argv = [*prefix, nix_audit_exe(), *args]
    found = shutil.which(argv[0])
    assert found is not None, argv[0]
    with tempfile.TemporaryDirectory() as tmp:
        rss = Path(tmp) / "maxrss"
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-c", _LAUNCHER, str(rss), found, *argv[1:]],
                capture_output=True,
                env={**os.environ, **(env or {})},
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"nix-audit {' '.join(args)} ran longer than {timeout} s")
        seconds = time.monotonic() - started
        return Measured(
            returncode=done.returncode,
            stdout=done.stdout.decode("utf-8", errors="replace"),
            stderr=done.stderr.decode("utf-8", errors="replace"),
            max_rss_kib=int(rss.read_text() or 0),
            seconds=seconds,
        )


def assert_failed(run: Any, *words: str) -> str:
    """Exit 3, nothing on stdout, exactly one ``nix-audit: error:`` line naming ``words``."""
    assert run.returncode == 3, (run.returncode, run.stdout[-500:], run.stderr[-500:])
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("nix-audit: error: "), lines[0]
    line: str = lines[0]
    for word in words:
        assert word in line, (word, line)
    return line


def scan_packages(db: Path, packages: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``scan --offline --json`` of a packages file (a plain subprocess, no measuring)."""
    return subprocess.run(
        [
            nix_audit_exe(),
            "scan",
            "--offline",
            "--json",
            "--db",
            str(db),
            "-f",
            str(packages),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def generation(db: Path, packages: Path) -> str:
    """Which index ``db`` holds, seen through a real scan: ``old`` or ``new`` (else it fails).

    ``packages`` names marker-1.0 and marker-3.0: the old index flags only the first, the
    new one only the second. The scan's own record count must belong to the same side.
    """
    return classify(scan_packages(db, packages))


def classify(run: subprocess.CompletedProcess[str]) -> str:
    """``old`` or ``new`` for the JSON report of a marker scan; any mix fails the test."""
    assert run.returncode == 2, (run.returncode, run.stderr)
    report = json.loads(run.stdout)
    flagged = {d["name"] for d in report["derivations"] if MARKER in d["affected_by"]}
    records = report["database"]["records"]
    if flagged == {"marker-1.0"}:
        assert records == len(old_records()), f"old marker with {records} records: a mix"
        return "old"
    assert flagged == {"marker-3.0"}, f"marker flagged in {flagged}: a mix"
    assert records == len(old_records()) + FILLER, f"new marker with {records} records: a mix"
    return "new"


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def old_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder mirror of the old feeds (every year, an empty ``modified``)."""
    return write_mirror(tmp_path_factory.mktemp("old-mirror"), old_records())


@pytest.fixture(scope="session")
def new_modified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The new ``modified`` feed file (marker moved, ``FILLER`` records more)."""
    path = tmp_path_factory.mktemp("new-modified") / "nvdcve-2.0-modified.json.gz"
    write_feed(path, new_records())
    return path


@pytest.fixture(scope="session")
def new_mirror(
    old_mirror: Path, new_modified: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The old yearly feeds with the new ``modified`` feed (copies keep their mtimes)."""
    mirror = tmp_path_factory.mktemp("new-mirror") / "mirror"
    shutil.copytree(old_mirror, mirror)
    shutil.copyfile(new_modified, mirror / new_modified.name)
    return mirror


@pytest.fixture(scope="session")
def old_db(tmp_path_factory: pytest.TempPathFactory, old_mirror: Path) -> Path:
    """An index built from ``old_mirror`` by the real command; copy it before changing it."""
    path = tmp_path_factory.mktemp("old-db")
    done = subprocess.run(
        [nix_audit_exe(), "db", "update", "--db", str(path), "--mirror", str(old_mirror)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def db(old_db: Path, tmp_path: Path) -> Path:
    """A private copy of the old index, free to be updated, broken or locked."""
    copy = tmp_path / "db"
    copy.mkdir()
    shutil.copy2(old_db / "index.sqlite", copy / "index.sqlite")
    return copy


@pytest.fixture
def served(tmp_path: Path, old_mirror: Path) -> Iterator[FeedServer]:
    """The old feeds over HTTP on 127.0.0.1 (a private copy of the folder, free to change)."""
    root = tmp_path / "served"
    shutil.copytree(old_mirror, root)
    with FeedServer(root) as server:
        yield server


@pytest.fixture
def marker_packages(tmp_path: Path) -> Path:
    """``packages.json`` with marker-1.0 (old index) and marker-3.0 (new index)."""
    return write_packages(tmp_path / "markers.json", ["marker-1.0", "marker-3.0"])
