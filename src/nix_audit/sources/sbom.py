"""CycloneDX JSON SBOMs (spec 1.4-1.6) as sbomnix, bombon or nix-audit write them: no Nix needed.

Every component (nested ones and the SBOM's subject, ``metadata.component``, too) becomes a
package. What each field gives (CycloneDX 1.6, "components"):

- ``name`` and ``version``, else the name and version of its ``purl``; a purl of another type
  than ``pkg:nix`` (a Cargo crate from a vendored SBOM) is not a Nix package and is skipped,
  as is a component without a version (sbomnix lists source tarballs so);
- ``cpe``, then the CPEs of ``evidence.identity`` (bombon puts nixpkgs' ``possibleCPEs``
  there) and of ``nix:cpe`` properties;
- the derivation: a ``nix:drv_path`` (sbomnix) or ``nix:derivation`` (nix-audit) property,
  else a ``bom-ref`` that is a ``.drv`` path (sbomnix's default);
- the store path: the first ``nix:output_path`` (sbomnix) or ``nix:store_path`` (nix-audit)
  property, else a ``bom-ref`` that is a store path, or a store path's base name (bombon
  strips ``/nix/store/`` from it);
- patched CVEs: ``pedigree.patches[]``, from the CVE ids in ``resolves[].id`` (sbomnix) and
  the patch names in ``resolves[].references`` and ``diff.url``, read by ``cves_in_name``;
- the closure: ``scope: excluded`` (CycloneDX: "not part of the runtime") or a
  ``nix:closure`` property of ``buildtime`` is build time, anything else runtime;
- source URLs: ``nix:fetch_url`` properties (sbomnix) and ``vcs``/``distribution`` external
  references (bombon).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from packageurl import PackageURL

from nix_audit.derivation.names import store_path_name
from nix_audit.derivation.patches import cves_in_name
from nix_audit.errors import DerivationError, SourceError
from nix_audit.models import Closure, IdentifiedFrom, Package, Skipped
from nix_audit.sources._json_input import load_json, packages_of
from nix_audit.sources.interface import PackageSource, SourceResult

__all__ = ["SbomSource", "package_from_component"]

JsonObject = Mapping[str, object]

_CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
# A store path's base name: 32 characters of Nix's base32 and a name (Nix manual, "Store Path").
_STORE_BASENAME = re.compile(r"[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+")
_DEFAULT_STORE = "/nix/store"
_SOURCE_REFERENCES = frozenset({"vcs", "distribution", "source-distribution"})


class SbomSource(PackageSource):
    """Packages listed in a CycloneDX JSON SBOM."""

    def __init__(self, file: str | Path) -> None:
        self.file = Path(file)

    def collect(self) -> SourceResult:
        """Read the file; ``SourceError`` names the file (and line:column for bad JSON)."""
        components = _components(_load(self.file), self.file)
        return packages_of(
            self.file, components, lambda c, where: package_from_component(c, where=where)
        )


def package_from_component(component: JsonObject, *, where: str) -> Package | Skipped:
    """One CycloneDX component to a ``Package``, or ``Skipped`` with the reason."""
    purl = _purl(_string(component.get("purl")))
    if isinstance(purl, str):
        return Skipped(what=where, reason=purl)
    pname = _string(component.get("name")) or (purl.name if purl else "")
    version = _string(component.get("version")) or (purl.version or "" if purl else "")
    if not pname:
        return Skipped(what=where, reason="component has no name")
    if not version:
        return Skipped(what=where, reason=f"no version for {pname!r}")
    properties = _properties(component.get("properties"))
    ref = _string(component.get("bom-ref"))
    derivation = _store_path(
        [*properties.get("nix:drv_path", ()), *properties.get("nix:derivation", ())], ref, drv=True
    )
    store_path = _store_path(
        [*properties.get("nix:output_path", ()), *properties.get("nix:store_path", ())],
        ref,
        drv=False,
    )
    buildtime = component.get("scope") == "excluded" or "buildtime" in properties.get(
        "nix:closure", ()
    )
    return Package(
        name=_nix_name(derivation) or f"{pname}-{version}",
        pname=pname,
        version=version,
        derivation=derivation,
        store_path=store_path,
        closure=Closure.BUILDTIME if buildtime else Closure.RUNTIME,
        patched_cves=_patched_cves(component.get("pedigree")),
        cpes=_cpes(component, properties.get("nix:cpe", ())),
        source_urls=_source_urls(component, properties.get("nix:fetch_url", ())),
        identified_from=IdentifiedFrom.METADATA,
    )


def _purl(text: str) -> PackageURL | str | None:
    """The component's ``pkg:nix`` purl, None without one, or why the component is skipped."""
    if not text:
        return None
    try:
        purl = PackageURL.from_string(text)
    except ValueError as e:
        return f"invalid purl {text!r}: {e}"
    if purl.type != "nix":
        return f"not a Nix package ({text.partition('/')[0]} purl)"
    return purl


