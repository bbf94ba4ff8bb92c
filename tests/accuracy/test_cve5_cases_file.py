"""The CVE List accuracy set ``cve5_cases.toml``: broad, balanced, and decided by CVE records.

Every case is a CVE for which the CVE JSON 5 record decides, because the NVD corpus lacks it or
has no ``configurations`` for it. With the shared data these tests check that claim against the
NVD feeds and check that each reason's container (``cna`` or ``adp``) and product are in the
record. The verdicts themselves were read from the records by hand (README.md).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nix_audit.advisories.decode import iter_feed_records
from tests.accuracy.cases import AccuracyCase, load_cases
from tests.accuracy.records import BASELINE, cve5_records, nvd_feeds

CVE5_CASES = Path(__file__).with_name("cve5_cases.toml")

# Trap classes of the brief and the fewest cases each must have.
MINIMUM = {
    "kernel": 90,
    "adp-only": 50,
    "cna-free-text": 70,
    "cna-adp-disagree": 20,
    "same-name": 40,
    "unknown-status": 20,
}
# Every CNA free-text flavour counts for the "cna-free-text" class.
CNA_FREE_TEXT = {
    "cna-free-text",
    "textual-range",
    "esr-product",
    "wildcard-bound",
    "cna-default-affected",
    "range-start-star",
}
KERNEL_TRAPS = {
    "kernel-carveout",
    "kernel-wildcard",
    "kernel-git-only",
    "kernel-eol-branch",
    "kernel-introduced",
    "kernel-stable-range",
}
# Traps whose verdict is never "affected": another program, or a status that is not "affected".
NEVER_AFFECTED = {"same-name", "unknown-status", "kernel-git-only", "kernel-wildcard"}

_REASON = re.compile(r"CVE5 (CVE-\d{4}-\d{4,}): (cna|adp) \S")
# "cpe:2.3:part:vendor:product" cited in an adp reason.
_CITED = re.compile(r"cpe:2\.3:([aho]):([^:\s]+):([^:\s]+)")


def trap_class(trap: str) -> str:
    if trap.startswith("kernel-"):
        return "kernel"
    if trap in CNA_FREE_TEXT:
        return "cna-free-text"
    return trap


@pytest.fixture(scope="module")
def cases() -> list[AccuracyCase]:
    return load_cases(CVE5_CASES)


def test_the_file_loads_with_enough_cases(cases: list[AccuracyCase]) -> None:
    assert len(cases) >= 320
    assert [c.index for c in cases] == list(range(len(cases)))


def test_no_pair_is_labelled_twice(cases: list[AccuracyCase]) -> None:
    pairs = Counter((c.name, c.cve) for c in cases)
    assert [pair for pair, n in pairs.items() if n > 1] == []


def test_the_verdicts_are_roughly_balanced(cases: list[AccuracyCase]) -> None:
    share = sum(c.affected for c in cases) / len(cases)
    assert 0.40 <= share <= 0.60


def test_every_trap_class_has_its_minimum(cases: list[AccuracyCase]) -> None:
    counts = Counter(trap_class(c.trap) for c in cases)
    assert {k: counts[k] for k in MINIMUM if counts[k] < MINIMUM[k]} == {}
    kernel = Counter(c.trap for c in cases if c.trap.startswith("kernel-"))
    assert {t: kernel[t] for t in KERNEL_TRAPS if kernel[t] < 5} == {}
    # The classes that have both verdicts have both in earnest.
    for cls in ("kernel", "adp-only", "cna-free-text", "cna-adp-disagree"):
        verdicts = Counter(c.expected for c in cases if trap_class(c.trap) == cls)
        assert min(verdicts["affected"], verdicts["not_affected"]) >= 8, cls


def test_traps_that_cannot_be_affected_are_not(cases: list[AccuracyCase]) -> None:
    assert [c.index for c in cases if c.trap in NEVER_AFFECTED and c.affected] == []


def test_every_reason_names_its_cve_and_container(cases: list[AccuracyCase]) -> None:
    bad = []
    for case in cases:
        match = _REASON.match(case.reason)
        if match is None or match.group(1) != case.cve:
            bad.append(case.index)
    assert bad == []


def test_kernel_cases_are_the_linux_package(cases: list[AccuracyCase]) -> None:
    kernel = [c for c in cases if c.trap.startswith("kernel-")]
    assert {c.pname for c in kernel} == {"linux"}
    assert all(c.reason.startswith(f"CVE5 {c.cve}: cna Linux/Linux ") for c in kernel)


def test_traps_of_the_brief_are_labelled_as_read(cases: list[AccuracyCase]) -> None:
    by_key = {(c.name, c.cve): c.expected for c in cases}
    expected = {
        # kernel.org: carve-out, just below it, wildcard, EOL branch, before the introduction.
        ("linux-6.10.10", "CVE-2024-46739"): "not_affected",
        ("linux-6.10.9", "CVE-2024-46739"): "affected",
        ("linux-6.11.11", "CVE-2024-46739"): "not_affected",
        ("linux-5.13.19", "CVE-2024-46739"): "affected",
        ("linux-5.10.226", "CVE-2021-47569"): "not_affected",
        ("linux-6.1.112", "CVE-2024-49854"): "not_affected",  # git entries only
        # ADP decides; the CNA says n/a or disagrees.
        ("signal-desktop-6.1.0", "CVE-2023-24068"): "affected",
        ("cryptomator-1.9.1", "CVE-2023-37907"): "affected",
        ("cryptomator-1.9.2", "CVE-2023-37907"): "not_affected",
        # Firefox ESR is its own CNA product.
        ("firefox-115.1.0esr", "CVE-2023-4574"): "affected",
        ("firefox-115.2.0esr", "CVE-2023-4574"): "not_affected",
        ("firefox-115.2.0esr", "CVE-2023-4579"): "not_affected",
        # Textual ranges and wildcard bounds mean what they say.
        ("openssl-1.1.1l", "CVE-2021-4160"): "affected",
        ("git-2.39.0", "CVE-2022-23521"): "affected",
        ("jenkins-2.414.3", "CVE-2023-43494"): "not_affected",
        # Same name, another program; unknown is not affected.
        ("snappy-1.1.10", "CVE-2023-41330"): "not_affected",
        ("xen-4.17.2", "CVE-2023-34322"): "not_affected",
    }
    assert {key: by_key.get(key) for key in expected} == expected


# --- the records decide, and the reasons match them --------------------------------------------


@pytest.fixture(scope="module")
def records(shared_data: Path, cases: list[AccuracyCase]) -> dict[str, dict[str, Any]]:
    """CVE id -> its CVE JSON 5 record, baseline then hourly deltas (newest dateUpdated wins)."""
    folder = shared_data / "cve5"
    if not (folder / BASELINE).is_file():
        pytest.skip(f"CVE JSON 5 baseline not found in {folder}")
    return cve5_records(shared_data, {c.cve for c in cases})


@pytest.fixture(scope="module")
def nvd_configured(shared_data: Path, cases: list[AccuracyCase]) -> dict[str, bool]:
    """CVE id -> whether any NVD version of it (yearly, modified, recent) has configurations.

    Only the yearly feeds of the cases' CVE years are decoded (the 2002 feed also holds
    1999-2001), plus the modified and recent feeds.
    """
    wanted = {c.cve for c in cases}
    seen: dict[str, bool] = {}
    for path in nvd_feeds(shared_data, wanted):
        for record in iter_feed_records(path):
            if record.cve_id in wanted:
                configured = bool(record.record.configurations)
                seen[record.cve_id] = seen.get(record.cve_id, False) or configured
    return seen


def _adp_cpe_entries(record: dict[str, Any]) -> list[dict[str, Any]]:
    for adp in record["containers"].get("adp", []):
        if adp.get("providerMetadata", {}).get("shortName") == "CISA-ADP":
            return [e for e in adp.get("affected", []) if e.get("cpes")]
    return []


def test_every_cve_is_a_published_cve5_record(
    cases: list[AccuracyCase], records: dict[str, dict[str, Any]]
) -> None:
    missing = sorted({c.cve for c in cases} - set(records))
    assert missing == []
    rejected = sorted(
        {c.cve for c in cases if records[c.cve]["cveMetadata"]["state"] != "PUBLISHED"}
    )
    assert rejected == []


def test_no_case_is_decided_by_nvd_configurations(
    cases: list[AccuracyCase], nvd_configured: dict[str, bool]
) -> None:
    assert sorted({c.cve for c in cases if nvd_configured.get(c.cve, False)}) == []


def test_the_reason_names_the_deciding_container(
    cases: list[AccuracyCase], records: dict[str, dict[str, Any]]
) -> None:
    wrong = []
    for case in cases:
        match = _REASON.match(case.reason)
        assert match is not None
        decides = "adp" if _adp_cpe_entries(records[case.cve]) else "cna"
        if match.group(2) != decides:
            wrong.append((case.index, case.cve, decides))
    assert wrong == []


def test_the_cited_product_is_in_the_deciding_container(
    cases: list[AccuracyCase], records: dict[str, dict[str, Any]]
) -> None:
    wrong: list[tuple[int, str]] = []
    for case in cases:
        record = records[case.cve]
        if case.reason.startswith(f"CVE5 {case.cve}: adp "):
            cpes = {
                ":".join(cpe.split(":")[2:5])
                for entry in _adp_cpe_entries(record)
                for cpe in entry["cpes"]
            }
            cited = [":".join(m) for m in _CITED.findall(case.reason)]
            if not cited or cited[0] not in cpes:
                wrong.append((case.index, cited[0] if cited else "no cpe cited"))
        else:
            names = set()
            for entry in record["containers"]["cna"].get("affected", []):
                names.add(f"{entry.get('vendor')}/{entry.get('product')}")
                if entry.get("packageName") and not entry.get("vendor"):
                    names.add(f"packageName {entry['packageName']}")
            head = case.reason.split(": cna ", 1)[1]
            if not any(head.startswith(name + " ") for name in names):
                wrong.append((case.index, head[:40]))
    assert wrong == []
