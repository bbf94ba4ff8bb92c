"""Fixtures of the sources tests: the real fixture store (built once per session)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.nix_store import nix_fixture_store

__all__ = ["nix_fixture_store", "unregistered_store_path"]


@pytest.fixture
def unregistered_store_path(nix_config: str) -> Iterator[str]:
    """A directory in the store directory that the store database does not know.

    Made by hand and removed afterwards: Nix itself never leaves one for long (a garbage
    collection deletes it), so it cannot be built any other way.
    """
    path = f"/nix/store/{'0' * 32}-nix-audit-unregistered-{secrets.token_hex(4)}"
    Path(path, "bin").mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
