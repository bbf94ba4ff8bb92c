"""The labelled accuracy set: it loads, it is broad and balanced, and it agrees with the corpus."""

from __future__ import annotations

import gzip
import re
from collections import Counter, defaultdict
from pathlib import Path

import msgspec
import pytest

from nix_audit.models import Package
from tests.accuracy.cases import DEFAULT_CASES, AccuracyCase, CaseFileError, load_cases, parse_cases

# The packages issue #4 names: each must have cases on both sides of the verdict.
MAJOR = [
    "openssl",
    "curl",
    "glibc",
    "linux",
    "python3",
    "perl",
    "ruby",
    "nodejs",
    "go",
    "git",
    "sudo",
    "systemd",
    "bash",
    "libxml2",
    "sqlite",
    "zlib",
    "xz",
    "firefox",
    "chromium",
    "nginx",
    "postgresql",
    "php",
    "openssh",
    "samba",
    "qemu",
]

# "cpe:2.3:a:vendor:product" cited in a reason (an escaped colon does not end a component).
_CITED = re.compile(r"cpe:2\.3:([aho]):((?:[^:\\\s]|\\.)+):((?:[^:\\\s]|\\.)+)")


@pytest.fixture(scope="module")
def cases() -> list[AccuracyCase]:
    return load_cases()


def test_the_file_loads_with_enough_cases(cases: list[AccuracyCase]) -> None:
    assert len(cases) >= 300
    assert [c.index for c in cases] == list(range(len(cases)))


def test_no_pair_is_labelled_twice(cases: list[AccuracyCase]) -> None:
    pairs = Counter((c.name, c.cve) for c in cases)
    assert [pair for pair, n in pairs.items() if n > 1] == []


def test_every_major_package_has_both_verdicts(cases: list[AccuracyCase]) -> None:
    verdicts: dict[str, set[str]] = defaultdict(set)
    for case in cases:
        verdicts[case.pname].add(case.expected)
    missing = [p for p in MAJOR if verdicts[p] != {"affected", "not_affected"}]
    assert missing == []


def test_the_verdicts_are_roughly_balanced(cases: list[AccuracyCase]) -> None:
    share = sum(c.affected for c in cases) / len(cases)
    assert 0.35 <= share <= 0.65


def test_the_traps_of_the_issue_are_covered(cases: list[AccuracyCase]) -> None:
    by_key = {(c.name, c.cve): c for c in cases}
    expected = {
        ("git-2.53.0", "CVE-2020-2136"): "not_affected",  # Jenkins Git plugin
        ("fuse-2.9.9", "CVE-2019-14860"): "not_affected",  # Red Hat Fuse
        ("firefox-153.0", "CVE-2026-16384"): "not_affected",  # NVD "<153" vs Nix "153.0"
        ("rsync-3.1.3pre1", "CVE-2018-5764"): "affected",  # pre-release before 3.1.3
        ("rsync-3.1.3", "CVE-2018-5764"): "not_affected",
        ("ShellCheck-0.9.0", "CVE-2021-28794"): "not_affected",  # VS Code extension
        ("python3-3.13.12", "CVE-2026-3446"): "affected",  # python:python
        ("linux-4.4.25", "CVE-2016-5195"): "affected",  # o:linux:linux_kernel
        ("openssh-9.7p1", "CVE-2024-6387"): "affected",  # openbsd:openssh
        ("nodejs-22.22.2", "CVE-2026-48617"): "affected",  # nodejs:node.js
    }
    assert {key: by_key[key].expected for key in expected} == expected
    traps = {c.trap for c in cases}
    assert {"no-cve-package", "unorderable-version", "patched", "exact-cpe"} <= traps


def test_every_reason_names_its_cve(cases: list[AccuracyCase]) -> None:
    assert [c.index for c in cases if not c.reason.startswith(f"NVD {c.cve}: ")] == []


def test_a_patch_named_after_the_cve_means_not_affected(cases: list[AccuracyCase]) -> None:
    patched = [c for c in cases if any(c.cve in p for p in c.patches)]
    assert len(patched) >= 5
    assert [c.index for c in patched if c.affected] == []


def test_a_case_becomes_a_package() -> None:
    case = next(c for c in load_cases() if c.cpe)
    package = case.to_package(frozenset({"CVE-2000-0001"}))
    assert isinstance(package, Package)
    assert (package.name, package.cpes) == (case.name, (case.cpe,))
    assert package.patched_cves == frozenset({"CVE-2000-0001"})


# --- the loader rejects what would silently skew the figures --------------------------------

GOOD = """
[[case]]
name = "openssl-1.0.1f"
pname = "openssl"
version = "1.0.1f"
cve = "CVE-2014-0160"
expected = "affected"
reason = "NVD CVE-2014-0160: cpe:2.3:a:openssl:openssl:* >=1.0.1 <1.0.1g"
trap = "letter-suffix"
"""


