"""Version order: Nix's ``builtins.compareVersions``, and the order CPE ranges are matched in.

A module of its own, beside ``models``: the index stores version envelopes in this order
(``advisories.envelope``), the matcher compares in it, and ``scan --running`` tells an older
loaded package from the current one; none of those stages may import a later one.

Two orders live here, on purpose apart:

* ``compare_versions`` / ``nix_version_key`` are exactly Nix's (Nix manual, "Built-in
  functions", ``builtins.compareVersions``; Nix source ``names.cc``: ``nextComponent`` and
  ``componentsLT``). A version is split into components, each a maximal run of ASCII digits
  or a maximal run of other characters that are neither digits nor separators; the
  separators ``.`` and ``-`` are skipped, and a missing component is the empty string.
  Components compare as: both numeric -> by value; ``""`` < numeric; ``pre`` < anything
  else; a string < a number (so ``2.3a`` < ``2.3.1``); otherwise byte-wise.
* ``version_key`` / ``nvd_compare`` are the order NVD version ranges are matched in: Nix's
  order adjusted for habits of NVD data that vulnix parity and correctness need. Trailing
  zero components do not count (``153.0`` == ``153.0.0``); the pre-release words ``dev``,
  ``alpha``, ``beta``, ``pre``, ``preview`` and ``rc`` sort before the release
  (``1.0rc1`` < ``1.0``), while any other word after a release sorts after it, as in Nix
  (``1.0.1`` < ``1.0.1f`` < ``1.0.1g`` < ``1.0.2``, OpenSSL's letter releases); the CPE
  update word ``patch`` is Nix's ``p`` (``1.9.5:patch1`` is ``1.9.5p1``). It is
  defined through a tuple key, so it is a total order by construction.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import cast

__all__ = [
    "VersionKey",
    "bound_key",
    "compare_versions",
    "encode_key",
    "encoded_bound",
    "encoded_key",
    "in_range",
    "is_date",
    "is_orderable",
    "key_in_range",
    "keys_in_range",
    "nix_version_key",
    "nvd_compare",
    "version_key",
]

# One component: a run of ASCII digits, or a run of characters that are neither digits nor
# separators (names.cc ``nextComponent``; ``isdigit`` in the C locale is ASCII only).
_COMPONENT = re.compile(r"[0-9]+|[^0-9.\-]+")
_DIGITS = "0123456789"

# names.cc parses numeric components with ``string2Int<int>``: a run of digits beyond the
# range of a C ``int`` does not parse and is then compared as a string (checked against
# Nix 2.8: ``compareVersions "1.99999999999" "1.5"`` is -1).
_NIX_INT_MAX = 2**31 - 1
# A digit run longer than this is no release number: it is compared as a word, as Nix itself
# does past a C int. It also keeps int() within CPython's 4,300-digit limit on hostile input.
_MAX_DIGITS = 100

# Ranks of the Nix key: ``pre`` < end of version (``""``) < other strings < numbers.
_NIX_PRE = (0, "")
_NIX_END = (1, "")

# Pre-release words of the matching order, lowest first (the PEP 440 and semver habit that
# NVD ranges follow: 1.0.dev1 < 1.0a1 < 1.0b1 < 1.0rc1 < 1.0).
_PRE_RELEASE = {"dev": 0, "alpha": 1, "beta": 2, "pre": 3, "preview": 3, "rc": 4}

# Words that name the same thing in Nix and NVD spellings: nixpkgs writes OpenSSH's and
# sudo's patch levels as ``9.8p1`` / ``1.9.5p1``, the NVD as the CPE update ``p1`` or
# ``patch1`` (``cpe:2.3:a:sudo_project:sudo:1.9.5:patch1``, ``gnu:bash:5.0:patch11``).
_SYNONYMS = {"patch": "p"}
# Alpha and beta releases written as one letter between digits: Firefox's ``148.0b15`` is a
# beta of 148.0 and CPython's ``3.14.0a1`` an alpha of 3.14.0 (issue #13); a letter at the
# end stays a later release, as OpenSSL's ``1.0.1b``.
_SHORT_PRE_RELEASE = re.compile(r"(?<=\d)([ab])(?=\d)")
_SHORT_PRE_WORD = {"a": "alpha", "b": "beta"}

# Values that stand for "no version" in CPE names (NISTIR 7695 §5.4 logical values ANY, NA).
_NO_VERSION = frozenset({"", "*", "-"})

# A git commit id: 7 to 40 hex digits with at least one letter (an all-digit run is a date
# or a plain number and stays orderable).
_COMMIT = re.compile(r"(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}")

# A calendar date as a version: YYYY-MM-DD, YYYY.MM.DD or YYYYMMDD.
_DATE = re.compile(r"(?:19|20)\d\d([-.]?)(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12]\d|3[01])")

VersionKey = tuple[tuple[object, ...], ...]


def _is_number(component: str) -> bool:
    """Whether a component (as ``_COMPONENT`` splits them) is a run of ASCII digits."""
    return component != "" and component[0] in _DIGITS


def _nix_int(component: str) -> int | None:
    """The value of a numeric component as Nix's ``string2Int<int>`` reads it, else None."""
    if not _is_number(component) or len(component.lstrip("0")) > _MAX_DIGITS:
        return None  # past any C int, and past what int() may parse (issue #6)
    value = int(component)
    return value if value <= _NIX_INT_MAX else None


