"""The nixpkgs names of ``../shared/data/nixpkgs`` as a channel's ``packages.json`` (issue #13).

One entry per attribute path, keyed by it as ``nix-env -qa --json`` keys its output
(``haskellPackages.mysql``, ``texlive.pkgs.moodle``), named by the derivation: the store-path
name of its ``out`` output, else of its first output without the output suffix (nix-index
records ``zref-check-0.3.7-tex`` for the ``tex`` output of ``zref-check-0.3.7``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

__all__ = ["NIXPKGS_FILE", "nixpkgs_packages_json"]

NIXPKGS_FILE = "nixpkgs/nix-index-storepaths-x86_64-linux-2026.5.3.jsonl.gz"


def nixpkgs_packages_json(shared: Path) -> dict[str, dict[str, str]]:
    """``{attribute: {"name": derivation name}}`` for every attribute of the name list."""
    names: dict[str, tuple[bool, str]] = {}
    with gzip.open(shared / NIXPKGS_FILE, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            name, attribute, output = (
                record["name"],
                record["origin"]["attr"],
                record["origin"]["output"],
            )
            is_out = output == "out"
            if not is_out and name.endswith("-" + output):
                name = name[: -len(output) - 1]
            if attribute not in names or (is_out and not names[attribute][0]):
                names[attribute] = (is_out, name)
    return {attribute: {"name": name} for attribute, (_, name) in sorted(names.items())}
