"""One derivation to one package to scan, or to a reason for not scanning it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import PurePosixPath

from nix_audit.derivation.aterm import Derivation
from nix_audit.derivation.attrs import derivation_attrs
from nix_audit.derivation.names import artifact_suffix, parse_drv_name, store_path_name
from nix_audit.derivation.patches import patched_cves
from nix_audit.errors import DerivationError
from nix_audit.models import Closure, Package, Skipped

__all__ = ["ReadDerivation", "package_from_derivation", "source_urls"]

# How a caller lends its parsed-derivation cache: a .drv path to its Derivation, or None
# when the file is gone (sources/store.py's ``_Scan._read``).
ReadDerivation = Callable[[str], Derivation | None]


def _skip_reason(drv: Derivation, name: str, version: str) -> str | None:
    """Why ``drv`` is not a package to scan, or None when it is one."""
    # A fixed-output derivation (outputHash set: Nix manual, "Advanced Attributes") is a
    # fetcher: its content is known in advance, so it is a download, not a built program.
    if any(output.hash_algo or output.hash for output in drv.outputs):
        return "fixed-output derivation (a download)"
    if artifact_suffix(name) is not None:
        return f"source or patch, not a package: {name}"
    if not version:
        return f"no version in name {name!r}"
    return None


def _attr(attrs: Mapping[str, object], key: str) -> str:
    """A string attribute, or "" when it is missing or not a string."""
    value = attrs.get(key)
    return value if isinstance(value, str) else ""


def _fallback_name(drv: Derivation) -> str:
    """The name from the ``.drv`` file name, for a derivation without a ``name`` attribute."""
    try:
        return store_path_name(drv.path)
    except DerivationError:
        return PurePosixPath(drv.path).name.removesuffix(".drv")


def _identity(attrs: Mapping[str, object], name: str) -> tuple[str, str]:
    """(pname, version): the attributes when set, else what ``parseDrvName`` gives.

    ``version`` alone is common (``name = "xercesc"; version = "3.2.3"``); then the name,
    minus a ``-<version>`` suffix, is the pname, as vulnix does.
    """
    parsed_pname, parsed_version = parse_drv_name(name)
    version = _attr(attrs, "version") or parsed_version
    pname = _attr(attrs, "pname")
    if not pname:
        suffix = f"-{version}"
        pname = name.removesuffix(suffix) if version and name.endswith(suffix) else parsed_pname
    return pname, version


def _url_values(attrs: Mapping[str, object]) -> tuple[str, ...]:
    """``urls`` (fetchurl: a list, space-joined in a plain environment), else ``url``."""
    found: list[str] = []
    for key in ("urls", "url"):
        value = attrs.get(key)
        if isinstance(value, str):
            found.extend(value.split())
        elif isinstance(value, list):
            found.extend(v for v in value if isinstance(v, str) and v)
        if found:
            break
    return tuple(found)


def _src_paths(attrs: Mapping[str, object]) -> list[str]:
    """The store paths of ``src`` and ``srcs`` (a string, or a list with structured attrs)."""
    paths: list[str] = []
    for key in ("src", "srcs"):
        value = attrs.get(key)
        items = value.split() if isinstance(value, str) else value
        if isinstance(items, list):
            paths.extend(v for v in items if isinstance(v, str) and v.startswith("/"))
    return paths


def source_urls(
    drv: Derivation, attrs: Mapping[str, object], read_input: ReadDerivation | None = None
) -> tuple[str, ...]:
    """Where the package's source comes from: the derivation's own ``url``/``urls`` (a
    fetcher), else those of the fixed-output derivation that produces its ``src``.

    ``src`` is an output path of an input derivation (nixpkgs ``stdenv.mkDerivation``); that
    fetcher's ``.drv`` is named like its output (``<hash>-openssl-3.6.1.tar.gz.drv`` builds
    ``<hash'>-openssl-3.6.1.tar.gz``), so only inputs of that name are read (one ~20 µs
    parse, through the caller's cache), and the output path confirms the match.
    """
    own = _url_values(attrs)
    if own or read_input is None:
        return own
    found: list[str] = []
    for src in _src_paths(attrs):
        wanted = src.rpartition("/")[2].partition("-")[2] + ".drv"
        for path, _ in drv.input_drvs:
            if path.rpartition("/")[2].partition("-")[2] != wanted:
                continue
            fetcher = read_input(path)
            if fetcher is not None and src in fetcher.output_paths:
                found.extend(_url_values(derivation_attrs(fetcher)))
    return tuple(dict.fromkeys(found))


def _default_store_path(drv: Derivation) -> str | None:
    """The ``out`` output's path, else the first output's, else None."""
    for output in drv.outputs:
        if output.name == "out":
            return output.path
    return drv.outputs[0].path if drv.outputs else None


def package_from_derivation(
    drv: Derivation,
    *,
    closure: Closure = Closure.RUNTIME,
    store_path: str | None = None,
    read_input: ReadDerivation | None = None,
) -> Package | Skipped:
    """The package ``drv`` builds, or ``Skipped`` for fetchers, sources, patches, no version.

    ``read_input`` lets ``source_urls`` read the ``src`` fetcher's derivation; without it
    only the derivation's own ``url``/``urls`` are used. Raises ``DerivationError`` only for
    bad structured attributes (``__json``), of this derivation or of its fetcher.
    """
    attrs = derivation_attrs(drv)
    name = _attr(attrs, "name") or _fallback_name(drv)
    pname, version = _identity(attrs, name)
    reason = _skip_reason(drv, name, version)
    if reason is not None:
        return Skipped(what=drv.path, reason=reason)
    return Package(
        name=name,
        pname=pname,
        version=version,
        derivation=drv.path,
        store_path=store_path if store_path is not None else _default_store_path(drv),
        closure=closure,
        patched_cves=patched_cves(attrs),
        source_urls=source_urls(drv, attrs, read_input),
    )
