"""The one error hierarchy of nix-audit.

Library code raises only these (third-party exceptions are translated at the boundary with
``raise ... from e``); ``cli.py`` is the only place that catches them, prints one line and
exits with code 3, so that a failure never looks like a scan result.
"""

from __future__ import annotations

__all__ = [
    "AdvisoryError",
    "DerivationError",
    "FeedError",
    "IndexError_",
    "NixAuditError",
    "NixError",
    "OutputError",
    "SourceError",
    "TriageError",
]


class NixAuditError(Exception):
    """Base of every error nix-audit raises on purpose; its message is one line for the user."""


class SourceError(NixAuditError):
    """An input to scan cannot be read: missing path, not in the store, bad list file."""


class NixError(SourceError):
    """A Nix tool is missing or failed (``nix-store``, ``nix``)."""


class DerivationError(NixAuditError):
    """A ``.drv`` file is malformed; the message names the file and the byte offset."""


class AdvisoryError(NixAuditError):
    """Anything wrong with advisory data."""


class FeedError(AdvisoryError):
    """A feed could not be fetched or decoded (HTTP error, timeout, truncated gzip, bad JSON)."""


class IndexError_(AdvisoryError):
    """The local advisory index is missing, empty, locked too long or of an unknown schema."""


class TriageError(NixAuditError):
    """A whitelist or VEX file is invalid; the message names the file and the line."""


class OutputError(NixAuditError):
    """A report could not be written where it was asked for."""
