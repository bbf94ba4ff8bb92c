"""The curated mapping table: Nix package names to the CPE products they are.

The table ships with the package (``nix_audit/data/cpe-mappings.toml``, read with
``importlib.resources``) and holds reviewed entries only (``docs/matching.md``, "Contributing a
mapping entry"). Each ``[[entry]]`` lists the Nix names (``nix``), optionally a regular
expression for numbered variants (``pattern``: ``python3``, ``python311``), and every
``part:vendor:product`` the program has had in the NVD (``cpe``): one program often appears
under several vendors over the years (``todd_miller:sudo``, then ``sudo_project:sudo``).
An entry may restrict the products to a ``target_sw`` (a VS Code extension) or belong to a
language ``ecosystem`` (``python``: the entry is for ``python3.13-django``, not for a C
program named ``django``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from nix_audit.advisories.cve5_names import cna_name
from nix_audit.errors import AdvisoryError

__all__ = [
    "CpeProduct",
    "MappingEntry",
    "MappingTable",
    "default_table",
    "parse_cpe_product",
    "parse_mapping_table",
]

_RESOURCE = "cpe-mappings.toml"
_KEYS = frozenset(
    {"nix", "pattern", "cpe", "cna", "target_sw", "ecosystem", "version", "exclude", "note"}
)
# part:vendor:product with CPE 2.3 value characters (NISTIR 7695 §5.3.2), lower case and
# unquoted (the NVD's ``erlang\\/otp`` is the product ``erlang/otp``).
_PRODUCT = re.compile(r"([aoh]):([a-z0-9._\-~!+&@/]+):([a-z0-9._\-~!+&@/]+)")


@dataclass(frozen=True, slots=True)
class CpeProduct:
    """One CPE identity: part, vendor, product, and the ``target_sw`` it is limited to."""

    part: str
    vendor: str
    product: str
    target_sw: frozenset[str] | None = None

    def __str__(self) -> str:
        return f"{self.part}:{self.vendor}:{self.product}"


@dataclass(frozen=True, slots=True)
class MappingEntry:
    """One reviewed entry: these Nix names are these CPE products."""

    names: tuple[str, ...]
    products: tuple[CpeProduct, ...]
    pattern: str | None = None
    ecosystem: str | None = None
    # ``version = [regex, replacement]``: how the Nix version reads as the NVD's (issue #13:
    # ``apache-kafka-2.13-3.9.1`` is Kafka 3.9.1 built for Scala 2.13; ``openjdk-8u472-b08``
    # is Java 8 update 472, which the NVD writes ``1.8.0_472``).
    version_rewrite: tuple[str, str] | None = None
    # ``exclude = [["redhat:fuse", "Red Hat Fuse, an integration platform"]]``: vendors the
    # NVD uses for one of the entry's product names that are another program, with the reason
    # (issue #13: every vendor of the product is listed or excluded, checked against the NVD).
    excluded: tuple[tuple[CpeProduct, str], ...] = ()


def parse_cpe_product(text: str, target_sw: frozenset[str] | None = None) -> CpeProduct | None:
    """``a:openbsd:openssh`` (or ``openbsd:openssh``, part ``a``) as a product, else None."""
    value = text.strip().lower()
    if value.count(":") == 1:
        value = "a:" + value
    found = _PRODUCT.fullmatch(value)
    if found is None:
        return None
    return CpeProduct(found.group(1), found.group(2), found.group(3), target_sw)


class MappingTable:
    """Entries looked up by Nix name (lower case), then by pattern, per ecosystem."""

    def __init__(self, entries: Sequence[MappingEntry]) -> None:
        self.entries = tuple(entries)
        self._by_name: dict[tuple[str | None, str], MappingEntry] = {}
        by_ecosystem: dict[str | None, list[MappingEntry]] = {}
        for entry in self.entries:
            for name in entry.names:
                self._by_name.setdefault((entry.ecosystem, name.lower()), entry)
            if entry.pattern is not None:
                re.compile(entry.pattern)  # each pattern must stand on its own, too
                by_ecosystem.setdefault(entry.ecosystem, []).append(entry)
        # One alternation per ecosystem, tried in table order by the regex engine: a scan
        # looks up thousands of names, and a Python loop over the patterns cost it ~50 ms.
        self._patterns: dict[str | None, tuple[re.Pattern[str], list[MappingEntry]]] = {
            ecosystem: (
                re.compile("|".join(f"(?P<p{i}>{e.pattern})" for i, e in enumerate(entries))),
                entries,
            )
            for ecosystem, entries in by_ecosystem.items()
        }

    def lookup(self, name: str, ecosystem: str | None = None) -> MappingEntry | None:
        """The entry for ``name`` in ``ecosystem`` (None: a program, not a library)."""
        key = name.lower()
        entry = self._by_name.get((ecosystem, key))
        if entry is not None:
            return entry
        patterns = self._patterns.get(ecosystem)
        if patterns is None:
            return None
        alternation, entries = patterns
        found = alternation.fullmatch(key)
        if found is None:
            return None
        # The one named group that matched is the entry's (pN: entry N of this ecosystem).
        name = next(group for group, text in found.groupdict().items() if text is not None)
        return entries[int(name[1:])]


def _strings(table: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AdvisoryError(f"{where}: {key!r} must be a string or a list of strings")
    return tuple(value)


def _entry(index: int, table: object, origin: str) -> MappingEntry:
    """One ``[[entry]]`` table, checked."""
    where = f"{origin}: entry {index}"
    if not isinstance(table, Mapping):
        raise AdvisoryError(f"{where}: not a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise AdvisoryError(f"{where}: unknown key {unknown[0]!r}")
    names = _strings(table, "nix", where)
    pattern = table.get("pattern")
    if not names and pattern is None:
        raise AdvisoryError(f"{where}: needs 'nix' names or a 'pattern'")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise AdvisoryError(f"{where}: 'pattern' must be a string")
        try:
            re.compile(pattern)
        except re.error as e:
            raise AdvisoryError(f"{where}: bad 'pattern' {pattern!r}: {e}") from e
    targets = _strings(table, "target_sw", where)
    target_sw = frozenset(targets) if targets else None
    products = []
    for text in _strings(table, "cpe", where):
        product = parse_cpe_product(text, target_sw)
        if product is None:
            raise AdvisoryError(f"{where}: bad cpe {text!r} (want part:vendor:product)")
        products.append(product)
    if not products:
        raise AdvisoryError(f"{where}: needs at least one 'cpe'")
    products += _cna_products(table.get("cna", []), where)
    ecosystem = table.get("ecosystem")
    if ecosystem is not None and not isinstance(ecosystem, str):
        raise AdvisoryError(f"{where}: 'ecosystem' must be a string")
    return MappingEntry(
        names,
        tuple(products),
        pattern,
        ecosystem,
        _rewrite(table, where),
        _excluded(table.get("exclude", []), where),
    )


def _string_pairs(value: object, where: str, key: str, pair: str) -> list[tuple[str, str]]:
    """A list of two-string lists (``cna``, ``exclude``), checked."""
    if not isinstance(value, list) or not all(
        isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) and v for v in item)
        for item in value
    ):
        raise AdvisoryError(f"{where}: {key!r} must be a list of [{pair}] pairs")
    return [(first, second) for first, second in value]


def _excluded(value: object, where: str) -> tuple[tuple[CpeProduct, str], ...]:
    """``exclude = [["vendor:product", "reason"], ...]``, checked."""
    found = []
    for text, reason in _string_pairs(value, where, "exclude", "vendor:product, reason"):
        product = parse_cpe_product(text)
        if product is None:
            raise AdvisoryError(f"{where}: bad exclude {text!r} (want vendor:product)")
        found.append((product, reason))
    return tuple(found)


def _rewrite(table: Mapping[str, object], where: str) -> tuple[str, str] | None:
    """The entry's ``version = [regex, replacement]``, checked, or None."""
    value = table.get("version")
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise AdvisoryError(f"{where}: 'version' must be [regex, replacement]")
    try:
        re.sub(value[0], value[1], "0")
    except re.error as e:
        raise AdvisoryError(f"{where}: bad 'version' {value!r}: {e}") from e
    return value[0], value[1]


