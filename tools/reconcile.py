"""The reconciliation poller: re-read payments whose webhooks may have been lost (DESIGN §3).

Open payments with no event for `poll_after`, and expired ones during the monitoring window,
are read with `get_payment` and an answer with anything new goes through the same transition
code as a webhook, so every payment reaches its right final state even if every IPN is lost.

A run reads what is due, the longest silent first (the earliest `next_poll_at`: the last
event or read plus the interval), in batches: one transaction claims a batch and sets each
payment's next read (`storage/polls.py`; on PostgreSQL other workers skip the claimed rows, so
N workers share a pass without reading a payment twice), then the provider is asked `at_once`
payments at a time. A payment whose answer brings nothing new costs nothing more: the claim
was its only write. On SQLite (one process) a run reads at most `per_run` payments (the
configured reads per minute over the runs of a minute). On PostgreSQL every claim spends from
the deployment's budget of `max_per_minute` reads (`Budget`, a bucket in the database), so the
workers together never read faster, and a run goes on while the budget has room and something
is due. A run ends at a batch boundary when the process stops, handing back the reads it
claimed and did not make.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from storage import polls
from storage.polls import Budget, Due
from tools.errors import ProviderError
from tools.policy import next_poll
from tools.providers.base import ProviderEvent
from tools.states import Status
from tools.stopping import Stopping
from tools.transitions import PaymentEvents

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class PollReport:
    read: int = 0
    applied: int = 0
    failed: int = 0


class Reconciler:
    def __init__(
        self,
        events: PaymentEvents,
        per_run: int,
        *,
        at_once: int = 100,
        budget: Budget | None = None,
        stopping: Stopping | None = None,
    ) -> None:
        self.events = events
        self.per_run = per_run
        self.at_once = at_once
        self.budget = budget  # the deployment's rate (PostgreSQL); None: `per_run` alone
        self.stopping = stopping if stopping is not None else Stopping()

    async def poll(self, now: datetime) -> PollReport:
        report = PollReport()
        while report.read < self.per_run and not self.stopping:
            due = await self._claim(now, min(BATCH, self.per_run - report.read))
            if not due:
                break
            limit = asyncio.Semaphore(self.at_once)
            answers = await asyncio.gather(*(self._read(p, limit, report) for p in due))
            unread = [p for p, event in zip(due, answers, strict=True) if event is False]
            if unread:  # stopping: they stay due as they were
                await self.events.db.run(lambda session, rows=unread: polls.unclaim(session, rows))
            for payment, event in zip(due, answers, strict=True):
                if isinstance(event, ProviderEvent):
                    await self._apply(payment, event, report)
        return report

    async def _claim(self, now: datetime, limit: int) -> list[Due]:
        settings = self.events.settings

        def next_read(status: str, expires_at: datetime) -> datetime | None:
            return next_poll(Status(status), now, expires_at, settings)

        return await self.events.db.run(
            lambda session: polls.claim(
                session, self.events.provider.name, now, limit, next_read, self.budget
            )
        )

    async def _read(
        self, payment: Due, limit: asyncio.Semaphore, report: PollReport
    ) -> ProviderEvent | None | bool:
        """The provider's answer when it says something new; None when not (or not
        readable); False when the process began stopping before it was read (it is handed
        back, so a batch ends within the stop's grace instead of being cancelled under way)."""
        async with limit:
            if self.stopping:
                return False
            report.read += 1
            try:
                event = await self.events.provider.get_payment(payment.provider_payment_id)
            except ProviderError as exc:
                log.warning("reconcile: payment %s not readable: %s", payment.id, exc)
                report.failed += 1
                return None
        if event.status == payment.status and event.actually_paid == payment.actually_paid:
            return None  # nothing new (what applying it would have found out in a transaction)
        return event

    async def _apply(self, payment: Due, event: ProviderEvent, report: PollReport) -> None:
        try:
            result = await self.events.apply_event(event, "poll")
        except Exception:  # one bad payment must never stop the others
            log.exception("reconcile: payment %s could not be applied", payment.id)
            report.failed += 1
            return
        if result.outcome == "applied":
            report.applied += 1
