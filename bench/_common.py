"""Shared helpers of the benchmark scripts: run a command as a whole process and measure it.

Each run is a fresh ``python`` process (the way a user runs ``nix-audit db update``); its wall
time, CPU time (its own and its children's, from ``os.wait4``) and peak memory are measured.
Peak memory is sampled from ``/proc`` every 20 ms over the whole process tree (the decoding
workers included) as the sum of RSS (pages shared after fork count twice: an upper bound).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NIX_AUDIT",
    "PYTHON",
    "REPO",
    "Measurement",
    "feed_total",
    "measure",
    "print_medians",
    "shared_data_dir",
]

REPO = Path(__file__).resolve().parent.parent
# The project's virtualenv when there is one (the script itself may run under any python3).
_VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable
#: The command as an operator runs it: the installed entry point beside that interpreter.
NIX_AUDIT = [str(Path(PYTHON).with_name("nix-audit"))]


def shared_data_dir() -> Path:
    """``$NIX_AUDIT_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    base = Path(os.environ.get("NIX_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (base / "nvd").is_dir():
        sys.exit(f"shared data not found at {base} (set NIX_AUDIT_SHARED_DATA)")
    return base


def feed_total(path: Path) -> int:
    """``totalResults`` from a feed's header (the first few hundred bytes)."""
    with gzip.open(path, "rb") as feed:
        head = feed.read(4096)
    found = re.search(rb'"totalResults"\s*:\s*([0-9]+)', head)
    return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class Measurement:
    """One run of a command."""

    wall: float
    cpu: float
    peak_rss_mb: float
    stdout: bytes = b""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        with contextlib.suppress(OSError):  # the task ended meanwhile
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _rss_kb(pid: int) -> int:
    """Resident set of one process in KiB (statm is cheap to read, unlike smaps)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids, stack = [], [self.pid]
            while stack:
                pid = stack.pop()
                pids.append(pid)
                stack += _children(pid)
            self.peak_rss = max(self.peak_rss, sum(_rss_kb(pid) for pid in pids))
            self.done.wait(0.02)


def measure(
    argv: Sequence[str], env: dict[str, str] | None = None, *, ok: Sequence[int] = (0,)
) -> Measurement:
    """Run ``argv`` to completion, its standard output kept; exit when its code is not in ``ok``.

    ``nix-audit scan`` exits 2 when it finds something: pass ``ok=(0, 1, 2)`` for scans.
    """
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out)
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        sampler.done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        stdout = out.read()
    if proc.returncode not in ok:
        sys.exit(f"{argv[0]} failed with exit code {proc.returncode}")
    return Measurement(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=sampler.peak_rss / 1024,
        stdout=stdout,
    )


def print_medians(rows: dict[str, Sequence[float]]) -> None:
    """Print ``name: median (min..max)`` lines, the benchmark's result."""
    print("--- medians ---")
    for name, values in rows.items():
        median = statistics.median(values)
        print(f"{name}: {median:.2f} (min {min(values):.2f}, max {max(values):.2f})")
