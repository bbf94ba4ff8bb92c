"""The fleet's read views on SQLite and PostgreSQL: real reports, a real index, real triage.

One story, told in steps with exact expectations: three hosts report (two share a closure),
the evaluator matches them against a hand-made index, a whitelist scoped to one host changes
that host only, and one host deploys a new closure twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest

from nix_audit.advisories.fetch import FolderFeedSource
from nix_audit.advisories.index import INDEX_FILE
from nix_audit.advisories.update import update_index
from nix_audit.fleet.central_triage import DocumentKind, put_document
from nix_audit.fleet.chart import DEFAULT_BOX, nice_ceiling, trend_chart
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.evaluation import Evaluator
from nix_audit.fleet.protocol import ClosureUpload, HostReport, ReportedPackage, closure_digest
from nix_audit.fleet.registry import HostRegistry, UnknownHostError
from nix_audit.fleet.reports import closure_known, record_report, store_closure
from nix_audit.fleet.views import (
    CveHost,
    HostFinding,
    HostSummary,
    InvalidCveIdError,
    PackageVersion,
    RuleView,
    SeverityCounts,
    SuppressedCounts,
    TrendPoint,
    UnknownCveError,
    UnknownPackageError,
    cve_view,
    fleet_overview,
    host_view,
    hygiene_view,
    package_view,
    trend_view,
)
from tests.helpers.nvd_feeds import cpe_match, record, write_mirror

OPENSSL = "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*"

# Ids and ranges after the real NVD records; CVE-2025-90001 is synthetic (a build-only tool).
RECORDS = [
    record(
        "CVE-2014-0160",
        [cpe_match(OPENSSL, versionStartIncluding="1.0.1", versionEndExcluding="1.0.1g")],
        score=7.5,
        description="Heartbleed",
    ),
    record(
        "CVE-2014-0224",
        [cpe_match(OPENSSL, versionStartIncluding="1.0.1", versionEndExcluding="1.0.1h")],
        score=7.4,
        description="CCS injection",
    ),
    record(
        "CVE-2022-37434",
        [cpe_match("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", versionEndIncluding="1.2.12")],
        score=9.8,
        description="inflateGetHeader heap overflow",
    ),
    record(
        "CVE-2016-5419",
        [cpe_match("cpe:2.3:a:haxx:curl:7.50.0:*:*:*:*:*:*:*")],
        score=None,
        description="TLS session resumption client cert bypass",
    ),
    record(
        "CVE-2016-4658",
        [cpe_match("cpe:2.3:a:xmlsoft:libxml2:*:*:*:*:*:*:*:*", versionEndExcluding="2.9.5")],
        score=9.8,
        description="xpointer use after free",
    ),
    record(
        "CVE-2025-90001",
        [cpe_match("cpe:2.3:a:kitware:cmake:*:*:*:*:*:*:*:*", versionEndExcluding="3.11")],
        score=5.5,
        description="synthetic record for a build-time-only package",
    ),
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An advisory index built from a folder mirror of ``RECORDS``, as ``db update`` does."""
    mirror = write_mirror(tmp_path_factory.mktemp("mirror"), RECORDS)
    db_dir = tmp_path_factory.mktemp("db")
    update_index(db_dir, FolderFeedSource(mirror), now=datetime.now(UTC))
    return db_dir


def package(name: str, *, buildtime: bool = False) -> ReportedPackage:
    pname, _, version = name.rpartition("-")
    return ReportedPackage(
        name=name,
        pname=pname,
        version=version,
        store_path=f"/nix/store/{'a' * 32}-{name}",
        derivation=f"/nix/store/{'b' * 32}-{name}.drv",
        buildtime=buildtime,
    )


WEB = [package("openssl-1.0.1f"), package("zlib-1.2.11"), package("curl-7.50.0")]
WEB_NEXT = [
    package("openssl-1.0.1g"),
    package("zlib-1.2.12"),
    package("curl-7.50.0"),
    package("libxml2-2.9.4"),
]
BUILD = [package("zlib-1.2.13"), package("cmake-3.10.2", buildtime=True), package("bash-5.2")]


@dataclass
class Fleet:
    """The database, the evaluator and a clock that moves a minute per evaluation."""

    database: FleetDatabase
    evaluator: Evaluator
    start: datetime
    passes: int = 0

    def report(self, name: str, packages: list[ReportedPackage]) -> str:
        """What ``nix-audit report`` does: upload the closure if the server lacks it, report."""
        host = next(h for h in HostRegistry(self.database).hosts() if h.name == name)
        digest = closure_digest(packages)
        if not closure_known(self.database, digest):
            assert store_closure(self.database, digest, ClosureUpload(tuple(packages)))
        report = HostReport(
            hostname=name, closure=digest, system=f"/nix/store/{'c' * 32}-nixos-system-{name}"
        )
        assert record_report(self.database, host, report, generation=None).closure == digest
        return digest

    def evaluate(self) -> datetime:
        at = self.start + timedelta(minutes=self.passes)
        self.passes += 1
        self.evaluator.evaluate(now=at)
        return at


