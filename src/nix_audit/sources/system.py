"""Whole-host inputs: the running NixOS system, and everything the GC roots keep alive."""

from __future__ import annotations

import os
from collections.abc import Sequence

from nix_audit.errors import SourceError
from nix_audit.models import Skipped
from nix_audit.sources.interface import PackageSource, SourceResult
from nix_audit.sources.nix import NixStore
from nix_audit.sources.store import ClosureMode, StorePathSource, scan_store_paths, store_path_of

__all__ = ["SYSTEM_ROOTS", "GcRootsSource", "SystemSource"]

# NixOS links the active system configuration at /run/current-system; the GC root Nix keeps
# for it is the fallback when /run is not mounted (a chroot, a container image).
SYSTEM_ROOTS = ("/run/current-system", "/nix/var/nix/gcroots/current-system")


class SystemSource(PackageSource):
    """The current NixOS system: the first of ``roots`` that exists, as a store path."""

    def __init__(
        self,
        roots: Sequence[str] = SYSTEM_ROOTS,
        *,
        mode: ClosureMode = ClosureMode.RUNTIME,
        nix: NixStore | None = None,
    ) -> None:
        self.roots = tuple(roots)
        self.mode = mode
        self.nix = nix if nix is not None else NixStore()

    def collect(self) -> SourceResult:
        """Scan the system link; ``SourceError`` when none of the roots exists."""
        for root in self.roots:
            # lexists: a dangling link is reported as such by StorePathSource, not skipped.
            if os.path.lexists(root):
                return StorePathSource([root], mode=self.mode, nix=self.nix).collect()
        raise SourceError(f"no NixOS system found: none of {', '.join(self.roots)} exists")


class GcRootsSource(PackageSource):
    """Everything the garbage collector's roots keep alive (profiles, results, the system)."""

    def __init__(
        self, *, mode: ClosureMode = ClosureMode.RUNTIME, nix: NixStore | None = None
    ) -> None:
        self.mode = mode
        self.nix = nix if nix is not None else NixStore()

    def collect(self) -> SourceResult:
        """Scan the store paths of all GC roots.

        Roots come and go while a host runs (builds register temporary roots, ``result``
        links are removed), so a root that vanished since Nix listed it is skipped, not an
        error.
        """
        skipped: list[Skipped] = []
        paths: dict[str, None] = {}
        for target in self.nix.gc_roots():
            try:
                # A root may point inside a store path (.../bin/foo); scan the whole path.
                paths.setdefault(store_path_of(target, self.nix.store_dir))
            except SourceError as e:
                skipped.append(Skipped(what=target, reason=f"GC root skipped: {e}"))
        valid = self.nix.valid(paths) if paths else set()
        skipped.extend(
            Skipped(what=p, reason="GC root skipped: not valid in the store")
            for p in paths
            if p not in valid
        )
        found = scan_store_paths([p for p in paths if p in valid], mode=self.mode, nix=self.nix)
        return SourceResult(packages=found.packages, skipped=(*skipped, *found.skipped))
