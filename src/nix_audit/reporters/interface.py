"""Interface of the reporters stage: one ScanResult in, one document out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from nix_audit.models import ScanResult

__all__ = ["ReportOptions", "Reporter"]


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """What the user asked to see."""

    show_whitelisted: bool = False
    show_description: bool = False
    verbosity: int = 0
    color: bool = False


class Reporter(ABC):
    """Renders a scan result; never prints (``cli.py`` writes the text where it belongs)."""

    @abstractmethod
    def render(self, result: ScanResult, options: ReportOptions) -> str:
        """The whole report as text."""
