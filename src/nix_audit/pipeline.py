"""The stages wired together: options -> sources -> index -> matcher -> triage -> ScanResult.

Nothing here prints or exits; ``cli.py`` turns options into a :class:`ScanOptions`, calls
:func:`run_scan` and renders the result.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from nix_audit.advisories.index import INDEX_FILE, AdvisoryIndex
from nix_audit.derivation.names import artifact_suffix
from nix_audit.errors import FeedError, IndexError_, SourceError, TriageError
from nix_audit.matching.interface import Matcher
from nix_audit.matching.vendor_matcher import VendorAwareMatcher
from nix_audit.models import Confidence, Finding, IndexStatus, Package, ScanResult, Skipped
from nix_audit.sources.interface import PackageSource
from nix_audit.sources.listfile import ListFileSource
from nix_audit.sources.nix import NixStore
from nix_audit.sources.profiles import ProfileSource
from nix_audit.sources.store import ClosureMode, StorePathSource
from nix_audit.sources.system import GcRootsSource, SystemSource
from nix_audit.triage.apply import triage, triage_hygiene
from nix_audit.triage.vex import load_vex
from nix_audit.triage.whitelist import Whitelist, load_whitelist

if TYPE_CHECKING:
    from nix_audit.sources.running import RunningScan

__all__ = [
    "ScanOptions",
    "certain_findings",
    "collect_packages",
    "default_db_dir",
    "ensure_index",
    "make_sources",
    "run_scan",
]

log = logging.getLogger(__name__)

#: ``scan`` refreshes the index by itself when it is older than this (issue #2). The NVD
#: regenerates its ``modified`` feed about every two hours; vulnix ran every six.
DEFAULT_MAX_AGE = timedelta(hours=6)


def default_db_dir() -> Path:
    """``$XDG_CACHE_HOME/nix-audit``, else ``~/.cache/nix-audit`` (XDG Base Directory spec)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nix-audit"


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What to scan, against which data, with which triage: the flags of ``scan``."""

    paths: tuple[str, ...] = ()
    system: bool = False
    gc_roots: bool = False
    profiles: tuple[str, ...] = ()
    from_files: tuple[str, ...] = ()
    sboms: tuple[str, ...] = ()
    mode: ClosureMode = ClosureMode.RUNTIME
    db_dir: Path = field(default_factory=default_db_dir)
    mirror: str | None = None
    cve_list: str | None = None  # None: the CVE Program's GitHub releases (issue #12)
    use_cve_list: bool = True
    timeout: float = 30.0
    offline: bool = False
    max_age: timedelta = DEFAULT_MAX_AGE
    whitelists: tuple[str, ...] = ()
    whitelist_optional: bool = False
    vex: tuple[str, ...] = ()
    show_uncertain: bool = False
    running: bool = False  # scan --running: what live processes have loaded (issue #8)
    current: tuple[str, ...] = ()  # --current: the current closure's roots; () = the system
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def run_scan(options: ScanOptions, matcher: Matcher | None = None) -> ScanResult:
    """Run one scan end to end; raises ``NixAuditError`` subclasses on failure."""
    warnings: list[str] = []
    whitelist = _whitelist(options, warnings)
    vex = [load_vex(path) for path in options.vex]
    running = _running(options)
    packages, skipped = collect_packages(make_sources(options, running is not None), warnings)
    if running is not None:
        packages, skipped = _with_running(running, packages, skipped)
    ensure_index(options, warnings)
    with AdvisoryIndex(options.db_dir / INDEX_FILE) as index:
        matcher = matcher or VendorAwareMatcher(unknown_versions=options.show_uncertain)
        findings = certain_findings(matcher.match(packages, index), options.show_uncertain)
        details = index.details({f.cve_id for f in findings})
        status = index.status()
    today = options.now.date()
    triaged = triage(findings, details, whitelist, today=today, vex=vex)
    hygiene = (
        triage_hygiene(whitelist, findings, today=today, vex=vex) if options.whitelists else None
    )
    return ScanResult(
        packages=tuple(packages),
        findings=tuple(triaged),
        index=status,
        skipped=tuple(skipped),
        warnings=tuple(warnings),
        scanned_at=options.now,
        hygiene=hygiene,
        running=running.summary if running is not None else None,
    )


def _running(options: ScanOptions) -> RunningScan | None:
    """``--running``: the packages live processes have loaded, and what needs a restart."""
    if not options.running:
        return None
    from nix_audit.sources.running import RunningSource  # only this input reads /proc

    return RunningSource(current=options.current or None, nix=NixStore()).scan()


def _with_running(
    running: RunningScan, packages: Sequence[Package], skipped: Sequence[Skipped]
) -> tuple[list[Package], list[Skipped]]:
    """Running packages win over the same package from another input: they carry the
    processes that have them loaded."""
    seen = {p.key: p for p in running.packages}
    for package in packages:
        seen.setdefault(package.key, package)
    return list(seen.values()), [*running.skipped, *skipped]


def certain_findings(findings: list[Finding], show_uncertain: bool) -> list[Finding]:
    """Low-confidence matches (a bare product name of an unknown vendor) stay out of reports
    and exit codes unless ``--show-uncertain`` asks for them (issue #4)."""
    if show_uncertain:
        return findings
    return [f for f in findings if f.confidence is not Confidence.LOW]


def _whitelist(options: ScanOptions, warnings: list[str]) -> Whitelist:
    """All ``-w`` whitelists merged.

    A whitelist URL that cannot be fetched fails the scan (issue #6: silently dropping a
    whitelist changes the results) unless ``--whitelist-optional`` is given; then it is
    skipped with a warning. An invalid whitelist always fails.
    """
    merged = Whitelist()
    for source in options.whitelists:
        try:
            merged = merged.merged(load_whitelist(source, fetch_text=_download_text))
        except TriageError as e:
            if not (options.whitelist_optional and isinstance(e.__cause__, FeedError)):
                raise
            warnings.append(f"whitelist skipped (--whitelist-optional): {e}")
    return merged


def make_sources(options: ScanOptions, running: bool = False) -> list[PackageSource]:
    """One source per kind of input given; at least one input is required."""
    nix = NixStore()
    mode = options.mode
    sources: list[PackageSource] = []
    if options.paths:
        sources.append(StorePathSource(options.paths, mode=mode, nix=nix))
    if options.system:
        sources.append(SystemSource(mode=mode, nix=nix))
    if options.gc_roots:
        sources.append(GcRootsSource(mode=mode, nix=nix))
    sources.extend(ProfileSource(p, mode=mode, nix=nix) for p in options.profiles)
    sources.extend(ListFileSource(f, mode=mode, nix=nix) for f in options.from_files)
    if options.sboms:
        from nix_audit.sources.sbom import SbomSource  # brings packageurl along

        sources.extend(SbomSource(f) for f in options.sboms)
    if not sources and not running:
        raise SourceError(
            "nothing to scan: give a PATH, --system, --gc-roots, --running, -p, -f or --sbom"
        )
    return sources


def collect_packages(
    sources: Sequence[PackageSource], warnings: list[str] | None = None
) -> tuple[list[Package], list[Skipped]]:
    """All packages of all sources, each package once (the first source that names it wins);
    the sources' warnings are added to ``warnings`` when given."""
    seen: dict[str, Package] = {}
    skipped: list[Skipped] = []
    for source in sources:
        result = source.collect()
        for package in result.packages:
            if (suffix := artifact_suffix(package.name)) is not None:
                # Issue #13: a source archive or jar is an input of the package it builds,
                # whose findings it would only repeat.
                reason = f"a build input file ({suffix}), not a package"
                skipped.append(Skipped(what=package.key, reason=reason))
                continue
            seen.setdefault(package.key, package)
        skipped.extend(result.skipped)
        if warnings is not None:
            warnings.extend(result.warnings)
    return list(seen.values()), skipped


def ensure_index(options: ScanOptions, warnings: list[str]) -> None:
    """Refresh the index when it is missing or older than ``max_age`` (never when offline).

    A failed refresh of an existing index is a warning: the previous index stays valid and is
    used (issue #6). A failed first load is an error: there is nothing to scan against.
    """
    status = _index_status(options.db_dir)
    if options.offline:
        if status is None and (options.db_dir / INDEX_FILE).exists():
            _status_of(options.db_dir / INDEX_FILE)  # says why it is unusable (schema, ...)
        if status is None:
            raise IndexError_(
                f"{options.db_dir / INDEX_FILE}: no advisory index and --offline given; "
                "run 'nix-audit db update' first"
            )
        return
    age = status.age_hours(options.now) if status else None
    if age is not None and age * 3600 < options.max_age.total_seconds():
        return
    from nix_audit.advisories.refresh import AdvisorySources, update_from

    sources = AdvisorySources(
        options.mirror, options.cve_list, options.use_cve_list, options.timeout
    )
    try:
        update_from(options.db_dir, sources, now=options.now)
    except FeedError as e:
        if status is None:
            raise
        warnings.append(f"index update failed, using the previous index: {e}")
        log.warning("index update failed, using the previous index: %s", e)


def _index_status(db_dir: Path) -> IndexStatus | None:
    """The index's status, or None when there is no usable index yet.

    Only a missing index (or one an update left unfinished) counts as none: an unreadable
    one is an error of its own, which "run db update" would not cure (issue #6).
    """
    path = db_dir / INDEX_FILE
    if not path.exists():
        return None
    try:
        path.open("rb").close()
    except OSError:
        return _status_of(path)  # raises IndexError_ naming the path and the cause
    try:
        return _status_of(path)
    except IndexError_:
        return None


def _status_of(path: Path) -> IndexStatus:
    with AdvisoryIndex(path) as index:
        return index.status()


def _download_text(url: str) -> str:
    """Whitelist URLs, fetched through the one configured HTTP client (imported on demand)."""
    from nix_audit.advisories.http import download_text

    return download_text(url)
