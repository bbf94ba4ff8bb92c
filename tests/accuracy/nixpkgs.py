"""The nixpkgs names of ``../shared/data/nixpkgs`` as a channel's ``packages.json`` (issue #13).

One entry per attribute path, keyed by it as ``nix-env -qa --json`` keys its output
(``haskellPackages.mysql``, ``texlive.pkgs.moodle``), named by the derivation: the store-path
name of its ``out`` output, else of its first output without the output suffix (nix-index
records ``zref-check-0.3.7-tex`` for the ``tex`` output of ``zref-check-0.3.7``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["NIXPKGS_FILE", "derivation_name", "nixpkgs_packages_json", "nixpkgs_records"]

NIXPKGS_FILE = "nixpkgs/nix-index-storepaths-x86_64-linux-2026.5.3.jsonl.gz"
Record = dict[str, Any]


def nixpkgs_records(shared: Path) -> Iterator[Record]:
    """Each store-path record of the name list (``store_dir``, ``hash``, ``name``, ``origin``)."""
    with gzip.open(shared / NIXPKGS_FILE, "rt") as lines:
        for line in lines:
            yield json.loads(line)


def derivation_name(record: Record) -> str:
    """The record's derivation name: its store-path name without the output suffix (``-dev``)."""
    name: str = record["name"]
    output: str = record["origin"]["output"]
    if output != "out" and name.endswith("-" + output):
        return name[: -len(output) - 1]
    return name


def nixpkgs_packages_json(shared: Path) -> dict[str, dict[str, str]]:
    """``{attribute: {"name": derivation name}}`` for every attribute of the name list."""
    names: dict[str, tuple[bool, str]] = {}
    for record in nixpkgs_records(shared):
        attribute = record["origin"]["attr"]
        is_out = record["origin"]["output"] == "out"
        if attribute not in names or (is_out and not names[attribute][0]):
            names[attribute] = (is_out, derivation_name(record))
    return {attribute: {"name": name} for attribute, (_, name) in sorted(names.items())}
