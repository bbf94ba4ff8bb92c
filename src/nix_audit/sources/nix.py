"""``NixStore``: the one module that runs Nix tools.

Every call passes an argv list (never a shell) and many paths per process, split into chunks
that stay far below the kernel's ``ARG_MAX`` (a NixOS system closure has thousands of paths,
and starting ``nix-store`` costs about 15 ms, so one process per path would dominate a scan).
Queries whose answer Nix prints as one merged list (``--requisites``, ``--references``) are
returned merged; queries that print one line per argument (``--deriver``) are zipped back.

A missing tool or a failing call becomes a one-line ``NixError`` naming the path and Nix's own
first error line, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from nix_audit.errors import NixError

__all__ = [
    "DEFAULT_STORE_DIR",
    "NixStore",
    "PathInfo",
    "default_store_dir",
    "parse_gc_roots",
    "parse_path_info",
]

DEFAULT_STORE_DIR = "/nix/store"

# Bytes of path arguments per process. Linux allows 2 MiB for argv plus the environment
# (ARG_MAX); a quarter of that leaves room for a large environment and keeps error messages
# about a chunk short.
_CHUNK_BYTES = 512 * 1024

# ``nix-store --query --deriver`` prints this for a path registered without a deriver
# (``nix-store --add``, ``builtins.toFile``, or a path copied without its deriver).
_UNKNOWN_DERIVER = "unknown-deriver"

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def default_store_dir() -> str:
    """The store directory: ``$NIX_STORE_DIR`` (as Nix itself reads it), else ``/nix/store``."""
    return os.environ.get("NIX_STORE_DIR") or DEFAULT_STORE_DIR


@dataclass(frozen=True, slots=True)
class PathInfo:
    """What the store database holds about one valid path (``nix path-info --json``)."""

    path: str
    deriver: str | None
    references: tuple[str, ...]
    nar_hash: str
    nar_size: int
    ca: str | None = None


class NixStore:
    """Queries against the local Nix store through ``nix-store`` and ``nix``.

    ``search_path`` replaces ``$PATH`` when looking the tools up (tests use it to simulate a
    host without Nix); ``store_dir`` defaults to ``default_store_dir()``.
    """

    def __init__(self, store_dir: str | None = None, *, search_path: str | None = None) -> None:
        self.store_dir = (store_dir or default_store_dir()).rstrip("/") or "/"
        self._search_path = search_path

    # --- queries ------------------------------------------------------------------------

    def closure(self, paths: Iterable[str]) -> list[str]:
        """The closure of ``paths`` (``nix-store --query --requisites``), each path once.

        For output paths that is the runtime closure; for ``.drv`` paths it is the build-time
        closure: the derivations and sources needed to build them (Nix manual, nix-store
        --query).
        """
        found: dict[str, None] = {}
        for chunk in _chunks(paths):
            for line in self._lines("nix-store", ["--query", "--requisites"], chunk):
                found.setdefault(line)
        return list(found)

    def derivers(self, paths: Iterable[str]) -> dict[str, str | None]:
        """Map each valid path to the ``.drv`` that built it, or None when Nix does not know."""
        result: dict[str, str | None] = {}
        for chunk in _chunks(paths):
            lines = self._lines("nix-store", ["--query", "--deriver"], chunk)
            if len(lines) != len(chunk):
                raise NixError(
                    f"nix-store --query --deriver on {_describe(chunk)}: "
                    f"expected {len(chunk)} lines, got {len(lines)}"
                )
            for path, line in zip(chunk, lines, strict=True):
                result[path] = None if line == _UNKNOWN_DERIVER else line
        return result

    def outputs(self, drvs: Iterable[str]) -> dict[str, list[str]]:
        """Map each ``.drv`` to its output paths (``nix-store --query --outputs``).

        Nix prints the outputs of all arguments as one list, so this asks once per
        derivation; it is meant for a few derivations (the user's inputs). The scan core reads
        outputs from the parsed ``.drv`` files instead, which it parses anyway.
        """
        return {
            drv: self._lines("nix-store", ["--query", "--outputs"], [drv])
            for drv in dict.fromkeys(drvs)
        }

    def references(self, paths: Iterable[str]) -> list[str]:
        """The direct references of ``paths``, merged, each once (``--query --references``)."""
        found: dict[str, None] = {}
        for chunk in _chunks(paths):
            for line in self._lines("nix-store", ["--query", "--references"], chunk):
                found.setdefault(line)
        return list(found)

    def valid(self, paths: Iterable[str]) -> set[str]:
        """The subset of ``paths`` (store paths) registered as valid in the store database."""
        wanted = list(dict.fromkeys(paths))
        invalid: set[str] = set()
        for chunk in _chunks(wanted):
            invalid.update(self._lines("nix-store", ["--check-validity", "--print-invalid"], chunk))
        return {path for path in wanted if path not in invalid}

    def gc_roots(self) -> list[str]:
        """The store paths held by garbage-collector roots (``nix-store --gc --print-roots``)."""
        output = self._run("nix-store", ["--gc", "--print-roots"], [])
        return list(dict.fromkeys(target for _, target in parse_gc_roots(output)))

    def path_info(self, paths: Iterable[str]) -> dict[str, PathInfo]:
        """Database records of the valid ones among ``paths`` (``nix path-info --json``).

        A ``.drv`` argument is an installable to ``nix``, so it describes the derivation's
        outputs, not the file; pass output paths.
        """
        result: dict[str, PathInfo] = {}
        # nix-command is experimental in every Nix that has ``nix path-info``; enabling it
        # here keeps the user's configuration out of the question.
        args = ["--extra-experimental-features", "nix-command", "path-info", "--json"]
        for chunk in _chunks(paths):
            text = self._run("nix", args, chunk)
            result.update(parse_path_info(text, store_dir=self.store_dir, origin=_describe(chunk)))
        return result

    # --- running the tools ------------------------------------------------------------

    def _lines(self, tool: str, args: Sequence[str], paths: Sequence[str]) -> list[str]:
        return [line for line in self._run(tool, args, paths).splitlines() if line]

    def _run(self, tool: str, args: Sequence[str], paths: Sequence[str]) -> str:
        executable = self._which(tool)
        argv = [executable, *args, *paths]
        command = " ".join([tool, *args])
        try:
            proc = subprocess.run(argv, capture_output=True, check=False)
        except OSError as e:
            raise NixError(f"cannot run {executable}: {e.strerror}") from e
        if proc.returncode != 0:
            where = f" on {_describe(paths)}" if paths else ""
            reason = _first_error_line(proc.stderr) or f"exit status {proc.returncode}"
            raise NixError(f"{command}{where} failed: {reason}")
        return proc.stdout.decode("utf-8", errors="surrogateescape")

    def _which(self, tool: str) -> str:
        found = shutil.which(tool, path=self._search_path)  # None: the current $PATH
        if found is None:
            raise NixError(f"{tool} not found: install Nix (Debian: nix-bin)")
        return found


# --- pure parsers --------------------------------------------------------------------------


def parse_gc_roots(text: str) -> list[tuple[str, str]]:
    """``link -> target`` pairs from ``nix-store --gc --print-roots`` output.

    Entries whose link is in braces are skipped: ``{censored}`` hides another user's root,
    and ``{memory:N}``, ``{lsof}`` or ``{temp:N}`` are runtime roots of running processes,
    which Nix reports without a link (Nix source, ``libstore/gc.cc``). ``/proc/...`` links are
    runtime roots too (open files, memory maps of running programs): transient, so skipped.
    """
    roots: list[tuple[str, str]] = []
    for raw in text.splitlines():
        link, sep, target = raw.partition(" -> ")
        link, target = link.strip(), target.strip()
        if not sep or not target or link.startswith(("{", "/proc/")):
            continue
        roots.append((link, target))
    return roots


def parse_path_info(
    json_text: str, *, store_dir: str = DEFAULT_STORE_DIR, origin: str = "nix path-info"
) -> dict[str, PathInfo]:
    """Decode ``nix path-info --json`` output of any Nix version, keeping valid paths only.

    Before Nix 2.19 the output is a list of objects, each with a ``path`` key, and invalid
    paths appear as ``{"path": ..., "valid": false}``. From 2.19 it is an object keyed by
    store path, with ``null`` for an invalid path (Nix 2.19 release notes). Paths may be given
    without the store directory in newer versions; they are made absolute with ``store_dir``.
    """
    try:
        data = json.loads(json_text)
    except ValueError as e:
        raise NixError(f"{origin}: nix path-info printed invalid JSON: {e}") from e
    if isinstance(data, list):
        items: Iterator[tuple[object, object]] = (
            (entry.get("path") if isinstance(entry, dict) else None, entry) for entry in data
        )
    elif isinstance(data, dict):
        items = iter(data.items())
    else:
        raise NixError(f"{origin}: nix path-info printed neither a list nor an object")
    result: dict[str, PathInfo] = {}
    for key, entry in items:
        info = _path_info_entry(key, entry, store_dir, origin)
        if info is not None:
            result[info.path] = info
    return result


def _path_info_entry(key: object, entry: object, store_dir: str, origin: str) -> PathInfo | None:
    if entry is None or (isinstance(entry, dict) and entry.get("valid") is False):
        return None
    if not isinstance(key, str) or not isinstance(entry, dict):
        raise NixError(f"{origin}: unexpected nix path-info entry {key!r}")
    deriver = entry.get("deriver")
    references = entry.get("references") or []
    ca = entry.get("ca")
    return PathInfo(
        path=_absolute(key, store_dir),
        deriver=_absolute(deriver, store_dir) if isinstance(deriver, str) and deriver else None,
        references=tuple(_absolute(str(ref), store_dir) for ref in references),
        nar_hash=str(entry.get("narHash", "")),
        nar_size=int(entry.get("narSize", 0)),
        ca=ca if isinstance(ca, str) else None,
    )


# --- helpers -------------------------------------------------------------------------------


def _absolute(path: str, store_dir: str) -> str:
    return path if path.startswith("/") else f"{store_dir}/{path}"


def _chunks(paths: Iterable[str]) -> Iterator[list[str]]:
    """Split paths into argument lists of at most ``_CHUNK_BYTES`` bytes, keeping order."""
    chunk: list[str] = []
    size = 0
    for path in paths:
        cost = len(path.encode("utf-8", errors="surrogateescape")) + 1
        if chunk and size + cost > _CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(path)
        size += cost
    if chunk:
        yield chunk


def _describe(paths: Sequence[str]) -> str:
    if not paths:
        return "no paths"
    more = len(paths) - 1
    return paths[0] if more == 0 else f"{paths[0]} (and {more} more)"


def _first_error_line(stderr: bytes) -> str:
    """Nix's own first ``error:`` line, else its first non-empty line, without colours."""
    lines = [
        _ANSI_RE.sub("", line).strip()
        for line in stderr.decode("utf-8", errors="replace").splitlines()
    ]
    lines = [line for line in lines if line]
    for line in lines:
        if line.startswith("error:"):
            return line
    return lines[0] if lines else ""
