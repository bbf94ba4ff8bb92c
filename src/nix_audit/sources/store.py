"""Store paths to packages: the resolution core every Nix-backed source shares.

The user names store objects in many ways (a ``.drv``, an output path, a ``result`` link, a
link into ``bin/``, a profile); ``store_path_of`` turns each into one top-level store path.
``scan_store_paths`` then expands them by ``ClosureMode`` and maps every path to the
derivation that built it, reading each ``.drv`` file once (issue #3: 3,000 derivations within
0.5 s), and to a package with ``package_from_derivation``.

Closure rules (Nix manual, ``nix-store --query``): ``--requisites`` of output paths is the
runtime closure; of ``.drv`` paths it is the build-time closure.

A ``.drv`` file outside the store (a copied derivation, a test fixture) has no closure the
store knows: it is read as it is, as vulnix reads it, and the result's ``warnings`` say
that its inputs were not followed (issue #13).
"""

from __future__ import annotations

import enum
import functools
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from nix_audit.derivation import (
    Derivation,
    package_from_derivation,
    parse_derivation_bytes,
    parse_drv_name,
    store_path_name,
)
from nix_audit.derivation.names import artifact_suffix
from nix_audit.errors import DerivationError, SourceError
from nix_audit.models import Closure, IdentifiedFrom, Package, Skipped
from nix_audit.progress import Step, task
from nix_audit.sources.interface import PackageSource, SourceResult
from nix_audit.sources.nix import NixStore

__all__ = [
    "ClosureMode",
    "InvalidStorePathError",
    "StorePathSource",
    "check_valid",
    "is_loose_derivation",
    "scan_store_paths",
    "store_path_of",
    "strip_output",
]

_DRV = ".drv"

# Output names nixpkgs uses for split outputs; a store path named "<name>-<version>-dev"
# without a known deriver is reported as "<name>-<version>" (its output suffix dropped).
_OUTPUT_SUFFIXES = ("-bin", "-dev", "-lib", "-out", "-man", "-doc", "-devdoc", "-info",
                    "-debug", "-static")  # fmt: skip

# Names of store paths that are inputs to builds, not installed software; only needed for
# paths without a derivation (package_from_derivation applies the same idea to derivations).


class ClosureMode(enum.Enum):
    """Which packages a store path stands for."""

    RUNTIME = "runtime"  # the runtime closure of the outputs: what is deployed
    BUILDTIME = "buildtime"  # the build-time closure of the derivations: what built it
    DIRECT = "direct"  # only the given derivations, no closure


