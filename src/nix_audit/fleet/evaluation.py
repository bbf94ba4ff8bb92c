"""Matching stored closures with the scanner's matcher, and triaging every host (issue #7).

There is no second matcher: a closure's packages go through ``VendorAwareMatcher`` and the
low-confidence filter exactly as in ``scan``, against the server's ``AdvisoryIndex``. Work is
keyed so that nothing is done twice:

- a closure is matched once per *index generation* (a digest of the index's feeds), however
  many hosts run it; a new index generation re-matches every closure in use;
- a host is triaged once per (report, index generation, central-triage generation); hosts
  that run the same closure under the same triage scope share one triage.

Matching runs in a worker process: it is CPU-bound and would otherwise hold the interpreter
lock that the request handlers need (report latency, issue #7).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from sqlalchemy import Connection, Select, delete, func, insert, select, update

from nix_audit.advisories.index import AdvisoryIndex
from nix_audit.errors import NixAuditError
from nix_audit.fleet.central_triage import TriageSet, load_documents
from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.findings import (
    SEVERITY_LABELS,
    closure_package_list,
    is_open,
    severity_rank,
    stored_findings,
    triaged_findings,
)
from nix_audit.fleet.tables import (
    advisories,
    closure_findings,
    closures,
    host_status,
    hosts,
    reports,
    trend,
)
from nix_audit.matching.vendor_matcher import VendorAwareMatcher
from nix_audit.models import AdvisoryDetails, TriagedFinding, TriageStatus
from nix_audit.pipeline import certain_findings
from nix_audit.workers import die_with_parent

__all__ = ["EvaluationRun", "Evaluator", "index_generation", "match_closure"]

log = logging.getLogger(__name__)

#: A pass starts once no report came for SETTLE_SECONDS, or MAX_SETTLE_SECONDS after the first.
SETTLE_SECONDS = 0.5
MAX_SETTLE_SECONDS = 10.0


def index_generation(index_path: Path) -> str | None:
    """A digest of what the index holds (its feeds' validators and record count, and the CVE
    List's baseline, newest delta and record count); None when there is no usable index. An
    update that changed nothing keeps the generation."""
    if not index_path.exists():
        return None
    try:
        with AdvisoryIndex(index_path) as index:
            status = index.status()
    except NixAuditError:
        return None
    digest = hashlib.sha256(str(status.records).encode())
    for feed in sorted(status.feeds, key=lambda f: f.name):
        digest.update(f"{feed.name}\0{feed.etag}\0{feed.last_modified}\0{feed.records}".encode())
    cve_list = status.cve_list
    if cve_list is not None:
        # A git clone has no asset names: its update time says that files were read.
        stamp = cve_list.last_update.isoformat() if cve_list.last_update else ""
        part = cve_list.baseline or stamp
        digest.update(f"{part}\0{cve_list.last_delta}\0{cve_list.records}".encode())
    return digest.hexdigest()[:16]


#: One finding as the worker hands it back: (package idx, cve, criteria, range, mapping,
#: confidence); plain tuples pickle at a fraction of the cost of findings with packages.
FindingRow = tuple[int, str, str, str, str, str, str]

_WORKER_DATABASES: dict[str, FleetDatabase] = {}


def match_closure(
    database_url: str, index_path: str, closure_id: int
) -> tuple[list[FindingRow], dict[str, AdvisoryDetails]]:
    """What ``scan`` finds in a stored closure (run in the worker process, which reads the
    closure itself: the server's process, busy with requests, only stores the result)."""
    database = _WORKER_DATABASES.get(database_url)
    if database is None:
        database = _WORKER_DATABASES[database_url] = FleetDatabase(database_url, pool_size=1)
    with database.reading() as c:
        packages = closure_package_list(c, closure_id)
    index_of: dict[str, int] = {}
    for idx, package in packages:
        index_of.setdefault(package.key, idx)
    with AdvisoryIndex(Path(index_path)) as index:
        matcher = VendorAwareMatcher()
        findings = certain_findings(matcher.match([p for _, p in packages], index), False)
        details = index.details({f.cve_id for f in findings})
    rows: dict[tuple[int, str], FindingRow] = {}
    for f in findings:  # one row per (package, CVE), as the table's key wants
        idx = index_of[f.package.key]
        rows[(idx, f.cve_id)] = (
            idx,
            f.cve_id,
            f.criteria,
            f.version_range,
            f.mapping,
            f.confidence.value,
            f.source,
        )
    return list(rows.values()), details


@dataclass(frozen=True, slots=True)
class EvaluationRun:
    """What one evaluation pass did."""

    generation: str | None
    closures_matched: int
    hosts_triaged: int


class Evaluator:
    """Keeps every host's findings current; ``wake()`` after a report or a triage change."""

    def __init__(
        self, database: FleetDatabase, index_path: Path, *, executor: Executor | None = None
    ) -> None:
        self._db = database
        self._index_path = index_path
        self._executor = executor
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one pass at a time
        #: The index generation of the last pass (None before the first, or without index).
        self.generation: str | None = None

    # --- background operation -------------------------------------------------------------

    def start(self, poll_seconds: float = 30.0, *, worker_process: bool = True) -> None:
        """Evaluate in a thread from now on; ``worker_process`` False matches in this process."""
        if worker_process and self._executor is None:
            # forkserver: the worker does not inherit the server's threads and sockets. It
            # runs niced: matching can wait a moment, hosts waiting for an answer cannot.
            context = multiprocessing.get_context("forkserver")
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=context,
                initializer=die_with_parent,
                initargs=(None, 10),  # its parent is the forkserver, which ends with us
            )
        self._thread = threading.Thread(
            target=self._loop, args=(poll_seconds,), name="fleet-evaluator", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)

    def _loop(self, poll_seconds: float) -> None:
        while not self._stop.is_set():
            if self._wake.wait(poll_seconds):
                self._settle()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.evaluate()
            except Exception:  # keep serving; the next pass retries
                log.exception("evaluation pass failed")

    def _settle(self) -> None:
        """Wait until reports stop arriving (``SETTLE_SECONDS`` without a wake, at most
        ``MAX_SETTLE_SECONDS``): one pass for a burst, not one per report, and no matching
        competing with the burst's requests for the processor."""
        deadline = time.monotonic() + MAX_SETTLE_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._wake.clear()
            if not self._wake.wait(SETTLE_SECONDS):
                return

    # --- one pass -------------------------------------------------------------------------

    def evaluate(self, *, now: datetime | None = None) -> EvaluationRun:
        """Match what needs matching, triage what needs triage, record a trend point."""
        with self._lock:
            now = now or datetime.now(UTC)
            generation = self.generation = index_generation(self._index_path)
            if generation is None:
                log.warning("%s: no advisory index yet; nothing evaluated", self._index_path)
                return EvaluationRun(None, 0, 0)
            matched = 0
            for closure_id in self._closures_to_match(generation):
                self._match(closure_id, generation, now)
                matched += 1
            triaged = self._triage_hosts(generation, now)
            if triaged:
                self._record_trend(now)
            return EvaluationRun(generation, matched, triaged)

    def _closures_to_match(self, generation: str) -> list[int]:
        """Closures some host runs now whose findings are not from this generation."""
        query = (
            select(closures.c.id)
            .distinct()
            .join(reports, reports.c.closure_id == closures.c.id)
            .join(hosts, hosts.c.current_report_id == reports.c.id)
            .where(
                (closures.c.matched_generation.is_(None))
                | (closures.c.matched_generation != generation)
            )
        )
        with self._db.reading() as c:
            return list(c.execute(query).scalars())

    def _match(self, closure_id: int, generation: str, now: datetime) -> None:
        job = (self._db.url, str(self._index_path), closure_id)
        if self._executor is not None:
            rows, details = self._executor.submit(match_closure, *job).result()
        else:
            rows, details = match_closure(*job)
        with self._db.writing() as c:
            c.execute(delete(closure_findings).where(closure_findings.c.closure_id == closure_id))
            if rows:
                c.execute(insert(closure_findings), [_finding_row(closure_id, r) for r in rows])
            _store_details(c, details)
            c.execute(
                update(closures)
                .where(closures.c.id == closure_id)
                .values(matched_generation=generation, matched_at=now)
            )
        log.info("closure %d: %d findings", closure_id, len(rows))

    def _triage_hosts(self, generation: str, now: datetime) -> int:
        triage_set = TriageSet(load_documents(self._db))
        stamp = f"{generation}/{triage_set.generation}"
        # (closure id, package count, triage scope) -> its stale hosts' (id, report id)
        groups: dict[tuple[int, int, tuple[int, ...]], list[tuple[int, int]]] = defaultdict(list)
        with self._db.reading() as c:
            for host_id, name, report_id, closure_id, packages in c.execute(_stale_hosts(stamp)):
                scope = triage_set.scope_of(name)
                groups[(closure_id, packages, scope)].append((host_id, report_id))
        for (closure_id, package_count, scope), members in groups.items():
            with self._db.reading() as c:
                triaged = triaged_findings(
                    c, stored_findings(c, closure_id), triage_set, scope, today=now.date()
                )
            row = _status_row(triaged, package_count, stamp, now)
            with self._db.writing() as c:
                ids = [host_id for host_id, _ in members]
                c.execute(delete(host_status).where(host_status.c.host_id.in_(ids)))
                c.execute(
                    insert(host_status),
                    [{**row, "host_id": h, "report_id": r} for h, r in members],
                )
        return sum(len(m) for m in groups.values())

    def _record_trend(self, now: datetime) -> None:
        with self._db.writing() as c:
            totals = c.execute(
                select(
                    func.count(),
                    func.count().filter(host_status.c.affected > 0),
                    func.coalesce(func.sum(host_status.c.affected), 0),
                    func.coalesce(func.sum(host_status.c.critical), 0),
                )
            ).one()
            c.execute(
                insert(trend).values(
                    at=now,
                    hosts=totals[0],
                    hosts_affected=totals[1],
                    affected=totals[2],
                    critical=totals[3],
                )
            )


def _stale_hosts(stamp: str) -> Select[int, str, int, int, int]:
    """Hosts whose status is missing, from an older report, or from older data/triage, and
    whose closure is matched."""
    return (
        select(
            hosts.c.id, hosts.c.name, reports.c.id, reports.c.closure_id, closures.c.package_count
        )
        .join(reports, reports.c.id == hosts.c.current_report_id)
        .join(closures, closures.c.id == reports.c.closure_id)
        .outerjoin(host_status, host_status.c.host_id == hosts.c.id)
        .where(closures.c.matched_generation.is_not(None))
        .where(
            host_status.c.host_id.is_(None)
            | (host_status.c.report_id != reports.c.id)
            | (host_status.c.generation != stamp)
        )
    )


def _finding_row(closure_id: int, row: FindingRow) -> dict[str, object]:
    idx, cve_id, criteria, version_range, mapping, confidence, source = row
    return {
        "closure_id": closure_id,
        "idx": idx,
        "cve_id": cve_id,
        "criteria": criteria,
        "version_range": version_range,
        "mapping": mapping,
        "confidence": confidence,
        "source": source,
    }


def _store_details(c: Connection, details: dict[str, AdvisoryDetails]) -> None:
    """Keep the CVEs' details as of this index, for pages that show them."""
    ids = sorted(details)
    for start in range(0, len(ids), 500):
        c.execute(delete(advisories).where(advisories.c.cve_id.in_(ids[start : start + 500])))
    if ids:
        c.execute(
            insert(advisories),
            [
                {
                    "cve_id": d.cve_id,
                    "score": d.score,
                    "severity": d.severity,
                    "details": msgspec.json.encode(d).decode(),
                }
                for d in details.values()
            ],
        )


_COUNTED = {
    TriageStatus.WHITELISTED: "whitelisted",
    TriageStatus.NOT_AFFECTED: "not_affected",
    TriageStatus.PATCHED: "patched",
}
_BY_RANK = {rank: label for rank, label in SEVERITY_LABELS.items() if rank}  # open ones


def _status_row(
    triaged: Sequence[TriagedFinding], packages: int, stamp: str, now: datetime
) -> dict[str, object]:
    """A host's summary: open findings by severity, suppressed ones by reason."""
    counts: Counter[str] = Counter()
    worst = 0
    for finding in triaged:
        if is_open(finding):
            rank = severity_rank(finding.details)
            worst = max(worst, rank)
            counts[_BY_RANK[rank]] += 1
        else:
            counts[_COUNTED[finding.status]] += 1
    return {
        "generation": stamp,
        "evaluated_at": now,
        "packages": packages,
        "worst": worst,
        "affected": sum(counts[k] for k in _BY_RANK.values()),
        **{k: counts[k] for k in (*_BY_RANK.values(), *_COUNTED.values())},
    }
