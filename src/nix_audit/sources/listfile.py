"""List files: one store path (or link into the store) per line."""

from __future__ import annotations

import re
from pathlib import Path

from nix_audit.errors import SourceError
from nix_audit.sources.interface import PackageSource, SourceResult
from nix_audit.sources.nix import NixStore
from nix_audit.sources.packages_json import PackagesJsonSource
from nix_audit.sources.store import (
    ClosureMode,
    InvalidStorePathError,
    check_valid,
    scan_store_paths,
    store_path_of,
)

__all__ = ["ListFileSource", "read_list_file"]

# A comment starts with "#" at the start of a line or after white space; store paths never
# contain "#" or white space (Nix manual, "Store Path": letters, digits and "+-._?=").
_COMMENT_RE = re.compile(r"(?:^|\s)#.*")


class ListFileSource(PackageSource):
    """Store paths listed in a file; a ``.json`` file is nixpkgs metadata instead."""

    def __init__(
        self,
        file: str | Path,
        *,
        mode: ClosureMode = ClosureMode.RUNTIME,
        nix: NixStore | None = None,
    ) -> None:
        self.file = Path(file)
        self.mode = mode
        self.nix = nix if nix is not None else NixStore()

    def collect(self) -> SourceResult:
        """Scan the listed paths; errors name the file and the line."""
        if self.file.suffix == ".json":
            return PackagesJsonSource(self.file).collect()
        lines = read_list_file(self.file, self.nix.store_dir)
        try:
            check_valid(list(lines), self.nix)
        except InvalidStorePathError as e:
            raise SourceError(f"{self.file}:{lines[e.path]}: {e}") from e
        return scan_store_paths(list(lines), mode=self.mode, nix=self.nix)


def read_list_file(file: Path, store_dir: str) -> dict[str, int]:
    """Top-level store path -> the first line naming it, reading the file as a stream.

    Each distinct line is resolved once: a list of a whole system (100,000 lines and more)
    repeats few paths, and holding the distinct ones is all the memory this needs.
    """
    found: dict[str, int] = {}
    seen: set[str] = set()
    try:
        # Binary lines decoded one at a time, so a bad byte is reported on its own line.
        with file.open("rb") as stream:
            for lineno, raw in enumerate(stream, start=1):
                try:
                    text = _COMMENT_RE.sub("", raw.decode("utf-8")).strip()
                except UnicodeDecodeError as e:
                    raise SourceError(f"{file}:{lineno}: not UTF-8 text") from e
                if not text or text in seen:
                    continue
                seen.add(text)
                try:
                    found.setdefault(store_path_of(text, store_dir), lineno)
                except SourceError as e:
                    raise SourceError(f"{file}:{lineno}: {e}") from e
    except OSError as e:
        raise SourceError(f"{file}: cannot read: {e.strerror}") from e
    return found
