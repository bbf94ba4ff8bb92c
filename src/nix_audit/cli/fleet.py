"""Fleet commands (issue #7): ``serve``, ``report``, and ``fleet`` for the server's admin.

Registered on the main group by ``nix_audit.cli``; like the rest of the command line, the
only place that prints. The server's libraries are imported inside the commands, so that a
scan never pays for them and a host that only reports needs none of them installed.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from nix_audit.cli import _data_options, _setup_logging, cli
from nix_audit.errors import NixAuditError

if TYPE_CHECKING:
    from nix_audit.fleet.database import FleetDatabase

__all__ = ["fleet", "report", "serve"]


class ServerMissingError(NixAuditError):
    """The server's libraries are not installed."""


def _default_database() -> str:
    """``$XDG_STATE_HOME/nix-audit/fleet.sqlite`` (XDG Base Directory: state, not cache)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(state) / "nix-audit" / "fleet.sqlite")


_database_option = click.option(
    "--database",
    envvar="NIX_AUDIT_FLEET_DATABASE",
    default=_default_database,
    metavar="PATH|URL",
    help="SQLite file or postgresql:// URL [env NIX_AUDIT_FLEET_DATABASE; "
    "default: $XDG_STATE_HOME/nix-audit/fleet.sqlite].",
)


def _prepare(database: str) -> str:
    """Check the server's extra is installed, and make an SQLite file's folder."""
    try:
        import alembic  # noqa: F401
        import fastapi  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as e:
        raise ServerMissingError(
            f"the fleet server needs its extra: pip install 'nix-audit[server]' ({e.name} missing)"
        ) from e
    if "://" not in database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    return database


def _migrated(database: str) -> FleetDatabase:
    from nix_audit.fleet.database import FleetDatabase, migrate

    opened = FleetDatabase(_prepare(database))
    migrate(opened)
    return opened


@cli.command()
@_database_option
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to serve.")
@_data_options
@click.option(
    "--update-every",
    type=click.FloatRange(min=0),
    default=6.0,
    show_default=True,
    metavar="HOURS",
    help="Update the advisory index this often (0: never; keep it current yourself).",
)
@click.option("--secure-cookies", is_flag=True, help="Mark the login cookie Secure (HTTPS).")
@click.option("-v", "--verbose", count=True, help="Log more (-vv: debug).")
def serve(
    database: str,
    listen: str,
    db_dir: Path | None,
    mirror: str | None,
    cve_list: str | None,
    no_cve_list: bool,
    timeout: float,
    update_every: float,
    secure_cookies: bool,
    verbose: int,
) -> int:
    """Run the fleet service: hosts report to it, it matches them, its pages show the fleet."""
    _setup_logging(max(verbose, 1))
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    from nix_audit.pipeline import default_db_dir

    opened = _migrated(database)  # before the server starts: a bad database is one line
    import uvicorn

    from nix_audit.advisories.refresh import AdvisorySources
    from nix_audit.fleet.app import create_app
    from nix_audit.fleet.config import ServerConfig

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{listen!r} is not HOST:PORT", param_hint="--listen")
    config = ServerConfig(
        db_dir=db_dir or default_db_dir(),
        sources=AdvisorySources(mirror, cve_list, not no_cve_list, timeout),
        update_interval=timedelta(hours=update_every) if update_every else None,
        secure_cookies=secure_cookies,
    )
    app = create_app(config, opened)
    click.echo(f"nix-audit: serving the fleet on http://{listen}/ (database {database})", err=True)
    uvicorn.run(app, host=host, port=int(port), log_level="warning", http="httptools")
    return 0


@cli.command()
@click.argument("paths", nargs=-1, type=str)
@click.option(
    "--server",
    envvar="NIX_AUDIT_SERVER",
    required=True,
    help="Fleet server URL [env NIX_AUDIT_SERVER].",
)
@click.option(
    "--token-file",
    envvar="NIX_AUDIT_TOKEN_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding this host's token [env NIX_AUDIT_TOKEN_FILE; or NIX_AUDIT_TOKEN].",
)
@click.option(
    "--hostname",
    default=socket.gethostname,
    show_default="this host's name",
    help="Name to report as.",
)
@click.option("--buildtime", is_flag=True, help="Send the build-time closure too.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the server.",
)
def report(
    paths: tuple[str, ...],
    server: str,
    token_file: Path | None,
    hostname: str,
    buildtime: bool,
    timeout: float,
) -> int:
    """Send what this host runs (the NixOS system, or PATHs) to a fleet server."""
    from nix_audit.fleet.client import collect_report, send_report

    token = _token(token_file)
    collected = collect_report(hostname, paths, buildtime=buildtime)
    sent = send_report(server, token, collected, timeout=timeout)
    state = "closure uploaded" if sent.uploaded else "closure known to the server"
    click.echo(
        f"nix-audit: reported {sent.packages} packages as {hostname} ({state} {sent.closure[:12]})"
    )
    return 0


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise NixAuditError(
                f"{token_file}: cannot read the host token: {e.strerror or e}"
            ) from e
        if not token:
            raise NixAuditError(f"{token_file}: the host token file is empty")
        return token
    token = os.environ.get("NIX_AUDIT_TOKEN", "").strip()
    if not token:
        raise click.UsageError("give --token-file FILE (or set NIX_AUDIT_TOKEN)")
    return token


@cli.group()
def fleet() -> None:
    """Administer a fleet server's database: hosts, tokens, admins, migrations."""


