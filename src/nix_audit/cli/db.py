"""``nix-audit db``: update the advisory index, show its status."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from nix_audit.cli import EXIT_CLEAN, _data_options, _progress, _setup_logging, _verbosity, cli
from nix_audit.models import CveListStatus, IndexStatus
from nix_audit.progress import listening

__all__ = ["db"]


@cli.group()
def db() -> None:
    """Manage the local advisory index."""


@db.command("update")
@_data_options
@click.option(
    "--full", is_flag=True, help="Rebuild the index from every feed, downloaded unconditionally."
)
@_verbosity
def db_update(
    db_dir: Path | None,
    timeout: float,
    mirror: str | None,
    cve_list: str | None,
    no_cve_list: bool,
    full: bool,
    verbose: int,
    quiet: bool,
) -> int:
    """Fetch new and changed CVE records (conditional requests) into the index: the NVD's
    feeds and the CVE List's release assets (baseline, then hourly deltas)."""
    _setup_logging(verbose)
    from nix_audit.advisories.refresh import AdvisorySources, update_from
    from nix_audit.pipeline import default_db_dir

    sources = AdvisorySources(mirror, cve_list, not no_cve_list, timeout)
    with listening(_progress(quiet)):
        report = update_from(db_dir or default_db_dir(), sources, now=datetime.now(UTC), full=full)
    click.echo(report.summary())
    return EXIT_CLEAN


@db.command("status")
@click.option(
    "--db", "db_dir", envvar="NIX_AUDIT_DB", type=click.Path(file_okay=False, path_type=Path)
)
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output.")
def db_status(db_dir: Path | None, as_json: bool) -> int:
    """Show the index: feeds, record count, last update and age."""
    from nix_audit.advisories.index import INDEX_FILE, AdvisoryIndex
    from nix_audit.pipeline import default_db_dir

    with AdvisoryIndex((db_dir or default_db_dir()) / INDEX_FILE) as index:
        status = index.status()
        decided = index.decided_counts()
    click.echo(_format_status(status, decided, datetime.now(UTC), as_json=as_json))
    return EXIT_CLEAN


def _format_status(
    status: IndexStatus, decided: dict[str, int], now: datetime, *, as_json: bool
) -> str:
    age = status.age_hours(now)
    if as_json:
        import json

        from nix_audit.reporters.json import database_json

        document = database_json(status, now) or {}
        document["decided_by"] = decided
        return json.dumps(document, indent=2)
    lines = [
        f"index:       {status.path}",
        f"source:      {status.source or '-'}",
        f"records:     {status.records}",
        f"last update: {status.last_update.isoformat() if status.last_update else 'never'}",
        f"age:         {'-' if age is None else f'{age:.1f} hours'}",
        f"feeds:       {len(status.feeds)}",
    ]
    lines += [
        f"  {f.name:<9} {f.records:>7} records  feed timestamp {f.feed_timestamp or '-'}"
        for f in sorted(status.feeds, key=lambda f: f.name)
    ]
    lines += _cve_list_lines(status.cve_list)
    lines.append(
        f"decided by:  NVD {decided['nvd']} CVEs, CVE List {decided['cve-list']} CVEs "
        f"({decided['rejected']} rejected by the CVE List)"
    )
    return "\n".join(lines)


def _cve_list_lines(cve_list: CveListStatus | None) -> list[str]:
    if cve_list is None:
        return ["CVE List:    not read (--no-cve-list)"]
    when = cve_list.last_update.isoformat() if cve_list.last_update else "never"
    return [
        f"CVE List:    {cve_list.location}",
        f"  records:     {cve_list.records}",
        f"  last update: {when}",
        f"  baseline:    {cve_list.baseline or '-'}",
        f"  last delta:  {cve_list.last_delta or '-'}",
    ]
