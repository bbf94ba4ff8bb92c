"""NVD configuration logic for one package: does this CVE record affect this product version?

An NVD configuration (CVE API 2.0, ``configurations``) is a list of nodes joined by the
configuration's ``operator`` (OR when absent); each node joins its ``cpeMatch`` entries by
its own ``operator``; either level may be negated. Entries with ``vulnerable: false`` name a
platform the vulnerable product runs on (a Jenkins plugin on ``a:jenkins:jenkins``, a
library on ``o:microsoft:windows``), not an affected product.

We see one package at a time and know nothing about the platform it runs on, so every
entry that is not about this package counts as UNKNOWN (it may hold), and the logic is
Kleene's three-valued one. A package is affected by a configuration when

* some ``vulnerable: true`` entry for one of its product names applies to its version
  (a *hit*), outside any negated node or configuration, and
* the configuration, so evaluated, is not FALSE.

So a package matches only through ``vulnerable: true`` entries, never as the platform.
Given product names only, vendors are ignored, as vulnix ignores them: ``a:jenkins:git`` (a
Jenkins plugin) does hit a package whose product name is ``git``. Given ``ProductScope``s
(``records_matching_scoped``, issue #4), an entry counts as the package's only when its
vendor, part, ``target_sw`` and ``sw_edition`` are in scope, and platform entries are read
as NixOS sees them: Linux holds, Windows, macOS, iOS and Android do not (``scope``).

An entry about the package applies to its version when the criteria names that exact
version (with its ``update`` joined: ``1.0.1:f`` is ``1.0.1f``), or names ANY and the
``versionStart*``/``versionEnd*`` bounds hold (no bounds: every version). NA (``-``) with
no bounds names no version. A version that cannot be ordered (``is_orderable``) matches
only exactly, and a release number is never placed against a date bound.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from nix_audit.errors import AdvisoryError
from nix_audit.matching.cpe import ANY, NA, Cpe, parse_cpe
from nix_audit.matching.scope import ProductScope, entry_in_scope, is_esr, platform_value
from nix_audit.models import AdvisoryRecord, ConfigNode, Configuration, CpeMatch
from nix_audit.versions import (
    VersionKey,
    bound_key,
    is_date,
    is_orderable,
    keys_in_range,
    version_key,
)

__all__ = [
    "MatchHit",
    "configuration_matches",
    "cpe_match_applies",
    "range_text",
    "record_matches",
    "records_matching",
    "records_matching_scoped",
]

# Parts a package can be: an application or an operating system (the Linux kernel is
# ``o:linux:linux_kernel``). Hardware (``h``) never is (NISTIR 7695 §5.3.3.1).
_PACKAGE_PARTS = frozenset({"a", "o", ANY})

Tri = bool | None  # Kleene logic: True, False, or None for UNKNOWN


@dataclass(frozen=True, slots=True)
class MatchHit:
    """The evidence of a match: the ``cpeMatch`` criteria and its range in words, the source
    that decided the CVE (``AdvisoryRecord.source``) and the entry's status (issue #12:
    ``unknown`` when a CVE record does not know whether these versions are affected)."""

    criteria: str
    version_range: str
    source: str = "nvd"
    status: str = "affected"
    platform: str | None = None  # AdvisoryRecord.platform: a flaw of that system only


@dataclass(frozen=True, slots=True)
class _Target:
    """The package as the evaluation sees it: product names (with their scopes when the
    matcher is vendor-aware), version key, orderability, date-ness and ESR edition."""

    names: Collection[str]
    key: VersionKey
    orderable: bool
    date: bool
    scopes: Mapping[str, ProductScope] | None = None
    esr: bool = False
    any_range: bool = False  # an unorderable version counts as inside every range
    # criteria -> what it says about this target (``_relevance``). A kernel's 10,000 records
    # repeat a handful of criteria strings: each is judged once per target (issue #3).
    relevance: dict[str, tuple[VersionKey | None, bool] | None] = field(
        default_factory=dict, compare=False, hash=False
    )

    @staticmethod
    def of(product_names: Collection[str], version: str) -> _Target:
        return _Target(product_names, version_key(version), is_orderable(version), is_date(version))

    @staticmethod
    def scoped(scopes: Mapping[str, ProductScope], version: str, any_range: bool) -> _Target:
        key, orderable, date = version_key(version), is_orderable(version), is_date(version)
        return _Target(scopes, key, orderable, date, scopes, is_esr(version), any_range)


def _criteria_version(cpe: Cpe) -> str | None:
    """The exact version a criteria names, or None when it names ANY or NA.

    An ``update`` is joined to the version as vulnix joins it: ``1.0.1:f`` is OpenSSL's
    ``1.0.1f``, ``2.4:p1`` is ``2.4p1`` (Nix versions carry these letters in one string).
    """
    if cpe.version in (ANY, NA):
        return None
    if cpe.update in (ANY, NA):
        return cpe.version
    return cpe.version + cpe.update


@lru_cache(maxsize=1 << 17)
def _criteria_facts(criteria: str) -> tuple[str, VersionKey | None, bool] | None:
    """(product, key of the exact version or None, version is ANY), or None when the
    criteria cannot name a package: hardware, or not a CPE 2.3 name at all (one malformed
    entry in NVD data must not fail a whole scan). Cached: each criteria is read once.
    """
    try:
        cpe = parse_cpe(criteria)
    except AdvisoryError:
        return None
    if cpe.part not in _PACKAGE_PARTS:
        return None
    exact = _criteria_version(cpe)
    return cpe.product, None if exact is None else version_key(exact), cpe.version == ANY


def _relevance(criteria: str, target: _Target) -> tuple[VersionKey | None, bool] | None:
    """(key of the exact version or None, version is ANY) when a ``vulnerable: true``
    criteria is about the target's package; None when it is about something else."""
    facts = _criteria_facts(criteria)
    if facts is None or facts[0] not in target.names:
        return None
    if target.scopes is not None and not entry_in_scope(
        criteria, target.scopes[facts[0]], target.esr
    ):
        return None  # another vendor's product, a plugin, another edition: not this package
    return facts[1], facts[2]


