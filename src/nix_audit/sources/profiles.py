"""User profiles: ``nix-env`` profiles and ``nix profile`` profiles (``manifest.json``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from nix_audit.errors import SourceError
from nix_audit.sources.interface import PackageSource, SourceResult
from nix_audit.sources.nix import NixStore
from nix_audit.sources.store import (
    ClosureMode,
    InvalidStorePathError,
    check_valid,
    scan_store_paths,
    store_path_of,
)

__all__ = ["MANIFEST_VERSIONS", "ProfileSource", "manifest_store_paths"]

# manifest.json versions written by ``nix profile``: 1 (Nix 2.4) and 2 (Nix 2.14) keep
# ``elements`` as a list; 3 (Nix 2.20) makes it an object keyed by element name. Both shapes
# are accepted whatever the version says, since the store paths sit the same way in each.
MANIFEST_VERSIONS = frozenset({1, 2, 3})

# nix-env keeps its own bookkeeping in the profile (``builtins.toFile`` output
# ``env-manifest.nix``, Nix source ``nix-env/user-env.cc``); it is no installed package.
_ENV_MANIFEST = "-env-manifest.nix"


class ProfileSource(PackageSource):
    """The packages installed in a profile, given by its link or its store path."""

    def __init__(
        self,
        profile: str,
        *,
        mode: ClosureMode = ClosureMode.RUNTIME,
        nix: NixStore | None = None,
    ) -> None:
        self.profile = profile
        self.mode = mode
        self.nix = nix if nix is not None else NixStore()

    def collect(self) -> SourceResult:
        """Scan the profile's installed store paths (not the profile's own builder)."""
        store_path = store_path_of(self.profile, self.nix.store_dir)
        check_valid([store_path], self.nix)
        manifest = Path(store_path) / "manifest.json"
        if manifest.is_file():
            paths = list(dict.fromkeys(manifest_store_paths(manifest)))
            try:
                check_valid(paths, self.nix)
            except InvalidStorePathError as e:
                raise SourceError(f"{manifest}: store path {e.path} is not valid") from e
        else:
            references = self.nix.references([store_path])
            paths = [p for p in references if not p.endswith(_ENV_MANIFEST)]
        return scan_store_paths(paths, mode=self.mode, nix=self.nix)


def manifest_store_paths(manifest: Path) -> list[str]:
    """The ``storePaths`` of the active elements of a ``nix profile`` ``manifest.json``."""
    try:
        data = json.loads(manifest.read_bytes())
    except OSError as e:
        raise SourceError(f"{manifest}: cannot read: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise SourceError(f"{manifest}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    except UnicodeDecodeError as e:
        raise SourceError(f"{manifest}: not UTF-8 text") from e
    if not isinstance(data, dict) or data.get("version") not in MANIFEST_VERSIONS:
        version = data.get("version") if isinstance(data, dict) else None
        raise SourceError(f"{manifest}: unsupported profile manifest version {version!r}")
    return list(_element_paths(data.get("elements"), manifest))


def _element_paths(elements: object, manifest: Path) -> Iterator[str]:
    if isinstance(elements, dict):
        items = list(elements.items())
    elif isinstance(elements, list):
        items = [(str(i), e) for i, e in enumerate(elements)]
    else:
        raise SourceError(f"{manifest}: 'elements' is neither a list nor an object")
    for name, element in items:
        if not isinstance(element, dict):
            raise SourceError(f"{manifest}: element {name} is not an object")
        # Version 1 marks removed-but-kept elements "active": false; they are not linked
        # into the profile, so nothing of them is installed.
        if element.get("active", True) is False:
            continue
        store_paths = element.get("storePaths", [])
        if not isinstance(store_paths, list) or not all(isinstance(p, str) for p in store_paths):
            raise SourceError(f"{manifest}: element {name}: 'storePaths' is not a list of paths")
        yield from store_paths
