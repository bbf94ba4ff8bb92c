"""Fixtures of the derivation tests: the hand-made and real .drv files, and real Nix."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

# Attributes come in as JSON so that no string needs escaping for the Nix language.
_EXPR = """
let attrs = builtins.fromJSON (builtins.readFile ./attrs.json);
in builtins.derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; } // attrs)
"""

Instantiate = Callable[[dict[str, object]], Path]


@pytest.fixture(scope="session")
def drv_data() -> Path:
    """The hand-made fixtures (made with nix-instantiate 2.8, see data/README.md)."""
    return DATA


@pytest.fixture(scope="session")
def real_drvs(shared_data: Path) -> list[Path]:
    """The eight real nixpkgs .drv files of the shared data set."""
    paths = sorted((shared_data / "drv").glob("*.drv"))
    assert len(paths) == 8
    return paths


@pytest.fixture
def instantiate(nix_config: str, tmp_path: Path) -> Instantiate:
    """Write a derivation with the given attributes into the Nix store; return its path."""

    def run(attrs: dict[str, object]) -> Path:
        (tmp_path / "attrs.json").write_text(json.dumps(attrs), encoding="utf-8")
        (tmp_path / "drv.nix").write_text(_EXPR, encoding="utf-8")
        result = subprocess.run(
            ["nix-instantiate", "--no-gc-warning", str(tmp_path / "drv.nix")],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return Path(result.stdout.splitlines()[0].partition("!")[0])

    return run
