"""Worker processes that end with their parent (Linux ``PR_SET_PDEATHSIG``).

A parent killed outright (SIGKILL, the OOM killer) cannot shut its process pool down, and
forked pool workers wait forever on a queue whose write end they hold themselves: the
crash-safety tests of ``db update`` left 111 idle workers behind before this. Pools start
their workers with :func:`die_with_parent` as initializer.
"""

from __future__ import annotations

import ctypes
import os
import signal

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(expected_parent: int | None = None, niceness: int = 0) -> None:
    """Have the kernel kill this process when its parent dies; lower its priority by
    ``niceness``. With ``expected_parent``, exit at once if the parent is already gone."""
    if niceness:
        os.nice(niceness)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to set
        return
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)  # the parent died before the request took effect
