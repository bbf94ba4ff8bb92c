"""Command line: flags -> options -> pipeline -> report -> exit code.

The only package that prints or exits: this module and its command modules (scan, db,
fleet). Exit codes follow the monitoring-plugin convention (Nagios plugin guidelines): 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN. Every failure of the tool itself, including a usage error,
is 3, so that it can never be read as a scan result.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from nix_audit import __version__
from nix_audit.errors import NixAuditError
from nix_audit.models import ScanResult, TriageStatus
from nix_audit.progress import ProgressListener
from nix_audit.reporters import clean_text

__all__ = ["EXIT_CLEAN", "EXIT_FAILED", "EXIT_VULNERABLE", "EXIT_WHITELISTED", "exit_code", "main"]

EXIT_CLEAN = 0
EXIT_WHITELISTED = 1
EXIT_VULNERABLE = 2
EXIT_FAILED = 3

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
    func = click.option(
        "--cve-list",
        metavar="URL|DIR",
        envvar="NIX_AUDIT_CVE_LIST",
        help="CVE List (CVE JSON 5) location: a mirror of the cvelistV5 release assets, a "
        "Releases API URL, or a folder (the assets, or a git clone of cvelistV5) "
        "[env NIX_AUDIT_CVE_LIST; default: the CVE Program's GitHub releases].",
    )(func)
    func = click.option(
        "--no-cve-list",
        is_flag=True,
        envvar="NIX_AUDIT_NO_CVE_LIST",
        help="Read the NVD only; an index built with the CVE List drops it "
        "[env NIX_AUDIT_NO_CVE_LIST=1].",
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


def _progress(quiet: bool) -> ProgressListener:
    """Bars when standard error is a terminal and nobody asked for quiet; else nothing."""
    from nix_audit.cli._progress import progress_for

    return progress_for(quiet)


def _setup_logging(verbosity: int) -> None:
    level = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else logging.WARNING
    logging.basicConfig(level=level, format="nix-audit: %(levelname)s: %(message)s")
    _VERBOSITY[0] = verbosity


# Top-level modules of the [server] extra (pyproject.toml).
_SERVER_MODULES = frozenset(
    {"fastapi", "uvicorn", "httptools", "jinja2", "multipart", "sqlalchemy", "alembic", "psycopg"}
)

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
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] not in _SERVER_MODULES:
            _fail(f"internal error: {type(e).__name__}: {e}", e)
        else:
            # Issues #13/#14: serve and fleet need the [server] extra, which a scanning host
            # does not install.
            _fail(
                f"this command needs the fleet service's libraries (module {e.name!r} is "
                "missing): run 'scripts/bootstrap --server' in a checkout, or "
                "pip install 'nix-audit[server]'",
                e,
            )
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


# The commands register themselves on ``cli`` (imported last: they use its helpers).
from nix_audit.cli import db as _db  # noqa: E402, F401
from nix_audit.cli import fleet as _fleet  # noqa: E402, F401
from nix_audit.cli import scan as _scan  # noqa: E402, F401
