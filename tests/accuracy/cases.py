"""Typed loader for the labelled accuracy set ``cases.toml`` (issue #4).

Each ``[[case]]`` table is one (Nix package, CVE) pair with the verdict the NVD record gives.
The loader checks every field, so that a typo in a hand-edited case fails loudly with the
case's index instead of silently changing the precision and recall the harness reports.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nix_audit.models import Package

__all__ = [
    "DEFAULT_CASES",
    "VERDICTS",
    "AccuracyCase",
    "CaseFileError",
    "Verdict",
    "load_cases",
    "parse_cases",
]

DEFAULT_CASES = Path(__file__).with_name("cases.toml")

Verdict = Literal["affected", "not_affected"]
VERDICTS: tuple[Verdict, ...] = ("affected", "not_affected")

# CVE ids: "CVE-", a four-digit year, then four or more digits (CVE numbering since 2014).
_CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}")
# A trap tag is a short lower-case slug such as ``range-end-excluding``.
_TRAP = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# A CPE 2.3 formatted string has 13 colon-separated components (NISTIR 7695, 6.2); an escaped
# colon ("\:") inside a component does not separate.
_CPE_SPLIT = re.compile(r"(?<!\\):")

_REQUIRED = ("name", "pname", "version", "cve", "expected", "reason", "trap")
_OPTIONAL = ("cpe", "patches", "urls", "attribute", "stratum")
# Top-level keys of a drawn set (``drawn_cases.toml``, issue #13) beside its cases.
_DRAWN_KEYS = frozenset({"seed", "population"})


class CaseFileError(ValueError):
    """``cases.toml`` is malformed; the message names the file and the case index."""


@dataclass(frozen=True, slots=True)
class AccuracyCase:
    """One labelled pair: this package, this CVE, this verdict, and why.

    ``name`` is the Nix store name and always equals ``f"{pname}-{version}"``. ``cpe`` is an
    exact CPE the input carries (``meta.identifiers.cpe``); ``patches`` are the names of the
    patches applied to the derivation; ``urls`` are the source fetcher's URLs.
    """

    index: int
    name: str
    pname: str
    version: str
    cve: str
    expected: Verdict
    reason: str
    trap: str
    cpe: str | None = None
    patches: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    # Drawn cases (issue #13): the nixpkgs attribute path, and the population drawn from.
    attribute: str | None = None
    stratum: str | None = None

    @property
    def affected(self) -> bool:
        """True when the NVD record says this package version is affected."""
        return self.expected == "affected"

    def to_package(self, patched_cves: frozenset[str] = frozenset()) -> Package:
        """The :class:`Package` a source would produce for this case.

        ``patched_cves`` is left to the caller, which derives it from :attr:`patches` with the
        same code a scan uses (``nix_audit.derivation.patches``).
        """
        return Package(
            name=self.name,
            pname=self.pname,
            version=self.version,
            patched_cves=patched_cves,
            cpes=(self.cpe,) if self.cpe else (),
            source_urls=self.urls,
            attribute=self.attribute,
        )


def load_cases(path: Path = DEFAULT_CASES) -> list[AccuracyCase]:
    """Read and validate ``path``; raise :class:`CaseFileError` on the first bad case."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CaseFileError(f"{path}: cannot read: {e.strerror}") from e
    return parse_cases(text, origin=str(path))


def parse_cases(text: str, origin: str = "<cases>") -> list[AccuracyCase]:
    """Validate the TOML document ``text`` (``origin`` names it in error messages)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CaseFileError(f"{origin}: not valid TOML: {e}") from e
    extra = sorted(set(doc) - {"case"} - _DRAWN_KEYS)
    if extra:
        raise CaseFileError(f"{origin}: unknown top-level key {extra[0]!r} (only [[case]])")
    tables = doc.get("case", [])
    if not isinstance(tables, list):
        raise CaseFileError(f"{origin}: 'case' must be an array of tables ([[case]])")
    return [_case(i, table, origin) for i, table in enumerate(tables)]


def _case(index: int, table: object, origin: str) -> AccuracyCase:
    """One ``[[case]]`` table, checked field by field."""
    where = f"{origin}: case {index}"
    if not isinstance(table, Mapping):
        raise CaseFileError(f"{where}: not a table")
    if isinstance(table.get("name"), str):
        where += f" ({table['name']})"
    unknown = sorted(set(table) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise CaseFileError(f"{where}: unknown key {unknown[0]!r}")
    fields = {key: _text(table, key, where) for key in _REQUIRED}
    _check_fields(fields, where)
    return AccuracyCase(
        index=index,
        name=fields["name"],
        pname=fields["pname"],
        version=fields["version"],
        cve=fields["cve"],
        expected="affected" if fields["expected"] == "affected" else "not_affected",
        reason=fields["reason"],
        trap=fields["trap"],
        cpe=_cpe(table, where),
        patches=_strings(table, "patches", where),
        urls=_strings(table, "urls", where),
        attribute=_optional_text(table, "attribute", where),
        stratum=_optional_text(table, "stratum", where),
    )


def load_population(path: Path) -> dict[str, int]:
    """The population sizes of a drawn set: how many pairs each stratum had when drawn."""
    population = tomllib.loads(path.read_text(encoding="utf-8")).get("population", {})
    if not isinstance(population, dict) or not all(
        isinstance(v, int) and v > 0 for v in population.values()
    ):
        raise CaseFileError(f"{path}: 'population' must map strata to positive counts")
    return population


def _optional_text(table: Mapping[str, object], key: str, where: str) -> str | None:
    return _text(table, key, where) if key in table else None


def _check_fields(fields: Mapping[str, str], where: str) -> None:
    """Cross-field rules: the name rule, the CVE id form, the verdict and the trap slug."""
    if fields["name"] != f"{fields['pname']}-{fields['version']}":
        raise CaseFileError(f"{where}: name must be pname-version, got {fields['name']!r}")
    if not _CVE_ID.fullmatch(fields["cve"]):
        raise CaseFileError(f"{where}: bad CVE id {fields['cve']!r} (want CVE-YYYY-NNNN)")
    if fields["expected"] not in VERDICTS:
        raise CaseFileError(
            f"{where}: expected must be 'affected' or 'not_affected', got {fields['expected']!r}"
        )
    if not _TRAP.fullmatch(fields["trap"]):
        raise CaseFileError(f"{where}: trap must be a lower-case slug, got {fields['trap']!r}")


def _text(table: Mapping[str, object], key: str, where: str) -> str:
    """A required, non-empty, single-line string field."""
    if key not in table:
        raise CaseFileError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise CaseFileError(f"{where}: {key!r} must be a non-empty string")
    if "\n" in value or value != value.strip():
        raise CaseFileError(f"{where}: {key!r} must be one line without outer spaces")
    return value


def _cpe(table: Mapping[str, object], where: str) -> str | None:
    """The optional exact CPE: a CPE 2.3 formatted string naming one version."""
    if "cpe" not in table:
        return None
    value = table["cpe"]
    if not isinstance(value, str) or not value.startswith("cpe:2.3:"):
        raise CaseFileError(f"{where}: 'cpe' must be a CPE 2.3 string (cpe:2.3:...)")
    parts = _CPE_SPLIT.split(value)
    if len(parts) != 13 or parts[2] not in ("a", "o", "h") or parts[5] in ("*", "-", ""):
        raise CaseFileError(f"{where}: 'cpe' must have 13 components and a version: {value!r}")
    return value


def _strings(table: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    """An optional list of non-empty strings (``patches``, ``urls``)."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CaseFileError(f"{where}: {key!r} must be a list of non-empty strings")
    return tuple(value)