@lru_cache(maxsize=1 << 16)
def _bounds(
    start_including: str | None,
    start_excluding: str | None,
    end_including: str | None,
    end_excluding: str | None,
) -> tuple[frozenset[bool], tuple[VersionKey | None, VersionKey | None, VersionKey | None,
           VersionKey | None]]:  # fmt: skip
    """(date-ness of the bounds present, their keys): read once per distinct range."""
    given = (start_including, start_excluding, end_including, end_excluding)
    kinds = frozenset(is_date(bound) for bound in given if bound is not None)
    keys = tuple(None if bound is None else bound_key(bound) for bound in given)
    return kinds, keys  # type: ignore[return-value]  # a 4-tuple by construction


def _entry_value(match: CpeMatch, target: _Target) -> Tri:
    """An entry about this package is TRUE or FALSE; any other entry is UNKNOWN."""
    if not match.vulnerable:
        # A platform: without scopes we cannot see it, so it may hold.
        return None if target.scopes is None else platform_value(match.criteria)
    criteria = match.criteria
    try:
        relevant = target.relevance[criteria]
    except KeyError:
        relevant = target.relevance[criteria] = _relevance(criteria, target)
    if relevant is None:
        return None
    exact, is_any = relevant
    if exact is not None:
        return exact == target.key
    if not target.orderable:
        # Only an exact match can place a snapshot or commit version; ``any_range`` asks
        # for the ranges it cannot be placed in (reported as "unknown version").
        return target.any_range
    si, se, ei, ee = (
        match.version_start_including,
        match.version_start_excluding,
        match.version_end_including,
        match.version_end_excluding,
    )
    if si is None and se is None and ei is None and ee is None:
        # ANY without bounds means every version (NISTIR 7695 §5.4); NA means the product
        # has no versions at all, which a versioned Nix package never equals.
        return is_any
    kinds, (lo, lo_x, hi, hi_x) = _bounds(si, se, ei, ee)
    if (not target.date) in kinds:
        return False  # a release number cannot be placed against a snapshot date
    return keys_in_range(target.key, lo, lo_x, hi, hi_x)


def cpe_match_applies(match: CpeMatch, product_names: Collection[str], version: str) -> bool:
    """Whether a ``vulnerable: true`` entry names one of ``product_names`` at ``version``.

    ``product_names`` are lower-case CPE products (``product_candidates``); the vendor is
    not looked at (vulnix parity). Platform entries (``vulnerable: false``) never apply.
    """
    return _entry_value(match, _Target.of(product_names, version)) is True


def range_text(match: CpeMatch) -> str:
    """The entry's versions in words: ``>= 1.0.1, < 1.0.1g``, ``= 1.0.1f`` or ``all versions``."""
    exact = _criteria_version(parse_cpe(match.criteria))
    if exact is not None:
        return f"= {exact}"
    bounds = (
        (">=", match.version_start_including),
        (">", match.version_start_excluding),
        ("<=", match.version_end_including),
        ("<", match.version_end_excluding),
    )
    text = ", ".join(f"{op} {value}" for op, value in bounds if value is not None)
    return text or "all versions"


