"""``nix-audit report``: read what this host runs and send it to the fleet server (#7).

The host reads its closure with the scanner's own sources (so names, versions and CVE-named
patches are read exactly as ``scan`` reads them) and sends the packages; it needs no advisory
data. The server answers at once and matches in the background.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nix_audit.errors import FeedError, NixAuditError
from nix_audit.fleet.protocol import HostReport, encode_report, from_package, gzip_body
from nix_audit.pipeline import ScanOptions, collect_packages, make_sources
from nix_audit.sources.store import ClosureMode
from nix_audit.sources.system import SYSTEM_ROOTS

__all__ = ["ReportError", "ReportSent", "collect_report", "send_report"]


class ReportError(NixAuditError):
    """The server could not be reached or refused the report."""


@dataclass(frozen=True, slots=True)
class ReportSent:
    """The server's receipt."""

    packages: int
    closure: str
    new_closure: bool
    matched: bool


def collect_report(
    hostname: str, paths: Sequence[str] = (), *, buildtime: bool = False
) -> HostReport:
    """This host's report: the runtime closure of ``paths``, or of the NixOS system."""
    mode = ClosureMode.BUILDTIME if buildtime else ClosureMode.RUNTIME
    options = ScanOptions(paths=tuple(paths), system=not paths, mode=mode)
    packages, _skipped = collect_packages(make_sources(options))
    system = _system_path(paths)
    return HostReport(
        hostname=hostname,
        packages=[from_package(p) for p in packages],
        system=system,
        nixos_version=_nixos_version(system),
        closure_kind="runtime+buildtime" if buildtime else "runtime",
    )


def _system_path(paths: Sequence[str]) -> str | None:
    """The system's store path: the resolved system link, or a given path that is a NixOS
    system (its top level is named ``nixos-system-<host>-<version>`` and holds
    ``nixos-version``)."""
    if not paths:
        roots = [r for r in SYSTEM_ROOTS if os.path.lexists(r)]
        return os.path.realpath(roots[0]) if roots else None
    resolved = os.path.realpath(paths[0])
    is_system = (
        "-nixos-system-" in Path(resolved).name or (Path(resolved) / "nixos-version").is_file()
    )
    return resolved if is_system else None


def _nixos_version(system: str | None) -> str | None:
    """``nixos-version`` as the system's top level holds it (nixos/modules/system/activation)."""
    if system is None:
        return None
    try:
        return (Path(system) / "nixos-version").read_text(encoding="utf-8").strip()[:100] or None
    except OSError:
        return None


def send_report(
    server: str, token: str, report: HostReport, *, timeout: float = 60.0
) -> ReportSent:
    """POST the report (gzip-compressed); ``ReportError`` with one line on any failure."""
    from nix_audit.advisories.http import http_client, translated_errors

    url = server.rstrip("/") + "/api/v1/reports"
    body = gzip_body(encode_report(report))
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    try:
        with http_client(timeout) as client, translated_errors(url, timeout):
            response = client.post(url, content=body, headers=headers)
    except FeedError as e:
        raise ReportError(str(e)) from e
    if response.status_code != 202:
        raise ReportError(f"{url}: HTTP {response.status_code}: {_detail(response.text)}")
    answer = response.json()
    return ReportSent(
        len(report.packages), answer["closure"], answer["new_closure"], answer["matched"]
    )


def _detail(text: str) -> str:
    """The server's one-line reason (FastAPI's ``{"detail": ...}``), or the start of the body."""
    import json

    try:
        detail = json.loads(text).get("detail", text)
    except (ValueError, AttributeError):
        detail = text
    return " ".join(str(detail).split())[:300]
