"""Progress bars: drawn on a terminal, silent in pipes and with --quiet (issue #5)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from nix_audit.progress import ProgressListener, listening, task
from tests.helpers.nvd_feeds import write_mirror


class Recorder(ProgressListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def start(self, description: str, total: int | None) -> None:
        self.events.append(("start", (description, total)))

    def advance(self, units: int) -> None:
        self.events.append(("advance", units))

    def stop(self) -> None:
        self.events.append(("stop", None))


def test_tasks_reach_the_listener_only_while_it_listens() -> None:
    recorder = Recorder()
    with listening(recorder), task("indexing feeds", 2) as step:
        step(1)
        step(1)
    with task("unheard") as step:
        step(1)
    assert recorder.events == [
        ("start", ("indexing feeds", 2)),
        ("advance", 1),
        ("advance", 1),
        ("stop", None),
    ]


def nix_audit() -> str:
    exe = Path(sys.executable).with_name("nix-audit")
    if not exe.exists():
        pytest.skip("the nix-audit command is not installed in this environment")
    return str(exe)


def run_on_terminal(argv: list[str]) -> bytes:
    """Run with standard error on a pseudo-terminal; what it wrote there."""
    controller, terminal = pty.openpty()
    done = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=terminal, timeout=120, check=False
    )
    os.close(terminal)
    chunks = []
    try:
        while chunk := os.read(controller, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: the terminal's other side is closed and drained
        pass
    os.close(controller)
    assert done.returncode == 0
    return b"".join(chunks)


def test_db_update_draws_bars_on_a_terminal_and_is_silent_otherwise(tmp_path: Path) -> None:
    mirror = write_mirror(tmp_path / "mirror", [])
    base = [nix_audit(), "db", "update", "--mirror", str(mirror), "--db"]
    drawn = run_on_terminal([*base, str(tmp_path / "a")])
    assert b"downloading feeds" in drawn or b"indexing feeds" in drawn
    quiet = run_on_terminal([*base, str(tmp_path / "b"), "--quiet"])
    assert b"feeds" not in quiet
    piped = subprocess.run(
        [*base, str(tmp_path / "c")], capture_output=True, timeout=120, check=True
    )
    assert piped.stderr == b""
