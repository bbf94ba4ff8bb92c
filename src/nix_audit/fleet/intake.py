"""Reports written in batches: one transaction for every report that arrived meanwhile.

A fleet whose timers fire together sends hundreds of reports within a second. Each is a
token check, an insert and an update; one transaction each would make the commits (and, on
SQLite, the one writer) the queue every report waits in. Here a report joins the batch that
is forming while the previous one is written, and the batch is written in one transaction
(group commit). Each report still gets its own answer: a refused report (bad token, another
host's name, unknown closure) writes nothing and fails only its own request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from nix_audit.fleet.database import FleetDatabase
from nix_audit.fleet.protocol import ProtocolError
from nix_audit.fleet.reports import ReportReceipt, Submission, record_reports

__all__ = ["MAX_BATCH", "ReportIntake"]

#: Bounds one transaction (and the IN lists of its lookups).
MAX_BATCH = 500

_Pending = tuple[Submission, "asyncio.Future[ReportReceipt | ProtocolError]"]


class ReportIntake:
    """Collects submissions and writes them in batches, in the order they came."""

    def __init__(self, database: FleetDatabase, generation: Callable[[], str | None]) -> None:
        self._database = database
        self._generation = generation
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, submission: Submission) -> ReportReceipt:
        """Store one report; raises the ``ProtocolError`` that refused it."""
        future: asyncio.Future[ReportReceipt | ProtocolError] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending.append((submission, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        outcome = await future
        if isinstance(outcome, ProtocolError):
            raise outcome
        return outcome

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                outcomes = await run_in_threadpool(
                    record_reports,
                    self._database,
                    [submission for submission, _ in batch],
                    generation=self._generation(),
                )
            except Exception as e:  # the database failed: every report of the batch fails
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():  # its client may have gone
                    future.set_result(outcome)
