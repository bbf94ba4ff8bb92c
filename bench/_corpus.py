"""The realistic inputs of the scan benchmarks, drawn from ``../shared/data``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from _common import NIX_AUDIT, REPO, measure

sys.path.insert(0, str(REPO))  # the name list's reader is shared with tests/accuracy
from tests.accuracy.nixpkgs import derivation_name, nixpkgs_records

OUT = REPO / "bench" / "out"
NIX_CONFIG = "sandbox = false\nsubstituters =\nexperimental-features = nix-command\n"


def nixpkgs_names(shared: Path) -> Iterator[str]:
    """Every store-path record's derivation name (the output suffix, as in ``-dev``, removed)."""
    return (derivation_name(record) for record in nixpkgs_records(shared))


def sample_names(shared: Path, count: int, seed: int = 2026) -> list[str]:
    """``count`` distinct names, the same ones on every run (seeded sample of sorted names)."""
    names = sorted(set(nixpkgs_names(shared)))
    return sorted(random.Random(seed).sample(names, count))  # noqa: S311 - a sample, not a secret


def build_index(shared: Path, *, cve_list: bool = False) -> Path:
    """An index of every yearly feed plus ``modified`` in bench/out/db (built once, reused);
    with ``cve_list``, also the CVE List of ``../shared/data/cve5``, in bench/out/db-cve-list."""
    db = OUT / ("db-cve-list" if cve_list else "db")
    if not (db / "index.sqlite").exists():
        argv = [*NIX_AUDIT, "db", "update", "--db", str(db), "--mirror", str(shared / "nvd")]
        argv += ["--cve-list", str(shared / "cve5")] if cve_list else ["--no-cve-list"]
        measure(argv)
    return db


def instantiate(names: list[str], workdir: Path, env: dict[str, str]) -> list[str]:
    """Write one trivial derivation per name and instantiate them all with one nix-instantiate."""
    workdir.mkdir(parents=True, exist_ok=True)
    items = "\n".join(f'  (mk "{name}")' for name in names if '"' not in name and "$" not in name)
    expr = (
        "let mk = name: derivation { inherit name; system = builtins.currentSystem;\n"
        '  builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; benchSalt = "nix-audit-bench"; };\n'
        f"in [\n{items}\n]\n"
    )
    (workdir / "store.nix").write_text(expr)
    done = subprocess.run(
        ["nix-instantiate", str(workdir / "store.nix")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.split()


def count_findings(stdout: bytes) -> tuple[int, int]:
    """(vulnerable derivations, findings) of a JSON report."""
    report = json.loads(stdout)
    return len(report["derivations"]), sum(len(d["affected_by"]) for d in report["derivations"])
