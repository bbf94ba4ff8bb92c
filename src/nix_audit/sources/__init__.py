"""The sources stage: what to scan (store paths, closures, profiles, GC roots, list files,
packages.json), turned into packages.

Public names live in their modules; they are re-exported here for convenience.
"""

from nix_audit.sources.interface import PackageSource, SourceResult
from nix_audit.sources.listfile import ListFileSource
from nix_audit.sources.nix import NixStore, PathInfo, parse_gc_roots, parse_path_info
from nix_audit.sources.packages_json import PackagesJsonSource
from nix_audit.sources.profiles import ProfileSource
from nix_audit.sources.store import ClosureMode, StorePathSource
from nix_audit.sources.system import GcRootsSource, SystemSource

__all__ = [
    "ClosureMode",
    "GcRootsSource",
    "ListFileSource",
    "NixStore",
    "PackageSource",
    "PackagesJsonSource",
    "PathInfo",
    "ProfileSource",
    "SourceResult",
    "StorePathSource",
    "SystemSource",
    "parse_gc_roots",
    "parse_path_info",
]
