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
from typing import TYPE_CHECKING

from nix_audit.errors import FeedError, NixAuditError
from nix_audit.fleet.protocol import (
    ClosureUpload,
    HostReport,
    closure_digest,
    encode,
    from_package,
    gzip_body,
)
from nix_audit.pipeline import ScanOptions, collect_packages, make_sources
from nix_audit.sources.store import ClosureMode
from nix_audit.sources.system import SYSTEM_ROOTS

if TYPE_CHECKING:
    import httpx

__all__ = ["HostState", "ReportError", "ReportSent", "collect_report", "send_report"]


class ReportError(NixAuditError):
    """The server could not be reached or refused the report."""


@dataclass(frozen=True, slots=True)
class ReportSent:
    """The server's receipt."""

    packages: int
    closure: str
    uploaded: bool  # the server did not know the closure, so its packages were sent
    matched: bool


@dataclass(frozen=True, slots=True)
class HostState:
    """What a report says of this host: the report, and the closure it names."""

    report: HostReport
    closure: ClosureUpload


def collect_report(
    hostname: str, paths: Sequence[str] = (), *, buildtime: bool = False
) -> HostState:
    """This host's report: the runtime closure of ``paths``, or of the NixOS system."""
    mode = ClosureMode.BUILDTIME if buildtime else ClosureMode.RUNTIME
    options = ScanOptions(paths=tuple(paths), system=not paths, mode=mode)
    packages, _skipped = collect_packages(make_sources(options))
    closure = ClosureUpload(packages=tuple(from_package(p) for p in packages))
    system = _system_path(paths)
    report = HostReport(
        hostname=hostname,
        closure=closure_digest(closure.packages),
        system=system,
        nixos_version=_nixos_version(system),
        closure_kind="runtime+buildtime" if buildtime else "runtime",
    )
    return HostState(report, closure)


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


def send_report(server: str, token: str, state: HostState, *, timeout: float = 60.0) -> ReportSent:
    """Report; upload the closure when the server asks for it (409), then report again.

    Raises ``ReportError`` with one line on any failure.
    """
    from nix_audit.advisories.http import http_client

    base = server.rstrip("/") + "/api/v1"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with http_client(timeout) as client:
        client.headers.update(headers)
        answer = _call(client, "POST", f"{base}/reports", encode(state.report), (202, 409))
        uploaded = answer.status_code == 409
        if uploaded:
            body = gzip_body(encode(state.closure))
            url = f"{base}/closures/{state.report.closure}"
            _call(client, "PUT", url, body, (200,), {"Content-Encoding": "gzip"})
            answer = _call(client, "POST", f"{base}/reports", encode(state.report), (202,))
    receipt = answer.json()
    return ReportSent(
        len(state.closure.packages), state.report.closure, uploaded, receipt["matched"]
    )


def _call(
    client: httpx.Client,
    method: str,
    url: str,
    body: bytes,
    expected: tuple[int, ...],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    from nix_audit.advisories.http import translated_errors

    try:
        with translated_errors(url, client.timeout.read):
            response = client.request(method, url, content=body, headers=headers)
    except FeedError as e:
        raise ReportError(str(e)) from e
    if response.status_code not in expected:
        raise ReportError(f"{url}: HTTP {response.status_code}: {_detail(response.text)}")
    return response


def _detail(text: str) -> str:
    """The server's one-line reason (FastAPI's ``{"detail": ...}``), or the start of the body."""
    import json

    try:
        detail = json.loads(text).get("detail", text)
    except (ValueError, AttributeError):
        detail = text
    return " ".join(str(detail).split())[:300]