def _combine(operator: str, values: Iterable[Tri]) -> Tri:
    """AND or OR in Kleene logic; anything but AND is OR, the NVD default."""
    if operator == "AND" or operator.upper() == "AND":
        result: Tri = True
        for value in values:
            if value is False:
                return False
            if value is None:
                result = None
        return result
    result = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def _negated(value: Tri, negate: bool) -> Tri:
    """``value`` with NOT applied when ``negate`` is set (NOT UNKNOWN is UNKNOWN)."""
    return (not value if value is not None else None) if negate else value


def _evaluate_node(node: ConfigNode, target: _Target) -> tuple[Tri, CpeMatch | None]:
    """A node's value (a Kleene AND/OR fold) and its hit: the first ``vulnerable: true``
    entry about the package that holds, unless the node is negated or FALSE.

    A platform entry (``vulnerable: false``) can make a node TRUE but is never the hit: the
    package is not the platform. So an OR node goes on past a TRUE platform entry to look for
    the package's own entry; a FALSE decides an AND node.
    """
    conjunctive = node.operator.upper() == "AND"
    result: Tri = conjunctive  # the identity: TRUE for AND, FALSE for OR
    hit: CpeMatch | None = None
    for match in node.matches:
        value = _entry_value(match, target)
        if conjunctive:
            if value is False:
                result = False
                break
            if value is None:
                result = None
            elif hit is None and match.vulnerable:
                hit = match
        elif value:
            result = True
            if match.vulnerable:
                hit = match
                break
        elif value is None and result is not True:
            result = None
    if node.negate:
        return _negated(result, True), None
    return result, None if result is False else hit


def _configuration_hit(config: Configuration, target: _Target) -> CpeMatch | None:
    """The entry by which ``config`` affects the target, or None."""
    values: list[Tri] = []
    found: CpeMatch | None = None
    for node in config.nodes:
        value, hit = _evaluate_node(node, target)
        values.append(value)
        if found is None:
            found = hit
    if found is None or config.negate:
        return None
    return None if _combine(config.operator or "OR", values) is False else found


def _hit(match: CpeMatch | None) -> MatchHit | None:
    return None if match is None else MatchHit(match.criteria, range_text(match))


def configuration_matches(
    config: Configuration, product_names: Collection[str], version: str
) -> MatchHit | None:
    """The hit by which ``config`` affects the package, or None (see the module docstring)."""
    return _hit(_configuration_hit(config, _Target.of(product_names, version)))


def _record_hit(record: AdvisoryRecord, target: _Target) -> CpeMatch | None:
    """The first hit of any of the record's configurations (they are alternatives); a hit
    whose status is unknown only when no configuration gives a definite one."""
    uncertain: CpeMatch | None = None
    for config in record.configurations:
        found = _configuration_hit(config, target)
        if found is not None:
            if found.status is None:
                return found
            uncertain = uncertain or found
    return uncertain


def _record_match_hit(record: AdvisoryRecord, match: CpeMatch) -> MatchHit:
    status = match.status or "affected"
    return MatchHit(match.criteria, range_text(match), record.source, status, record.platform)


def record_matches(
    record: AdvisoryRecord, product_names: Collection[str], version: str
) -> MatchHit | None:
    """The hit by which the record affects the package, or None."""
    return _hit(_record_hit(record, _Target.of(product_names, version)))


def records_matching(
    records: Iterable[AdvisoryRecord], product_names: Collection[str], version: str
) -> list[tuple[str, MatchHit]]:
    """(CVE id, hit) of each record that affects the package; the matcher's inner loop."""
    target = _Target.of(product_names, version)
    found: list[tuple[str, MatchHit]] = []
    for record in records:
        match = _record_hit(record, target)
        if match is not None:
            found.append((record.cve_id, _record_match_hit(record, match)))
    return found


def records_matching_scoped(
    records: Iterable[AdvisoryRecord],
    scopes: Mapping[str, ProductScope],
    version: str,
    *,
    any_range: bool = False,
) -> list[tuple[str, MatchHit]]:
    """``records_matching`` with vendor-aware scopes per product (keys are CPE products).

    ``any_range``: an unorderable ``version`` is taken to lie in every range (to report the
    ranges it cannot be placed in); an orderable one is unaffected.
    """
    target = _Target.scoped(scopes, version, any_range)
    found: list[tuple[str, MatchHit]] = []
    for record in records:
        match = _record_hit(record, target)
        if match is not None:
            found.append((record.cve_id, _record_match_hit(record, match)))
    return found
