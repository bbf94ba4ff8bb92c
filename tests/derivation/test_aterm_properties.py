"""Laws of the ATerm reader and writer, checked with Hypothesis.

- parse(render(d)) == d for any derivation value, whatever its strings hold;
- any bytes at all either parse or raise DerivationError, never anything else;
- cut or mutated derivations raise only DerivationError, a cut one at the byte of the cut;
- the fast whole-file expression and the reference parser accept the same texts and agree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nix_audit.derivation import aterm
from nix_audit.derivation.aterm import (
    Derivation,
    DerivationOutput,
    parse_derivation_bytes,
    render_derivation,
)
from nix_audit.errors import DerivationError

FAST = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=50_000, deadline=None, suppress_health_check=list(HealthCheck))

# Any unicode that UTF-8 can hold (no lone surrogates), with the characters that matter to
# the format drawn often.
_SPECIAL = st.sampled_from(list('"\\\n\r\tnrt()[],é\x00'))
TEXT = st.text(st.characters(codec="utf-8") | _SPECIAL, max_size=8)
TUPLES = st.lists(TEXT, max_size=3).map(tuple)

DERIVATIONS = st.builds(
    Derivation,
    path=st.just("gen.drv"),
    outputs=st.lists(st.builds(DerivationOutput, TEXT, TEXT, TEXT, TEXT), max_size=3).map(tuple),
    input_drvs=st.lists(st.tuples(TEXT, TUPLES), max_size=3).map(tuple),
    input_srcs=TUPLES,
    system=TEXT,
    builder=TEXT,
    args=TUPLES,
    env=st.lists(st.tuples(TEXT, TEXT), max_size=5).map(tuple),
)

# Real Nix output to cut and mutate: the hand-made fixtures (every kind of escape, several
# outputs and inputs, structured attributes).
_DATA = Path(__file__).parent / "data"
SEEDS = [
    (_DATA / name).read_bytes()
    for name in ("escapes-1.0.drv", "multi-out-2.3.drv", "structured-pkg.drv")
]
_OFFSET_RE = re.compile(r"^m\.drv: offset (\d+): expected .+, found .+$")


def _reference(text: str) -> Derivation | None:
    """What the recursive-descent parser makes of ``text``, or None when it rejects it."""
    try:
        return aterm._Parser(text, "m.drv").parse()
    except DerivationError:
        return None


def _error_offset(error: DerivationError) -> int:
    """The byte offset in a one-line error message (which must have the documented shape)."""
    match = _OFFSET_RE.match(str(error))
    assert match is not None, str(error)
    return int(match[1])


def _check_any_bytes(data: bytes) -> None:
    """Parse or DerivationError, nothing else; both readers agree; the offset is in range."""
    drv: Derivation | None = None
    try:
        drv = parse_derivation_bytes(data, "m.drv")
    except DerivationError as e:
        assert 0 <= _error_offset(e) <= len(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        assert drv is None
        return
    reference = _reference(text)
    assert (aterm._DERIVE_RE.fullmatch(text) is not None) == (reference is not None)
    assert reference == drv
    if drv is not None:
        assert parse_derivation_bytes(render_derivation(drv).encode(), "m.drv") == drv


def _check_round_trip(drv: Derivation) -> None:
    text = render_derivation(drv)
    assert parse_derivation_bytes(text.encode("utf-8"), drv.path) == drv
    assert aterm._Parser(text, drv.path).parse() == drv


def _check_cut(seed: bytes, cut: int) -> None:
    data = seed[:cut]
    with pytest.raises(DerivationError) as info:
        parse_derivation_bytes(data, "m.drv")
    # Every whole token before the cut is read, so the error is at the cut; only a cut
    # "Derive" keyword or a cut multi-byte character is reported where it starts.
    whole_characters = len(data.decode("utf-8", errors="ignore").encode("utf-8"))
    assert _error_offset(info.value) == (0 if cut < len("Derive") else whole_characters)


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A real derivation with a few bytes deleted, replaced or inserted."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data) - 1))
        junk = draw(st.binary(min_size=1, max_size=3) | st.sampled_from([b'"', b"\\", b",", b")"]))
        kind = draw(st.sampled_from(["delete", "replace", "insert"]))
        if kind == "delete":
            del data[at]
        elif kind == "replace":
            data[at : at + len(junk)] = junk
        else:
            data[at:at] = junk
    return bytes(data)


ANY_BYTES = st.binary(max_size=200) | st.binary(max_size=100).map(lambda b: b"Derive([" + b)
CUTS = st.sampled_from(SEEDS).flatmap(lambda s: st.tuples(st.just(s), st.integers(0, len(s) - 1)))


@FAST
@given(DERIVATIONS)
def test_render_then_parse_is_identity(drv: Derivation) -> None:
    _check_round_trip(drv)


@FAST
@given(ANY_BYTES)
def test_any_bytes_parse_or_raise_derivation_error(data: bytes) -> None:
    _check_any_bytes(data)


@FAST
@given(mutations())
def test_mutated_derivations_raise_only_derivation_error(data: bytes) -> None:
    _check_any_bytes(data)


@FAST
@given(CUTS)
def test_cut_derivations_fail_at_the_cut(seed_and_cut: tuple[bytes, int]) -> None:
    _check_cut(*seed_and_cut)


@pytest.mark.slow
@SLOW
@given(DERIVATIONS)
def test_render_then_parse_is_identity_long(drv: Derivation) -> None:
    _check_round_trip(drv)


@pytest.mark.slow
@SLOW
@given(ANY_BYTES | mutations())
def test_hostile_bytes_raise_only_derivation_error_long(data: bytes) -> None:
    _check_any_bytes(data)
