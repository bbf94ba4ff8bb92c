"""Every parser of untrusted input under Hypothesis: its own error class, never a crash.

What the stage tests do not already check (issue #6):

- ``parse_derivation(path)`` on arbitrary bytes *in a file*: a ``DerivationError`` naming
  that file and a byte offset inside it (``tests/derivation/test_aterm_properties.py``
  covers ``parse_derivation_bytes``, round trips and cuts);
- both version orders on arbitrary text, not just version-like tokens
  (``tests/matching/test_versions.py`` covers those), including long digit runs;
- ``parse_cpe`` on arbitrary and mutated CPE strings: a ``Cpe`` or ``AdvisoryError``;
- ``load_whitelist`` on arbitrary and mutated TOML/YAML files: a ``Whitelist`` or a
  ``TriageError`` naming the file;
- ``parse_vex`` on mutated real VEX documents (the stage test has 300 generated ones);
- ``feed_rows`` (decoder and row builder of the index) on mutated NVD records: ``FeedError``.

``FAST`` runs in CI time; the ``slow`` marker runs ten times as many examples.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nix_audit.advisories.ingest import feed_rows
from nix_audit.derivation.aterm import parse_derivation
from nix_audit.errors import AdvisoryError, DerivationError, FeedError, TriageError
from nix_audit.matching.cpe import Cpe, parse_cpe
from nix_audit.triage.vex import parse_vex
from nix_audit.triage.whitelist import load_whitelist
from nix_audit.versions import compare_versions, nvd_compare, version_key
from tests.helpers.nvd_feeds import cpe_match, record

FAST = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck))

REPO_TESTS = Path(__file__).resolve().parent.parent
DRV_SEEDS = [p.read_bytes() for p in sorted((REPO_TESTS / "derivation" / "data").glob("*.drv"))]
WHITELIST_SEEDS = [
    (p.suffix, p.read_text()) for p in sorted((REPO_TESTS / "triage" / "data").glob("*.[ty]*ml"))
]
VEX_SEEDS = [
    json.loads(p.read_text()) for p in sorted((REPO_TESTS / "triage" / "data").glob("*.json"))
]


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One folder for the whole module: Hypothesis reruns a test body, not its fixtures."""
    with tempfile.TemporaryDirectory(prefix="nix-audit-fuzz-") as folder:
        yield Path(folder)


def _mutated_bytes(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, max(0, len(data) - 1)))
            junk = draw(st.binary(min_size=1, max_size=4) | st.sampled_from(SPECIAL_BYTES))
            kind = draw(st.sampled_from(["delete", "replace", "insert", "cut"]))
            if kind == "delete":
                del data[at : at + len(junk)]
            elif kind == "replace":
                data[at : at + len(junk)] = junk
            elif kind == "insert":
                data[at:at] = junk
            else:
                del data[at:]
        return bytes(data)

    return build()


SPECIAL_BYTES = [b'"', b"\\", b",", b")", b"[", b"]", b"\n", b"\x00", b"\xff", b"=", b":", b"-"]


# --- ATerm through parse_derivation(path) ---------------------------------------------------


def _check_drv_file(scratch: Path, data: bytes) -> None:
    path = scratch / "hostile.drv"
    path.write_bytes(data)
    try:
        parse_derivation(path)
    except DerivationError as e:
        match = re.fullmatch(
            rf"{re.escape(str(path))}: offset (\d+): expected .+, found .+", str(e)
        )
        assert match is not None, str(e)
        assert 0 <= int(match[1]) <= len(data)


@FAST
@given(st.binary(max_size=300) | _mutated_bytes(DRV_SEEDS))
def test_drv_file_errors_name_the_file_and_an_offset(scratch: Path, data: bytes) -> None:
    _check_drv_file(scratch, data)


def test_unreadable_drv_file_is_a_derivation_error(scratch: Path) -> None:
    with pytest.raises(DerivationError, match=r"^.+/folder\.drv: cannot read: "):
        (scratch / "folder.drv").mkdir(exist_ok=True)
        parse_derivation(scratch / "folder.drv")


@pytest.mark.slow
@SLOW
@given(st.binary(max_size=2000) | _mutated_bytes(DRV_SEEDS))
def test_drv_file_errors_name_the_file_and_an_offset_long(scratch: Path, data: bytes) -> None:
    _check_drv_file(scratch, data)


# --- version orders on arbitrary text -------------------------------------------------------

VERSIONS = (
    st.text(max_size=20)
    | st.from_regex(r"[0-9]{1,60}(\.[0-9a-z]{0,30}){0,4}", fullmatch=True)
    | st.text(alphabet="0123456789.-_+~ab", max_size=30)
)


def _check_order(compare: Callable[[str, str], int], a: str, b: str, c: str) -> None:
    assert compare(a, a) == 0
    assert compare(a, b) == -compare(b, a)
    assert compare(a, b) in (-1, 0, 1)
    if compare(a, b) <= 0 and compare(b, c) <= 0:
        assert compare(a, c) <= 0
    if compare(a, b) == 0:
        assert compare(a, c) == compare(b, c)


@FAST
@given(VERSIONS, VERSIONS, VERSIONS)
def test_both_version_orders_are_total_on_any_text(a: str, b: str, c: str) -> None:
    _check_order(compare_versions, a, b, c)
    _check_order(nvd_compare, a, b, c)


@pytest.mark.slow
@SLOW
@given(VERSIONS, VERSIONS, VERSIONS)
def test_both_version_orders_are_total_on_any_text_long(a: str, b: str, c: str) -> None:
    _check_order(compare_versions, a, b, c)
    _check_order(nvd_compare, a, b, c)


