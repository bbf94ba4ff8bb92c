"""A ``db update`` that loads the CVE List (issue #12), killed with SIGKILL part-way: a scan
then sees the index as it was (NVD only) or as the update left it (with the CVE List), never a
mix, and the next update completes.

The CVE List goes into the live index in the same transaction as the NVD's feeds, so the
kill tests that transaction with the real baseline of ``../shared/data/cve5`` (~44,000
records: seconds of work to interrupt).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import RECORDS, nix_audit_exe, run_cli
from tests.helpers.nvd_feeds import write_mirror

RUNS = 4
SEED = 0x12  # issue #12; the delays are random but a failure can be replayed
KERNEL = {"linux": {"name": "linux-6.1.100", "pname": "linux", "version": "6.1.100"}}
KERNEL_CVE = "CVE-2024-47674"  # in the CVE List only


def _env() -> dict[str, str]:
    return {**os.environ, "NIX_AUDIT_NO_CVE_LIST": ""}


def _argv(db: Path, mirror: Path, cve5: Path) -> list[str]:
    return [nix_audit_exe(), "db", "update", "-q", "--db", str(db), "--mirror", str(mirror),
            "--cve-list", str(cve5)]  # fmt: skip


def _sees_cve_list(db: Path, packages: Path) -> bool:
    run = run_cli("scan", "--offline", "-j", "--db", str(db), "-f", str(packages))
    assert run.returncode in (0, 2), run.stderr
    cves = {f["cve"] for d in run.json()["derivations"] for f in d["findings"]}
    status = run_cli("db", "status", "--db", str(db), "--json")
    assert status.returncode == 0, status.stderr
    has_list = status.json()["cve_list"] is not None
    assert (KERNEL_CVE in cves) == has_list, "findings and status disagree: a mixed index"
    return has_list


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mirror(tmp_path_factory.mktemp("mirror"), RECORDS)


@pytest.fixture(scope="module")
def nvd_db(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """An index of the small hand-made NVD mirror, without the CVE List."""
    path = tmp_path_factory.mktemp("nvd-db")
    assert run_cli("db", "update", "--db", str(path), "--mirror", str(mirror)).returncode == 0
    return path


@pytest.mark.parametrize("run", range(RUNS))
def test_a_killed_cve_list_load_leaves_the_old_index_or_the_new(
    run: int, nvd_db: Path, mirror: Path, shared_data: Path, tmp_path: Path
) -> None:
    packages = tmp_path / "packages.json"
    packages.write_text(json.dumps(KERNEL))
    live = tmp_path / "db"
    shutil.copytree(nvd_db, live)
    argv = _argv(live, mirror, shared_data / "cve5")
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Spread over the load: fetching and planning, then decoding and writing.
    delay = random.Random(SEED + run).uniform(0.5, 6.0)  # noqa: S311 - a delay, not a secret
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    _sees_cve_list(live, packages)  # either way, consistent
    finished = subprocess.run(argv, env=_env(), capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert _sees_cve_list(live, packages)
