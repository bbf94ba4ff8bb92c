"""What the JSON inputs that need no Nix share: reading the file, and turning records into
packages (nixpkgs ``packages.json``, CycloneDX SBOMs)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import msgspec

from nix_audit.errors import SourceError
from nix_audit.models import Package, Skipped
from nix_audit.sources.interface import SourceResult

__all__ = ["load_json", "packages_of"]

Entry = TypeVar("Entry")


def load_json(file: Path) -> object:
    """The decoded file: msgspec for speed (a full nixpkgs is 100+ MB), the standard decoder
    only to name the line and column of an error (msgspec names a byte offset)."""
    try:
        data = file.read_bytes()
    except OSError as e:
        raise SourceError(f"{file}: cannot read: {e.strerror or e}") from e
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as fast_error:
        try:
            json.loads(data)
        except json.JSONDecodeError as e:
            raise SourceError(f"{file}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
        except UnicodeDecodeError as e:
            raise SourceError(f"{file}: not UTF-8 text (byte {e.start})") from e
        except (ValueError, RecursionError) as e:
            raise SourceError(f"{file}: invalid JSON: {' '.join(str(e).split())}") from e
        raise SourceError(f"{file}: invalid JSON: {fast_error}") from fast_error


def packages_of(
    file: Path,
    entries: Iterable[tuple[str, Entry]],
    convert: Callable[[Entry, str], Package | Skipped],
) -> SourceResult:
    """Each (label, entry) converted, duplicates dropped, sorted by name: the source result."""
    packages: dict[Package, None] = {}
    skipped: list[Skipped] = []
    for label, entry in entries:
        found = convert(entry, f"{file}: {label}")
        if isinstance(found, Skipped):
            skipped.append(found)
        else:
            packages.setdefault(found)
    ordered = sorted(packages, key=lambda p: (p.name, p.key))
    return SourceResult(packages=tuple(ordered), skipped=tuple(skipped))
