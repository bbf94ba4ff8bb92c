"""Read-only views of the fleet, shared by the JSON API (``api_views``) and the pages (#7).

Each view is one frozen dataclass built from the database; nothing here writes. Findings are
triaged on read with the host's share of the central triage (``TriageSet.scope_of``), through
the scanner's own ``triage``, so a page shows exactly what ``host_status`` counted. Only hosts'
*current* closures count as "in use": older reports are history.
"""

from __future__ import annotations

from nix_audit.fleet.findings import SEVERITY_LABELS
from nix_audit.fleet.views._shared import (
    CVE_ID,
    EXPIRING_WITHIN,
    HISTORY_LIMIT,
    InvalidCveIdError,
    UnknownCveError,
    UnknownPackageError,
)
from nix_audit.fleet.views.cve import CveDetails, CveHost, CveView, cve_view
from nix_audit.fleet.views.host import HostFinding, HostReportEntry, HostView, host_view
from nix_audit.fleet.views.hygiene import HygieneView, RuleView, hygiene_view
from nix_audit.fleet.views.overview import (
    FleetOverview,
    FleetTotals,
    HostSummary,
    SeverityCounts,
    SuppressedCounts,
    fleet_overview,
)
from nix_audit.fleet.views.package import PackageVersion, PackageView, package_view
from nix_audit.fleet.views.trend import TrendPoint, TrendView, trend_view

__all__ = [
    "CVE_ID",
    "EXPIRING_WITHIN",
    "HISTORY_LIMIT",
    "SEVERITY_LABELS",
    "CveDetails",
    "CveHost",
    "CveView",
    "FleetOverview",
    "FleetTotals",
    "HostFinding",
    "HostReportEntry",
    "HostSummary",
    "HostView",
    "HygieneView",
    "InvalidCveIdError",
    "PackageVersion",
    "PackageView",
    "RuleView",
    "SeverityCounts",
    "SuppressedCounts",
    "TrendPoint",
    "TrendView",
    "UnknownCveError",
    "UnknownPackageError",
    "cve_view",
    "fleet_overview",
    "host_view",
    "hygiene_view",
    "package_view",
    "trend_view",
]
