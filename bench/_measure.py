"""Shared helpers of the bench/ scripts: run a whole process, measure it, print medians.

Every script runs the operation as a separate process (what an operator runs), several times,
and prints the medians as its last lines: the machine is noisy, so ratios are compared within
one run and single figures are never quoted alone.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"


def shared_data() -> Path:
    """``$NIX_AUDIT_SHARED_DATA``, else ``../shared/data``; exits with a reason when absent."""
    path = Path(os.environ.get("NIX_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (path / "nvd").is_dir():
        sys.exit(f"shared data not found at {path} (set NIX_AUDIT_SHARED_DATA)")
    return path


def nix_audit_command() -> list[str]:
    """The installed ``nix-audit`` beside this interpreter, else ``python -m nix_audit``."""
    exe = Path(sys.executable).with_name("nix-audit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nix_audit"]


@dataclass(frozen=True)
class Measurement:
    """One whole-process run: wall and CPU seconds, peak RSS in MB, exit code, output."""

    wall: float
    cpu: float
    peak_rss_mb: float
    returncode: int
    stdout: bytes


def run_measured(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Measurement:
    """Run ``argv`` to completion; rusage comes from ``wait4`` of this very child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=dict(env or os.environ))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 1, 2):
        sys.exit(f"{argv[0]} failed ({proc.returncode}): {stderr.decode(errors='replace')}")
    return Measurement(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        returncode=proc.returncode,
        stdout=stdout,
    )


def print_medians(
    title: str, runs: Sequence[Measurement], extra: Mapping[str, str] | None = None
) -> None:
    """Each run, then the medians as the last lines."""
    for n, run in enumerate(runs, 1):
        rss = run.peak_rss_mb
        print(f"run {n}: wall {run.wall:.3f} s, cpu {run.cpu:.3f} s, peak RSS {rss:.1f} MB")
    print(f"== {title}: medians over {len(runs)} runs")
    print(f"wall_s_median {statistics.median(r.wall for r in runs):.3f}")
    print(f"cpu_s_median {statistics.median(r.cpu for r in runs):.3f}")
    print(f"peak_rss_mb_median {statistics.median(r.peak_rss_mb for r in runs):.1f}")
    for key, value in (extra or {}).items():
        print(f"{key} {value}")
