"""Interface of the sources stage: what to scan, turned into packages."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from nix_audit.models import Package, Skipped

__all__ = ["PackageSource", "SourceResult"]


@dataclass(frozen=True, slots=True)
class SourceResult:
    """Packages found by a source, what it looked at but skipped (with the reason), and
    warnings for the scan's report (a ``.drv`` read without its closure, issue #13)."""

    packages: tuple[Package, ...]
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()


class PackageSource(ABC):
    """One kind of input: store paths and closures, a profile, a list file, packages.json."""

    @abstractmethod
    def collect(self) -> SourceResult:
        """Read the input; raise ``SourceError`` (or ``NixError``) with one clear line."""
