"""SbomSource: CycloneDX SBOMs shaped like sbomnix's, bombon's and nix-audit's own, no Nix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from nix_audit.errors import SourceError
from nix_audit.models import Closure, IdentifiedFrom, Package
from nix_audit.reporters.cyclonedx import CycloneDxReporter
from nix_audit.reporters.interface import ReportOptions
from nix_audit.sources.interface import SourceResult
from nix_audit.sources.sbom import SbomSource, package_from_component
from tests.reporters.sample import sample_result

DATA = Path(__file__).parent / "data"
STORE = "/nix/store"


def collect(name: str) -> SourceResult:
    return SbomSource(DATA / name).collect()


def by_pname(result: SourceResult) -> dict[str, Package]:
    return {p.pname: p for p in result.packages}


def test_sbomnix_components_and_subject() -> None:
    result = collect("sbom-sbomnix.cdx.json")
    found = by_pname(result)
    assert sorted(found) == ["hello", "openssl", "requests"]
    openssl = found["openssl"]
    assert openssl == Package(
        name="openssl-3.0.7",
        pname="openssl",
        version="3.0.7",
        derivation=f"{STORE}/nr1spq0w2bc7gxnnhx6pj2v5dmp9mi5k-openssl-3.0.7.drv",
        # sbomnix lists every output; the first one listed is taken.
        store_path=f"{STORE}/jmb0yhlixjnninsnbwpm9acpyj5saski-openssl-3.0.7-bin",
        closure=Closure.RUNTIME,
        patched_cves=frozenset({"CVE-2023-0286", "CVE-2022-4304", "CVE-2022-4450"}),
        cpes=("cpe:2.3:a:openssl:openssl:3.0.7:*:*:*:*:*:*:*",),
        source_urls=("https://www.openssl.org/source/openssl-3.0.7.tar.gz",),
        identified_from=IdentifiedFrom.METADATA,
    )
    hello = found["hello"]  # metadata.component, the SBOM's subject
    assert hello.derivation == f"{STORE}/hn1xg3a7pygq6g0dsibqa48w8800ddaa-hello-2.12.1.drv"
    assert hello.store_path == f"{STORE}/jlcdbcqk1psa9h4mk0m4knkylbyyb3h1-hello-2.12.1"


def test_sbomnix_name_comes_from_the_derivation() -> None:
    requests = by_pname(collect("sbom-sbomnix.cdx.json"))["requests"]
    assert requests.name == "python3.11-requests-2.31.0"
    assert (requests.pname, requests.version) == ("requests", "2.31.0")


def test_component_without_version_is_skipped_with_reason() -> None:
    result = collect("sbom-sbomnix.cdx.json")
    [skipped] = result.skipped
    assert skipped.what.endswith("sbom-sbomnix.cdx.json: components[2]")
    assert skipped.reason == "no version for 'openssl-3.0.7.tar.gz'"


def test_bombon_store_paths_scope_evidence_and_nesting() -> None:
    result = collect("sbom-bombon.cdx.json")
    found = by_pname(result)
    assert sorted(found) == ["gcc", "libpng", "webapp", "zlib"]
    zlib = found["zlib"]
    assert zlib.name == "zlib-1.2.13"
    assert zlib.derivation is None
    assert zlib.store_path == f"{STORE}/1cawbfb2yfa387lbyc2sxnq4dgp0nris-zlib-1.2.13"
    assert zlib.cpes == (
        "cpe:2.3:a:zlib:zlib:1.2.13:*:*:*:*:*:*:*",
        "cpe:2.3:a:gnu:zlib:1.2.13:*:*:*:*:*:*:*",
    )
    assert zlib.patched_cves == frozenset({"CVE-2022-37434"})  # from the diff URL only
    assert zlib.source_urls == (
        "https://github.com/madler/zlib/releases/download/v1.2.13/zlib-1.2.13.tar.gz",
    )
    assert zlib.closure is Closure.RUNTIME
    assert found["gcc"].closure is Closure.BUILDTIME  # scope: excluded
    libpng = found["libpng"]  # nested, no version field: the purl's version
    assert (libpng.name, libpng.version, libpng.store_path) == ("libpng-1.6.39", "1.6.39", None)


def test_bombon_other_purl_types_are_skipped() -> None:
    reasons = {
        s.what.rpartition(": ")[2]: s.reason for s in collect("sbom-bombon.cdx.json").skipped
    }
    assert reasons == {
        "components[2]": "no version for 'webapp-vendor'",
        "components[2].components[0]": "not a Nix package (pkg:cargo purl)",
    }


def test_own_cyclonedx_report_reads_back_as_the_scanned_packages(tmp_path: Path) -> None:
    result = sample_result()
    path = tmp_path / "report.cdx.json"
    path.write_text(CycloneDxReporter("0.0.0").render(result, ReportOptions()), encoding="utf-8")
    read = SbomSource(path).collect()
    assert read.skipped == ()
    # The same packages, now known from the SBOM's records rather than from derivations.
    assert sorted(read.packages, key=lambda p: p.key) == sorted(
        (replace(p, identified_from=IdentifiedFrom.METADATA) for p in result.packages),
        key=lambda p: p.key,
    )


def test_same_package_twice_is_one_package(tmp_path: Path) -> None:
    component = '{"name": "zlib", "version": "1.3", "purl": "pkg:nix/zlib@1.3"}'
    path = tmp_path / "twice.json"
    path.write_text(f'{{"bomFormat": "CycloneDX", "components": [{component}, {component}]}}')
    assert [p.name for p in SbomSource(path).collect().packages] == ["zlib-1.3"]


def test_invalid_purl_is_skipped_with_the_parser_reason() -> None:
    found = package_from_component({"name": "x", "version": "1", "purl": "pkg:"}, where="here")
    assert not isinstance(found, Package)
    assert found.what == "here"
    assert found.reason.startswith("invalid purl 'pkg:'")


def test_bom_ref_that_is_not_a_store_path_is_ignored() -> None:
    found = package_from_component(
        {"name": "curl", "version": "8.0.1", "bom-ref": "curl@8.0.1"}, where="here"
    )
    assert isinstance(found, Package)
    assert (found.derivation, found.store_path) == (None, None)


def test_invalid_json_names_file_line_and_column() -> None:
    with pytest.raises(SourceError) as error:
        collect("sbom-bad.json")
    message = str(error.value)
    assert message.startswith(f"{DATA / 'sbom-bad.json'}:4:18: invalid JSON:")
    assert "\n" not in message


def test_not_cyclonedx_is_refused() -> None:
    with pytest.raises(SourceError, match=r"not a CycloneDX SBOM: bomFormat is 'SPDX'"):
        collect("sbom-not-cyclonedx.json")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[]", "expected a JSON object"),
        ('{"components": []}', "bomFormat is missing"),
        ('{"bomFormat": "CycloneDX", "components": {}}', "'components' is not a list"),
        ('{"bomFormat": "CycloneDX", "components": [1]}', "components[0] is not an object"),
        (
            '{"bomFormat": "CycloneDX", "components": [{"components": 3}]}',
            "components[0].components is not a list",
        ),
    ],
)
def test_structural_errors_name_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "sbom.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as error:
        SbomSource(path).collect()
    assert str(error.value).startswith(f"{path}: ")
    assert problem in str(error.value)


def test_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"absent\.json: cannot read: No such file"):
        SbomSource(tmp_path / "absent.json").collect()
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"bomFormat": "Cyclone\xdfX"}')
    with pytest.raises(SourceError, match="not UTF-8 text"):
        SbomSource(bad).collect()
