"""The outbox relay: delivers queued notifications through the adapters (DESIGN §5).

Rows are claimed with a short lease (and `SKIP LOCKED` on PostgreSQL, so each row goes to one
worker), sent outside the claiming transaction, then marked sent, retried with backoff, or
moved to `dead` when the error is permanent. A state change wakes the relay at once. A
notification that goes dead raises `alert.dead_notice` for the operators in the same
transaction, unless it was an operator alert itself (then it is only logged: no loops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.adapters.base import Adapter, DeliveryError, RateLimited
from bot.i18n import using_locale
from bot.messages import ChatRef, Outgoing
from bot.notices import render_notice
from storage import repos
from storage.db import Database
from storage.models import OutboxItem, Payment
from tools.alerts import OperatorAlerts
from tools.catalog import Catalog
from tools.clock import Clock
from tools.renewals import Renewals
from tools.views import payment_view

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
DEFER_AFTER = 0.25  # a chat busy for longer than this is skipped for now, not waited for


class Notifier:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        adapters: Mapping[str, Adapter],
        clock: Clock,
        *,
        batch: int = 50,
        max_attempts: int = 8,
        give_up_after: timedelta = timedelta(hours=24),
        idle_seconds: float = 1.0,
        alerts: OperatorAlerts | None = None,
        renewals: Renewals | None = None,
    ) -> None:
        self.db = db
        self.renewals = renewals
        self.alerts = alerts
        self.catalog = catalog
        self.adapters = dict(adapters)
        self.clock = clock
        self.batch = batch
        self.max_attempts = max_attempts
        self.give_up_after = give_up_after  # a platform outage must not kill notices
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._edits: set[asyncio.Task[None]] = set()
        self._stopped = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped: at once when woken, otherwise every `idle_seconds`."""
        while not self._stopped:
            try:
                while await self.drain():
                    pass
            except Exception:
                log.exception("outbox relay failed; retrying shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)
            self._wake.clear()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def edits_done(self) -> None:
        """Wait for the card edits still under way (tests, shutdown)."""
        while self._edits:
            await asyncio.gather(*list(self._edits), return_exceptions=True)

    async def drain(self) -> int:
        """Deliver one batch of due notifications; returns how many were handled.

        The batch costs a fixed number of database round trips (claim, load the payments,
        record the outcomes), not a few per message.
        """
        claimed = await self._claim()
        if not claimed:
            return 0
        payments = await self._payments(claimed)
        outcomes: dict[str, list[int]] = {"sent": [], "skipped": []}
        waiting: dict[tuple[str, str], int] = {}  # per chat: how many we deferred so far
        for item in claimed:
            outcome = await self._deliver(item, payments, waiting)
            if outcome is not None:
                outcomes[outcome].append(item.id)
        now = self.clock()
        async with self.db.transaction() as session:
            for status, ids in outcomes.items():
                if ids:
                    await session.execute(
                        update(OutboxItem)
                        .where(OutboxItem.id.in_(ids))
                        .values(status=status, sent_at=now, last_error=None)
                    )
        return len(claimed)

    async def _claim(self) -> list[OutboxItem]:
        now = self.clock()
        async with self.db.transaction() as session:
            rows = list(
                await repos.due_outbox(
                    session,
                    now,
                    self.batch,
                    skip_locked=not self.db.is_sqlite,
                    platforms=list(self.adapters),
                )
            )
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = now + LEASE
        return rows

    async def _payments(self, items: list[OutboxItem]) -> dict[int, Payment]:
        ids = {int(i.payload["payment_id"]) for i in items if i.payload.get("payment_id")}
        if not ids:
            return {}
        async with self.db.sessions() as session:
            rows = (await session.scalars(select(Payment).where(Payment.id.in_(ids)))).all()
        return {p.id: p for p in rows}

    async def _deliver(
        self, item: OutboxItem, payments: dict[int, Payment], waiting: dict[tuple[str, str], int]
    ) -> str | None:
        """Send one notification: "sent", "skipped" (outdated), or None when it failed or
        was deferred."""
        adapter = self.adapters[item.chat_platform]
        target = ChatRef(item.chat_platform, item.chat_id)
        send_wait = getattr(adapter, "send_wait", None)
        chat = (item.chat_platform, item.chat_id)
        ahead = waiting.get(chat, 0)
        if send_wait is not None and (wait := send_wait(target, ahead)) > DEFER_AFTER:
            waiting[chat] = ahead + 1  # this chat is busy: others go first, in order
            await self._defer(item, wait)
            return None
        try:
            if not await self._still_relevant(item):
                return "skipped"
            messages = self._render(item, target, payments)
            if not messages:  # outdated (a warning for a payment that moved on): not sent
                return "skipped"
            with using_locale(item.locale):  # adapters may word their own labels too
                for n, message in enumerate(messages):
                    message = replace(message, key=f"outbox:{item.id}:{n}")  # same on retries
                    if message.edit_of:
                        self._edit_soon(adapter, message, item.id)
                    else:
                        await adapter.send(message)
        except RateLimited as exc:
            await self._defer(item, exc.retry_after)
            return None
        except DeliveryError as exc:
            await self._failed(item, exc)
            return None
        except Exception as exc:  # a bug in rendering must not stop the relay
            log.exception("outbox %s could not be rendered or sent", item.id)
            await self._failed(item, DeliveryError(repr(exc)))
            return None
        return "sent"

    async def _still_relevant(self, item: OutboxItem) -> bool:
        """A reminder queued before the customer renewed, upgraded or lost the plan is not
        delivered any more (one lookup, for reminders only)."""
        if item.kind != "plan.reminder" or self.renewals is None:
            return True
        return await self.renewals.still_current(int(item.payload["activation_id"]))

    def _render(
        self, item: OutboxItem, target: ChatRef, payments: dict[int, Payment]
    ) -> list[Outgoing]:
        view = None
        card_ref = None
        payment = payments.get(int(item.payload.get("payment_id") or 0))
        if payment is not None:
            view = payment_view(self.catalog, payment)
            card_ref = payment.card_message_ref
        if item.kind == "payment.warning" and (
            view is None or view.status != "waiting" or self.clock() >= view.expires_at
        ):
            return []  # a retried warning must not arrive after the payment moved on
        if item.kind == "plan.reminder" and self.clock() >= datetime.fromisoformat(
            item.payload["period_end"]
        ):
            return []  # a reminder held up past the end: the lapse notice says it instead
        with using_locale(item.locale):
            return render_notice(item.kind, item.payload, target, view, self.clock(), card_ref)

    def _edit_soon(self, adapter: Adapter, message: Outgoing, item_id: int) -> None:
        """Edit the card in place in the background: a courtesy, paced by the adapter, that
        must not hold up the notices behind it."""

        async def edit() -> None:
            for attempt in range(3):
                try:
                    await adapter.send(message)
                    return
                except RateLimited as exc:
                    await asyncio.sleep(min(exc.retry_after, 30))
                except DeliveryError as exc:
                    if exc.permanent or attempt == 2:
                        log.info("card edit for outbox %s skipped: %s", item_id, exc)
                        return
                    await asyncio.sleep(2**attempt)
                except Exception:
                    log.exception("card edit for outbox %s failed", item_id)
                    return

        task = asyncio.create_task(edit())
        self._edits.add(task)
        task.add_done_callback(self._edits.discard)

    async def _defer(self, item: OutboxItem, seconds: float) -> None:
        """Try again later without counting an attempt (limits are not failures)."""
        async with self.db.transaction() as session:
            row = await session.get(OutboxItem, item.id)
            row.attempts = max(row.attempts - 1, 0)
            row.next_attempt_at = self.clock() + timedelta(seconds=seconds)

    async def _failed(self, item: OutboxItem, exc: DeliveryError) -> None:
        now = self.clock()
        async with self.db.transaction() as session:
            row = await session.get(OutboxItem, item.id)
            row.last_error = str(exc)[:500]
            expired = now - row.created_at > self.give_up_after
            if exc.permanent or (row.attempts >= self.max_attempts and expired):
                row.status = "dead"
                log.warning("outbox %s dead after %s attempts: %s", item.id, row.attempts, exc)
                await self._tell_dead(session, row)
                return
            delay = exc.retry_after if exc.retry_after else min(2**row.attempts, 300)
            row.next_attempt_at = now + timedelta(seconds=delay)
            log.info("outbox %s retry in %ss: %s", item.id, delay, exc)

    async def _tell_dead(self, session: AsyncSession, row: OutboxItem) -> None:
        """Tell the operators that a notification will never arrive (same transaction)."""
        if row.kind.startswith("alert."):  # an alert about an alert could loop forever
            log.error(
                "operator alert %s to %s:%s could not be delivered: %s",
                row.kind,
                row.chat_platform,
                row.chat_id,
                row.last_error,
            )
            return
        if self.alerts is None:
            return
        now = self.clock()
        alerts = self.alerts
        await session.run_sync(
            lambda sync: alerts.write(
                sync,
                now,
                f"dead:{row.id}",
                "alert.dead_notice",
                payment_id=row.payload.get("payment_id"),
                notice=row.kind,
                chat=f"{row.chat_platform}:{row.chat_id}",
                error=row.last_error,
            )
        )
        self.wake()
