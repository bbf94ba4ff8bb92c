"""The derivation stage: the ATerm ``.drv`` parser, Nix name rules, patch CVEs, packages.

Public names live in their modules (``aterm``, ``attrs``, ``names``, ``patches``,
``package``); they are re-exported here for convenience.
"""

from nix_audit.derivation.aterm import (
    Derivation,
    DerivationOutput,
    parse_derivation,
    parse_derivation_bytes,
    render_derivation,
)
from nix_audit.derivation.attrs import derivation_attrs
from nix_audit.derivation.names import parse_drv_name, store_path_name
from nix_audit.derivation.package import package_from_derivation
from nix_audit.derivation.patches import cves_in_name, patched_cves

__all__ = [
    "Derivation",
    "DerivationOutput",
    "cves_in_name",
    "derivation_attrs",
    "package_from_derivation",
    "parse_derivation",
    "parse_derivation_bytes",
    "parse_drv_name",
    "patched_cves",
    "render_derivation",
    "store_path_name",
]
