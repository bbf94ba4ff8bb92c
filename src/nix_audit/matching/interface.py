"""Interface of the matching stage: packages in, findings out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from nix_audit.advisories.interface import AdvisoryLookup
from nix_audit.models import Finding, Package

__all__ = ["Matcher"]


class Matcher(ABC):
    """Turns packages into findings by reading the advisory index.

    Kept behind this interface so that the name-based matcher of the scanner core can be
    replaced by the vendor-aware one (issue #4) without touching the pipeline.
    """

    @abstractmethod
    def match(self, packages: Sequence[Package], lookup: AdvisoryLookup) -> list[Finding]:
        """Every (package, CVE) pair whose configurations match, before triage."""
