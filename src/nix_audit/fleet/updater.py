"""Keeping the server's advisory index current: ``db update`` on a schedule (issue #7)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nix_audit.errors import NixAuditError

__all__ = ["IndexUpdater", "UpdateOutcome"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    """The last scheduled update: when, and its error (None: it worked)."""

    at: datetime
    error: str | None


class IndexUpdater:
    """Runs ``update_index`` every ``interval`` in a thread, then calls ``on_done``.

    A failed update keeps the previous index, as ``db update`` does, and is logged and shown
    in ``/api/v1/status``; the server keeps matching with the index it has.
    """

    def __init__(
        self,
        db_dir: Path,
        mirror: str | None,
        interval: timedelta,
        on_done: Callable[[], None],
        *,
        timeout: float = 30.0,
    ) -> None:
        self._db_dir = db_dir
        self._mirror = mirror
        self._interval = interval
        self._on_done = on_done
        self._timeout = timeout
        self._stop = threading.Event()
        self._now = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: UpdateOutcome | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="fleet-index-update", daemon=True)
        self._thread.start()

    def update_soon(self) -> None:
        self._now.set()

    def stop(self) -> None:
        self._stop.set()
        self._now.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.update_once()
            self._now.wait(self._interval.total_seconds())
            self._now.clear()

    def update_once(self) -> UpdateOutcome:
        from nix_audit.advisories.fetch import feed_source_for
        from nix_audit.advisories.update import update_index

        now = datetime.now(UTC)
        try:
            with feed_source_for(self._mirror, timeout=self._timeout) as source:
                update_index(self._db_dir, source, now=now)
        except NixAuditError as e:
            log.warning("index update failed, keeping the previous index: %s", e)
            self.last = UpdateOutcome(now, str(e))
        else:
            self.last = UpdateOutcome(now, None)
        self._on_done()
        return self.last
