"""CVE ids in patch names and in a derivation's ``patches`` attribute."""

from __future__ import annotations

from pathlib import Path

import pytest

from nix_audit.derivation.aterm import parse_derivation
from nix_audit.derivation.attrs import derivation_attrs
from nix_audit.derivation.patches import cves_in_name, patched_cves

HASH = "ncqx1bmw4a6bpczyr08fz48467b2i7qw"


@pytest.mark.parametrize(
    ("name", "cves"),
    [
        ("CVE-2019-13636.patch", {"CVE-2019-13636"}),
        ("cve-2019-13636.patch", {"CVE-2019-13636"}),
        ("Cve_2019_13636.diff", {"CVE-2019-13636"}),
        ("CVE-2015-1197-cpio-2.12.patch", {"CVE-2015-1197"}),
        ("CVE-2019-1234+CVE-2019-5678.patch", {"CVE-2019-1234", "CVE-2019-5678"}),
        ("CVE-2021-3997_CVE-2021-3998.patch", {"CVE-2021-3997", "CVE-2021-3998"}),
        ("CVE-2016-2037-out-of-bounds-write.patch", {"CVE-2016-2037"}),
        (f"/nix/store/{HASH}-CVE-2019-13636.patch", {"CVE-2019-13636"}),
        ("fix-CVE-2023-1234567.patch", {"CVE-2023-1234567"}),
        ("openssl-CVE-2014-0160.patch", {"CVE-2014-0160"}),
        (
            "CVE-2017-6827+CVE-2017-6828+CVE-2017-6832.patch",
            {f"CVE-2017-{n}" for n in (6827, 6828, 6832)},
        ),
        ("CVE-2019-1234-and-CVE-2019-1234.patch", {"CVE-2019-1234"}),
        # not CVE ids
        ("gcc-6.patch", set()),
        ("CVE-2019-123.patch", set()),  # the sequence part has four digits at least
        ("CVE-19-1234.patch", set()),  # the year has four digits
        ("CVE-20190-1234.patch", set()),
        ("xCVE-2019-1234.patch", set()),
        ("CVE2019-1234.patch", set()),
        ("CVE-2019-1234a.patch", {"CVE-2019-1234"}),
        # the directory part does not count
        ("/src/CVE-2019-1234/fix.patch", set()),
        ("", set()),
    ],
)
def test_cves_in_name(name: str, cves: set[str]) -> None:
    assert cves_in_name(name) == frozenset(cves)


def test_patches_as_a_string() -> None:
    attrs = {"patches": f" /nix/store/{HASH}-CVE-2019-1.patch\n/p/cve-2019-2222.patch  /p/x.patch "}
    assert patched_cves(attrs) == {"CVE-2019-2222"}


def test_patches_as_a_list() -> None:
    attrs: dict[str, object] = {"patches": ["/p/CVE-2020-1111.patch", 3, None, ["CVE-2020-2222"]]}
    assert patched_cves(attrs) == {"CVE-2020-1111"}


@pytest.mark.parametrize("patches", [None, 7, True, {"CVE-2020-1111.patch": 1}])
def test_patches_of_another_type_name_nothing(patches: object) -> None:
    assert patched_cves({"patches": patches}) == frozenset()


def test_only_the_patches_attribute_counts() -> None:
    attrs = {
        "name": "CVE-2020-1111",
        "postPatch": "echo fixes CVE-2020-2222",
        "src": "/nix/store/x-CVE-2020-3333.patch",
        "patches": "",
    }
    assert patched_cves(attrs) == frozenset()
    assert patched_cves({}) == frozenset()


def test_patched_cves_of_real_derivations(real_drvs: list[Path]) -> None:
    found = {p.name: patched_cves(derivation_attrs(parse_derivation(p))) for p in real_drvs}
    assert found["cpio-2.12.drv"] == {"CVE-2015-1197", "CVE-2016-2037"}
    assert found["bzip2-1.0.6.0.1.drv"] == {"CVE-2016-3189"}
    assert found["audiofile-0.3.6.drv"] == {"CVE-2015-7747"} | {
        f"CVE-2017-{n}" for n in range(6827, 6840)
    }
    assert len(found["unzip-6.0.drv"]) == 8
    assert found["xercesc-3.2.3.drv"] == frozenset()
    assert found["structured-attrs-1.drv"] == frozenset()


def test_patched_cves_of_structured_attrs(drv_data: Path) -> None:
    attrs = derivation_attrs(parse_derivation(drv_data / "structured-pkg.drv"))
    assert patched_cves(attrs) == {"CVE-2023-32681", "CVE-2024-35195", "CVE-2024-47081"}
