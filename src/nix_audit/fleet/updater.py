"""Keeping the server's advisory index current: ``db update`` on a schedule (issue #7)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nix_audit.advisories.refresh import AdvisorySources, update_from
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
        sources: AdvisorySources,
        interval: timedelta,
        on_done: Callable[[], None],
    ) -> None:
        self._db_dir = db_dir
        self._sources = sources
        self._interval = interval
        self._on_done = on_done
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
        now = datetime.now(UTC)
        try:
            update_from(self._db_dir, self._sources, now=now)
        except NixAuditError as e:
            log.warning("index update failed, keeping the previous index: %s", e)
            self.last = UpdateOutcome(now, str(e))
        else:
            self.last = UpdateOutcome(now, None)
        self._on_done()
        return self.last
