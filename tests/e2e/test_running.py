"""Issue #8 through the installed command: closures without ``.drv`` files, and
``scan --running`` with a real process and a profile switched under it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli
from tests.sources.test_running import RunningStore, build_running_store, nix


@pytest.fixture(scope="module")
def drvless(nix_config: str, tmp_path_factory: pytest.TempPathFactory) -> RunningStore:
    return build_running_store(tmp_path_factory.mktemp("e2e-drvless"), drvless=True)


@pytest.fixture(scope="module")
def store(nix_config: str, tmp_path_factory: pytest.TempPathFactory) -> RunningStore:
    return build_running_store(tmp_path_factory.mktemp("e2e-running"))


def scan(db: Path, *args: str) -> list[str]:
    return ["scan", "--db", str(db), "--offline", *args]


@pytest.mark.parametrize("how", ["output", "profile"])
def test_closure_without_drv_files_scans_and_says_so(
    drvless: RunningStore, db: Path, how: str
) -> None:
    target = [drvless.outs["curl_old"]] if how == "output" else ["-p", str(drvless.profile)]
    run = run_cli(*scan(db, *target, "--json"))
    assert run.returncode == 2, run.stderr
    document = run.json()
    [curl] = [d for d in document["derivations"] if d["name"] == "curl-7.50.0"]
    assert curl["identified_from"] == "store-path-name" and curl["derivation"] is None
    assert curl["affected_by"] == ["CVE-2016-5419"]
    assert document["summary"]["identified_from_store_path_name"] == 2  # curl and openssl
    text = run_cli(*scan(db, *target)).stdout
    assert "2 packages identified from the store path name" in text
    assert "identified from: store path name" in text


def running_wired() -> bool:
    return "--running" in run_cli("scan", "--help").stdout


@pytest.fixture
def sleeping(store: RunningStore, tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A profile of this test's own with curl 7.50.0, and curl running from it."""
    if not running_wired():
        pytest.skip("scan --running is not wired into the command line yet")
    profile = tmp_path / "profile"
    nix("nix-env", "-p", str(profile), "-i", store.outs["curl_old"])
    proc = subprocess.Popen([str(profile / "bin" / "curl"), "300"])
    try:
        yield profile, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_scan_running_finds_the_process_then_asks_for_a_restart(
    store: RunningStore, db: Path, sleeping: tuple[Path, int]
) -> None:
    profile, pid = sleeping
    args = scan(db, "--running", "--current", str(profile))
    before = run_cli(*args, "--json")
    assert before.returncode == 2, before.stderr
    [curl] = [d for d in before.json()["derivations"] if d["name"] == "curl-7.50.0"]
    assert {"pid": pid, "command": "curl", "unit": None} in [
        {**p, "unit": None} for p in curl["processes"]
    ]
    # Other processes of this machine may run superseded code too: only ours is checked.
    assert [r for r in before.json()["running"]["needs_restart"] if r["pname"] == "curl"] == []

    nix("nix-env", "-p", str(profile), "-i", store.outs["curl_new"])  # upgrade under it
    assert os.path.realpath(profile / "bin" / "curl").startswith(store.outs["curl_new"])
    after = run_cli(*args, "--json").json()
    [restart] = [r for r in after["running"]["needs_restart"] if r["pname"] == "curl"]
    assert (restart["version"], restart["current_version"]) == ("7.50.0", "7.51.0")
    assert pid in [p["pid"] for p in restart["processes"]]
    text = run_cli(*args).stdout
    line = next(x for x in text.splitlines() if x.startswith("loaded but superseded: curl-7"))
    assert "(the current system has 7.51.0): restart these processes:" in line
    assert f"pid {pid} (curl" in line
