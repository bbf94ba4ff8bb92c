"""``nix-audit db``: update the advisory index, show its status."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from nix_audit.cli import EXIT_CLEAN, _data_options, _progress, _setup_logging, _verbosity, cli
from nix_audit.models import IndexStatus
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
    db_dir: Path | None, timeout: float, mirror: str | None, full: bool, verbose: int, quiet: bool
) -> int:
    """Fetch new and changed CVE records (conditional requests) into the index."""
    _setup_logging(verbose)
    from nix_audit.advisories.fetch import feed_source_for
    from nix_audit.advisories.update import update_index
    from nix_audit.pipeline import default_db_dir

    with listening(_progress(quiet)), feed_source_for(mirror, timeout=timeout) as source:
        report = update_index(db_dir or default_db_dir(), source, now=datetime.now(UTC), full=full)
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
    click.echo(_format_status(status, datetime.now(UTC), as_json=as_json))
    return EXIT_CLEAN


def _format_status(status: IndexStatus, now: datetime, *, as_json: bool) -> str:
    age = status.age_hours(now)
    if as_json:
        import json

        from nix_audit.reporters.json import database_json

        return json.dumps(database_json(status, now), indent=2)
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
    return "\n".join(lines)
