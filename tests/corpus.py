"""The index of the whole shared NVD corpus, built once per test session and shared.

Both the end-to-end corpus tests and the accuracy harness need it; the build takes ~10-30 s,
so the first fixture to ask builds it under the session's base temporary directory and every
later one (whichever module defines it) reuses that directory.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import run_cli

__all__ = ["build_corpus_db", "build_cve_list_corpus_db"]


def build_corpus_db(shared_data: Path, base: Path) -> Path:
    """``base/corpus-db``: every yearly feed and ``modified``, by ``nix-audit db update``."""
    db = base / "corpus-db"
    if (db / "index.sqlite").exists():
        return db
    db.mkdir(parents=True, exist_ok=True)
    run = run_cli(
        "db", "update", "--db", str(db), "--mirror", str(shared_data / "nvd"), timeout=300
    )
    assert run.returncode == 0, run.stderr
    return db


def build_cve_list_corpus_db(shared_data: Path, base: Path) -> Path:
    """``base/corpus-cve-list-db``: the NVD corpus and the CVE List of ``shared/cve5``
    (baseline and hourly deltas, read as a folder of release assets), issue #12."""
    db = base / "corpus-cve-list-db"
    if (db / "index.sqlite").exists():
        return db
    db.mkdir(parents=True, exist_ok=True)
    argv = ["db", "update", "--db", str(db), "--mirror", str(shared_data / "nvd")]
    run = run_cli(
        *argv,
        "--cve-list",
        str(shared_data / "cve5"),
        env={"NIX_AUDIT_NO_CVE_LIST": ""},
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    return db
