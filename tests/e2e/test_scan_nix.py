"""The installed command on a real Nix store: every input mode, runtime and build-time closures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import run_cli
from tests.helpers.nix_store import NixFixtureStore, nix_fixture_store

__all__ = ["nix_fixture_store"]  # re-exported: pytest finds the fixture through this import


def scan(db: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]], str]:
    """Scan as JSON; the result maps each reported derivation name to its entry."""
    run = run_cli("scan", "--offline", "--json", "--db", str(db), *args)
    if run.returncode == 3:
        return 3, {}, run.stderr
    report = json.loads(run.stdout)
    return run.returncode, {d["name"]: d for d in report["derivations"]}, run.stderr


def test_result_link_scans_runtime_closure(db: Path, nix_fixture_store: NixFixtureStore) -> None:
    code, found, err = scan(db, str(nix_fixture_store.links["result"]))
    assert code == 2, err
    assert set(found) == {"curl-7.50.0", "openssl-1.0.1f"}
    assert found["curl-7.50.0"]["affected_by"] == ["CVE-2016-5419"]
    assert found["openssl-1.0.1f"]["affected_by"] == ["CVE-2014-0160", "CVE-2014-0224"]
    assert found["openssl-1.0.1f"]["closure"] == "runtime"
    assert found["openssl-1.0.1f"]["derivation"] == nix_fixture_store.drvs["openssl"]


def test_link_into_bin_is_its_store_path(db: Path, nix_fixture_store: NixFixtureStore) -> None:
    code, found, _ = scan(db, str(nix_fixture_store.links["curl-bin"]))
    assert code == 2 and "curl-7.50.0" in found


def test_buildtime_adds_build_only_packages_marked_as_such(
    db: Path, nix_fixture_store: NixFixtureStore
) -> None:
    code, found, _ = scan(db, nix_fixture_store.drvs["openssl"])
    assert code == 2 and "cmake-3.10.2" not in found
    code, found, _ = scan(db, "--buildtime", nix_fixture_store.drvs["openssl"])
    assert code == 2
    assert found["cmake-3.10.2"]["closure"] == "buildtime"
    assert found["openssl-1.0.1f"]["closure"] == "runtime"


def test_no_requisites_scans_only_the_given_derivation(
    db: Path, nix_fixture_store: NixFixtureStore
) -> None:
    # openssl-1.0.1g is outside CVE-2014-0160's range and carries CVE-2014-0224.patch.
    code, found, _ = scan(db, "-R", nix_fixture_store.drvs["openssl_g"])
    assert code == 0 and found == {}
    code, found, _ = scan(db, "-R", nix_fixture_store.drvs["curl"])
    assert code == 2 and set(found) == {"curl-7.50.0"}


def test_profile_and_list_file(
    db: Path, nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    code, found, _ = scan(db, "-p", str(nix_fixture_store.links["profile"]))
    assert code == 2 and "curl-7.50.0" in found
    listing = tmp_path / "paths.txt"
    listing.write_text(f"# one path\n{nix_fixture_store.out('zlib')}\n")
    code, found, _ = scan(db, "-f", str(listing))
    assert code == 0 and found == {}


def test_gc_roots_include_the_fixture(db: Path, nix_fixture_store: NixFixtureStore) -> None:
    code, found, _ = scan(db, "-G")
    assert code == 2 and "openssl-1.0.1f" in found


def test_path_without_derivation_is_still_scanned(
    db: Path, nix_fixture_store: NixFixtureStore
) -> None:
    code, _, err = scan(db, nix_fixture_store.out("sqlite"))
    assert code == 0, err


def test_bad_paths_are_one_line_errors(db: Path, tmp_path: Path) -> None:
    dangling = tmp_path / "result"
    dangling.symlink_to(tmp_path / "gone")
    for path in (str(tmp_path / "missing"), str(dangling), "/etc/hostname"):
        code, _, err = scan(db, path)
        assert code == 3, path
        assert len(err.strip().splitlines()) == 1 and path in err


def test_system_on_a_host_without_nixos_is_an_error(db: Path) -> None:
    if Path("/run/current-system").exists():
        return
    code, _, err = scan(db, "--system")
    assert code == 3 and "current-system" in err