@pytest.fixture
def fleet(fleet_database: FleetDatabase, index_dir: Path) -> Fleet:
    registry = HostRegistry(fleet_database)
    registry.add_host("web1")
    registry.add_host("web2")
    registry.add_host("build1", interval=timedelta(hours=1))
    registry.add_host("idle")
    start = datetime.now(UTC).replace(microsecond=0)
    return Fleet(fleet_database, Evaluator(fleet_database, index_dir / INDEX_FILE), start)


def later() -> datetime:
    """Two hours from now: past build1's hourly interval, within web1/web2's daily one."""
    return datetime.now(UTC) + timedelta(hours=2)


def whitelist(today: date) -> str:
    return f"""\
["openssl-1.0.1f"]
cve = ["CVE-2014-0160"]
comment = "heartbeat disabled at build time"

["libxml2"]
comment = "no libxml2 on this host"

["curl"]
cve = ["CVE-2016-5419"]
until = {today + timedelta(days=10)}
comment = "no client certificates"

["zlib"]
cve = ["CVE-2022-37434"]
until = 2020-01-01
comment = "long expired"
"""


def test_overview_orders_hosts_worst_first_and_flags_late_and_revoked(fleet: Fleet) -> None:
    fleet.report("web2", WEB)
    fleet.report("web1", WEB)
    fleet.report("build1", BUILD)
    fleet.evaluate()
    HostRegistry(fleet.database).revoke("idle")
    overview = fleet_overview(fleet.database, later())
    web = SeverityCounts(critical=1, high=2, unscored=1, total=4)
    assert [h.name for h in overview.hosts] == ["web1", "web2", "build1", "idle"]
    first, _, build1, idle = overview.hosts
    assert first == HostSummary(
        name="web1",
        last_report_at=first.last_report_at,
        report_interval=86400,
        nixos_version=None,
        system=f"/nix/store/{'c' * 32}-nixos-system-web1",
        worst=5,
        severity="critical",
        open=web,
        suppressed=SuppressedCounts(),
        packages=3,
        evaluated=True,
        late=False,
        revoked=False,
    )
    assert first.last_report_at is not None
    assert abs(first.last_report_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert (build1.worst, build1.severity, build1.open) == (
        3,
        "medium",
        SeverityCounts(medium=1, total=1),
    )
    assert (build1.late, build1.revoked, build1.evaluated) == (True, False, True)
    assert (idle.worst, idle.severity, idle.packages, idle.last_report_at) == (0, "none", 0, None)
    assert (idle.late, idle.revoked, idle.evaluated) == (True, True, False)
    totals = overview.totals
    assert (totals.hosts, totals.reporting, totals.late, totals.revoked) == (4, 3, 2, 1)
    assert totals.affected == 3
    assert totals.open == SeverityCounts(critical=2, high=4, medium=1, unscored=2, total=9)
    # Within the hour nobody but the host that never reported is late.
    assert [h.late for h in fleet_overview(fleet.database, datetime.now(UTC)).hosts] == [
        False,
        False,
        False,
        True,
    ]


def test_a_whitelist_for_one_host_changes_that_host_only(fleet: Fleet) -> None:
    fleet.report("web1", WEB)
    fleet.report("web2", WEB)
    fleet.evaluate()
    today = fleet.start.date()
    put_document(fleet.database, DocumentKind.WHITELIST, "web2.toml", whitelist(today), ["web2"])
    fleet.evaluate()
    now = fleet.start + timedelta(minutes=2)
    overview = fleet_overview(fleet.database, now)
    by_name = {h.name: h for h in overview.hosts}
    assert by_name["web1"].open == SeverityCounts(critical=1, high=2, unscored=1, total=4)
    assert by_name["web1"].suppressed == SuppressedCounts()
    assert by_name["web2"].open == SeverityCounts(critical=1, high=1, total=2)
    assert by_name["web2"].suppressed == SuppressedCounts(whitelisted=2)
    assert [h.name for h in overview.hosts] == ["web1", "web2", "build1", "idle"]

    view = host_view(fleet.database, "web2", now)
    assert [(f.cve_id, f.package, f.status, f.severity, f.reason) for f in view.findings] == [
        ("CVE-2022-37434", "zlib-1.2.11", "affected", "critical", ""),
        ("CVE-2014-0224", "openssl-1.0.1f", "affected", "high", ""),
        (
            "CVE-2014-0160",
            "openssl-1.0.1f",
            "whitelisted",
            "high",
            "heartbeat disabled at build time",
        ),
        ("CVE-2016-5419", "curl-7.50.0", "whitelisted", "unscored", "no client certificates"),
    ]
    assert [f.status for f in host_view(fleet.database, "web1", now).findings] == ["affected"] * 4

    cve = cve_view(fleet.database, "cve-2014-0160", now)
    assert (cve.cve.cve_id, cve.cve.score, cve.cve.severity) == ("CVE-2014-0160", 7.5, "HIGH")
    assert cve.cve.description == "Heartbleed"
    path = f"/nix/store/{'a' * 32}-openssl-1.0.1f"
    common = ("openssl-1.0.1f", "openssl", "1.0.1f", path, "runtime")
    assert cve.hosts == (
        CveHost("web1", *common, "affected", ""),
        CveHost("web2", *common, "whitelisted", "heartbeat disabled at build time"),
    )
    assert cve.open_hosts == 1


def test_hygiene_lists_unused_expired_and_expiring_central_rules(fleet: Fleet) -> None:
    fleet.report("web2", WEB)
    fleet.report("web1", WEB_NEXT)  # libxml2 runs on web1, outside the whitelist's scope
    today = fleet.start.date()
    put_document(fleet.database, DocumentKind.WHITELIST, "web2.toml", whitelist(today), ["web2"])
    fleet.evaluate()
    hygiene = hygiene_view(fleet.database, today)
    origin = "server:whitelist/web2.toml"

    def rule(line: int, key: str, cves: tuple[str, ...] | None, until: date | None) -> RuleView:
        comments = {
            "openssl-1.0.1f": "heartbeat disabled at build time",
            "libxml2": "no libxml2 on this host",
            "curl": "no client certificates",
            "zlib": "long expired",
        }
        return RuleView("web2.toml", ("web2",), key, f"{origin}:{line}", cves, until, comments[key])

    libxml2 = rule(5, "libxml2", None, None)
    assert hygiene.rules == 4
    assert hygiene.unused == (libxml2,)
    assert hygiene.expired == (rule(13, "zlib", ("CVE-2022-37434",), date(2020, 1, 1)),)
    assert hygiene.expiring == (rule(8, "curl", ("CVE-2016-5419",), today + timedelta(days=10)),)
    assert hygiene.broad == (libxml2,)


def test_new_markers_compare_with_the_closure_deployed_before(fleet: Fleet) -> None:
    first = fleet.report("web1", WEB)
    fleet.report("web2", WEB)
    fleet.evaluate()
    now = fleet.start + timedelta(minutes=5)
    assert [f.new for f in host_view(fleet.database, "web1", now).findings] == [False] * 4
    second = fleet.report("web1", WEB_NEXT)
    fleet.evaluate()
    fleet.report("web1", WEB_NEXT)  # the same closure again: still compared with ``WEB``
    fleet.evaluate()
    view = host_view(fleet.database, "web1", now)
    assert view.previous_closure == first
    assert [(f.cve_id, f.package, f.new) for f in view.findings] == [
        ("CVE-2016-4658", "libxml2-2.9.4", True),
        ("CVE-2022-37434", "zlib-1.2.12", False),
        ("CVE-2014-0224", "openssl-1.0.1g", False),
        ("CVE-2016-5419", "curl-7.50.0", False),
    ]
    assert view.findings[0] == HostFinding(
        cve_id="CVE-2016-4658",
        package="libxml2-2.9.4",
        pname="libxml2",
        version="2.9.4",
        store_path=f"/nix/store/{'a' * 32}-libxml2-2.9.4",
        closure="runtime",
        status="affected",
        reason="",
        score=9.8,
        severity="critical",
        new=True,
    )
    assert [(r.closure, r.closure_changed) for r in view.history] == [
        (second, False),
        (second, True),
        (first, True),
    ]
    assert view.history[0].received_at >= view.history[1].received_at
    assert [f.new for f in host_view(fleet.database, "web2", now).findings] == [False] * 4
    assert host_view(fleet.database, "idle", now).findings == ()
    with pytest.raises(UnknownHostError):
        host_view(fleet.database, "nobody", now)


def test_package_view_lists_versions_in_use_with_their_hosts_and_open_cves(fleet: Fleet) -> None:
    fleet.report("web1", WEB)
    fleet.report("web2", WEB)
    fleet.report("build1", BUILD)
    fleet.evaluate()
    fleet.report("web1", WEB_NEXT)  # web1's first closure is history now: not counted
    fleet.evaluate()
    now = fleet.start + timedelta(minutes=5)
    view = package_view(fleet.database, "zlib", now)
    path = f"/nix/store/{'a' * 32}-zlib-"
    assert view.versions == (
        PackageVersion("1.2.13", (path + "1.2.13",), 1, ("build1",), ()),
        PackageVersion("1.2.12", (path + "1.2.12",), 1, ("web1",), ("CVE-2022-37434",)),
        PackageVersion("1.2.11", (path + "1.2.11",), 1, ("web2",), ("CVE-2022-37434",)),
    )
    cmake = package_view(fleet.database, "cmake", now).versions
    assert [(v.version, v.hosts, v.open_cves) for v in cmake] == [
        ("3.10.2", ("build1",), ("CVE-2025-90001",))
    ]
    with pytest.raises(UnknownPackageError):
        package_view(fleet.database, "libpng", now)


def test_cve_view_refuses_bad_and_unknown_ids(fleet: Fleet) -> None:
    fleet.report("web1", WEB)
    fleet.evaluate()
    now = fleet.start + timedelta(minutes=1)
    with pytest.raises(InvalidCveIdError):
        cve_view(fleet.database, "CVE-2014-01", now)
    with pytest.raises(InvalidCveIdError):
        cve_view(fleet.database, "../../etc/passwd", now)
    with pytest.raises(UnknownCveError):
        cve_view(fleet.database, "CVE-2016-4658", now)  # in the index, but on no host
    curl = cve_view(fleet.database, "CVE-2016-5419", now)
    assert (curl.cve.score, curl.cve.severity, curl.open_hosts) == (None, None, 1)
    assert [(h.host, h.package) for h in curl.hosts] == [("web1", "curl-7.50.0")]


def test_trend_has_one_point_per_evaluation_that_triaged_hosts(fleet: Fleet) -> None:
    fleet.report("web1", WEB)
    fleet.report("web2", WEB)
    fleet.report("build1", BUILD)
    t0 = fleet.evaluate()
    assert fleet.evaluator.evaluate(now=t0 + timedelta(seconds=30)).hosts_triaged == 0
    put_document(fleet.database, DocumentKind.WHITELIST, "w.toml", whitelist(t0.date()), ["web2"])
    t1 = fleet.evaluate()
    fleet.report("web1", WEB_NEXT)
    t2 = fleet.evaluate()
    assert trend_view(fleet.database, t0).points == (
        TrendPoint(t0, hosts=3, hosts_affected=3, open=9, critical=2),
        TrendPoint(t1, hosts=3, hosts_affected=3, open=7, critical=2),
        TrendPoint(t2, hosts=3, hosts_affected=3, open=7, critical=3),
    )
    assert trend_view(fleet.database, t1 + timedelta(seconds=1)).points == (
        TrendPoint(t2, hosts=3, hosts_affected=3, open=7, critical=3),
    )


def parse_svg(text: str) -> ElementTree.Element:
    """Parse the chart as XML: a well-formedness check too. The text is the server's own
    drawing of numbers and dates, not untrusted input."""
    return ElementTree.fromstring(text)  # noqa: S314


def test_trend_chart_is_well_formed_svg_with_axes_and_both_lines() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    points = [
        TrendPoint(start, hosts=2, hosts_affected=2, open=7, critical=1),
        TrendPoint(start + timedelta(days=2), hosts=2, hosts_affected=1, open=3, critical=0),
    ]
    svg = parse_svg(str(trend_chart(points)))
    ns = "{http://www.w3.org/2000/svg}"
    texts = [t.text for t in svg.iter(f"{ns}text")]
    assert {"0", "5", "10"} <= set(texts)  # the y axis runs to nice_ceiling(7) == 10
    assert {"2026-03-01 00:00", "2026-03-03 00:00", "time (UTC)", "findings"} <= set(texts)
    box = DEFAULT_BOX
    lines = {p.get("class"): p.get("points") for p in svg.iter(f"{ns}polyline")}
    left, right = box.left, box.left + box.plot_width
    bottom, height = box.top + box.plot_height, box.plot_height
    assert lines == {
        "open": f"{left:.1f},{bottom - 0.7 * height:.1f} {right:.1f},{bottom - 0.3 * height:.1f}",
        "critical": f"{left:.1f},{bottom - 0.1 * height:.1f} {right:.1f},{bottom:.1f}",
    }
    empty = parse_svg(str(trend_chart([])))
    assert [t.text for t in empty.iter(f"{ns}text")] == ["No evaluation yet"]
    assert [nice_ceiling(n) for n in (0, 1, 2, 3, 7, 10, 11, 26, 101)] == [
        1, 1, 2, 5, 10, 10, 20, 50, 200,
    ]  # fmt: skip
