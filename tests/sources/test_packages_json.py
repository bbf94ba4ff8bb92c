"""PackagesJsonSource: nixpkgs metadata in its three shapes, without Nix."""

from __future__ import annotations

from pathlib import Path

import pytest

from nix_audit.errors import SourceError
from nix_audit.models import Closure, IdentifiedFrom, Package
from nix_audit.sources.interface import SourceResult
from nix_audit.sources.packages_json import (
    PackagesJsonSource,
    cpe_from_parts,
    package_from_metadata,
)

DATA = Path(__file__).parent / "data"


def collect(name: str) -> SourceResult:
    return PackagesJsonSource(DATA / name).collect()


def by_name(result: SourceResult) -> dict[str, Package]:
    return {p.name: p for p in result.packages}


def test_nix_env_json_with_meta() -> None:
    result = collect("packages.json")
    found = by_name(result)
    assert list(found) == [
        "curl-7.50.0",
        "expat-2.2.6",
        "libxml2-2.9.4",
        "openssl-1.0.1f",
        "python3.10-requests-2.28.1",  # two attributes, one package
        "zlib-1.2.11",
    ]
    assert all(p.closure is Closure.RUNTIME for p in result.packages)
    assert [(s.what, s.reason) for s in result.skipped] == [
        (f"{DATA / 'packages.json'}: attribute 'hello-unversioned'", "no version in name 'hello'")
    ]


def test_names_versions_and_store_paths() -> None:
    found = by_name(collect("packages.json"))
    requests = found["python3.10-requests-2.28.1"]
    assert (requests.pname, requests.version) == ("requests", "2.28.1")
    curl = found["curl-7.50.0"]
    assert (curl.pname, curl.version) == ("curl", "7.50.0")  # parseDrvName of the name
    assert curl.derivation == "/nix/store/0000000000000000000000000000000b-curl-7.50.0.drv"
    assert curl.store_path == "/nix/store/0000000000000000000000000000000c-curl-7.50.0"
    assert found["zlib-1.2.11"].derivation is None


def test_patches_give_patched_cves() -> None:
    found = by_name(collect("packages.json"))
    assert found["curl-7.50.0"].patched_cves == {
        "CVE-2016-5419",
        "CVE-2016-5420",
        "CVE-2016-5421",
    }
    assert found["openssl-1.0.1f"].patched_cves == frozenset()


def test_known_vulnerabilities() -> None:
    found = by_name(collect("packages.json"))
    assert found["openssl-1.0.1f"].known_vulnerabilities == ("CVE-2014-0160: Heartbleed",)
    assert found["zlib-1.2.11"].known_vulnerabilities == ("CVE-2018-25032",)
    assert found["curl-7.50.0"].known_vulnerabilities == ()


def test_cpes_from_identifiers() -> None:
    found = by_name(collect("packages.json"))
    assert found["openssl-1.0.1f"].cpes == ("cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*",)
    assert found["libxml2-2.9.4"].cpes == ("cpe:2.3:a:xmlsoft:libxml2:2.9.4:*:*:*:*:*:*:*",)
    assert found["expat-2.2.6"].cpes == (
        "cpe:2.3:a:libexpat_project:libexpat:2.2.6:*:*:*:*:*:*:*",
        "cpe:2.3:a:libexpat_project:libexpat:2.2:*:*:*:*:*:*:*",
    )
    assert found["curl-7.50.0"].cpes == ()


def test_cpe_from_parts_needs_every_part() -> None:
    parts = dict.fromkeys(
        ["update", "edition", "language", "sw_edition", "target_sw", "target_hw", "other"], "*"
    )
    full = {**parts, "part": "a", "vendor": "haxx", "product": "curl", "version": "7.50.0"}
    assert cpe_from_parts(full) == "cpe:2.3:a:haxx:curl:7.50.0:*:*:*:*:*:*:*"
    assert cpe_from_parts({**full, "vendor": None}) is None
    assert cpe_from_parts({k: v for k, v in full.items() if k != "update"}) is None


def test_wrapped_channel_packages_json() -> None:
    assert list(by_name(collect("packages-wrapped.json"))) == ["openssl-1.0.1f", "zlib-1.2.11"]


def test_list_of_packages() -> None:
    found = by_name(collect("packages-list.json"))
    assert [(p.pname, p.version) for p in found.values()] == [
        ("openssl", "1.0.1f"),
        ("zlib", "1.2.11"),
    ]


def test_invalid_json_names_file_line_and_column() -> None:
    with pytest.raises(SourceError) as error:
        collect("packages-bad.json")
    file = DATA / "packages-bad.json"
    assert str(error.value).startswith(f"{file}:3:34: invalid JSON: ")
    assert "\n" not in str(error.value)


def test_entry_without_name_is_named() -> None:
    with pytest.raises(SourceError) as error:
        collect("packages-noname.json")
    file = DATA / "packages-noname.json"
    assert str(error.value) == f"{file}: attribute 'zlib': package has no 'name'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"just a string"', "expected an object or a list of packages"),
        ('[{"name": "a-1"}, 3]', "entry 1 is not an object"),
        ("", "invalid JSON"),
    ],
)
def test_bad_shapes(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "p.json"
    file.write_text(text)
    with pytest.raises(SourceError, match=message):
        PackagesJsonSource(file).collect()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"p\.json: cannot read: No such file"):
        PackagesJsonSource(tmp_path / "p.json").collect()


def test_package_from_metadata_ignores_wrong_types() -> None:
    entry: dict[str, object] = {
        "name": "jq-1.6",
        "version": 16,
        "patches": "CVE-2015-8863.patch",
        "meta": "none",
    }
    found = package_from_metadata(entry, where="x")
    assert found == Package(
        name="jq-1.6", pname="jq", version="1.6", identified_from=IdentifiedFrom.METADATA
    )


def test_attribute_paths_and_homepages_are_kept(tmp_path: Path) -> None:
    # Issue #13: the attribute path tells which package set a package is of.
    listing = tmp_path / "packages.json"
    listing.write_text(
        '{"haskellPackages.mysql": {"name": "mysql-0.2.1",'
        ' "meta": {"homepage": "https://hackage.haskell.org/package/mysql"}},'
        ' "gotenberg": {"name": "gotenberg-8.27.0",'
        ' "meta": {"homepage": ["https://gotenberg.dev", "https://github.com/gotenberg/gotenberg"]}}}'
    )
    found = {p.attribute: p for p in PackagesJsonSource(listing).collect().packages}
    assert found["haskellPackages.mysql"].homepages == (
        "https://hackage.haskell.org/package/mysql",
    )
    assert found["gotenberg"].homepages == (
        "https://gotenberg.dev",
        "https://github.com/gotenberg/gotenberg",
    )


def test_a_list_has_no_attribute_paths(tmp_path: Path) -> None:
    listing = tmp_path / "packages.json"
    listing.write_text('[{"name": "mysql-0.2.1"}]')
    assert [p.attribute for p in PackagesJsonSource(listing).collect().packages] == [None]
