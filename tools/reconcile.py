"""The reconciliation poller: re-read payments whose webhooks may have been lost (DESIGN §3).

Open payments with no event for `poll_after`, and expired ones during the monitoring window,
are read with `get_payment` and an answer with anything new goes through the same transition
code as a webhook, so every payment reaches its right final state even if every IPN is lost.

A run reads what is due, the longest silent first (the earliest `next_poll_at`: the last
event or read plus the interval), in batches: one query, the provider asked `at_once`
payments at a time, then one transaction that schedules the next read of every payment whose
answer brought nothing new. It reads at most `per_run` payments (the configured reads per
minute over the runs of a minute), so the provider is never flooded, and its rate grows with
what is due up to that ceiling; it ends at a batch boundary when the process stops.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from storage.models import Payment
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
        at_once: int = 20,
        stopping: Stopping | None = None,
    ) -> None:
        self.events = events
        self.per_run = per_run
        self.at_once = at_once
        self.stopping = stopping if stopping is not None else Stopping()

    async def poll(self, now: datetime) -> PollReport:
        report = PollReport()
        after: tuple[datetime, int] | None = None
        while report.read < self.per_run and not self.stopping:
            due = await self._due(now, min(BATCH, self.per_run - report.read), after)
            if not due:
                break
            after = (due[-1].next_poll_at, due[-1].id)
            limit = asyncio.Semaphore(self.at_once)
            answers = await asyncio.gather(*(self._read(p, limit, report) for p in due))
            unchanged = [p for p, event in zip(due, answers, strict=True) if event is None]
            for payment, event in zip(due, answers, strict=True):
                if isinstance(event, ProviderEvent) and not await self._apply(
                    payment, event, report
                ):
                    unchanged.append(payment)
            if unchanged:
                await self.events.db.run(
                    lambda session, rows=unchanged: self._reschedule(session, rows, now)
                )
        return report

    async def _due(
        self, now: datetime, limit: int, after: tuple[datetime, int] | None
    ) -> list[Payment]:
        query = select(Payment).where(
            Payment.next_poll_at <= now, Payment.provider == self.events.provider.name
        )
        if after is not None:
            at, last_id = after
            later = (Payment.next_poll_at == at) & (Payment.id > last_id)
            query = query.where((Payment.next_poll_at > at) | later)
        query = query.order_by(Payment.next_poll_at, Payment.id).limit(limit)
        async with self.events.db.sessions() as session:
            return list((await session.scalars(query)).all())

    async def _read(
        self, payment: Payment, limit: asyncio.Semaphore, report: PollReport
    ) -> ProviderEvent | None | bool:
        """The provider's answer when it says something new; None when not (or not
        readable); False when the process began stopping before it was read (it stays due,
        so a batch ends within the stop's grace instead of being cancelled under way)."""
        report.read += 1
        async with limit:
            if self.stopping:
                return False
            try:
                event = await self.events.provider.get_payment(payment.provider_payment_id)
            except ProviderError as exc:
                log.warning("reconcile: payment %s not readable: %s", payment.id, exc)
                report.failed += 1
                return None
        if event.status == payment.status and event.actually_paid == payment.actually_paid:
            return None  # nothing new (what applying it would have found out in a transaction)
        return event

    async def _apply(self, payment: Payment, event: ProviderEvent, report: PollReport) -> bool:
        """True when the event moved the payment (the transition set its next read)."""
        try:
            result = await self.events.apply_event(event, "poll")
        except Exception:  # one bad payment must never stop the others
            log.exception("reconcile: payment %s could not be applied", payment.id)
            report.failed += 1
            return False
        if result.outcome == "applied":
            report.applied += 1
            return True
        return False

    def _reschedule(self, session: Session, rows: list[Payment], now: datetime) -> None:
        """The next read of each payment, unless something else (an IPN) moved it since it
        was read: one statement for the batch."""
        settings = self.events.settings
        table = Payment.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("pid"), table.c.next_poll_at == bindparam("was"))
            .values(next_poll_at=bindparam("at")),
            [
                {
                    "pid": p.id,
                    "was": p.next_poll_at,
                    "at": next_poll(Status(p.status), now, p.expires_at, settings),
                }
                for p in rows
            ],
        )