def test_a_good_case_parses() -> None:
    [case] = parse_cases(GOOD)
    assert (case.name, case.expected, case.patches, case.cpe) == (
        "openssl-1.0.1f",
        "affected",
        (),
        None,
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('trap = "letter-suffix"', 'trap = "letter-suffix"\nseverity = "high"', "unknown key"),
        ('cve = "CVE-2014-0160"', 'cve = "CVE-14-0160"', "bad CVE id"),
        ('cve = "CVE-2014-0160"', 'cve = "cve-2014-0160"', "bad CVE id"),
        ('expected = "affected"', 'expected = "vulnerable"', "expected must be"),
        ('expected = "affected"', "expected = true", "'expected' must be a non-empty string"),
        ('trap = "letter-suffix"', "", "missing key 'trap'"),
        ('name = "openssl-1.0.1e"', 'name = "openssl-1.0.1g"', "name must be pname-version"),
        ('trap = "letter-suffix"', 'trap = "Letter Suffix"', "trap must be"),
        ('reason = "NVD', 'reason = " NVD', "one line without outer spaces"),
        ('trap = "letter-suffix"', 'trap = "x"\npatches = "CVE-1.patch"', "'patches' must be"),
        ('trap = "letter-suffix"', 'trap = "x"\ncpe = "openssl:1.0.1f"', "'cpe' must be"),
        (
            'trap = "letter-suffix"',
            'trap = "x"\ncpe = "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*"',
            "must have 13 components and a version",
        ),
    ],
)
def test_a_bad_case_is_rejected_with_its_index(old: str, new: str, message: str) -> None:
    second = GOOD.replace("openssl-1.0.1f", "openssl-1.0.1e").replace('"1.0.1f"', '"1.0.1e"')
    assert old in second
    text = GOOD + second.replace(old, new)
    with pytest.raises(CaseFileError, match=re.escape(message)) as info:
        parse_cases(text, origin="t.toml")
    assert str(info.value).startswith("t.toml: case 1")
    assert "\n" not in str(info.value)


def test_broken_toml_and_a_missing_file_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "cases.toml"
    bad.write_text("[[case]\nname = 1\n", encoding="utf-8")
    with pytest.raises(CaseFileError, match=r"cases\.toml: not valid TOML"):
        load_cases(bad)
    with pytest.raises(CaseFileError, match=r"nope\.toml: cannot read"):
        load_cases(tmp_path / "nope.toml")
    with pytest.raises(CaseFileError, match="unknown top-level key 'cases'"):
        parse_cases(GOOD.replace("[[case]]", "[[cases]]"))


# --- the labels agree with the shared NVD corpus ----------------------------------------------


class _Match(msgspec.Struct, rename="camel"):
    criteria: str


class _Node(msgspec.Struct, rename="camel"):
    cpe_match: list[_Match] = []


class _Config(msgspec.Struct, rename="camel"):
    nodes: list[_Node] = []


class _Cve(msgspec.Struct, rename="camel"):
    id: str
    last_modified: str = ""
    configurations: list[_Config] = []


class _Item(msgspec.Struct):
    cve: _Cve


class _Feed(msgspec.Struct):
    vulnerabilities: list[_Item]


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> dict[str, set[str]]:
    """CVE id -> the ``part:vendor:product`` names its configurations mention.

    The newest ``lastModified`` wins, so the modified feed overrides a yearly one.
    """
    decoder = msgspec.json.Decoder(_Feed)
    newest: dict[str, _Cve] = {}
    for path in sorted((shared_data / "nvd").glob("nvdcve-2.0-*.json.gz")):
        for item in decoder.decode(gzip.decompress(path.read_bytes())).vulnerabilities:
            old = newest.get(item.cve.id)
            if old is None or item.cve.last_modified > old.last_modified:
                newest[item.cve.id] = item.cve
    return {
        cve_id: {
            ":".join(_split_cpe(m.criteria)[2:5])
            for config in cve.configurations
            for node in config.nodes
            for m in node.cpe_match
        }
        for cve_id, cve in newest.items()
    }


def _split_cpe(criteria: str) -> list[str]:
    return re.split(r"(?<!\\):", criteria)


def test_every_cve_is_in_the_corpus(cases: list[AccuracyCase], corpus: dict[str, set[str]]) -> None:
    assert sorted({c.cve for c in cases if c.cve not in corpus}) == []


def test_every_cited_product_is_in_the_record(
    cases: list[AccuracyCase], corpus: dict[str, set[str]]
) -> None:
    assert sum(len(_CITED.findall(c.reason)) for c in cases) > len(cases)
    wrong = [
        (c.index, ":".join(m))
        for c in cases
        for m in _CITED.findall(c.reason)
        if ":".join(m) not in corpus[c.cve]
    ]
    assert wrong == []


def test_cases_source_is_the_repository_file() -> None:
    assert DEFAULT_CASES.name == "cases.toml"
    assert DEFAULT_CASES.parent == Path(__file__).parent