def _cna_products(value: object, where: str) -> list[CpeProduct]:
    """``cna = [["Linux", "Linux"]]``: the CNA spellings (vendor, product) of the program in
    CVE records (issue #12), as the CPE words the index stores them under (``cve5_names``)."""
    products = []
    for vendor, product in _string_pairs(value, where, "cna", "vendor, product"):
        name = cna_name(vendor, product)
        if name is None:
            raise AdvisoryError(f"{where}: cna {[vendor, product]!r} names no product")
        products.append(CpeProduct("a", name.vendor, name.product))
    return products


def parse_mapping_table(text: str, origin: str = "<mappings>") -> MappingTable:
    """The table in TOML ``text``; ``AdvisoryError`` names ``origin`` and the bad entry."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise AdvisoryError(f"{origin}: not valid TOML: {e}") from e
    extra = sorted(set(doc) - {"entry"})
    if extra:
        raise AdvisoryError(f"{origin}: unknown top-level key {extra[0]!r} (only [[entry]])")
    tables = doc.get("entry", [])
    if not isinstance(tables, list):
        raise AdvisoryError(f"{origin}: 'entry' must be an array of tables ([[entry]])")
    return MappingTable([_entry(i, t, origin) for i, t in enumerate(tables)])


@lru_cache(maxsize=1)
def default_table() -> MappingTable:
    """The table shipped with nix-audit (read once per process)."""
    resource = resources.files("nix_audit").joinpath("data", _RESOURCE)
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as e:
        raise AdvisoryError(f"{resource}: cannot read the mapping table: {e}") from e
    return parse_mapping_table(text, origin=str(resource))
