"""Worker processes that end with their parent (Linux ``PR_SET_PDEATHSIG``).

A parent killed outright (SIGKILL, the OOM killer) cannot shut its process pool down, and
forked pool workers wait forever on a queue whose write end they hold themselves: the
crash-safety tests of ``db update`` left 111 idle workers behind before this. Pools start
their workers with :func:`die_with_parent` as initializer.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from nix_audit.errors import IndexError_

__all__ = ["die_with_parent", "ordered_map"]

_T = TypeVar("_T")
_R = TypeVar("_R")

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


def ordered_map(
    function: Callable[[str, _T], _R],
    items: Iterable[tuple[str, _T]],
    *,
    method: str,
    workers: int = 2,
    ahead: int = 1,
) -> Iterator[_R]:
    """``function(name, item)`` of each (name, item), in order, on ``workers`` processes
    started by ``method`` (``fork``, ``spawn``) that end with this one.

    At most ``workers + ahead`` results are in flight: finished ones wait in memory until
    the caller has taken the earlier ones. A dead worker raises ``IndexError_`` naming the
    item.
    """
    context = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    )
    with pool:
        pending: deque[tuple[str, Future[_R]]] = deque()
        try:
            for name, item in items:
                pending.append((name, pool.submit(function, name, item)))
                if len(pending) > workers + ahead - 1:
                    yield _result(*pending.popleft())
            while pending:
                yield _result(*pending.popleft())
        finally:
            for _, future in pending:
                future.cancel()


def _result(name: str, future: Future[_R]) -> _R:
    try:
        return future.result()
    except BrokenProcessPool as e:
        raise IndexError_(f"{name}: the decoding process died ({e})") from e
