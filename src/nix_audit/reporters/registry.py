"""Report formats by name, imported only when asked for (start-up time is part of a scan)."""

from __future__ import annotations

import importlib

from nix_audit.reporters.interface import Reporter

__all__ = ["FORMATS", "reporter_for"]

#: format name -> (module, class); ``--format`` accepts exactly these names.
FORMATS: dict[str, tuple[str, str]] = {
    "text": ("nix_audit.reporters.text", "TextReporter"),
    "json": ("nix_audit.reporters.json", "JsonReporter"),
    "vulnix-json": ("nix_audit.reporters.vulnix_json", "VulnixJsonReporter"),
    "sarif": ("nix_audit.reporters.sarif", "SarifReporter"),
    "cyclonedx": ("nix_audit.reporters.cyclonedx", "CycloneDxReporter"),
    "openvex": ("nix_audit.reporters.openvex", "OpenVexReporter"),
    "nagios": ("nix_audit.reporters.nagios", "NagiosReporter"),
    "prometheus": ("nix_audit.reporters.nagios", "PrometheusReporter"),
    "html": ("nix_audit.reporters.html", "HtmlReporter"),
}


def reporter_for(name: str) -> Reporter:
    """A fresh reporter for a format name from :data:`FORMATS`."""
    module, cls = FORMATS[name]
    reporter: Reporter = getattr(importlib.import_module(module), cls)()
    return reporter