@pytest.mark.parametrize("order", [compare_versions, nvd_compare, lambda a, b: version_key(a)])
def test_version_orders_survive_a_5000_digit_component(order: Callable[[str, str], Any]) -> None:
    order("1." + "9" * 5000, "1.2")


# --- CPE names ------------------------------------------------------------------------------

CPE_FIELD = st.text(alphabet=st.sampled_from(list("ab*-?:\\.%_~!0é")), max_size=6)
CPE_LIKE = st.lists(CPE_FIELD, min_size=0, max_size=14).map(lambda f: "cpe:2.3:" + ":".join(f))


@FAST
@given(st.text(max_size=80) | CPE_LIKE)
def test_parse_cpe_gives_a_cpe_or_an_advisory_error(text: str) -> None:
    try:
        cpe = parse_cpe(text)
    except AdvisoryError as e:
        assert type(e) is AdvisoryError
        assert "\n" not in str(e) and str(e).startswith("not a CPE 2.3 name")
    else:
        assert isinstance(cpe, Cpe)
        assert cpe.part in ("a", "o", "h", "*")
        assert all(isinstance(value, str) and value for value in (cpe.vendor, cpe.product))


# --- whitelists -----------------------------------------------------------------------------

WHITELIST_TEXT = st.text(max_size=200) | _mutated_bytes(
    [text.encode() for _, text in WHITELIST_SEEDS]
).map(lambda b: b.decode("utf-8", errors="replace"))


def _check_whitelist(scratch: Path, suffix: str, text: str) -> None:
    path = scratch / f"wl{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_whitelist(str(path))
    except TriageError as e:
        message = str(e)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message, message
        assert re.match(rf"{re.escape(str(path))}: (line \d+: |invalid YAML)", message), message


@FAST
@given(st.sampled_from([".toml", ".yaml", ""]), WHITELIST_TEXT)
def test_whitelist_text_gives_rules_or_a_triage_error_with_file_and_line(
    scratch: Path, suffix: str, text: str
) -> None:
    _check_whitelist(scratch, suffix, text)


@pytest.mark.parametrize("suffix", [".yaml", ""])
def test_whitelist_with_a_control_character(scratch: Path, suffix: str) -> None:
    with pytest.raises(TriageError):
        load_whitelist(str(_write(scratch, suffix, "- name: openssl\x1f\n")))


def test_whitelist_with_a_broken_issue_url(scratch: Path) -> None:
    text = '["openssl"]\nissue_url = "https://[tracker.example.org/1"\n'
    with pytest.raises(TriageError, match="line 2"):
        load_whitelist(str(_write(scratch, ".toml", text)))


def _write(scratch: Path, suffix: str, text: str) -> Path:
    path = scratch / f"wl{suffix}"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
@SLOW
@given(st.sampled_from([".toml", ".yaml", ""]), WHITELIST_TEXT)
def test_whitelist_text_long(scratch: Path, suffix: str, text: str) -> None:
    _check_whitelist(scratch, suffix, text)


# --- VEX ------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(tree: object, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path (keys and indexes) to a value inside a JSON tree."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_tree(draw: st.DrawFn, seeds: list[Any]) -> Any:
    """A seed document with a few values replaced by other JSON or removed."""
    tree = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(tree) if p]
        if not paths:
            break
        *parent_path, last = draw(st.sampled_from(paths))
        parent = tree
        for step in parent_path:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[last]
        else:
            parent[last] = draw(JSON_VALUES)
    return tree


@FAST
@given(mutated_tree(VEX_SEEDS))
def test_mutated_vex_gives_a_document_or_a_triage_error(document: Any) -> None:
    try:
        parse_vex(json.dumps(document).encode(), "m.json")
    except TriageError as e:
        assert str(e).startswith("m.json") and "\n" not in str(e), str(e)


# --- NVD records ----------------------------------------------------------------------------

RECORD_SEEDS = [
    record(
        "CVE-2014-0160",
        [
            cpe_match(
                "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*",
                versionStartIncluding="1.0.1",
                versionEndExcluding="1.0.1g",
            ),
            cpe_match("cpe:2.3:o:debian:debian_linux:7.0:*:*:*:*:*:*:*", vulnerable=False),
        ],
        description="heartbeat",
    ),
    record("CVE-2016-5419", [cpe_match("cpe:2.3:a:haxx:curl:7.50.0:*:*:*:*:*:*:*")], score=None),
]


def _check_feed(scratch: Path, records: list[Any]) -> None:
    document = {"format": "NVD_CVE", "version": "2.0", "vulnerabilities": records}
    path = scratch / "nvdcve-2.0-modified.json.gz"
    path.write_bytes(gzip.compress(json.dumps(document).encode(), compresslevel=1))
    try:
        rows = feed_rows("modified", path)
    except FeedError as e:
        assert str(e).startswith(f"{path}: ") and "\n" not in str(e), str(e)
    else:
        assert rows.records == len(records)


@FAST
@given(st.lists(mutated_tree(RECORD_SEEDS) | st.sampled_from(RECORD_SEEDS), min_size=1, max_size=3))
def test_mutated_records_give_rows_or_a_feed_error(scratch: Path, records: list[Any]) -> None:
    _check_feed(scratch, records)


@pytest.mark.slow
@SLOW
@given(st.lists(mutated_tree(RECORD_SEEDS) | st.sampled_from(RECORD_SEEDS), min_size=1, max_size=3))
def test_mutated_records_long(scratch: Path, records: list[Any]) -> None:
    _check_feed(scratch, records)
