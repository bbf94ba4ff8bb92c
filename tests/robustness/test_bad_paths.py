"""Bad paths and stores: each a one-line error naming the path, exit 3, never a clean result.

Cases of issue #6: a missing path, a path outside the store, a dangling ``result`` link, a
store path whose name starts with a dot, a garbage-collected derivation, Nix not installed,
permission denied. Tests run as root, for whom file modes mean nothing; the permission cases
run the command under ``setpriv`` without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so root
obeys the mode bits like any user (capabilities(7)).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Run, run_cli
from tests.robustness.conftest import assert_failed, run_measured, write_packages

# Nix's base32 alphabet (digits and lower case without e, o, u, t): 32 of them make a hash.
_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"
_NO_DAC = (
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
    "--",
)
_DRV_NIX = """
{ salt }: derivation {
  name = "zlib-1.2.8"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "echo > $out" ]; inherit salt;
}
"""


def _hash() -> str:
    return "".join(secrets.choice(_BASE32) for _ in range(32))


def _scan(db: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return run_cli("scan", "--offline", "--db", str(db), *args, env=env)


def _instantiate(tmp_path: Path, root: Path | None) -> str:
    expr = tmp_path / "drv.nix"
    expr.write_text(_DRV_NIX)
    argv = ["nix-instantiate", str(expr), "--argstr", "salt", secrets.token_hex(8)]
    if root is not None:
        argv += ["--add-root", str(root), "--indirect"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    return os.path.realpath(out.stdout.strip())


@pytest.fixture
def no_dac() -> tuple[str, ...]:
    """The ``setpriv`` prefix, or a skip where it cannot drop the capabilities."""
    if os.geteuid() != 0:
        return ()  # an ordinary user obeys file modes already
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run as root without DAC override")
    probe = subprocess.run([*_NO_DAC, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr!r}")
    return _NO_DAC


@pytest.fixture
def unregistered_dot_path(nix_config: str) -> Iterator[str]:
    """``/nix/store/<hash>-.hidden-1.0``: in the store directory, unknown to the database."""
    path = Path("/nix/store") / f"{_hash()}-.hidden-1.0"
    path.mkdir()
    yield str(path)
    path.rmdir()


@pytest.fixture
def registered_dot_path(nix_config: str, tmp_path: Path) -> Iterator[str]:
    """A valid store path named ``.hidden-1.0`` (``nix-store --add``), deleted afterwards."""
    source = tmp_path / ".hidden-1.0"
    source.mkdir()
    (source / "file").write_text(secrets.token_hex(8))
    argv = ["nix-store", "--add", str(source)]
    path = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    yield path
    subprocess.run(["nix-store", "--delete", path], capture_output=True, check=False)


def test_missing_path(db: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    assert_failed(_scan(db, missing), missing, "no such file")


def test_path_outside_the_store(db: Path, tmp_path: Path) -> None:
    outside = tmp_path / "hello-1.0"
    outside.mkdir()
    assert_failed(_scan(db, str(outside)), str(outside), "not in the Nix store")


def test_dangling_result_link(db: Path, tmp_path: Path) -> None:
    result = tmp_path / "result"
    result.symlink_to(f"/nix/store/{_hash()}-hello-2.12")
    assert_failed(_scan(db, str(result)), str(result), "dangling symlink")


def test_nix_own_files_in_the_store_dir_are_not_store_objects(db: Path) -> None:
    if not Path("/nix/store/.links").exists():
        pytest.skip("no /nix/store/.links on this host")
    assert_failed(_scan(db, "/nix/store/.links"), "/nix/store/.links", "not a store object")


def test_unregistered_store_path_starting_with_a_dot(db: Path, unregistered_dot_path: str) -> None:
    run = _scan(db, unregistered_dot_path)
    assert_failed(run, unregistered_dot_path, "not a valid path in the Nix store")


def test_registered_store_path_starting_with_a_dot_is_scanned(
    db: Path, registered_dot_path: str
) -> None:
    """vulnix crashed on these; a dot is a legal first character of a name in Nix 2.8."""
    run = _scan(db, "--json", registered_dot_path)
    assert run.returncode == 0, run.stderr
    assert [p["name"] for p in run.json()["derivations"]] == []
    assert run.json()["summary"]["packages"] == 1


def test_garbage_collected_derivation(db: Path, tmp_path: Path, nix_config: str) -> None:
    drv = _instantiate(tmp_path, root=None)
    deleted = subprocess.run(["nix-store", "--delete", drv], capture_output=True, check=False)
    assert deleted.returncode == 0, deleted.stderr
    assert not Path(drv).exists()
    assert_failed(_scan(db, drv), drv, "no such file")
    assert_failed(_scan(db, "-R", drv), drv, "no such file")
    listed = tmp_path / "paths.txt"
    listed.write_text(f"# a closure list made before the collection\n{drv}\n")
    assert_failed(_scan(db, "-f", str(listed)), f"{listed}:2", drv)


def test_nix_not_installed(db: Path, tmp_path: Path, nix_config: str) -> None:
    """A PATH with the basic tools but no Nix (the command's own Python is found by path)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "cat", "ls", "env"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    drv = _instantiate(tmp_path, root=tmp_path / "root")
    env = {"PATH": str(bin_dir)}
    # The message names the missing tool: the path is fine, the host lacks Nix.
    assert_failed(_scan(db, drv, env=env), "nix-store not found", "install Nix")
    # packages.json needs no Nix, and still works on such a host.
    packages = write_packages(tmp_path / "p.json", ["zlib-1.2.8"])
    run = _scan(db, "-f", str(packages), env=env)
    assert run.returncode == 2, run.stderr


def test_permission_denied_on_a_list_file(
    db: Path, tmp_path: Path, no_dac: tuple[str, ...]
) -> None:
    for name in ("paths.txt", "packages.json"):
        listed = tmp_path / name
        listed.write_text("")
        listed.chmod(0)
        run = run_measured("scan", "--offline", "--db", str(db), "-f", str(listed), prefix=no_dac)
        assert_failed(run, str(listed), "Permission denied")


def test_permission_denied_on_a_derivation(
    db: Path, tmp_path: Path, nix_config: str, no_dac: tuple[str, ...]
) -> None:
    """Was exit 0, "no active advisories in 0 packages": the .drv was skipped (fixed)."""
    drv = _instantiate(tmp_path, root=tmp_path / "root")
    os.chmod(drv, 0)  # noqa: PTH101 - a store file of this test's own derivation
    try:
        for args in ((drv,), ("-R", drv), ("--buildtime", drv)):
            run = run_measured("scan", "--offline", "--db", str(db), *args, prefix=no_dac)
            assert_failed(run, drv, "Permission denied")
    finally:
        os.chmod(drv, 0o444)  # noqa: PTH101 - back to the store's read-only mode


def test_permission_denied_on_the_index(db: Path, tmp_path: Path, no_dac: tuple[str, ...]) -> None:
    (db / "index.sqlite").chmod(0)
    run = run_measured("db", "status", "--db", str(db), prefix=no_dac)
    assert_failed(run, str(db / "index.sqlite"), "Permission denied")


def test_permission_denied_on_the_index_during_a_scan(
    db: Path, tmp_path: Path, no_dac: tuple[str, ...]
) -> None:
    (db / "index.sqlite").chmod(0)
    packages = write_packages(tmp_path / "p.json", ["zlib-1.2.8"])
    run = run_measured("scan", "--offline", "--db", str(db), "-f", str(packages), prefix=no_dac)
    assert_failed(run, str(db / "index.sqlite"), "Permission denied")


def test_unreadable_database_directory_is_one_line(
    db: Path, tmp_path: Path, no_dac: tuple[str, ...]
) -> None:
    db.chmod(0)
    try:
        run = run_measured("db", "status", "--db", str(db), prefix=no_dac)
        assert_failed(run, str(db))
    finally:
        db.chmod(0o755)