@fleet.command("migrate")
@_database_option
@click.option("--to", "revision", default="head", show_default=True, help="Alembic revision.")
def fleet_migrate(database: str, revision: str) -> int:
    """Bring the database schema to a revision (serve does this for head by itself)."""
    from nix_audit.fleet.database import FleetDatabase, migrate

    migrate(FleetDatabase(_prepare(database)), revision)
    click.echo(f"nix-audit: {database}: schema at {revision}", err=True)
    return 0


@fleet.command("add-host")
@_database_option
@click.argument("name")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.02),
    default=24.0,
    show_default=True,
    metavar="HOURS",
    help="How often the host reports; later is flagged.",
)
def fleet_add_host(database: str, name: str, interval: float) -> int:
    """Register a host; prints its token (once) on standard output."""
    from nix_audit.fleet.registry import HostRegistry

    token = HostRegistry(_migrated(database)).add_host(name, interval=timedelta(hours=interval))
    click.echo(token)
    return 0


@fleet.command("new-token")
@_database_option
@click.argument("name")
def fleet_new_token(database: str, name: str) -> int:
    """Give a host a new token (the old one stops working); prints it."""
    from nix_audit.fleet.registry import HostRegistry

    click.echo(HostRegistry(_migrated(database)).new_token(name))
    return 0


@fleet.command("revoke")
@_database_option
@click.argument("name")
def fleet_revoke(database: str, name: str) -> int:
    """Refuse a host's token from now on (its history stays)."""
    from nix_audit.fleet.registry import HostRegistry

    HostRegistry(_migrated(database)).revoke(name)
    click.echo(f"nix-audit: token of {name} revoked", err=True)
    return 0


@fleet.command("set-admin")
@_database_option
@click.argument("name")
@click.option(
    "--password-file",
    type=click.File("r"),
    help="Read the password from this file ('-': standard input) instead of asking.",
)
def fleet_set_admin(database: str, name: str, password_file: TextIO | None) -> int:
    """Create an admin for the pages and the API, or change its password."""
    from nix_audit.fleet.registry import HostRegistry

    if password_file is not None:
        password = password_file.read().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    HostRegistry(_migrated(database)).set_admin(name, password)
    click.echo(f"nix-audit: admin {name} set", err=True)
    return 0
