"""The reconciliation poller: re-read payments whose webhooks may have been lost (DESIGN §3).

Open payments with no event for `poll_after`, and expired ones during the monitoring window,
are read with `get_payment` and the answer goes through the same transition code as a webhook,
so every payment reaches its right final state even if every IPN is lost. At most `per_run`
payments are read per run, so the provider is never flooded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update

from storage.models import Payment
from tools.errors import ProviderError
from tools.policy import next_poll
from tools.states import Status
from tools.transitions import PaymentEvents

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    read: int = 0
    applied: int = 0
    failed: int = 0


class Reconciler:
    def __init__(self, events: PaymentEvents, per_run: int) -> None:
        self.events = events
        self.per_run = per_run

    async def poll(self, now) -> PollReport:
        report = PollReport()
        db = self.events.db
        async with db.sessions() as session:
            due = (
                await session.execute(
                    select(Payment.id, Payment.provider_payment_id)
                    .where(
                        Payment.next_poll_at <= now, Payment.provider == self.events.provider.name
                    )
                    .order_by(Payment.next_poll_at)
                    .limit(self.per_run)
                )
            ).all()
        for payment_id, provider_payment_id in due:
            report.read += 1
            try:
                event = await self.events.provider.get_payment(provider_payment_id)
                result = await self.events.apply_event(event, "poll")
            except ProviderError as exc:
                log.warning("reconcile: payment %s not readable: %s", payment_id, exc)
                report.failed += 1
                result = None
            except Exception:  # one bad payment must never stop the others
                log.exception("reconcile: payment %s could not be applied", payment_id)
                report.failed += 1
                result = None
            if result is not None and result.outcome == "applied":
                report.applied += 1
                continue  # the transition set the next poll time
            await self._reschedule(payment_id, now)
        return report

    async def _reschedule(self, payment_id: int, now) -> None:
        async with self.events.db.transaction() as session:
            payment = await session.get(Payment, payment_id)
            if payment is not None:
                at = next_poll(
                    Status(payment.status), now, payment.expires_at, self.events.settings
                )
                await session.execute(
                    update(Payment).where(Payment.id == payment_id).values(next_poll_at=at)
                )
