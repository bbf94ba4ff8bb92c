"""``serve`` and ``fleet ...`` on a host without the server's libraries (issues #13, #14):
one line naming the install step, exit 3, not "internal error: ModuleNotFoundError"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# The interpreter of the installed command, with one server module made unimportable.
_WITHOUT = (
    "import sys; sys.modules[{module!r}] = None\n"
    "from nix_audit.cli import main\n"
    "main(sys.argv[1:])\n"
)


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("sqlalchemy", ["fleet", "add-host", "web1"]),
        ("uvicorn", ["serve", "--update-every", "0"]),
    ],
)
def test_a_missing_server_library_names_the_install_step(
    module: str, argv: list[str], tmp_path: Path
) -> None:
    database = ["--database", f"sqlite:///{tmp_path / 'fleet.sqlite'}"]
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT.format(module=module), *argv, *database],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"module {module!r} is missing" in lines[0]
    assert "scripts/bootstrap --server" in lines[0] and "nix-audit[server]" in lines[0]
