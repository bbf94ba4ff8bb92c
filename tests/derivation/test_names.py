"""Nix name rules: parseDrvName (checked against real Nix) and store path names."""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
from pathlib import Path

import pytest

from nix_audit.derivation.names import artifact_suffix, parse_drv_name, store_path_name
from nix_audit.errors import DerivationError

HASH = "17rdhaypdan2f1gg4rcz50b0lpkr09wm"

NAME_CASES = [
    ("openssl-1.0.1f", ("openssl", "1.0.1f")),
    ("python3.11-requests-2.31.0", ("python3.11-requests", "2.31.0")),
    ("bash-4.4-p12", ("bash", "4.4-p12")),
    ("gnome-shell-45.1", ("gnome-shell", "45.1")),
    ("hello", ("hello", "")),
    ("firefox-unwrapped-121.0", ("firefox-unwrapped", "121.0")),
    ("linux-6.6.8", ("linux", "6.6.8")),
    ("perl5.38.2-DBI-1.643", ("perl5.38.2-DBI", "1.643")),
    # the version is everything after the split, output suffixes included
    ("xz-5.4.5-bin", ("xz", "5.4.5-bin")),
    ("nss-cacert-3.95", ("nss-cacert", "3.95")),
    ("glibc-2.42-51", ("glibc", "2.42-51")),
    ("stdenv-linux", ("stdenv-linux", "")),
    ("foo-", ("foo-", "")),
    ("foo--1", ("foo", "-1")),
    ("-1", ("", "1")),
    ("x-1-", ("x", "1-")),
    ("foo-_x", ("foo", "_x")),
    ("foo-Bar-1", ("foo-Bar", "1")),
    ("a-é1", ("a", "é1")),  # only ASCII letters keep the name going (C isalpha)
    ("", ("", "")),
]


@pytest.mark.parametrize(("name", "expected"), NAME_CASES)
def test_parse_drv_name(name: str, expected: tuple[str, str]) -> None:
    assert parse_drv_name(name) == expected


def _nix_parse_drv_names(names: list[str], tmp_path: Path) -> list[tuple[str, str]]:
    """``builtins.parseDrvName`` of each name, by real Nix."""
    (tmp_path / "names.json").write_text(json.dumps(names), encoding="utf-8")
    expr = "map builtins.parseDrvName (builtins.fromJSON (builtins.readFile ./names.json))"
    (tmp_path / "names.nix").write_text(expr, encoding="utf-8")
    result = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", str(tmp_path / "names.nix")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [(item["name"], item["version"]) for item in json.loads(result.stdout)]


def test_parse_drv_name_agrees_with_nix(nix_config: str, tmp_path: Path) -> None:
    names = [name for name, _ in NAME_CASES] + ["a-", "a-b-c", "1-2", "x-1.0-rc1-dev", "ü-1"]
    assert [parse_drv_name(n) for n in names] == _nix_parse_drv_names(names, tmp_path)


def test_parse_drv_name_agrees_with_nix_on_nixpkgs_names(
    nix_config: str, shared_data: Path, tmp_path: Path
) -> None:
    path = shared_data / "nixpkgs" / "nix-index-storepaths-x86_64-linux-2026.5.3.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        names = [json.loads(line)["name"] for line in itertools.islice(lines, 0, None, 25)]
    assert len(names) > 5000
    assert [parse_drv_name(n) for n in names] == _nix_parse_drv_names(names, tmp_path)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (f"/nix/store/{HASH}-cpio-2.12", "cpio-2.12"),
        (f"/nix/store/{HASH}-cpio-2.12.drv", "cpio-2.12"),
        (f"/nix/store/{HASH}-cpio-2.12/", "cpio-2.12"),
        (f"/nix/store/{HASH}-CVE-2015-1197-cpio-2.12.patch.drv", "CVE-2015-1197-cpio-2.12.patch"),
        (f"/nix/store/{HASH}-bzip2-1.0.6.0.1-bin", "bzip2-1.0.6.0.1-bin"),
        (f"/nix/store/{HASH}-source", "source"),
        (f"/gnu/store/{HASH}-hello-2.12", "hello-2.12"),  # another store dir (NIX_STORE_DIR)
        (f"/home/me/.nix/store/{HASH}-a+b_c?=.d-1", "a+b_c?=.d-1"),
        (f"/nix/store/{HASH}-x.drv.drv", "x.drv"),
    ],
)
def test_store_path_name(path: str, name: str) -> None:
    assert store_path_name(path) == name


@pytest.mark.parametrize(
    "path",
    [
        "cpio-2.12.drv",  # no store dir
        f"{HASH}-cpio-2.12",  # relative
        f"nix/store/{HASH}-cpio-2.12",  # relative
        f"/nix/store/{HASH[:31]}-cpio-2.12",  # hash too short
        f"/nix/store/{HASH}x-cpio-2.12",  # hash too long
        f"/nix/store/{HASH[:31]}e-cpio-2.12",  # "e" is not in Nix's base32
        f"/nix/store/{HASH.upper()}-cpio-2.12",  # upper case is not either
        f"/nix/store/{HASH}-",  # empty name
        f"/nix/store/{HASH}-cpio 2.12",  # a space is not allowed in a name
        f"/nix/store/{HASH}-bash-4.4/bin/bash",  # a file inside a store path
        f"/{HASH}-cpio",  # no store dir
        "",
    ],
)
def test_store_path_name_rejects_other_paths(path: str) -> None:
    with pytest.raises(DerivationError, match="not a store path"):
        store_path_name(path)


def test_store_path_name_of_every_nixpkgs_path(shared_data: Path) -> None:
    path = shared_data / "nixpkgs" / "nix-index-storepaths-x86_64-linux-2026.5.3.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 0, None, 5)]
    for r in records:
        assert store_path_name(f"{r['store_dir']}/{r['hash']}-{r['name']}") == r["name"]


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("firefox-148.0b15.source.tar.xz", ".tar.xz"),
        ("Python-3.12.13.tar.xz", ".tar.xz"),
        ("gerrit-3.13.4.war", ".war"),
        ("commons-codec-1.4.pom", ".pom"),
        ("requests-2.31.0.tar.gz", ".tar.gz"),
        ("CVE-2019-13636.patch", ".patch"),
        ("source", "source"),  # fetchFromGitHub's output
        ("openssl-3.6.1-source", "-source"),
        ("wheel-unpack-hook.sh", ".sh"),
        ("openssl-3.6.1", None),
        ("python3.13-tarsafe-0.0.5", None),
        ("zip-3.0", None),
    ],
)
def test_artifact_suffix(name: str, suffix: str | None) -> None:
    # Issue #13: build input files are not packages.
    assert artifact_suffix(name) == suffix
