"""Processes at the same time: scans during an update, updates together, a killed lock holder.

The index is read-only to scans and written under an fcntl lock by one update at a time
(``advisories/update.py``); the kernel drops an fcntl lock when its holder dies, so a lock
left by a SIGKILLed update cannot block the next one. These tests run real processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import nix_audit_exe, run_cli
from tests.helpers.feed_server import Fault, FeedServer
from tests.robustness.conftest import MODIFIED, classify, generation

SCANNERS = 4


def _scan(db: Path, packages: Path) -> subprocess.Popen[str]:
    argv = [nix_audit_exe(), "scan", "--offline", "--json", "--db", str(db), "-f", str(packages)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _update(db: Path, mirror: str) -> subprocess.Popen[str]:
    argv = [nix_audit_exe(), "db", "update", "--db", str(db), "--mirror", mirror]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_scans_during_an_update_all_succeed_and_agree(
    db: Path, new_mirror: Path, marker_packages: Path
) -> None:
    updater = _update(db, str(new_mirror))
    seen: list[str] = []
    # Waves of concurrent scans for as long as the update runs (and one wave after).
    while True:
        running = updater.poll() is None
        wave = [_scan(db, marker_packages) for _ in range(SCANNERS)]
        seen += [classify(_finished(scan)) for scan in wave]
        if not running:
            break
    done = _finished(updater)
    assert done.returncode == 0, done.stderr
    assert seen[-1] == "new"
    # Once a scan saw the new index, none after it sees the old one (waves are in order).
    first_new = seen.index("new")
    assert all(s == "new" for s in seen[first_new + SCANNERS :]), seen
    assert len(seen) >= 2 * SCANNERS


def test_updates_at_the_same_time_take_turns(
    db: Path, new_mirror: Path, marker_packages: Path
) -> None:
    updaters = [_update(db, str(new_mirror)) for _ in range(3)]
    scans = [_scan(db, marker_packages) for _ in range(SCANNERS)]
    results = [_finished(p) for p in updaters]
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert all(classify(_finished(s)) in ("old", "new") for s in scans)
    assert generation(db, marker_packages) == "new"


def test_lock_of_a_killed_updater_does_not_block_the_next_update(
    served: FeedServer, db: Path, new_modified: Path, marker_packages: Path
) -> None:
    (served.root / new_modified.name).write_bytes(new_modified.read_bytes())
    served.set_fault(MODIFIED, Fault(stall_before=120))
    holder = _update(db, served.url)
    deadline = time.monotonic() + 20
    # The updater asks for "modified" only once it holds the lock: then kill it.
    while not served.requests_for(MODIFIED):
        assert holder.poll() is None, holder.communicate()
        assert time.monotonic() < deadline, "the update never asked for the feed"
        time.sleep(0.05)
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait(timeout=10) == -signal.SIGKILL
    assert (db / "index.lock").exists()  # the lock file stays; the lock itself is gone
    served.clear_faults()
    started = time.monotonic()
    run = run_cli("db", "update", "--db", str(db), "--mirror", served.url, timeout=60)
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - started < 15
    assert generation(db, marker_packages) == "new"
    assert not list(db.glob("feeds-*")), "the killed update's downloads were not cleaned up"