def _store_path(named: list[str], ref: str, *, drv: bool) -> str | None:
    """The first absolute path a property names (a ``.drv`` one when ``drv``), else the
    ``bom-ref`` when it is a store path or a store path's base name (bombon), else None.

    Properties say what they hold, so their paths are taken as written; a ``bom-ref`` is any
    unique string, so it counts only when it has the exact form of a store path.
    """
    for path in named:
        if path.startswith("/") and path.endswith(".drv") == drv:
            return path
    path = f"{_DEFAULT_STORE}/{ref}" if _STORE_BASENAME.fullmatch(ref) else ref
    if path.endswith(".drv") != drv or not _nix_name(path):
        return None
    return path


def _nix_name(path: str | None) -> str:
    """The name part of a store path, or ``""`` when ``path`` is not one."""
    if not path:
        return ""
    try:
        return store_path_name(path)
    except DerivationError:
        return ""


def _properties(value: object) -> dict[str, tuple[str, ...]]:
    """name -> values of the component's ``properties`` (a name may repeat)."""
    found: dict[str, list[str]] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, Mapping):
            name, text = _string(item.get("name")), _string(item.get("value"))
            if name and text:
                found.setdefault(name, []).append(text)
    return {name: tuple(values) for name, values in found.items()}


def _patched_cves(pedigree: object) -> frozenset[str]:
    """CVE ids a ``pedigree.patches[]`` entry says it resolves, or names in its file name."""
    found: set[str] = set()
    patches = pedigree.get("patches") if isinstance(pedigree, Mapping) else None
    for patch in _objects(patches):
        for resolved in _objects(patch.get("resolves")):
            identifier = _string(resolved.get("id")).strip()
            if _CVE_ID.fullmatch(identifier):
                found.add(identifier.upper())
            for reference in _strings(resolved.get("references")):
                found.update(cves_in_name(reference))
        diff = patch.get("diff")
        if isinstance(diff, Mapping):
            found.update(cves_in_name(_string(diff.get("url"))))
    return frozenset(found)


def _cpes(component: JsonObject, extra: tuple[str, ...]) -> tuple[str, ...]:
    """The exact ``cpe`` first, then identity evidence and ``nix:cpe`` properties, each once."""
    found: dict[str, None] = {}
    if cpe := _string(component.get("cpe")):
        found.setdefault(cpe)
    evidence = component.get("evidence")
    identity = evidence.get("identity") if isinstance(evidence, Mapping) else None
    # An object in CycloneDX 1.5, a list of them in 1.6.
    for entry in [identity] if isinstance(identity, Mapping) else _objects(identity):
        if entry.get("field") == "cpe":
            for method in _objects(entry.get("methods")):
                if value := _string(method.get("value")):
                    found.setdefault(value)
    for cpe in extra:
        found.setdefault(cpe)
    return tuple(found)


def _source_urls(component: JsonObject, fetch_urls: tuple[str, ...]) -> tuple[str, ...]:
    urls = dict.fromkeys(u for text in fetch_urls for u in text.split())
    for reference in _objects(component.get("externalReferences")):
        if reference.get("type") in _SOURCE_REFERENCES and (url := _string(reference.get("url"))):
            urls.setdefault(url)
    return tuple(urls)


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _objects(value: object) -> list[JsonObject]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _load(file: Path) -> JsonObject:
    """The decoded SBOM; ``SourceError`` unless it is a JSON object with bomFormat CycloneDX."""
    document = load_json(file)
    if not isinstance(document, Mapping):
        raise SourceError(f"{file}: not a CycloneDX SBOM: expected a JSON object")
    if document.get("bomFormat") != "CycloneDX":
        found = document.get("bomFormat")
        shown = "missing" if found is None else repr(found)[:40]
        raise SourceError(f"{file}: not a CycloneDX SBOM: bomFormat is {shown}, not 'CycloneDX'")
    return document


def _components(document: JsonObject, file: Path) -> Iterator[tuple[str, JsonObject]]:
    """(label, component) for the SBOM's subject and every component, depth first."""
    metadata = document.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("component"), Mapping):
        yield from _walk(metadata["component"], "metadata.component", file)
    components = document.get("components", [])
    if not isinstance(components, list):
        raise SourceError(f"{file}: 'components' is not a list")
    for index, component in enumerate(components):
        yield from _walk(component, f"components[{index}]", file)


def _walk(component: object, label: str, file: Path) -> Iterator[tuple[str, JsonObject]]:
    if not isinstance(component, Mapping):
        raise SourceError(f"{file}: {label} is not an object")
    yield label, component
    nested = component.get("components", [])
    if not isinstance(nested, list):
        raise SourceError(f"{file}: {label}.components is not a list")
    for index, child in enumerate(nested):
        yield from _walk(child, f"{label}.components[{index}]", file)
