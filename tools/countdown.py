"""The sweeper's work: warnings before a payment's deadline, expiry at it (DESIGN §3, §5).

A partially paid payment is looked at at its deadline too (the customer is told what arrived,
what is missing and until when a top-up still completes it; the operators get an alert), and
every payment still watched at the end of its monitoring window is dropped (with an alert when
its money never completed, and the customer told when they were not yet).

`sweep(now)` only reads payments whose `next_check_at` has come (an indexed range scan), so a
tick costs what is due, not what is open; it takes them in batches (one query and one
transaction per batch) until none is left, and stops at a batch boundary when the process
stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from storage import repos, writes
from storage.models import URGENT, Payment
from tools import bulk_due
from tools.errors import ProviderError
from tools.money import jsonable
from tools.policy import due_warnings, next_check, sent_offsets
from tools.states import MONEY_SEEN, Status
from tools.stopping import Stopping
from tools.transitions import PaymentEvents
from tools.views import payment_link

log = logging.getLogger(__name__)
RETRY_LATER = timedelta(minutes=1)
ASK_AT_ONCE = 50  # provider reads before expiry under way at once
ASK_TIMEOUT = 3.0  # seconds; a tick must never hang on the provider
# seconds of provider reads before expiry per tick: past it, the rest expire unasked and are
# read by the poller right after (20,000 at once would otherwise take minutes to expire)
ASK_BUDGET = 20.0


@dataclass
class SweepReport:
    webhooks: int = 0
    due: int = 0
    warnings: int = 0
    expired: int = 0
    unasked: int = 0  # expired without asking the provider first (the budget was spent)


class Countdown:
    def __init__(
        self,
        events: PaymentEvents,
        batch: int = 200,
        *,
        stopping: Stopping | None = None,
        ask_at_once: int = ASK_AT_ONCE,
        ask_budget: float = ASK_BUDGET,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.events = events
        self.batch = batch
        self.stopping = stopping if stopping is not None else Stopping()
        self.ask_at_once = ask_at_once
        self.ask_budget = ask_budget
        self.timer = timer  # elapsed work, not the business clock

    async def sweep(self, now: datetime) -> SweepReport:
        """Everything due at `now`, in batches in due order (the payments closest to their
        deadline, or furthest past it, first): one query, the provider asked about the
        expiring ones (many at once, for at most `ask_budget` seconds a tick), then one
        transaction for the batch. No cap per tick: a tick handles all that is due, and ends
        early only at a batch boundary when the process stops."""
        report = SweepReport()
        due_webhooks = getattr(self.events.provider, "due_webhooks", None)
        if due_webhooks is not None:
            for step_id, headers, body in await due_webhooks(now):
                try:
                    await self.events.handle_webhook(headers, body, source="sandbox")
                except Exception:  # the poller reads the ledger again later
                    log.exception("sandbox step %s could not be applied", step_id)
                await self.events.provider.delivered(step_id, now)
                report.webhooks += 1
        db = self.events.db
        after: tuple[datetime, int] | None = None  # keyset: rows skipped stay behind us
        ask_until = self.timer() + self.ask_budget
        while not self.stopping:
            async with db.sessions() as session:
                due = await repos.due_payments(session, now, self.batch, after=after)
            if not due:
                break
            report.due += len(due)
            after = (due[-1].next_check_at, due[-1].id)
            expiring = [
                (row.id, row.provider_payment_id)
                for row in due
                if row.status == Status.WAITING and now >= row.expires_at
            ]
            unasked = await self._ask_before_expiring(expiring, ask_until)
            await self._check_batch([row.id for row in due], now, report, unasked)
            if report.warnings or report.expired:
                self.events.on_change()  # the relay starts on this batch's notices at once
            if len(due) < self.batch:
                break
        if report.unasked:
            log.info(
                "%s payments expired without asking the provider first (%.0f s of reads a "
                "tick spent); the poller reads them next",
                report.unasked,
                self.ask_budget,
            )
        return report

    async def _check_batch(
        self, ids: list[int], now: datetime, report: SweepReport, unasked: set[int]
    ) -> None:
        """One transaction for the batch; when it fails, one per payment, so one bad row
        cannot stall the rest."""
        part = SweepReport()
        try:
            await self.events.db.run(
                lambda session: self._check_many(session, ids, now, part, unasked)
            )
        except Exception:
            log.warning("a batch of %s due payments failed; checking them one by one", len(ids))
        else:
            report.warnings += part.warnings
            report.expired += part.expired
            report.unasked += part.unasked
            return
        for payment_id in ids:
            try:
                await self.events.db.run(
                    lambda session, pid=payment_id: self._check_many(session, [pid], now, report),
                )
            except Exception:
                log.exception("payment %s could not be checked; trying again later", payment_id)
                await self.events.db.run(
                    lambda session, pid=payment_id: writes.push_check(
                        session, pid, now + RETRY_LATER
                    ),
                )

    def _check_many(
        self,
        session: Session,
        ids: list[int],
        now: datetime,
        report: SweepReport,
        unasked: Collection[int] = (),
    ) -> None:
        """The common cases as a set (`tools.bulk_due`), the rest one payment at a time; all
        in the caller's one transaction, which holds every payment it decides about."""
        skip_locked = not self.events.db.is_sqlite
        parts = bulk_due.split(
            writes.claim_due_rows(session, ids, now, skip_locked=skip_locked), now
        )
        settings = self.events.settings
        report.warnings += bulk_due.warn(session, parts.warn, now, settings.warnings)
        report.expired += bulk_due.expire(session, parts.expire, now, settings, unasked)
        report.unasked += sum(1 for row in parts.expire if row.id in unasked)
        if parts.other:  # already held by this transaction: claimed again as objects
            for payment in writes.claim_due_payments(
                session, parts.other, now, skip_locked=skip_locked
            ):
                self._check(session, payment, now, report)

    async def _ask_before_expiring(
        self, expiring: list[tuple[int, str]], until: float
    ) -> set[int]:
        """A lost webhook must not turn a paid payment into an expired one: ask first (briefly,
        `ask_at_once` at a time; when the provider cannot answer in time the payment expires
        and the poller still catches late money). Once the tick's budget (`until`) is spent
        the rest are not asked: returns their ids (they expire, and are read right after)."""
        unasked: set[int] = set()
        if not expiring:
            return unasked
        limit = asyncio.Semaphore(self.ask_at_once)

        async def ask(payment_id: int, provider_payment_id: str) -> None:
            async with limit:
                left = until - self.timer()
                if left <= 0:
                    unasked.add(payment_id)
                    return
                await self._ask(payment_id, provider_payment_id, min(ASK_TIMEOUT, left))

        await asyncio.gather(*(ask(pid, ppid) for pid, ppid in expiring))
        return unasked

    async def _ask(self, payment_id: int, provider_payment_id: str, timeout: float) -> None:
        try:
            event = await asyncio.wait_for(
                self.events.provider.get_payment(provider_payment_id), timeout
            )
            if Status(event.status) in MONEY_SEEN:
                await self.events.apply_event(event, "poll")
        except (ProviderError, ValueError, TimeoutError) as exc:
            log.warning("payment %s: provider not asked before expiry: %r", payment_id, exc)

    def _check(
        self, session: Session, payment: Payment, now: datetime, report: SweepReport
    ) -> None:
        status = Status(payment.status)
        offsets = self.events.settings.warnings
        if status is Status.WAITING and now >= payment.expires_at:
            if self.events.transition(session, payment, Status.EXPIRED, None, now):
                report.expired += 1
            return
        window_end = payment.expires_at + self.events.settings.monitoring
        if status is Status.PARTIALLY_PAID and payment.parent_payment_id is None:
            if now < payment.expires_at:  # looked at early (a retry): come back at the deadline
                payment.next_check_at = payment.expires_at
                return
            if now < window_end:  # the deadline: tell the operators, watch until the end
                self._partial_expired(session, payment, now, window_end)
                payment.next_check_at = window_end
                return
        if status is not Status.WAITING:  # the monitoring window is over
            payment.next_check_at = None
            payment.next_poll_at = None
            if status is Status.PARTIALLY_PAID and payment.parent_payment_id is None:
                self._tell_partial_expired(session, payment, now, None)  # if not told yet
            if status is Status.PARTIALLY_PAID or status in MONEY_SEEN:
                self.events.alerts.write(
                    session,
                    now,
                    f"unfinished:{payment.id}",
                    "alert.unfinished",
                    payment_id=payment.id,
                    status=payment.status,
                    paid=payment.actually_paid,
                    asked=payment.pay_amount,
                    coin=payment.pay_currency,
                )
            return
        sent = sent_offsets(payment.warnings_sent)
        due = due_warnings(now, payment.expires_at, offsets, sent)
        if due:
            closest = min(due)  # after a pause, warn once with the nearest offset
            seconds_left = max(math.ceil((payment.expires_at - now).total_seconds()), 0)
            locale, _ = writes.owner_facts(session, payment, now)
            writes.enqueue(
                session,
                chat_platform=payment.chat_platform,
                chat_id=payment.chat_id,
                user_id=payment.user_id,
                kind="payment.warning",
                payload={
                    "payment_id": payment.id,
                    "offset": closest,
                    "seconds_left": seconds_left,
                    "expires_at": payment.expires_at.isoformat(),
                },
                locale=locale or "en",
                dedupe_key=f"payment:{payment.id}:warn:{closest}",
                created_at=now,
                priority=URGENT,
            )
            sent |= set(due)
            payment.warnings_sent = ",".join(str(o) for o in sorted(sent, reverse=True))
            report.warnings += 1
        payment.next_check_at = next_check(now, payment.expires_at, offsets, sent)

    def _partial_expired(
        self, session: Session, payment: Payment, now: datetime, window_end: datetime
    ) -> None:
        """A partially paid payment reached its deadline: the customer may still top up, and
        an operator may want to talk to them (once per payment)."""
        self._tell_partial_expired(session, payment, now, window_end)
        self.events.alerts.write(
            session,
            now,
            f"partial_expired:{payment.id}",
            "alert.partial_expired",
            payment_id=payment.id,
            paid=payment.actually_paid,
            asked=payment.pay_amount,
            coin=payment.pay_currency,
            until=window_end.isoformat(),
        )

    def _tell_partial_expired(
        self, session: Session, payment: Payment, now: datetime, until: datetime | None
    ) -> None:
        """Tell the customer, through the outbox, once per payment: what arrived, what is
        missing, that the money is recorded, and until when sending the rest to the same
        address completes the payment (`until`; None when the monitoring window is already
        over: then only that the shop has been told)."""
        remaining = max(payment.pay_amount - payment.actually_paid, Decimal(0))
        locale, _ = writes.owner_facts(session, payment, now)
        link = payment_link(self.events.catalog, payment, remaining) if until else ""
        writes.enqueue(
            session,
            chat_platform=payment.chat_platform,
            chat_id=payment.chat_id,
            user_id=payment.user_id,
            kind="payment.partial_expired",
            payload=jsonable(
                {
                    "payment_id": payment.id,
                    "plan": payment.plan,
                    "coin": payment.pay_currency,
                    "paid": payment.actually_paid,
                    "asked": payment.pay_amount,
                    "remaining": remaining,
                    "until": until.isoformat() if until else None,
                    "uri": link,
                }
            ),
            locale=locale or "en",
            dedupe_key=f"payment:{payment.id}:partial_expired",
            created_at=now,
        )
