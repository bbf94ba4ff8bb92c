"""ProfileSource: nix-env profiles and both manifest.json layouts of ``nix profile``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nix_audit.errors import SourceError
from nix_audit.models import Closure
from nix_audit.sources.nix import NixStore
from nix_audit.sources.profiles import ProfileSource, manifest_store_paths
from nix_audit.sources.store import ClosureMode
from tests.helpers.nix_store import NixFixtureStore

DATA = Path(__file__).parent / "data"
R, B = Closure.RUNTIME, Closure.BUILDTIME


def scan(profile: Path | str, mode: ClosureMode = ClosureMode.RUNTIME) -> set[tuple[str, Closure]]:
    result = ProfileSource(str(profile), mode=mode, nix=NixStore()).collect()
    return {(p.name, p.closure) for p in result.packages}


def test_nix_env_profile(nix_fixture_store: NixFixtureStore) -> None:
    profile = nix_fixture_store.links["profile"]
    assert (profile / "manifest.nix").exists()
    assert scan(profile) == {("curl-7.50.0", R), ("openssl-1.0.1f", R), ("zlib-1.2.11", R)}
    assert scan(profile, ClosureMode.DIRECT) == {("curl-7.50.0", R)}
    assert scan(profile, ClosureMode.BUILDTIME) == {
        ("curl-7.50.0", R),
        ("openssl-1.0.1f", R),
        ("zlib-1.2.11", R),
        ("cmake-3.10.2", B),
    }


def test_manifest_version_1_list(nix_fixture_store: NixFixtureStore) -> None:
    profile = nix_fixture_store.links["profile-v1"]
    manifest = json.loads((profile / "manifest.json").read_text())
    assert manifest["version"] == 1 and isinstance(manifest["elements"], list)
    assert scan(profile) == {("zlib-1.2.11", R)}


def test_manifest_version_3_object(nix_fixture_store: NixFixtureStore) -> None:
    profile = nix_fixture_store.links["profile-v3"]
    manifest = json.loads((profile / "manifest.json").read_text())
    assert manifest["version"] == 3 and isinstance(manifest["elements"], dict)
    assert scan(profile) == {("curl-7.50.0", R), ("openssl-1.0.1f", R), ("zlib-1.2.11", R)}
    assert scan(profile, ClosureMode.DIRECT) == {("curl-7.50.0", R)}


def test_profile_given_by_store_path(nix_fixture_store: NixFixtureStore) -> None:
    assert scan(nix_fixture_store.out("profile_v1")) == {("zlib-1.2.11", R)}


def test_missing_profile(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file") as error:
        scan(tmp_path / "profile")
    assert str(tmp_path / "profile") in str(error.value)


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        ("manifest-v1.json", ["/nix/store/aaaa-hello-2.12", "/nix/store/bbbb-jq-1.7"]),
        ("manifest-v2.json", ["/nix/store/cccc-ripgrep-14.1.0"]),
        ("manifest-v3.json", ["/nix/store/dddd-hello-2.12", "/nix/store/eeee-git-2.44.0-doc"]),
    ],
)
def test_manifest_store_paths(name: str, paths: list[str]) -> None:
    assert manifest_store_paths(DATA / name) == paths


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"version": 1, "elements": [', r"manifest\.json:1:29: invalid JSON"),
        ('{"version": 9, "elements": []}', "unsupported profile manifest version 9"),
        ('{"version": 3, "elements": 5}', "'elements' is neither a list nor an object"),
        ('{"version": 3, "elements": {"a": 1}}', "element a is not an object"),
        ('{"version": 1, "elements": [{"storePaths": "x"}]}', "element 0: 'storePaths'"),
    ],
)
def test_bad_manifest(tmp_path: Path, text: str, message: str) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(text)
    with pytest.raises(SourceError, match=message) as error:
        manifest_store_paths(manifest)
    assert str(error.value).startswith(str(manifest))
