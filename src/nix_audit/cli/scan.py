"""``nix-audit scan``: flags -> ScanOptions -> pipeline -> reports -> exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import click

from nix_audit.cli import (
    FAIL_ON,
    _data_options,
    _progress,
    _setup_logging,
    _verbosity,
    cli,
    exit_code,
)
from nix_audit.errors import OutputError
from nix_audit.files import write_atomically
from nix_audit.progress import listening
from nix_audit.reporters.registry import FORMATS, reporter_for

__all__ = ["scan"]


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
    cve_list: str | None,
    no_cve_list: bool,
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
        cve_list=cve_list,
        use_cve_list=not no_cve_list,
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
