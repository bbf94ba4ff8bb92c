"""What really runs: store paths in use by live processes, read from ``/proc`` (issue #8).

For every process, ``/proc/<pid>/exe`` (the executable) and ``/proc/<pid>/maps`` (every file
mapped into memory: shared libraries, locale archives) name the files it uses (proc(5)).
Each one under the store directory is cut to its top-level store path. ``comm`` gives the
command name and ``cgroup`` the systemd unit: the last ``*.service`` component of the cgroup
path, which systemd names after the unit (systemd.unit(5), "cgroup hierarchy").

Annotation rule: a package is annotated with a process when the process executes or maps one
of the package's **own outputs** (its store path, or another output of the same derivation).
Packages that are only in the runtime closure of what runs (a script the program may call, a
data file) are scanned but carry no process: only the loaded code is "running".

Needs restart: a loaded package none of whose loaded paths (nor its main output) is in the
runtime closure of the *current* roots (by default ``/run/current-system``) is superseded:
its processes keep old code until restarted. A loaded path still in the current closure
needs no restart even when the closure also holds a newer version of that name (NixOS
closures often hold two versions of a library; restarting would load the same path again).
The entry says which version of the same ``pname`` the current closure has (Nix
``compareVersions`` order), if any.

Processes that cannot be inspected (another user's process without root: ``EACCES``; one that
exited while being read) are counted, never fatal. Kernel threads and zombies have no
executable and no maps; they are not counted at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from nix_audit.derivation import parse_drv_name, store_path_name
from nix_audit.errors import DerivationError, SourceError
from nix_audit.models import (
    IdentifiedFrom,
    Package,
    RestartNeeded,
    RunningProcess,
    RunningSummary,
    Skipped,
)
from nix_audit.sources.interface import PackageSource, SourceResult
from nix_audit.sources.nix import NixStore
from nix_audit.sources.store import ClosureMode, scan_store_paths, store_path_of, strip_output
from nix_audit.sources.system import SYSTEM_ROOTS
from nix_audit.versions import compare_versions

__all__ = [
    "DEFAULT_PROC_ROOT",
    "ProcessTable",
    "RunningScan",
    "RunningSource",
    "find_restarts",
    "read_processes",
    "store_path_in",
    "systemd_unit",
]

DEFAULT_PROC_ROOT = "/proc"

# The kernel appends this to a link or map entry whose file was unlinked after the process
# opened it (proc(5), /proc/<pid>/maps): after a garbage collection, for example.
_DELETED = " (deleted)"


@dataclass(frozen=True, slots=True)
class ProcessTable:
    """What ``/proc`` said: inspected processes, and the store paths each one uses.

    ``paths`` maps a top-level store path to the processes that execute or map it (sorted by
    pid). ``denied`` and ``vanished`` count processes that could not be inspected.
    """

    processes: tuple[RunningProcess, ...]
    paths: Mapping[str, tuple[RunningProcess, ...]]
    denied: int = 0
    vanished: int = 0

    @property
    def uninspectable(self) -> int:
        """Processes seen in ``/proc`` whose store paths are unknown."""
        return self.denied + self.vanished


@dataclass(frozen=True, slots=True)
class RunningScan:
    """The packages in use (annotated with their processes), skips, and the summary."""

    packages: tuple[Package, ...]
    skipped: tuple[Skipped, ...]
    summary: RunningSummary
    table: ProcessTable


# --- reading /proc -------------------------------------------------------------------------


def store_path_in(path: str, store_dir: str) -> str | None:
    """The top-level store path of a file path (``.../lib/libc.so.6``), or None outside it."""
    path = path.removesuffix(_DELETED)
    prefix = store_dir.rstrip("/") + "/"
    if not path.startswith(prefix):
        return None
    top = path[len(prefix) :].split("/", 1)[0]
    return prefix + top if top and not top.startswith(".") else None


def systemd_unit(cgroup_text: str) -> str | None:
    """The systemd service of a process from ``/proc/<pid>/cgroup``, or None.

    Lines are ``<id>:<controllers>:<path>``. systemd keeps its tree in the unified hierarchy
    (``0::``) or, on cgroup v1 and hybrid hosts, in ``name=systemd`` (the unified line is
    then ``0::/``); the unified one wins when both name a service. The last ``*.service``
    component of the path wins, so a service inside ``user@1000.service`` is named, not the
    user manager.
    """
    found: dict[str, str] = {}
    for line in cgroup_text.splitlines():
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        units = [c for c in path.split("/") if c.endswith(".service")]
        if controllers in ("", "name=systemd") and units:
            found.setdefault(controllers, units[-1])
    return found.get("") or found.get("name=systemd")


def read_processes(
    proc_root: str = DEFAULT_PROC_ROOT, store_dir: str = "/nix/store"
) -> ProcessTable:
    """Every process under ``proc_root`` and the store paths it executes or maps."""
    processes: list[RunningProcess] = []
    paths: dict[str, list[RunningProcess]] = {}
    denied = vanished = 0
    for pid in _pids(proc_root):
        try:
            found = _inspect(Path(proc_root, str(pid)), pid, store_dir)
        except PermissionError:
            denied += 1
            continue
        except OSError:
            # Any other failure on a listed pid: the process exited between the listing
            # and the reads (ENOENT, ESRCH), or its entry is no longer a directory.
            vanished += 1
            continue
        if found is None:
            continue  # a kernel thread or a zombie: no executable, nothing mapped
        process, used = found
        processes.append(process)
        for store_path in used:
            paths.setdefault(store_path, []).append(process)
    return ProcessTable(
        processes=tuple(processes),
        paths={p: tuple(sorted(procs)) for p, procs in sorted(paths.items())},
        denied=denied,
        vanished=vanished,
    )


def _pids(proc_root: str) -> list[int]:
    try:
        names = [entry.name for entry in Path(proc_root).iterdir()]
    except OSError as e:
        raise SourceError(f"{proc_root}: cannot list processes: {e.strerror or e}") from e
    return sorted(int(name) for name in names if name.isdigit())


def _inspect(pid_dir: Path, pid: int, store_dir: str) -> tuple[RunningProcess, set[str]] | None:
    """One process, or None for one without a user-space image; raises ``OSError``."""
    command = (pid_dir / "comm").read_text(errors="replace").rstrip("\n")
    unit = systemd_unit(_read_optional(pid_dir / "cgroup"))
    try:
        exe: str | None = str((pid_dir / "exe").readlink())
    except FileNotFoundError:
        exe = None  # kernel threads and zombies have no executable
    maps = (pid_dir / "maps").read_text(errors="surrogateescape")
    if exe is None and not maps:
        if not pid_dir.is_dir():
            raise FileNotFoundError(pid_dir)  # it exited while being read
        return None
    used = {p for p in (_map_paths(maps, store_dir)) if p}
    if exe is not None and (top := store_path_in(exe, store_dir)):
        used.add(top)
    return RunningProcess(pid=pid, command=command, unit=unit), used


def _read_optional(path: Path) -> str:
    """A file that kernels without the feature (cgroups) do not have: empty when absent."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _map_paths(maps: str, store_dir: str) -> Iterator[str | None]:
    """Store paths of the file-backed mappings (``addr perms offset dev inode path``)."""
    for line in maps.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6:
            yield store_path_in(parts[5], store_dir)