def _nix_less(c1: str, c2: str) -> bool:
    """``componentsLT`` of names.cc, rule for rule."""
    n1, n2 = _nix_int(c1), _nix_int(c2)
    if n1 is not None and n2 is not None:
        return n1 < n2
    if c1 == "" and n2 is not None:
        return True
    if c1 == "pre" and c2 != "pre":
        return True
    if c2 == "pre":
        return False
    if n2 is not None:  # "Assume that `2.3a' < `2.3.1'." (names.cc)
        return True
    if n1 is not None:
        return False
    return c1 < c2


def compare_versions(a: str, b: str) -> int:
    """Nix's ``builtins.compareVersions``: -1, 0 or 1 as ``a`` is older, equal or newer.

    Components are compared pairwise, the shorter list padded with empty strings, until
    one is smaller (Nix source ``compareVersions`` in names.cc).
    """
    left, right = _COMPONENT.findall(a), _COMPONENT.findall(b)
    for i in range(max(len(left), len(right))):
        c1 = left[i] if i < len(left) else ""
        c2 = right[i] if i < len(right) else ""
        if _nix_less(c1, c2):
            return -1
        if _nix_less(c2, c1):
            return 1
    return 0


@lru_cache(maxsize=1 << 16)
def nix_version_key(v: str) -> VersionKey:
    """A sort key whose order is exactly ``compare_versions``.

    ``""`` only ever appears as padding after the last component (``nextComponent`` never
    yields an empty component inside a version), so one end marker, ranked as ``""`` is by
    ``componentsLT``, closes every key; tuple comparison then does the padding for us.
    """
    parts: list[tuple[object, ...]] = []
    for component in _COMPONENT.findall(v):
        number = _nix_int(component)
        if number is not None:
            parts.append((3, number))
        elif component == "pre":
            parts.append(_NIX_PRE)
        else:
            parts.append((2, component))
    parts.append(_NIX_END)
    return tuple(parts)


# Ranks of the matching key: pre-release word < end of version < other words < numbers.
# Every rank keeps one type in its second slot, so keys never compare an int with a str.
_END = (1,)


def _nvd_components(v: str) -> list[str]:
    """The components of ``v`` for matching: lower case, a leading ``v`` before a digit dropped."""
    text = v.strip().lower()
    if len(text) > 1 and text[0] == "v" and text[1] in _DIGITS:
        text = text[1:]  # "v1.2" in some NVD ranges means "1.2"
    text = _SHORT_PRE_RELEASE.sub(lambda m: _SHORT_PRE_WORD[m[1]], text)
    return [_SYNONYMS.get(c, c) for c in _COMPONENT.findall(text)]


@lru_cache(maxsize=1 << 17)
def version_key(v: str) -> VersionKey:
    """The key of the matching order; cached, scans reuse it a lot (see ``_version_key``)."""
    return _version_key(v)


def _version_key(v: str) -> VersionKey:
    """The key of the matching order (see the module docstring).

    Zero components followed by the end or by a word are dropped, so that ``1.0`` ==
    ``1.0.0`` and ``1.0rc1`` == ``1.0.0-rc1`` (the NVD writes the same release both ways).
    """
    kept: list[tuple[object, ...]] = []
    for component in reversed(_nvd_components(v)):
        if _is_number(component) and len(component.lstrip("0")) <= _MAX_DIGITS:
            number = int(component)
            if number == 0 and (not kept or kept[-1][0] != 3):
                continue  # a trailing zero, or one before a word: it does not count
            kept.append((3, number))
        elif component in _PRE_RELEASE:
            kept.append((0, _PRE_RELEASE[component], component))
        else:
            kept.append((2, component))
    kept.reverse()
    kept.append(_END)
    return tuple(kept)


