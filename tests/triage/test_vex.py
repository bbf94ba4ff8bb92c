"""VEX loading: OpenVEX 0.2.0 (and 0.0.x shapes), CycloneDX VEX, product matching, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nix_audit.errors import TriageError
from nix_audit.models import Package
from nix_audit.triage.vex import (
    VexDocument,
    VexProduct,
    VexStatement,
    VexStatus,
    find_statement,
    load_vex,
    parse_vex,
)

DATA = Path(__file__).parent / "data"
OPENSSL = Package(name="openssl-3.0.7", pname="openssl", version="3.0.7")
OPENSSL_OLD = Package(name="openssl-1.1.1t", pname="openssl", version="1.1.1t")
CURL = Package(name="curl-8.0.1", pname="curl", version="8.0.1")


def decide(documents: list[VexDocument], package: Package, cve: str) -> VexStatement | None:
    return find_statement(documents, package, cve)


def test_openvex_statements_are_typed() -> None:
    document = load_vex(DATA / "openvex.json")
    assert document.format == "openvex"
    assert document.origin == str(DATA / "openvex.json")
    first = document.statements[0]
    assert first == VexStatement(
        vulnerabilities=frozenset({"CVE-2023-0286"}),
        products=(VexProduct("openssl", frozenset({"3.0.7"})),),
        status=VexStatus.NOT_AFFECTED,
        justification="vulnerable_code_not_in_execute_path",
        detail="X.400 addresses are never parsed: no CRL checking is configured",
        timestamp=datetime(2026, 5, 1, 10, 0, tzinfo=UTC),  # the document's
        origin=f"{DATA / 'openvex.json'}: statements[0]",
    )
    assert first.reason == (
        "VEX: not_affected (vulnerable_code_not_in_execute_path): X.400 addresses are never "
        f"parsed: no CRL checking is configured [{DATA / 'openvex.json'}: statements[0]]"
    )


def test_product_version_must_match_and_a_versionless_purl_matches_all() -> None:
    document = load_vex(DATA / "openvex.json")
    assert decide([document], OPENSSL, "CVE-2023-0286") is not None
    assert decide([document], OPENSSL_OLD, "CVE-2023-0286") is None  # other version
    fixed = decide([document], OPENSSL_OLD, "CVE-2022-4304")  # pkg:nix/openssl, no version
    assert fixed is not None and fixed.status is VexStatus.FIXED
    assert fixed.detail == "fixed by the overlay's backported timing patch"
    assert decide([document], CURL, "CVE-2022-4304") is None  # other name


def test_pname_split_from_the_full_name_matches_too() -> None:
    # A derivation whose pname attribute differs from what parseDrvName gives.
    package = Package(name="python3.11-requests-2.31.0", pname="requests", version="2.31.0")
    product = VexProduct("python3.11-requests", frozenset({"2.31.0"}))
    assert product.matches(package)
    assert VexProduct("requests").matches(package)
    assert not VexProduct("python3.11").matches(package)


def test_identifiers_purl_subcomponents_and_aliases() -> None:
    document = load_vex(DATA / "openvex.json")
    affected = decide([document], OPENSSL, "CVE-2023-0464")
    assert affected is not None and affected.status is VexStatus.AFFECTED
    assert affected.detail == "Upgrade to 3.0.8 with the next channel bump"
    investigating = decide([document], OPENSSL, "cve-2023-0465")  # ids compare in upper case
    assert investigating is not None and investigating.status is VexStatus.UNDER_INVESTIGATION
    alias = decide([document], OPENSSL, "CVE-2023-2650")  # an alias of the GHSA name
    assert alias is not None and alias.justification == "component_not_present"
    assert alias.vulnerabilities == {"GHSA-GQXG-9VFR-P9CG", "CVE-2023-2650"}


def test_the_newest_statement_wins_whatever_the_order() -> None:
    document = load_vex(DATA / "openvex.json")
    statement = decide([document], OPENSSL, "CVE-2023-0466")
    assert statement is not None and statement.status is VexStatus.NOT_AFFECTED
    assert statement.timestamp == datetime(2026, 5, 20, tzinfo=UTC)


def test_equal_times_the_later_document_wins(tmp_path: Path) -> None:
    def doc(status: str, extra: str) -> VexDocument:
        text = json.dumps({
            "@context": "https://openvex.dev/ns/v0.2.0",
            "statements": [{
                "vulnerability": {"name": "CVE-2023-0286"},
                "products": [{"@id": "pkg:nix/openssl@3.0.7"}],
                "status": status, **json.loads(extra),
            }],
        })  # fmt: skip
        return parse_vex(text.encode(), f"{status}.json")

    affected = doc("affected", '{"action_statement": "upgrade"}')
    fixed = doc("fixed", "{}")
    first = decide([affected, fixed], OPENSSL, "CVE-2023-0286")
    second = decide([fixed, affected], OPENSSL, "CVE-2023-0286")
    assert first is not None and first.status is VexStatus.FIXED
    assert second is not None and second.status is VexStatus.AFFECTED


def test_other_purl_types_and_cpe_only_products_match_no_nix_package() -> None:
    document = load_vex(DATA / "openvex.json")
    assert decide([document], OPENSSL, "CVE-2023-0215") is None
    assert document.statements[-1].products == ()


def test_openvex_0_0_x_strings() -> None:
    document = load_vex(DATA / "openvex-0.0.1.json")
    [statement] = document.statements
    assert statement.vulnerabilities == {"CVE-2023-12345"}
    assert statement.products == (VexProduct("git", frozenset({"2.39.0"})),)
    # Nine fractional digits (Go's RFC3339Nano) are read, to the microsecond.
    assert statement.timestamp is not None and statement.timestamp.year == 2023


def test_cyclonedx_states_map_to_statuses() -> None:
    document = load_vex(DATA / "cyclonedx-vex.json")
    assert document.format == "cyclonedx"
    got = {
        cve: decide([document], CURL, cve)
        for cve in ("CVE-2023-28319", "CVE-2023-28320", "CVE-2023-28321", "CVE-2023-28322",
                    "CVE-2023-27533", "CVE-2023-27534")
    }  # fmt: skip
    summary = {cve: (s.status, s.justification, s.detail) for cve, s in got.items() if s}
    assert summary == {
        "CVE-2023-28319": (
            VexStatus.NOT_AFFECTED,
            "code_not_reachable",
            "SSH support is disabled in this build",
        ),
        "CVE-2023-28320": (
            VexStatus.NOT_AFFECTED,
            "component_not_present",
            "false_positive; the NVD entry is for another curl",
        ),
        "CVE-2023-28321": (VexStatus.FIXED, None, "backported in the overlay"),  # ref is a purl
        "CVE-2023-28322": (VexStatus.FIXED, None, "resolved_with_pedigree; response: update"),
        "CVE-2023-27533": (
            VexStatus.AFFECTED,
            None,
            "TELNET is used by nothing here but is built; response: will_not_fix",
        ),
        "CVE-2023-27534": (VexStatus.UNDER_INVESTIGATION, None, ""),
    }
    assert got["CVE-2023-28319"] is not None
    assert got["CVE-2023-28319"].timestamp == datetime(2026, 5, 15, 9, 0, tzinfo=UTC)


def test_cyclonedx_without_analysis_states_nothing() -> None:
    document = load_vex(DATA / "cyclonedx-vex.json")
    assert decide([document], CURL, "CVE-2023-27535") is None
    assert len(document.statements) == 9


def test_cyclonedx_nested_components_references_and_analysis_time() -> None:
    document = load_vex(DATA / "cyclonedx-vex.json")
    libssh2 = Package(name="libssh2-1.10.0", pname="libssh2", version="1.10.0")
    statement = decide([document], libssh2, "CVE-2023-38545")
    assert statement is not None and statement.justification == "requires_configuration"
    assert statement.timestamp == datetime(2026, 5, 16, tzinfo=UTC)


def test_cyclonedx_versions_narrow_the_statement() -> None:
    document = load_vex(DATA / "cyclonedx-vex.json")
    zlib = Package(name="zlib-1.2.12", pname="zlib", version="1.2.12")
    newer = Package(name="zlib-1.3", pname="zlib", version="1.3")
    assert decide([document], zlib, "CVE-2022-37434") is not None
    assert decide([document], newer, "CVE-2022-37434") is None  # only in a range: not read
    # A ranges-only list narrows to nothing; a dangling ref names nothing.
    assert decide([document], zlib, "CVE-2018-25032") is None
    assert decide([document], newer, "CVE-2018-25032") is None


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "vex.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def openvex(statement: dict[str, object]) -> dict[str, object]:
    return {"@context": "https://openvex.dev/ns/v0.2.0", "statements": [statement]}


GOOD = {"vulnerability": {"name": "CVE-2023-0286"}, "status": "fixed"}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (openvex({**GOOD, "status": "mitigated"}), "statements[0]: unknown status 'mitigated'"),
        (openvex({"status": "fixed"}), "statements[0]: missing vulnerability"),
        (openvex({"vulnerability": {"name": "CVE-1"}}), "statements[0]: missing status"),
        (openvex({**GOOD, "vulnerability": {"name": ""}}), "vulnerability has no name"),
        (openvex({**GOOD, "justification": "because"}), "unknown justification 'because'"),
        (openvex({**GOOD, "products": "pkg:nix/a"}), "products: expected a list, found a str"),
        (openvex({**GOOD, "products": [{"@id": "pkg:/"}]}), "products[0]: invalid purl"),
        (openvex({**GOOD, "timestamp": "yesterday"}), "bad timestamp 'yesterday'"),
        ({"@context": "https://openvex.dev/ns/v0.2.0"}, "statements: expected a list, found null"),
        ({"bomFormat": "CycloneDX", "vulnerabilities": [{"analysis": {"state": "fixed"}}]},
         "vulnerabilities[0]: unknown analysis.state 'fixed'"),
        ({"bomFormat": "CycloneDX", "vulnerabilities": [{"analysis": {"state": "resolved"}}]},
         "vulnerabilities[0]: missing vulnerability id"),
        ({"bomFormat": "CycloneDX", "vulnerabilities": [
            {"id": "CVE-1", "analysis": {"state": "not_affected", "justification": "nope"}}]},
         "unknown justification 'nope'"),
        ({"bomFormat": "SPDX"}, "not a VEX document: neither OpenVEX"),
        ([], "not a VEX document: expected a JSON object"),
    ],
)  # fmt: skip
def test_errors_are_one_line_and_name_the_file(
    tmp_path: Path, document: object, problem: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(TriageError) as error:
        load_vex(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "\n" not in message


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "vex.json"
    path.write_text('{\n  "statements": [,]\n}\n', encoding="utf-8")
    with pytest.raises(TriageError, match=r"vex\.json:2:18: invalid JSON: Expecting value$"):
        load_vex(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TriageError, match="cannot read VEX document"):
        load_vex(tmp_path / "absent.json")


# --- hostile input: whatever the JSON, only TriageError ---------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
FIELD_NAMES = st.sampled_from([
    "vulnerability", "products", "status", "justification", "impact_statement", "name",
    "@id", "aliases", "subcomponents", "identifiers", "purl", "timestamp", "id", "analysis",
    "state", "affects", "ref", "versions", "version", "components", "bom-ref", "references",
    "detail", "response", "metadata", "component", "lastUpdated", "status_notes",
])  # fmt: skip
FIELD_VALUES = st.one_of(
    JSON_VALUES,
    st.sampled_from(["not_affected", "fixed", "affected", "pkg:nix/openssl@3.0.7", "pkg:",
                     "CVE-2023-0286", "resolved", "false_positive", "2026-01-01T00:00:00Z",
                     "component_not_present", "code_not_present", "urn:cdx:x/1#a"]),
)  # fmt: skip
SHAPED = st.recursive(
    st.dictionaries(FIELD_NAMES, FIELD_VALUES, max_size=6),
    lambda children: st.dictionaries(FIELD_NAMES, children | st.lists(children, max_size=3)),
    max_leaves=20,
)
DOCUMENTS = st.one_of(
    JSON_VALUES,
    st.builds(lambda s: {"@context": "https://openvex.dev/ns/v0.2.0", "statements": s},
              st.lists(SHAPED, max_size=3)),
    st.builds(lambda v, c: {"bomFormat": "CycloneDX", "vulnerabilities": v, "components": c},
              st.lists(SHAPED, max_size=3), st.lists(SHAPED, max_size=3)),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_any_json_raises_only_triage_error(document: object) -> None:
    data = json.dumps(document).encode()
    try:
        parsed = parse_vex(data, "fuzz.json")
    except TriageError as e:
        assert "\n" not in str(e)
        assert str(e).startswith("fuzz.json")
        return
    for statement in parsed.statements:
        find_statement([parsed], OPENSSL, next(iter(statement.vulnerabilities)))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_raise_only_triage_error(data: bytes) -> None:
    try:
        parse_vex(data, "fuzz.json")
    except TriageError as e:
        assert "\n" not in str(e)
