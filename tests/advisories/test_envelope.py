"""Version envelopes of postings: a superset of what the matcher accepts, never less."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nix_audit.advisories.envelope import UNBOUNDED, entry_envelope, merge_envelopes, version_in
from nix_audit.matching.configurations import cpe_match_applies
from nix_audit.models import CpeMatch
from nix_audit.versions import encode_key, version_key

ANY_OPENSSL = "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*"


def holds(match: CpeMatch, version: str, update: str, candidate: str) -> bool:
    envelope = entry_envelope(match, version, update)
    assert envelope is not None
    return version_in(encode_key(version_key(candidate)), *envelope)


def test_range_envelope_is_from_start_to_end() -> None:
    match = CpeMatch(ANY_OPENSSL, True, "1.0.1", None, None, "1.0.1g")
    assert holds(match, "*", "*", "1.0.1f")
    assert holds(match, "*", "*", "1.0.1g")  # an excluded end is still inside: a superset
    assert not holds(match, "*", "*", "1.0.2")
    assert not holds(match, "*", "*", "1.0.0")


def test_exact_version_joins_the_update_field() -> None:
    match = CpeMatch("cpe:2.3:a:openssl:openssl:1.0.1:f:*:*:*:*:*:*")
    assert holds(match, "1.0.1", "f", "1.0.1f")
    assert not holds(match, "1.0.1", "f", "1.0.1g")


def test_unbounded_and_empty_cases() -> None:
    assert entry_envelope(CpeMatch(ANY_OPENSSL), "*", "*") == UNBOUNDED
    dated = CpeMatch(ANY_OPENSSL, True, None, None, None, "2021-06-30")
    assert entry_envelope(dated, "*", "*") == UNBOUNDED
    assert entry_envelope(CpeMatch("cpe:2.3:a:x:y:-:*:*:*:*:*:*:*"), "-", "*") is None


def test_merge_takes_the_loosest_bounds() -> None:
    a, b = encode_key(version_key("1.0")), encode_key(version_key("2.0"))
    assert merge_envelopes((a, a), (b, b)) == (a, b)
    assert merge_envelopes((a, None), (b, b)) == (a, None)


versions = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}([a-z]|rc[0-9]|p[0-9])?", fullmatch=True)


@settings(max_examples=2000, deadline=None)
@given(versions, st.one_of(st.none(), versions), st.one_of(st.none(), versions), versions)
def test_envelope_never_excludes_what_the_matcher_accepts(
    start: str, end_incl: str | None, end_excl: str | None, candidate: str
) -> None:
    match = CpeMatch(ANY_OPENSSL, True, start, None, end_incl, end_excl)
    if cpe_match_applies(match, {"openssl"}, candidate):
        assert holds(match, "*", "*", candidate)