# --- the source ----------------------------------------------------------------------------


class RunningSource(PackageSource):
    """Packages loaded by running processes, their runtime closures, and restart needs.

    ``current``: links or store paths whose runtime closure is the current system; None
    takes the first of ``SYSTEM_ROOTS`` that exists (no restart check when none does).
    """

    def __init__(
        self,
        *,
        proc_root: str = DEFAULT_PROC_ROOT,
        current: Sequence[str] | None = None,
        nix: NixStore | None = None,
    ) -> None:
        self.proc_root = proc_root
        self.current = None if current is None else tuple(current)
        self.nix = nix if nix is not None else NixStore()

    def collect(self) -> SourceResult:
        """The packages of ``scan()`` (annotated with processes) and what was skipped."""
        found = self.scan()
        return SourceResult(packages=found.packages, skipped=found.skipped)

    def scan(self) -> RunningScan:
        """Read ``/proc``, scan the runtime closures in use, and check for restarts."""
        table = read_processes(self.proc_root, self.nix.store_dir)
        in_use = list(table.paths)
        valid = self.nix.valid(in_use) if in_use else set()
        gone = [p for p in in_use if p not in valid]
        found = scan_store_paths([p for p in in_use if p in valid], mode=ClosureMode.RUNTIME,
                                 nix=self.nix)  # fmt: skip
        packages, loaded = self._annotate(found.packages, table, [p for p in in_use if p in valid])
        for path in gone:
            package = _package_by_name(path, table.paths[path])
            if package is not None:
                packages.append(package)
                loaded[package.key] = (path,)
        roots = self._current_roots()
        restarts = find_restarts(packages, loaded, roots, self.nix) if roots else ()
        summary = RunningSummary(
            processes=len(table.processes),
            uninspectable=table.uninspectable,
            store_paths=len(in_use),
            needs_restart=restarts,
            current_roots=tuple(roots),
        )
        skipped = [*found.skipped, *_skips(table, gone, roots, self.current)]
        packages.sort(key=lambda p: (p.name, p.key))
        return RunningScan(tuple(packages), tuple(skipped), summary, table)

    def _annotate(
        self, packages: Iterable[Package], table: ProcessTable, valid: Sequence[str]
    ) -> tuple[list[Package], dict[str, tuple[str, ...]]]:
        """Packages with the processes that use their own outputs; key -> loaded paths."""
        derivers = self.nix.derivers(valid) if valid else {}
        by_drv: dict[str, list[str]] = {}
        for path, drv in derivers.items():
            if drv is not None:
                by_drv.setdefault(drv, []).append(path)
        annotated: list[Package] = []
        loaded: dict[str, tuple[str, ...]] = {}
        for package in packages:
            paths = set(by_drv.get(package.derivation or "", ()))
            if package.store_path is not None and package.store_path in table.paths:
                paths.add(package.store_path)
            if paths:
                procs = {proc for path in paths for proc in table.paths[path]}
                package = _with_processes(package, sorted(procs))
                loaded[package.key] = tuple(sorted(paths))
            annotated.append(package)
        return annotated, loaded

    def _current_roots(self) -> list[str]:
        """Store paths of the current system (or the given roots); empty when none exists."""
        store_dir = self.nix.store_dir
        if self.current is not None:
            return list(dict.fromkeys(store_path_of(root, store_dir) for root in self.current))
        for root in SYSTEM_ROOTS:
            if os.path.lexists(root):
                return [store_path_of(root, store_dir)]
        return []


