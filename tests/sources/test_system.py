"""SystemSource and GcRootsSource against the fixture store."""

from __future__ import annotations

from pathlib import Path

import pytest

from nix_audit.errors import SourceError
from nix_audit.models import Closure
from nix_audit.sources.nix import NixStore
from nix_audit.sources.store import ClosureMode
from nix_audit.sources.system import SYSTEM_ROOTS, GcRootsSource, SystemSource
from tests.helpers.nix_store import NixFixtureStore

R, B = Closure.RUNTIME, Closure.BUILDTIME
SYSTEM = {
    ("nixos-system-nixaudit-23.11", R),
    ("curl-7.50.0", R),
    ("openssl-1.0.1f", R),
    ("zlib-1.2.11", R),
    ("expat-2.2.6", R),
    ("python3.10-requests-2.28.1", R),
}


def test_default_roots_are_the_nixos_ones() -> None:
    assert SYSTEM_ROOTS == ("/run/current-system", "/nix/var/nix/gcroots/current-system")
    assert SystemSource().roots == SYSTEM_ROOTS


def test_system_from_the_first_root(nix_fixture_store: NixFixtureStore) -> None:
    link = str(nix_fixture_store.links["system"])
    result = SystemSource([link], nix=NixStore()).collect()
    assert {(p.name, p.closure) for p in result.packages} == SYSTEM


def test_system_falls_back_to_the_gc_root(
    nix_fixture_store: NixFixtureStore, tmp_path: Path
) -> None:
    roots = [str(tmp_path / "run-current-system"), str(nix_fixture_store.links["system"])]
    result = SystemSource(roots, mode=ClosureMode.DIRECT, nix=NixStore()).collect()
    assert [p.name for p in result.packages] == ["nixos-system-nixaudit-23.11"]


def test_system_buildtime(nix_fixture_store: NixFixtureStore) -> None:
    link = str(nix_fixture_store.links["system"])
    result = SystemSource([link], mode=ClosureMode.BUILDTIME, nix=NixStore()).collect()
    assert {(p.name, p.closure) for p in result.packages} == SYSTEM | {("cmake-3.10.2", B)}


def test_no_system(tmp_path: Path) -> None:
    roots = [str(tmp_path / "a"), str(tmp_path / "b")]
    with pytest.raises(SourceError) as error:
        SystemSource(roots).collect()
    assert str(error.value) == f"no NixOS system found: none of {roots[0]}, {roots[1]} exists"


def test_dangling_system_link_is_an_error(tmp_path: Path) -> None:
    link = tmp_path / "current-system"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(SourceError, match="dangling symlink"):
        SystemSource([str(link)]).collect()


def test_gc_roots_cover_the_fixture(nix_fixture_store: NixFixtureStore) -> None:
    result = GcRootsSource(nix=NixStore()).collect()
    found = {(p.name, p.closure, p.derivation) for p in result.packages}
    store = nix_fixture_store
    # Other packages may be rooted on this host too; the fixture's must all be there.
    for name, attr in [
        ("curl-7.50.0", "curl"),
        ("openssl-1.0.1g", "openssl_g"),
        ("expat-2.2.6", "expat"),
        ("cmake-3.10.2", "cmake"),
    ]:
        assert (name, R, store.drvs[attr]) in found
    assert any(p.store_path == store.no_deriver for p in result.packages)
    # The unrealised libpng has only its .drv rooted: runtime mode does not expand roots
    # that are derivations into build-time closures unless their outputs are missing.
    assert any(p.derivation == store.drvs["libpng"] for p in result.packages)
