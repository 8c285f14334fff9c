"""The pruning job (`[retention]`): every `prune_every_seconds` the scheduler runs
`prune(now)`, which deletes delivered outbox rows older than `outbox_days` and provider events
older than `events_days` (of payments no longer watched), a batch per transaction, until none
is left or the process stops (it ends at a batch boundary then)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from storage import pruning
from storage.db import Database
from tools.stopping import Stopping

log = logging.getLogger(__name__)


@dataclass
class PruneReport:
    outbox: int = 0
    events: int = 0


class Pruner:
    def __init__(
        self,
        db: Database,
        outbox_days: int,
        events_days: int,
        *,
        batch: int = 2000,
        stopping: Stopping | None = None,
    ) -> None:
        self.db = db
        self.outbox_days = outbox_days
        self.events_days = events_days
        self.batch = batch
        self.stopping = stopping if stopping is not None else Stopping()

    async def prune(self, now: datetime) -> PruneReport:
        report = PruneReport()
        if self.outbox_days:
            before = now - timedelta(days=self.outbox_days)
            report.outbox = await self._all(partial(pruning.prune_outbox, before=before))
        if self.events_days:
            before = now - timedelta(days=self.events_days)
            report.events = await self._all(partial(pruning.prune_events, before=before))
        if report.outbox or report.events:
            log.info(
                "pruned %s delivered notifications and %s old provider events",
                report.outbox,
                report.events,
            )
        return report

    async def _all(self, prune) -> int:
        total = 0
        while not self.stopping:
            n = await self.db.run(lambda session: prune(session, limit=self.batch))
            total += n
            if n < self.batch:
                break
        return total
