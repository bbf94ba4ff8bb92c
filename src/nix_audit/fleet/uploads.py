"""Who uploads a new closure when many hosts report it at once (issue #7, ``bench/fleet``).

Hosts deployed together report the same new closure together. Asking each of them to upload
it would send the same packages hundreds of times; instead the first report of an unknown
closure is answered 409 (that host uploads), and later reports of it wait, without holding a
thread, until the upload is stored, then are accepted. A claim lapses after
``CLAIM_SECONDS`` (the uploader may have died): the next report claims it again, and a waiter
that waited ``WAIT_SECONDS`` in vain is answered 409 and uploads itself.

The state lives in the server process: ``nix-audit serve`` is one process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["CLAIM_SECONDS", "WAIT_SECONDS", "UploadCoordinator", "wait_for"]

CLAIM_SECONDS = 30.0
WAIT_SECONDS = 20.0


class UploadCoordinator:
    """Claims on new closures, and one upload per digest at a time."""

    def __init__(self) -> None:
        self._claims: dict[str, tuple[asyncio.Event, float]] = {}
        self._gates: dict[str, tuple[asyncio.Lock, int]] = {}

    def pending(self, digest: str) -> asyncio.Event | None:
        """The event of an upload of ``digest`` that a host was asked for, if one is due."""
        claimed = self._claims.get(digest)
        if claimed is not None and time.monotonic() - claimed[1] <= CLAIM_SECONDS:
            return claimed[0]
        return None

    def claim(self, digest: str) -> asyncio.Event | None:
        """None: the caller is to upload ``digest``; else the event its upload will set."""
        pending = self.pending(digest)
        if pending is None:
            self._claims[digest] = (asyncio.Event(), time.monotonic())
        return pending

    def stored(self, digest: str) -> None:
        """The closure is in the database: release whoever waits for it."""
        claimed = self._claims.pop(digest, None)
        if claimed is not None:
            claimed[0].set()

    @asynccontextmanager
    async def gate(self, digest: str) -> AsyncIterator[None]:
        """Serialise uploads of one digest (the lock goes when its last user leaves)."""
        lock, users = self._gates.get(digest, (asyncio.Lock(), 0))
        self._gates[digest] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._gates[digest]
            if users == 1:
                del self._gates[digest]
            else:
                self._gates[digest] = (lock, users - 1)


async def wait_for(event: asyncio.Event) -> bool:
    """Whether the upload arrived within ``WAIT_SECONDS``."""
    try:
        # asyncio.timeout, not wait_for: no task per waiter (hundreds wait at once).
        async with asyncio.timeout(WAIT_SECONDS):
            await event.wait()
    except TimeoutError:
        return False
    return True
