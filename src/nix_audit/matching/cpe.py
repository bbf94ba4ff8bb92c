"""CPE 2.3 formatted strings (``cpe:2.3:a:openssl:openssl:1.0.1:f:*:*:*:*:*:*``).

The binding is NISTIR 7695 (CPE Naming 2.3) §6.2: the prefix ``cpe:2.3:`` and then the
eleven attributes of a well-formed name (§5.2: part, vendor, product, version, update,
edition, language, sw_edition, target_sw, target_hw, other) separated by colons. Inside a
value a backslash quotes the next character (§5.3.2, §6.2.2.1), so ``\\:`` is a colon inside
a value, not a separator, and ``node\\.js`` is the product ``node.js``. A lone ``*`` is the
logical value ANY and a lone ``-`` is NA (§5.4, §6.2.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from nix_audit.errors import AdvisoryError

__all__ = ["ANY", "NA", "Cpe", "parse_cpe"]

ANY = "*"
NA = "-"

_PREFIX = ("cpe", "2.3")
_FIELDS = 11
_PARTS = frozenset({"a", "o", "h", ANY})  # NISTIR 7695 §5.3.3.1: application, OS, hardware


@dataclass(frozen=True, slots=True)
class Cpe:
    """The attributes of one CPE 2.3 name, unquoted and in lower case.

    A value is ``"*"`` for ANY and ``"-"`` for NA; the rare quoted lone ``\\*`` or ``\\-``
    keeps its backslash, so it can never be mistaken for a logical value.
    """

    part: str
    vendor: str
    product: str
    version: str
    update: str
    edition: str
    language: str
    sw_edition: str
    target_sw: str
    target_hw: str
    other: str


def _split_unescaped(s: str) -> list[str] | None:
    """``s`` split at colons that no backslash quotes; None when ``s`` ends inside a quote."""
    if "\\" not in s:
        return s.split(":")
    fields: list[str] = []
    current: list[str] = []
    chars = iter(s)
    for char in chars:
        if char == "\\":
            quoted = next(chars, None)
            if quoted is None:
                return None
            current.append("\\" + quoted)
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def _unquote(value: str) -> str:
    """A bound value with its quoting backslashes removed (NISTIR 7695 §6.2.3, unbinding).

    CPE values compare case-insensitively, and the NVD dictionary writes them in lower
    case, so the value is lower-cased too.
    """
    value = value.lower()
    if "\\" not in value or value in ("\\*", "\\-"):
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        out.append(next(chars, "") if char == "\\" else char)
    return "".join(out)


@lru_cache(maxsize=1 << 17)
def parse_cpe(s: str) -> Cpe:
    """Parse a CPE 2.3 formatted string; cached, as advisories repeat the same names a lot.

    Raises ``AdvisoryError`` naming the string when it is not a CPE 2.3 formatted string.
    """
    if "\\" not in s and s.startswith("cpe:2.3:"):
        # The common case, fast: nothing quoted, so split and lower-case in one go.
        values = s[8:].lower().split(":")
        if len(values) == _FIELDS and values[0] in _PARTS and "" not in values:
            return Cpe(*values)
    fields = _split_unescaped(s)
    if fields is None:
        raise AdvisoryError(f"not a CPE 2.3 name (ends in a lone backslash): {s!r}")
    if tuple(fields[:2]) != _PREFIX:
        raise AdvisoryError(f"not a CPE 2.3 name (must start with 'cpe:2.3:'): {s!r}")
    values = fields[2:]
    if len(values) != _FIELDS:
        raise AdvisoryError(
            f"not a CPE 2.3 name ({len(values)} attributes, expected {_FIELDS}): {s!r}"
        )
    if any(value == "" for value in values):
        raise AdvisoryError(f"not a CPE 2.3 name (empty attribute): {s!r}")
    part = values[0].lower()
    if part not in _PARTS:
        raise AdvisoryError(f"not a CPE 2.3 name (part {part!r} is not a, o or h): {s!r}")
    return Cpe(part, *(_unquote(value) for value in values[1:]))
