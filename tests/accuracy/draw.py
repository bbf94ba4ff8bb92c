"""Draw (attribute, CVE) pairs at random from a scan of every nixpkgs name, to be judged (#13).

Three populations, each sampled with its own seeded generator:

* ``default``: the findings a default scan reports (high confidence);
* ``uncertain``: the low-confidence findings ``--show-uncertain`` adds;
* ``vulnix``: the pairs the name-only matcher (vulnix's rule) finds and nix-audit has in
  neither list.

The packages are those of ``nixpkgs.nixpkgs_packages_json`` read by the packages.json source,
as a scan reads a channel's file. Writes a TOML skeleton with empty verdicts, the population
sizes (each case stands for ``size / drawn`` pairs of its population) and, beside it, the
NVD and CVE List records of every drawn CVE as JSON for the judges. Usage:
``python -m tests.accuracy.draw DB_DIR OUT.toml [--seed N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections.abc import Iterable
from pathlib import Path

from nix_audit.advisories.index import AdvisoryIndex
from nix_audit.matching.name_matcher import NameMatcher
from nix_audit.matching.vendor_matcher import VendorAwareMatcher
from nix_audit.models import Confidence, Finding, Package
from nix_audit.sources.packages_json import PackagesJsonSource
from tests.accuracy.nixpkgs import nixpkgs_packages_json
from tests.accuracy.records import write_records
from tests.conftest import shared_data_dir

SIZES = {"default": 160, "uncertain": 80, "vulnix": 60}
Pair = tuple[str, str]  # (attribute, CVE)


def nixpkgs_packages(shared: Path) -> list[Package]:
    """One package per nixpkgs attribute, read as a scan reads a channel's packages.json."""
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "packages.json"
        listing.write_text(json.dumps(nixpkgs_packages_json(shared)))
        return list(PackagesJsonSource(listing).collect().packages)


def _pairs(findings: Iterable[Finding]) -> dict[Pair, Package]:
    return {(f.package.attribute or f.package.name, f.cve_id): f.package for f in findings}


def populations(packages: list[Package], index: AdvisoryIndex) -> dict[str, dict[Pair, Package]]:
    """The three populations of pairs (see the module docstring)."""
    scanned = VendorAwareMatcher(unknown_versions=True).match(packages, index)
    default = _pairs(f for f in scanned if f.confidence is Confidence.HIGH)
    uncertain = {k: v for k, v in _pairs(scanned).items() if k not in default}
    named = _pairs(NameMatcher().match(packages, index))
    vulnix = {k: v for k, v in named.items() if k not in default and k not in uncertain}
    return {"default": default, "uncertain": uncertain, "vulnix": vulnix}


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def skeleton(drawn: dict[str, list[tuple[Pair, Package]]], sizes: dict[str, int], seed: int) -> str:
    lines = [
        "# Drawn by tests/accuracy/draw.py; see tests/accuracy/README.md (issue #13).",
        f"seed = {seed}",
        "[population]",
        *(f"{name} = {size}" for name, size in sizes.items()),
        "",
    ]
    for stratum, cases in drawn.items():
        for (attribute, cve), package in cases:
            lines += [
                "[[case]]",
                f"stratum = {_toml_string(stratum)}",
                f"attribute = {_toml_string(attribute)}",
                f"name = {_toml_string(package.name)}",
                f"pname = {_toml_string(package.pname)}",
                f"version = {_toml_string(package.version)}",
                f"cve = {_toml_string(cve)}",
                'expected = ""',
                'reason = ""',
                "",
            ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1313)
    args = parser.parse_args()
    shared = shared_data_dir()
    packages = nixpkgs_packages(shared)
    with AdvisoryIndex(args.db / "index.sqlite") as index:
        found = populations(packages, index)
    drawn: dict[str, list[tuple[Pair, Package]]] = {}
    for offset, (stratum, pairs) in enumerate(found.items()):
        rng = random.Random(args.seed + offset)  # noqa: S311 - a sample, not a secret
        keys = rng.sample(sorted(pairs), min(SIZES[stratum], len(pairs)))
        drawn[stratum] = [(key, pairs[key]) for key in sorted(keys)]
    sizes = {stratum: len(pairs) for stratum, pairs in found.items()}
    args.out.write_text(skeleton(drawn, sizes, args.seed))
    cves = {cve for cases in drawn.values() for (_, cve), _ in cases}
    write_records(shared, cves, args.out.with_suffix(".records"))
    print(f"populations {sizes}; drawn {sum(map(len, drawn.values()))} cases to {args.out}")


if __name__ == "__main__":
    main()