def _with_processes(package: Package, processes: Sequence[RunningProcess]) -> Package:
    return replace(package, processes=tuple(processes))


def _package_by_name(path: str, processes: Sequence[RunningProcess]) -> Package | None:
    """A package for a store path deleted while in use: only its name is left to go by."""
    try:
        name = strip_output(store_path_name(path))
    except DerivationError:
        return None
    pname, version = parse_drv_name(name)
    if not version:
        return None
    return Package(
        name=name,
        pname=pname,
        version=version,
        store_path=path,
        identified_from=IdentifiedFrom.STORE_PATH_NAME,
        processes=tuple(processes),
    )


def _skips(
    table: ProcessTable, gone: Sequence[str], roots: Sequence[str], current: Sequence[str] | None
) -> Iterator[Skipped]:
    if table.denied:
        yield Skipped(
            what=_count(table.denied, "process"),
            reason="cannot be inspected: permission denied (run as root to see every process)",
        )
    if table.vanished:
        yield Skipped(what=_count(table.vanished, "process"), reason="exited while being read")
    for path in gone:
        yield Skipped(
            what=path,
            reason="in use by a running process but no longer in the store (deleted): "
            "identified from its name, closure unknown",
        )
    if not roots and current is None:
        yield Skipped(
            what="needs-restart check",
            reason=f"no current system: none of {', '.join(SYSTEM_ROOTS)} exists",
        )


def _count(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}es"


# --- needs restart -------------------------------------------------------------------------


def find_restarts(
    packages: Sequence[Package],
    loaded: Mapping[str, Sequence[str]],
    roots: Sequence[str],
    nix: NixStore,
) -> tuple[RestartNeeded, ...]:
    """Loaded packages none of whose loaded paths is in the runtime closure of ``roots``.

    The package's main output counts as well: a process that maps only the ``dev`` output of
    a derivation whose ``out`` the current system has runs the current build.
    """
    current = set(nix.closure(roots))
    stale = [
        p
        for p in packages
        if p.processes and not current.intersection((*loaded.get(p.key, ()), p.store_path))
    ]
    if not stale:
        return ()
    newest = _newest_versions(scan_store_paths(roots, mode=ClosureMode.RUNTIME, nix=nix).packages)
    entries = [
        RestartNeeded(
            name=p.name,
            pname=p.pname,
            version=p.version,
            store_path=p.store_path or loaded[p.key][0],
            current_version=newest.get(p.pname),
            processes=p.processes,
        )
        for p in stale
    ]
    return tuple(sorted(entries, key=lambda r: (r.name, r.store_path)))


def _newest_versions(packages: Iterable[Package]) -> dict[str, str]:
    """pname -> the newest version among ``packages`` (Nix ``compareVersions``)."""
    newest: dict[str, str] = {}
    for package in packages:
        seen = newest.get(package.pname)
        if seen is None or compare_versions(package.version, seen) > 0:
            newest[package.pname] = package.version
    return newest
