"""What the views share: id formats, labels, limits and their errors."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import Connection, select

from nix_audit.errors import NixAuditError
from nix_audit.fleet.central_triage import TriageSet
from nix_audit.fleet.tables import hosts, reports

__all__ = [
    "CVE_ID",
    "EXPIRING_WITHIN",
    "HISTORY_LIMIT",
    "InvalidCveIdError",
    "UnknownCveError",
    "UnknownPackageError",
    "current_groups",
]

#: The CVE program's id format (CVE JSON 5 schema, "cveId"): a year and four or more digits.
CVE_ID = re.compile(r"CVE-\d{4}-\d{4,19}")
#: Rules expiring this soon are listed, so that their findings do not come back unannounced.
EXPIRING_WITHIN = timedelta(days=30)
#: Reports shown in a host's history: a year and more of daily reports.
HISTORY_LIMIT = 500


class UnknownCveError(NixAuditError):
    """No host has a finding of that CVE, and the server keeps no details of it."""


class InvalidCveIdError(UnknownCveError):
    """Not a CVE id at all."""


class UnknownPackageError(NixAuditError):
    """No host's current closure has a package of that name."""


def current_groups(
    c: Connection, triage_set: TriageSet, names: Iterable[str] | None = None
) -> dict[tuple[int, tuple[int, ...]], list[str]]:
    """Hosts by (current closure, triage scope): hosts in one group share one triage."""
    query = (
        select(hosts.c.name, reports.c.closure_id)
        .join(reports, reports.c.id == hosts.c.current_report_id)
        .order_by(hosts.c.name)
    )
    if names is not None:
        query = query.where(hosts.c.name.in_(sorted(set(names))))
    groups: dict[tuple[int, tuple[int, ...]], list[str]] = defaultdict(list)
    for name, closure_id in c.execute(query):
        groups[(closure_id, triage_set.scope_of(name))].append(name)
    return groups
