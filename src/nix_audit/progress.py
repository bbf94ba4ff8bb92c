"""Progress of long steps (feed downloads, indexing, reading derivations), reported to
whoever listens.

Library code says what it is doing through :func:`task`; by default nobody listens and that
costs a function call. ``cli.py`` installs a listener that draws progress bars on a terminal
(issue #5: on a terminal only, silent in pipes and with ``--quiet``). A context variable
rather than a parameter: progress crosses every stage, and threading a callback through each
signature would say nothing about what the stages compute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["ProgressListener", "Step", "listening", "task"]

Step = Callable[[int], None]


class ProgressListener:
    """Receives progress; this base class ignores it (the default: nobody is listening)."""

    def start(self, description: str, total: int | None) -> None:
        """A step begins; ``total`` units of work, or None when unknown."""

    def advance(self, units: int) -> None:
        """``units`` more of the current step are done."""

    def stop(self) -> None:
        """The current step is over."""


_LISTENER: ContextVar[ProgressListener | None] = ContextVar("progress", default=None)
_NOBODY = ProgressListener()


@contextmanager
def task(description: str, total: int | None = None) -> Iterator[Step]:
    """Report one step: ``with task("indexing feeds", 26) as step: ... step(1)``."""
    listener = _LISTENER.get() or _NOBODY
    listener.start(description, total)
    try:
        yield listener.advance
    finally:
        listener.stop()


@contextmanager
def listening(listener: ProgressListener) -> Iterator[None]:
    """Send the progress of everything run inside to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
