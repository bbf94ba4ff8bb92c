"""nixpkgs package metadata as JSON: scanning without a Nix store (no Nix needed).

Accepted shapes: ``nix-env -qa --json --meta`` output (``{attr: pkg}``), the channel's
``packages.json`` (``{"version": 2, "packages": {attr: pkg}}``) and a plain list of packages.
A package has ``name`` (required) and optionally ``pname``, ``version``, ``patches``,
``known_vulnerabilities``, ``drvPath``, ``outputs`` and ``meta`` (``knownVulnerabilities``,
``identifiers``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from nix_audit.derivation import cves_in_name, parse_drv_name
from nix_audit.errors import SourceError
from nix_audit.models import IdentifiedFrom, Package, Skipped
from nix_audit.sources._json_input import load_json, packages_of
from nix_audit.sources.interface import PackageSource, SourceResult

__all__ = ["PackagesJsonSource", "cpe_from_parts", "package_from_metadata"]

# CPE 2.3 formatted string binding (NISTIR 7695, section 6.2): eleven attributes in this order
# after the "cpe:2.3" prefix. nixpkgs' meta.identifiers.cpeParts uses the same names
# (pkgs/stdenv/generic/check-meta.nix).
_CPE_ATTRIBUTES = (
    "part", "vendor", "product", "version", "update", "edition", "language",
    "sw_edition", "target_sw", "target_hw", "other",
)  # fmt: skip


class PackagesJsonSource(PackageSource):
    """Packages described by a nixpkgs metadata JSON file."""

    def __init__(self, file: str | Path) -> None:
        self.file = Path(file)

    def collect(self) -> SourceResult:
        """Read the file; ``SourceError`` names the file and line (bad JSON) or the entry."""
        entries = _entries(load_json(self.file), self.file)
        return packages_of(
            self.file,
            ((label, (attribute, entry)) for label, attribute, entry in entries),
            lambda e, where: package_from_metadata(e[1], where=where, attribute=e[0]),
        )


def package_from_metadata(
    entry: Mapping[str, object], *, where: str, attribute: str | None = None
) -> Package | Skipped:
    """One package's metadata to a ``Package``; ``where`` names the entry in errors and
    ``attribute`` is its attribute path, when the file is keyed by attribute."""
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise SourceError(f"{where}: package has no 'name'")
    parsed_pname, parsed_version = parse_drv_name(name)
    pname = _string(entry.get("pname")) or parsed_pname
    version = _string(entry.get("version")) or parsed_version
    if not version:
        return Skipped(what=where, reason=f"no version in name {name!r}")
    meta = entry.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    outputs = entry.get("outputs")
    return Package(
        name=name,
        pname=pname,
        version=version,
        derivation=_string(entry.get("drvPath")) or None,
        store_path=_string(outputs.get("out")) if isinstance(outputs, Mapping) else None,
        patched_cves=frozenset(
            cve for p in _strings(entry.get("patches")) for cve in cves_in_name(p)
        ),
        known_vulnerabilities=tuple(
            _strings(entry.get("known_vulnerabilities"))
            or _strings(meta.get("knownVulnerabilities"))
        ),
        cpes=_cpes(meta.get("identifiers")),
        identified_from=IdentifiedFrom.METADATA,
        attribute=attribute,
        homepages=_homepages(meta.get("homepage")),
    )


def cpe_from_parts(parts: Mapping[str, object]) -> str | None:
    """A CPE 2.3 formatted string from ``cpeParts``, or None when a part is missing.

    nixpkgs builds ``meta.identifiers.cpe`` the same way and only when every part is known
    (check-meta.nix ``hasAllCPEParts``): a CPE with a guessed vendor or version would match
    the wrong products.
    """
    values = [parts.get(attribute) for attribute in _CPE_ATTRIBUTES]
    if not all(isinstance(value, str) and value for value in values):
        return None
    return "cpe:2.3:" + ":".join(str(value) for value in values)


def _cpes(identifiers: object) -> tuple[str, ...]:
    """Exact CPEs first (``cpe``, complete ``cpeParts``), then ``possibleCPEs``, each once."""
    if not isinstance(identifiers, Mapping):
        return ()
    found: dict[str, None] = {}
    if cpe := _string(identifiers.get("cpe")):
        found.setdefault(cpe)
    parts = identifiers.get("cpeParts")
    if isinstance(parts, Mapping) and (built := cpe_from_parts(parts)):
        found.setdefault(built)
    possible = identifiers.get("possibleCPEs")
    for candidate in possible if isinstance(possible, list) else []:
        # Each entry is {"cpe": "...", "cpeParts": {...}}; a bare string is taken as is.
        value = candidate.get("cpe") if isinstance(candidate, Mapping) else candidate
        if cpe := _string(value):
            found.setdefault(cpe)
    return tuple(found)


def _homepages(value: object) -> tuple[str, ...]:
    """``meta.homepage``: one URL, or a list of them in some packages."""
    return tuple(url for url in (_strings(value) or [_string(value)]) if url)


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _entries(data: object, file: Path) -> Iterator[tuple[str, str | None, Mapping[str, object]]]:
    """(label, attribute path or None, package object) for each package, whatever the outer
    shape."""
    if isinstance(data, dict):
        inner = data.get("packages")
        # The channel's packages.json wraps the attribute set; a package named by attribute
        # "packages" would itself carry a "name".
        if isinstance(inner, dict) and "name" not in inner:
            data = inner
        items: list[tuple[str, str | None, object]] = [
            (f"attribute {k!r}", str(k), v) for k, v in data.items()
        ]
    elif isinstance(data, list):
        items = [(f"entry {i}", None, v) for i, v in enumerate(data)]
    else:
        raise SourceError(f"{file}: expected an object or a list of packages")
    for label, attribute, entry in items:
        if not isinstance(entry, dict):
            raise SourceError(f"{file}: {label} is not an object")
        yield label, attribute, entry
