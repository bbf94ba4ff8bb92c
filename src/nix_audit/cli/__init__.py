"""Command line: flags -> options -> pipeline -> report -> exit code.

The only module that prints or exits. Exit codes follow the monitoring-plugin convention
(Nagios plugin guidelines): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Every failure of the tool
itself, including a usage error, is 3, so that it can never be read as a scan result.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from nix_audit import __version__
from nix_audit.errors import NixAuditError, OutputError
from nix_audit.files import write_atomically
from nix_audit.models import IndexStatus, ScanResult, TriageStatus
from nix_audit.progress import ProgressListener, listening
from nix_audit.reporters import clean_text
from nix_audit.reporters.registry import FORMATS, reporter_for

__all__ = ["EXIT_CLEAN", "EXIT_FAILED", "EXIT_VULNERABLE", "EXIT_WHITELISTED", "exit_code", "main"]

EXIT_CLEAN = 0
EXIT_WHITELISTED = 1
EXIT_VULNERABLE = 2
EXIT_FAILED = 3

if TYPE_CHECKING:
    from rich.progress import TaskID

F = TypeVar("F", bound=Callable[..., object])


#: ``--fail-on``: the lowest CVSS score that still fails the check (CVSS v3.1 rating scale).
FAIL_ON = {"low": 0.1, "medium": 4.0, "high": 7.0, "critical": 9.0}


def exit_code(
    result: ScanResult,
    *,
    show_whitelisted: bool,
    fail_on: str | None = None,
    monitoring: bool = False,
) -> int:
    """The one mapping from a scan's outcome to an exit code.

    vulnix's convention (issue #2): 2 for a finding neither whitelisted nor patched, 1 when
    only suppressed ones (whitelisted, or not affected by a VEX statement) are shown with
    ``-s``, else 0. ``--fail-on`` leaves findings scored
    below the threshold out (an unscored finding always counts: not analysed is not harmless).
    With ``--format nagios`` the code is the plugin state of that report instead (issue #5),
    so that the status line and the exit code never disagree.
    """
    if monitoring:
        from nix_audit.reporters.nagios import NagiosReporter

        return NagiosReporter().state(result).value
    floor = FAIL_ON[fail_on] if fail_on else None
    affected = [f for f in result.findings if f.status is TriageStatus.AFFECTED]
    if any(floor is None or f.details.score is None or f.details.score >= floor for f in affected):
        return EXIT_VULNERABLE
    suppressed = (TriageStatus.WHITELISTED, TriageStatus.NOT_AFFECTED)
    if show_whitelisted and any(f.status in suppressed for f in result.findings):
        return EXIT_WHITELISTED
    return EXIT_CLEAN


def _data_options(func: F) -> F:
    """Flags shared by ``scan`` and ``db update``: where the index lives and where feeds are."""
    func = click.option(
        "--db",
        "db_dir",
        envvar="NIX_AUDIT_DB",
        type=click.Path(file_okay=False, path_type=Path),
        help="Index directory [env NIX_AUDIT_DB; default: $XDG_CACHE_HOME/nix-audit].",
    )(func)
    func = click.option(
        "--timeout",
        envvar="NIX_AUDIT_TIMEOUT",
        type=click.FloatRange(min=0.1),
        default=30.0,
        show_default=True,
        help="Seconds a download may stall before it fails [env NIX_AUDIT_TIMEOUT].",
    )(func)
    return click.option(
        "-m",
        "--mirror",
        metavar="URL|DIR",
        envvar="NIX_AUDIT_MIRROR",
        help="NVD JSON 2.0 feed mirror, URL or folder [env NIX_AUDIT_MIRROR; default: the NVD].",
    )(func)


def _verbosity(func: F) -> F:
    func = click.option(
        "-q", "--quiet", is_flag=True, help="No progress bars, even on a terminal."
    )(func)
    return click.option(
        "-v", "--verbose", count=True, help="More detail (-vv: debug, tracebacks)."
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="nix-audit")
def cli() -> None:
    """Scan Nix derivations, closures and NixOS systems for published CVEs."""


@cli.command()
@click.argument("paths", nargs=-1, type=str)
@click.option("-S", "--system", is_flag=True, help="Scan the running NixOS system.")
@click.option("-G", "--gc-roots", is_flag=True, help="Scan everything held by GC roots.")
@click.option("-p", "--profile", "profiles", multiple=True, help="Scan a Nix profile.")
@click.option(
    "-f", "--from-file", "from_files", multiple=True, help="Paths, one per line, or packages.json."
)
@click.option("--sbom", "sboms", multiple=True, help="Scan a CycloneDX JSON SBOM (no Nix needed).")
@click.option(
    "--running", is_flag=True, help="Scan what running processes have loaded (reads /proc)."
)
@click.option(
    "--current",
    multiple=True,
    metavar="PATH",
    help="With --running: the current closure (a profile) [default: /run/current-system].",
)
@click.option("--buildtime", is_flag=True, help="Scan the build-time closure of the derivations.")
@click.option("-R", "--no-requisites", is_flag=True, help="Scan only the given derivations.")
@_data_options
@click.option("--offline", is_flag=True, help="Never touch the network; use the index as it is.")
@click.option(
    "--max-age",
    type=click.FloatRange(min=0),
    default=6.0,
    show_default=True,
    help="Refresh the index first when it is older than this many hours.",
)
@click.option("-w", "--whitelist", "whitelists", multiple=True, help="Whitelist file or URL.")
@click.option("--vex", multiple=True, help="OpenVEX or CycloneDX VEX statements to apply.")
@click.option(
    "--whitelist-optional",
    is_flag=True,
    help="Go on (with a warning) when a whitelist URL cannot be fetched.",
)
@click.option(
    "-W",
    "--write-whitelist",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a whitelist of all current findings to this file.",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(sorted(FORMATS)),
    help="Report format (repeatable; pairs with -o in order) [default: text].",
)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report of the matching --format to this file (atomically).",
)
@click.option("-j", "--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--fail-on",
    type=click.Choice(sorted(FAIL_ON, key=FAIL_ON.__getitem__)),
    help="Findings scored below this severity do not fail the exit code.",
)
@click.option("-s", "--show-whitelisted", is_flag=True, help="Show whitelisted findings too.")
@click.option(
    "--show-uncertain",
    is_flag=True,
    help="Also show low-confidence matches and versions that cannot be ordered.",
)
@click.option("-D", "--show-description", is_flag=True, help="Show CVE descriptions.")
@_verbosity
def scan(
    paths: tuple[str, ...],
    system: bool,
    gc_roots: bool,
    profiles: tuple[str, ...],
    from_files: tuple[str, ...],
    sboms: tuple[str, ...],
    running: bool,
    current: tuple[str, ...],
    buildtime: bool,
    no_requisites: bool,
    db_dir: Path | None,
    timeout: float,
    mirror: str | None,
    offline: bool,
    max_age: float,
    whitelists: tuple[str, ...],
    vex: tuple[str, ...],
    whitelist_optional: bool,
    write_whitelist: Path | None,
    formats: tuple[str, ...],
    outputs: tuple[Path, ...],
    as_json: bool,
    fail_on: str | None,
    show_whitelisted: bool,
    show_uncertain: bool,
    show_description: bool,
    verbose: int,
    quiet: bool,
) -> int:
    """Scan PATHS (.drv files, store paths, result links, profiles) for vulnerabilities."""
    _setup_logging(verbose)
    from nix_audit.pipeline import ScanOptions, default_db_dir, run_scan
    from nix_audit.reporters.interface import ReportOptions
    from nix_audit.sources.store import ClosureMode

    if buildtime and no_requisites:
        raise click.UsageError("--buildtime and --no-requisites exclude each other")
    reports = _report_targets(formats + (("json",) if as_json else ()), outputs)
    mode = (
        ClosureMode.DIRECT
        if no_requisites
        else ClosureMode.BUILDTIME
        if buildtime
        else ClosureMode.RUNTIME
    )
    options = ScanOptions(
        paths=paths,
        system=system,
        gc_roots=gc_roots,
        profiles=profiles,
        from_files=from_files,
        sboms=sboms,
        mode=mode,
        db_dir=db_dir or default_db_dir(),
        mirror=mirror,
        timeout=timeout,
        offline=offline,
        max_age=timedelta(hours=max_age),
        whitelists=whitelists,
        whitelist_optional=whitelist_optional,
        vex=vex,
        show_uncertain=show_uncertain,
        running=running,
        current=current,
    )
    with listening(_progress(quiet)):
        result = run_scan(options)
    if write_whitelist is not None:
        from nix_audit.triage.whitelist import write_whitelist as write

        write(result.findings, write_whitelist)
    for name, target in reports:
        options_for = ReportOptions(
            show_whitelisted=show_whitelisted,
            show_description=show_description,
            verbosity=verbose,
            color=name == "text" and target is None and _color_terminal(),
        )
        _emit(reporter_for(name).render(result, options_for), target)
    return exit_code(
        result,
        show_whitelisted=show_whitelisted,
        fail_on=fail_on,
        monitoring=any(name == "nagios" for name, _ in reports),
    )


def _report_targets(
    formats: Sequence[str], outputs: Sequence[Path]
) -> list[tuple[str, Path | None]]:
    """Pair formats with output files in order; unpaired formats go to standard output."""
    names = list(formats) or ["text"]
    if len(outputs) > len(names):
        raise click.UsageError("more -o/--output files than --format values")
    targets: list[tuple[str, Path | None]] = [
        (name, outputs[i] if i < len(outputs) else None) for i, name in enumerate(names)
    ]
    if sum(target is None for _, target in targets) > 1:
        raise click.UsageError("only one report can go to standard output: add -o FILE")
    return targets


def _emit(text: str, target: Path | None) -> None:
    if target is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomically(target, text)
    except OSError as e:
        raise OutputError(f"{target}: cannot write report: {e.strerror or e}") from e


def _color_terminal() -> bool:
    """Colours only on a terminal, and never with NO_COLOR set (no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


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


class _TerminalProgress(ProgressListener):
    """Progress bars on standard error, drawn by rich (issue #5: on a terminal only)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self._bars = Progress(console=Console(stderr=True), transient=True)
        self._task: TaskID | None = None

    def start(self, description: str, total: int | None) -> None:
        self._bars.start()
        self._task = self._bars.add_task(description, total=total)

    def advance(self, units: int) -> None:
        if self._task is not None:
            self._bars.advance(self._task, units)

    def stop(self) -> None:
        if self._task is not None:
            self._bars.remove_task(self._task)
            self._task = None
        self._bars.stop()


def _progress(quiet: bool) -> ProgressListener:
    """Bars when standard error is a terminal and nobody asked for quiet; else nothing."""
    if quiet or not sys.stderr.isatty():
        return ProgressListener()
    return _TerminalProgress()


def _setup_logging(verbosity: int) -> None:
    level = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else logging.WARNING
    logging.basicConfig(level=level, format="nix-audit: %(levelname)s: %(message)s")
    _VERBOSITY[0] = verbosity


# -vv shows tracebacks of failures; remembered here because errors surface outside the command.
_VERBOSITY = [0]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``nix-audit`` command."""
    sys.exit(_run(list(sys.argv[1:] if argv is None else argv)))


def _run(argv: list[str]) -> int:
    try:
        rv = cli.main(argv, prog_name="nix-audit", standalone_mode=False)
    except click.exceptions.Exit as e:  # --help, --version
        return int(e.exit_code)
    except click.ClickException as e:
        # One line like every other failure; usage errors point at --help.
        hint = " (see 'nix-audit --help')" if isinstance(e, click.UsageError) else ""
        _fail(e.format_message() + hint, e)
        return EXIT_FAILED
    except click.exceptions.Abort:
        click.echo("nix-audit: error: interrupted", err=True)
        return EXIT_FAILED
    except NixAuditError as e:
        _fail(str(e), e)
        return EXIT_FAILED
    except Exception as e:  # a crash must still exit 3, never look like a scan result
        _fail(f"internal error: {type(e).__name__}: {e}", e)
        return EXIT_FAILED
    return rv if isinstance(rv, int) else EXIT_CLEAN


def _fail(message: str, error: BaseException) -> None:
    if _VERBOSITY[0] >= 2:
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    first_line = message.splitlines()[0] if message else type(error).__name__
    # Paths and URLs in messages come from the user or a feed: no escape sequence of theirs
    # reaches the terminal (issue #6).
    click.echo(f"nix-audit: error: {clean_text(first_line)}", err=True)


# The fleet commands register themselves on ``cli`` (imported last: they use its helpers).
from nix_audit.cli import fleet as _fleet  # noqa: E402, F401