class InvalidStorePathError(SourceError):
    """A path inside the store directory that the store database does not know."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


# --- user paths to store paths -------------------------------------------------------------


def store_path_of(path: str, store_dir: str) -> str:
    """The top-level store path that ``path`` (a store path, a link, a file inside) names.

    Links are followed to the end (``result``, profile generations), then the path is cut
    to ``<store dir>/<hash>-<name>``, so ``result/bin/foo`` names the whole output.
    """
    if _is_plain_store_object(path, store_dir):
        return path
    if not os.path.lexists(path):
        raise SourceError(f"{path}: no such file or directory")
    real = os.path.realpath(path)
    if not Path(real).exists():
        raise SourceError(f"{path}: dangling symlink (points to {real})")
    real_store = _real_store_dir(store_dir)
    rest = real[len(real_store) :] if real.startswith(real_store + "/") else ""
    top = rest.lstrip("/").split("/", 1)[0]
    if not top:
        raise SourceError(f"{path}: not in the Nix store {store_dir} (resolves to {real})")
    store_path = f"{store_dir.rstrip('/')}/{top}"
    try:
        store_path_name(store_path)
    except DerivationError:
        # Nix keeps files of its own in the store directory (.links, for store
        # optimisation); store objects are <hash>-<name> (Nix manual, "Store Path").
        raise SourceError(f"{path}: not a store object ({store_path})") from None
    return store_path


def _is_plain_store_object(path: str, store_dir: str) -> bool:
    """Whether ``path`` is already ``<store dir>/<hash>-<name>``, present and not a link.

    The common case of list files and closures, answered with one ``lstat`` instead of the
    component-by-component walk of ``realpath`` (issue #3: 3,000 paths in the 0.5 s budget).
    """
    prefix = store_dir.rstrip("/") + "/"
    if not path.startswith(prefix) or "/" in path[len(prefix) :]:
        return False
    if _real_store_dir(store_dir) != store_dir.rstrip("/"):
        return False  # the store directory itself is reached through a link
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            return False
        store_path_name(path)
    except (OSError, DerivationError):
        return False  # let the slow path name the problem
    return True


@functools.lru_cache(maxsize=8)
def _real_store_dir(store_dir: str) -> str:
    return os.path.realpath(store_dir)


def is_loose_derivation(path: str, store_dir: str) -> bool:
    """Whether ``path`` is a ``.drv`` file that is not in the store (links followed)."""
    if not path.endswith(_DRV) or not Path(path).is_file():
        return False
    return not os.path.realpath(path).startswith(_real_store_dir(store_dir) + "/")


def check_valid(store_paths: Sequence[str], nix: NixStore) -> None:
    """Raise ``InvalidStorePathError`` for the first path the store database does not know.

    A file can sit in the store directory without being registered (a build that was
    interrupted, a copy made by hand); Nix refuses to query such a path.
    """
    valid = nix.valid(store_paths)
    for path in store_paths:
        if path not in valid:
            raise InvalidStorePathError(f"{path}: not a valid path in the Nix store", path)


# --- the sources -------------------------------------------------------------------------


class StorePathSource(PackageSource):
    """Packages of store paths, ``.drv`` files or links into the store, by ``ClosureMode``."""

    def __init__(
        self,
        paths: Iterable[str],
        *,
        mode: ClosureMode = ClosureMode.RUNTIME,
        nix: NixStore | None = None,
    ) -> None:
        self.paths = tuple(paths)
        self.mode = mode
        self.nix = nix if nix is not None else NixStore()

    def collect(self) -> SourceResult:
        """Resolve the paths (raising ``SourceError`` naming a bad one), then scan them."""
        store_dir = self.nix.store_dir
        loose: dict[str, None] = {}
        origins: dict[str, str] = {}
        for path in self.paths:
            if is_loose_derivation(path, store_dir):
                loose.setdefault(str(Path(path).absolute()))
            else:
                origins.setdefault(store_path_of(path, store_dir), path)
        warnings = tuple(
            f"{path}: .drv file outside the Nix store {store_dir}, read as it is: "
            "its inputs were not followed"
            for path in loose
        )
        store_paths = list(origins)
        try:
            if store_paths:  # a scan of loose .drv files alone needs no Nix
                check_valid(store_paths, self.nix)
        except InvalidStorePathError as e:
            origin = origins[e.path]
            if origin == e.path:
                raise
            raise InvalidStorePathError(f"{origin}: {e}", e.path) from e
        found = scan_store_paths(store_paths, mode=self.mode, nix=self.nix, loose=list(loose))
        return replace(found, warnings=warnings)


def scan_store_paths(
    store_paths: Sequence[str],
    *,
    mode: ClosureMode,
    nix: NixStore,
    loose: Sequence[str] = (),
) -> SourceResult:
    """Packages for valid top-level store paths, expanded as ``mode`` says, and for
    ``loose`` ``.drv`` files outside the store, each on its own (no closure)."""
    drvs = [p for p in store_paths if p.endswith(_DRV)]
    outputs = [p for p in store_paths if not p.endswith(_DRV)]
    with task("reading derivations") as step:
        scan = _Scan(nix, step)
        for drv in loose:
            scan.add_loose(drv)
        if mode is ClosureMode.RUNTIME:
            scan.runtime(drvs, outputs)
        elif mode is ClosureMode.BUILDTIME:
            scan.buildtime(drvs, outputs)
        else:
            scan.direct(drvs, outputs)
    return scan.result()


# --- the scan ------------------------------------------------------------------------------


class _Scan:
    """One scan's state: parsed derivations (each read once) and packages by derivation."""

    def __init__(self, nix: NixStore, step: Step | None = None) -> None:
        self.nix = nix
        self._step = step
        self._owner: dict[str, str] = {}  # output path -> key of the package it belongs to
        self._depends: dict[str, set[str]] = {}  # package key -> keys it refers to
        self._drvs: dict[str, Derivation | None] = {}
        self._packages: dict[str, Package] = {}
        self._skipped: dict[Skipped, None] = {}
        self._by_name = 0

    # --- modes ---------------------------------------------------------------------------

    def runtime(self, drvs: Sequence[str], outputs: Sequence[str]) -> None:
        """Runtime closure of the outputs; a ``.drv`` stands for its realised outputs."""
        realised, unrealised = self._realised_outputs(drvs)
        roots = [*outputs, *realised]
        if roots:
            closure = self.nix.closure(roots)
            self._closure_paths(closure)
            self._link(closure)
        for drv in unrealised:
            self._skip(drv, "outputs not realised: scanned its build-time closure (buildtime)")
        if unrealised:
            closure = [p for p in self.nix.closure(unrealised) if p.endswith(_DRV)]
            for drv in closure:
                self._add_drv(drv, Closure.BUILDTIME, None)

    def buildtime(self, drvs: Sequence[str], outputs: Sequence[str]) -> None:
        """Build-time closure of the derivations; those deployed are marked runtime."""
        derivers = self._known_derivers(outputs)
        orphans = [p for p in outputs if p not in derivers]
        for path in orphans:
            self._skip(path, "no derivation on this host: scanned its runtime closure instead")
        if orphans:
            self.runtime([], orphans)
        all_drvs = list(dict.fromkeys([*drvs, *derivers.values()]))
        if not all_drvs:
            return
        realised, _ = self._realised_outputs(drvs)
        roots = [*derivers.keys(), *realised]  # the outputs on this host, given or built
        deployed = set(self.nix.closure(roots)) if roots else set()
        for drv in self.nix.closure(all_drvs):
            if not drv.endswith(_DRV):
                continue
            parsed = self._read(drv)
            outs = parsed.output_paths if parsed is not None else ()
            on_host = [o for o in outs if o in deployed]
            closure = Closure.RUNTIME if on_host else Closure.BUILDTIME
            self._add_drv(drv, closure, _preferred_output(parsed, on_host))

    def direct(self, drvs: Sequence[str], outputs: Sequence[str]) -> None:
        """Only the given derivations (an output path stands for its deriver)."""
        realised = set(self._realised_outputs(drvs)[0])
        for drv in drvs:
            parsed = self._read(drv)
            outs = [o for o in (parsed.output_paths if parsed else ()) if o in realised]
            closure = Closure.RUNTIME if outs else Closure.BUILDTIME
            self._add_drv(drv, closure, _preferred_output(parsed, outs))
        self._paths_by_deriver(outputs)

    def add_loose(self, drv: str) -> None:
        """A ``.drv`` file outside the store, read as it is: no closure, and its outputs are
        not looked up, so it is not known to be deployed (as ``-R`` of an unrealised drv)."""
        self._add_drv(drv, Closure.BUILDTIME, None)

    # --- building blocks ---------------------------------------------------------------

    def _realised_outputs(self, drvs: Sequence[str]) -> tuple[list[str], list[str]]:
        """(valid outputs of ``drvs``, the drvs none of whose outputs is valid)."""
        wanted = {drv: self._outputs_of(drv) for drv in drvs}
        valid = self.nix.valid(p for outs in wanted.values() for p in outs) if wanted else set()
        realised: list[str] = []
        unrealised: list[str] = []
        for drv, outs in wanted.items():
            present = [p for p in outs if p in valid]
            realised.extend(present)
            if not present:
                unrealised.append(drv)
        return realised, unrealised

    def _closure_paths(self, paths: Sequence[str]) -> None:
        """Packages of the (non-``.drv``) paths of a runtime closure, one per derivation."""
        # A .drv can only be in a runtime closure when an output refers to one; it is a
        # build recipe, not deployed software.
        self._paths_by_deriver([p for p in paths if not p.endswith(_DRV)])

    def _paths_by_deriver(self, paths: Sequence[str]) -> None:
        """One package per deriver of ``paths`` (outputs out/dev/lib share one)."""
        if not paths:
            return
        derivers = self.nix.derivers(paths)
        groups: dict[str, list[str]] = {}
        for path in paths:
            deriver = derivers.get(path)
            if deriver is not None and self._read(deriver) is not None:
                groups.setdefault(deriver, []).append(path)
            else:
                self._add_by_name(path, deriver)
        for drv, outs in groups.items():
            self._add_drv(drv, Closure.RUNTIME, _preferred_output(self._read(drv), outs))
            if drv in self._packages:
                self._owner.update(dict.fromkeys(outs, self._packages[drv].key))

    def _link(self, closure: Sequence[str]) -> None:
        """Package-level runtime dependencies from the store's references (CycloneDX
        ``dependencies``, issue #5): P depends on Q when an output of P refers to one of Q."""
        paths = [p for p in closure if not p.endswith(_DRV) and p in self._owner]
        infos = self.nix.path_info(paths) if paths else {}
        for path, info in infos.items():
            owner = self._owner[path]
            for reference in info.references:
                target = self._owner.get(reference)
                if target is not None and target != owner:
                    self._depends.setdefault(owner, set()).add(target)

    def _known_derivers(self, outputs: Sequence[str]) -> dict[str, str]:
        """Output path -> deriver, for outputs whose ``.drv`` is present on this host."""
        if not outputs:
            return {}
        found = self.nix.derivers(outputs)
        return {p: d for p, d in found.items() if d is not None and self._read(d) is not None}

    def _outputs_of(self, drv: str) -> tuple[str, ...]:
        parsed = self._read(drv)
        # A floating content-addressed output has no path in the .drv until it is built.
        return tuple(p for p in parsed.output_paths if p) if parsed is not None else ()

    def _read(self, drv: str) -> Derivation | None:
        """The parsed ``.drv``, or None when the file is gone (each file is read once)."""
        if drv in self._drvs:
            return self._drvs[drv]
        if self._step is not None:
            self._step(1)
        parsed: Derivation | None = None
        try:
            parsed = parse_derivation_bytes(Path(drv).read_bytes(), drv)
        except FileNotFoundError:
            parsed = None  # deleted, or never copied from a binary cache
        except OSError as e:
            # Issue #6: a .drv that exists but cannot be read (permission denied, I/O error)
            # fails the scan. Skipping it made a scan of only that derivation exit 0, "clean".
            raise SourceError(f"{drv}: cannot read derivation: {e.strerror or e}") from e
        except DerivationError as e:
            # Issue #6: an invalid .drv in the store is damage, not a package to leave out
            # quietly; the parser's message already names the file and the byte offset.
            raise SourceError(str(e)) from e
        self._drvs[drv] = parsed
        return parsed

    # --- recording results -------------------------------------------------------------

    def _add_drv(self, drv: str, closure: Closure, store_path: str | None) -> None:
        parsed = self._read(drv)
        if parsed is None:
            return
        try:
            found = package_from_derivation(
                parsed, closure=closure, store_path=store_path, read_input=self._read
            )
        except DerivationError as e:
            self._skip(drv, f"unreadable derivation attributes: {e}")
            return
        if isinstance(found, Skipped):
            self._skipped.setdefault(found)
        else:
            self._add(drv, found)

    def _add_by_name(self, path: str, deriver: str | None) -> None:
        """A package named after the path (or its lost deriver): binary-cache hosts."""
        try:
            name = store_path_name(deriver) if deriver else strip_output(store_path_name(path))
        except DerivationError as e:
            self._skip(path, str(e))
            return
        pname, version = parse_drv_name(name)
        if not version or artifact_suffix(name) is not None:
            self._skip(path, f"no derivation, and {name!r} does not name a versioned package")
            return
        self._by_name += 1
        package = Package(
            name=name,
            pname=pname,
            version=version,
            store_path=path,
            identified_from=IdentifiedFrom.STORE_PATH_NAME,  # issue #8: no patches known
        )
        self._add(deriver or path, package)
        self._owner[path] = self._packages[deriver or path].key

    def _add(self, key: str, package: Package) -> None:
        old = self._packages.get(key)
        # The same derivation can be reached as build input and as deployed output; the
        # deployed (runtime) finding is the one that matters.
        if old is None or (old.closure is Closure.BUILDTIME and package.closure is Closure.RUNTIME):
            self._packages[key] = package

    def _skip(self, what: str, reason: str) -> None:
        self._skipped.setdefault(Skipped(what=what, reason=reason))

    def result(self) -> SourceResult:
        """Packages sorted by name, then by derivation or store path."""
        linked = (
            replace(p, depends_on=tuple(sorted(self._depends[p.key])))
            if p.key in self._depends
            else p
            for p in self._packages.values()
        )
        packages = sorted(linked, key=lambda p: (p.name, p.key))
        skipped = list(self._skipped)
        if self._by_name:
            skipped.append(
                Skipped(
                    what=f"{self._by_name} store path{'' if self._by_name == 1 else 's'}",
                    reason="identified from store path name: deriver unknown or its .drv "
                    "is gone (e.g. installed from a binary cache)",
                )
            )
        return SourceResult(packages=tuple(packages), skipped=tuple(skipped))


def _preferred_output(drv: Derivation | None, paths: Sequence[str]) -> str | None:
    """The ``out`` output when it is among ``paths``, else the first of them."""
    if drv is not None:
        for output in drv.outputs:
            if output.name == "out" and output.path in paths:
                return output.path
    return paths[0] if paths else None


def strip_output(name: str) -> str:
    """``zlib-1.2.11-dev`` -> ``zlib-1.2.11``: drop a split-output suffix after a version."""
    for suffix in _OUTPUT_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and parse_drv_name(base)[1]:
            return base
    return name
