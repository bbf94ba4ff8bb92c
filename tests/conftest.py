"""Fixtures shared by every test package: the shared real-data folder and the Nix settings."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# The NVD-only suites predate the CVE List (issue #12), whose default location is GitHub,
# out of reach here: every command a test runs reads the NVD only unless the test asks for
# the CVE List itself (tests/advisories/test_cvelist_*.py, tests/e2e/test_cve_list.py).
os.environ.setdefault("NIX_AUDIT_NO_CVE_LIST", "1")

# The brief: Nix runs single-user as root, never sandboxed, never reaching for a substituter.
NIX_CONFIG = "sandbox = false\nsubstituters =\nexperimental-features = nix-command\n"


def shared_data_dir() -> Path:
    """``$NIX_AUDIT_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    return Path(os.environ.get("NIX_AUDIT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data set; tests that need it skip with the reason when it is absent."""
    path = shared_data_dir()
    if not (path / "nvd").is_dir():
        pytest.skip(f"shared data not found at {path} (set NIX_AUDIT_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def nix_config() -> Iterator[str]:
    """Set ``NIX_CONFIG`` for the session; skip when Nix is not installed."""
    if shutil.which("nix-store") is None or shutil.which("nix-instantiate") is None:
        pytest.skip("Nix is not installed (Debian package nix-bin)")
    old = os.environ.get("NIX_CONFIG")
    os.environ["NIX_CONFIG"] = NIX_CONFIG
    yield NIX_CONFIG
    if old is None:
        os.environ.pop("NIX_CONFIG", None)
    else:
        os.environ["NIX_CONFIG"] = old
