"""``scan -R`` of a ``.drv`` file outside the store, through the installed command (#13)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import run_cli
from tests.helpers.nix_store import NixFixtureStore, nix_fixture_store

__all__ = ["nix_fixture_store"]  # re-exported: pytest finds the fixture through this import


def test_drv_file_outside_the_store_is_scanned_with_a_warning(
    db: Path, nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    copy = tmp_path / "openssl-1.0.1f.drv"
    copy.write_bytes(Path(nix_fixture_store.drvs["openssl"]).read_bytes())
    warning = (
        f"{copy}: .drv file outside the Nix store /nix/store, read as it is: "
        "its inputs were not followed"
    )

    run = run_cli("scan", "--offline", "--db", str(db), "--json", "-R", str(copy))
    assert run.returncode == 2, run.stderr
    report = json.loads(run.stdout)
    [openssl] = report["derivations"]
    assert (openssl["name"], openssl["derivation"]) == ("openssl-1.0.1f", str(copy))
    assert openssl["affected_by"] == ["CVE-2014-0160", "CVE-2014-0224"]
    assert openssl["closure"] == "buildtime"
    assert report["warnings"] == [warning]
    assert report["summary"]["packages"] == 1  # its inputs (zlib, cmake, the source) are not

    text = run_cli("scan", "--offline", "--db", str(db), "-R", str(copy))
    assert text.returncode == 2
    assert f"warning: {warning}" in text.stdout + text.stderr
