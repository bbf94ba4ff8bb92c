"""Progress bars on a terminal (issue #5), drawn by rich."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from nix_audit.progress import ProgressListener

if TYPE_CHECKING:
    from rich.progress import TaskID

__all__ = ["progress_for"]


class _TerminalProgress(ProgressListener):
    """Progress bars on standard error, drawn by rich (issue #5: on a terminal only)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self._bars = Progress(console=Console(stderr=True), transient=True)
        self._task: TaskID | None = None

    def start(self, description: str, total: int | None) -> None:
        self._bars.start()
        self._task = self._bars.add_task(description, total=total)

    def advance(self, units: int) -> None:
        if self._task is not None:
            self._bars.advance(self._task, units)

    def stop(self) -> None:
        if self._task is not None:
            self._bars.remove_task(self._task)
            self._task = None
        self._bars.stop()


def progress_for(quiet: bool) -> ProgressListener:
    """Bars when standard error is a terminal and nobody asked for quiet; else nothing."""
    if quiet or not sys.stderr.isatty():
        return ProgressListener()
    return _TerminalProgress()
