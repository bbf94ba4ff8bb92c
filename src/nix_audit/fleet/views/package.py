"""Fleet view: one package name."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from nix_audit.fleet.central_triage import TriageSet, load_documents
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.findings import (
    is_open,
    stored_findings,
    triaged_findings,
)
from nix_audit.fleet.tables import (
    closure_packages,
    hosts,
    reports,
)
from nix_audit.fleet.views._shared import UnknownPackageError, current_groups
from nix_audit.reporters import cve_sort_key
from nix_audit.versions import nix_version_key

__all__ = [
    "PackageVersion",
    "PackageView",
    "package_view",
]


@dataclass(frozen=True, slots=True)
class PackageVersion:
    """One version of the package in use; ``open_cves``: open on at least one of its hosts."""

    version: str
    store_paths: tuple[str, ...]
    host_count: int
    hosts: tuple[str, ...]
    open_cves: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PackageView:
    pname: str
    versions: tuple[PackageVersion, ...]  # newest first (Nix's version order)


def package_view(database: FleetDatabase, pname: str, now: datetime) -> PackageView:
    """One package name across the fleet; ``now``: the day whitelist expiry is judged on."""
    triage_set = TriageSet(load_documents(database))
    paths: dict[str, set[str]] = defaultdict(set)
    users: dict[str, set[str]] = defaultdict(set)
    open_cves: dict[str, set[str]] = defaultdict(set)
    with database.reading() as c:
        in_use = c.execute(
            select(hosts.c.name, closure_packages.c.version, closure_packages.c.store_path)
            .join(reports, reports.c.id == hosts.c.current_report_id)
            .join(closure_packages, closure_packages.c.closure_id == reports.c.closure_id)
            .where(closure_packages.c.pname == pname)
        ).all()
        for name, version, store_path in in_use:
            users[version].add(name)
            if store_path:
                paths[version].add(store_path)
        for closure_id, scope in current_groups(c, triage_set, _hosts_of(users)):
            mine = [f for f in stored_findings(c, closure_id) if f.package.pname == pname]
            for t in triaged_findings(c, mine, triage_set, scope, today=now.date()):
                if is_open(t):
                    open_cves[t.finding.package.version].add(t.finding.cve_id)
    if not users:
        raise UnknownPackageError(f"no host runs a package named {pname!r}")
    versions = [
        PackageVersion(
            v,
            tuple(sorted(paths[v])),
            len(users[v]),
            tuple(sorted(users[v])),
            tuple(sorted(open_cves[v], key=cve_sort_key)),
        )
        for v in sorted(users, key=nix_version_key, reverse=True)
    ]
    return PackageView(pname, tuple(versions))


def _hosts_of(users: dict[str, set[str]]) -> set[str]:
    return {name for names in users.values() for name in names}
