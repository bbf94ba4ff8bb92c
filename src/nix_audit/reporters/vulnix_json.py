"""``--format vulnix-json``: the document ``vulnix --json`` writes, for scripts written for it.

vulnix (nix-community/vulnix, ``src/vulnix/output.py``, ``output_json``) writes a top-level
JSON list, one object per derivation, with exactly these keys::

    name              the derivation's name, "openssl-1.0.1f"
    pname, version    the name split by vulnix's rule (``derivation.py``, ``split_name``)
    derivation        the .drv path (vulnix's ``store_path``), null without one
    affected_by       CVE ids still reported, sorted as strings
    whitelisted       CVE ids a whitelist rule masked, sorted as strings
    cvssv3_basescore  CVE id -> CVSS v3 base score, only for CVEs that have a non-zero one
    description       CVE id -> description, only for CVEs that have a non-empty one

The last two cover the CVEs of both lists; ``description`` came with vulnix 1.10.1 (#78).
A derivation is listed when ``affected_by`` is not empty, or with ``-s/--show-whitelisted``
when ``whitelisted`` is not; the list is sorted by pname, then by Nix version order
(``Derive.__lt__``). The text is ``json.dumps(out, indent=1)`` plus the newline of ``print``,
so non-ASCII and control characters come out as ``\\uXXXX`` escapes.

Our statuses map onto vulnix's two lists: ``affected`` is ``affected_by``; ``whitelisted``
and a VEX ``not_affected`` (a statement of the user's that masks a CVE, as a rule does) are
``whitelisted``. A CVE named by a patch is left out of both, as vulnix's ``Derive.check``
drops those before whitelisting. Nothing of ours is added: ``--format json`` has the rest.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from nix_audit.models import Package, ScanResult, TriageStatus
from nix_audit.reporters import PackageFindings, group_findings
from nix_audit.reporters.interface import Reporter, ReportOptions
from nix_audit.versions import compare_versions

__all__ = ["VulnixJsonReporter"]

# vulnix's R_VERSION (derivation.py): name, then "-", then a version starting with a digit.
# Not Nix's parseDrvName (which splits before any non-letter): scripts see vulnix's split.
_VULNIX_VERSION = re.compile(r"^(\S+?)-([0-9]\S*)$")
_MASKED = (TriageStatus.WHITELISTED, TriageStatus.NOT_AFFECTED)


class VulnixJsonReporter(Reporter):
    """The ``vulnix --json`` document."""

    def render(self, result: ScanResult, options: ReportOptions) -> str:
        entries = [_entry(g) for g in group_findings(result.findings)]
        shown = [
            e
            for e in entries
            if e["affected_by"] or (options.show_whitelisted and e["whitelisted"])
        ]
        # Ours first (name, then derivation), so that equal vulnix keys keep a fixed order.
        shown.sort(key=lambda e: (e["name"], e["derivation"] or ""))
        shown.sort(key=functools.cmp_to_key(_vulnix_order))
        return json.dumps(shown, indent=1) + "\n"


def _entry(group: PackageFindings) -> dict[str, Any]:
    """One derivation, its keys in vulnix's order."""
    package = group.package
    pname, version = _split_name(package)
    affected = [f for f in group.findings if f.status is TriageStatus.AFFECTED]
    masked = [f for f in group.findings if f.status in _MASKED]
    listed = sorted([*affected, *masked], key=lambda f: f.finding.cve_id)
    return {
        "name": package.name,
        "pname": pname,
        "version": version,
        "derivation": package.derivation,
        # vulnix sorts the ids as strings: CVE-2014-10000 before CVE-2014-9999.
        "affected_by": sorted(f.finding.cve_id for f in affected),
        "whitelisted": sorted(f.finding.cve_id for f in masked),
        "cvssv3_basescore": {
            f.finding.cve_id: f.details.cvss_v3 for f in listed if f.details.cvss_v3
        },
        "description": {
            f.finding.cve_id: f.details.description for f in listed if f.details.description
        },
    }


def _split_name(package: Package) -> tuple[str, str]:
    """vulnix's (pname, version) of the name; ours when its rule finds no version (vulnix
    skips such a derivation, we keep the package the scan found)."""
    match = _VULNIX_VERSION.match(package.name.removesuffix(".drv"))
    if match is None:
        return package.pname, package.version
    return match.group(1), match.group(2)


def _vulnix_order(a: dict[str, Any], b: dict[str, Any]) -> int:
    """vulnix's ``Derive`` order: pname as text, then Nix ``compareVersions``."""
    if a["pname"] != b["pname"]:
        return -1 if a["pname"] < b["pname"] else 1
    return compare_versions(a["version"], b["version"])