def nvd_compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, equal to or newer than ``b`` in the matching order."""
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


@lru_cache(maxsize=1 << 14)
def is_orderable(v: str) -> bool:
    """Whether ``v`` can be placed in an NVD version range.

    Not orderable: no version at all (``""``, ``*``, ``-``), a commit id, and versions that
    do not start with a number (``unstable-2024-01-01``, ``git``, ``0-unstable-2024-01-01``,
    nixpkgs' placeholder ``0`` before a snapshot date): comparing those with release numbers
    gives arbitrary answers, which would mean arbitrary findings.
    """
    text = v.strip().lower()
    if text in _NO_VERSION or _COMMIT.fullmatch(text):
        return False
    components = _nvd_components(text)
    if not components or not _is_number(components[0]):
        return False
    if len(components) > 1 and not components[0].strip("0") and not _is_number(components[1]):
        return components[1] in _PRE_RELEASE  # 0-unstable-..., 0-git-...: a snapshot
    return True


@lru_cache(maxsize=1 << 14)
def is_date(v: str) -> bool:
    """Whether ``v`` is a calendar date (``2021-06-30``, ``20070708``), not a release number.

    Some NVD ranges are bounded by a snapshot date (FFmpeg: ``versionEndExcluding``
    ``2021-06-30``); a release number and a date cannot be placed against each other.
    """
    return _DATE.fullmatch(v.strip()) is not None


@lru_cache(maxsize=1 << 16)
def bound_key(value: str) -> VersionKey | None:
    """The key of a range bound, or None when the bound says "no version" (``*``, ``-``)."""
    return None if value.strip() in _NO_VERSION else version_key(value)


def key_in_range(
    key: VersionKey,
    start_including: str | None,
    start_excluding: str | None,
    end_including: str | None,
    end_excluding: str | None,
) -> bool:
    """``in_range`` for a version already turned into its ``version_key``."""
    bounds = (start_including, start_excluding, end_including, end_excluding)
    low, low_x, high, high_x = (None if b is None else bound_key(b) for b in bounds)
    return keys_in_range(key, low, low_x, high, high_x)


def keys_in_range(
    key: VersionKey,
    low: VersionKey | None,
    low_excluded: VersionKey | None,
    high: VersionKey | None,
    high_excluded: VersionKey | None,
) -> bool:
    """Whether ``key`` lies within bounds given as keys (None: no such bound); the range
    rule itself, for callers that read the bounds once (the matcher's inner loop)."""
    return not (
        (low is not None and key < low)
        or (low_excluded is not None and key <= low_excluded)
        or (high is not None and key > high)
        or (high_excluded is not None and key >= high_excluded)
    )


def in_range(
    version: str,
    *,
    start_including: str | None = None,
    start_excluding: str | None = None,
    end_including: str | None = None,
    end_excluding: str | None = None,
) -> bool:
    """Whether ``version`` lies within the NVD range given by the four optional bounds.

    The bounds are ``versionStartIncluding`` ... ``versionEndExcluding`` of a ``cpeMatch``
    (NVD CVE API 2.0); an absent bound, or one that says "no version", does not restrict.
    Uses the matching order.
    """
    return key_in_range(
        version_key(version), start_including, start_excluding, end_including, end_excluding
    )


def encode_key(key: VersionKey) -> bytes:
    """``key`` (of ``version_key``) as bytes that sort as the keys do.

    The advisory index stores each posting's version envelope in this form, so a scan
    compares bytes instead of decoding records (issue #3). Each component is its rank byte,
    then: numbers as a length-prefixed big-endian magnitude (a longer magnitude is a larger
    number; no leading zero bytes), words as UTF-8 with NUL escaped and a NUL NUL terminator
    (so a word sorts before its extensions), pre-release words with their rank byte first.
    """
    out = bytearray()
    for part in key:
        rank = cast(int, part[0])
        out.append(rank)
        if rank == 3:
            number = cast(int, part[1])
            magnitude = number.to_bytes((number.bit_length() + 7) // 8 or 1, "big")
            out += len(magnitude).to_bytes(2, "big") + magnitude
        elif rank == 2:
            out += _encode_word(cast(str, part[1]))
        elif rank == 0:
            out.append(cast(int, part[1]))
            out += _encode_word(cast(str, part[2]))
    return bytes(out)


def _encode_word(word: str) -> bytes:
    return word.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff") + b"\x00\x00"


@lru_cache(maxsize=1 << 15)
def encoded_key(v: str) -> bytes:
    """``encode_key(version_key(v))`` for building the index.

    Cached on its own, without filling ``version_key``'s cache: an index build reads a
    million version strings, and the tuples it would keep cost each decoding worker tens
    of MB (issue #3: ingest within 300 MB).
    """
    return encode_key(_version_key(v))


def encoded_bound(value: str) -> bytes | None:
    """``encoded_key`` of a range bound, None when the bound says "no version" (``*``, ``-``)."""
    return None if value.strip() in _NO_VERSION else encoded_key(value)
