"""Golden-file comparison for reporter tests.

Set ``NIX_AUDIT_UPDATE_GOLDEN=1`` to (re)write the golden files from the current output, then
review the diff: ``NIX_AUDIT_UPDATE_GOLDEN=1 pytest tests/reporters && git diff``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"

Golden = Callable[[str, str], None]


@pytest.fixture
def golden() -> Golden:
    """``golden(name, actual)``: assert ``actual`` equals ``golden/<name>`` byte for byte."""
    update = os.environ.get("NIX_AUDIT_UPDATE_GOLDEN") == "1"

    def check(name: str, actual: str) -> None:
        path = GOLDEN_DIR / name
        if update:
            GOLDEN_DIR.mkdir(exist_ok=True)
            path.write_bytes(actual.encode("utf-8"))
            return
        if not path.is_file():
            pytest.fail(f"golden file {path} is missing; run with NIX_AUDIT_UPDATE_GOLDEN=1")
        expected = path.read_bytes().decode("utf-8")
        assert actual == expected, f"output differs from {path} (NIX_AUDIT_UPDATE_GOLDEN=1)"

    return check
