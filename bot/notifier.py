"""The outbox relay: delivers queued notifications through the adapters (DESIGN §5).

Rows are claimed with a lease and a claim token (and `SKIP LOCKED` on PostgreSQL, so each row
goes to one worker), sent outside the claiming transaction, and each is marked as soon as it is
handled: sent, retried with backoff, deferred, or moved to `dead` when the error is permanent.
A claimed row is ours only while our token is on it: every mark checks it (a row another relay
took over is logged and left alone), and the lease of the rows still waiting is renewed before
a send whenever what is left of it would not cover that send (`SEND_LIMIT`), so it never runs
out under work in flight. A state change wakes the relay at once. A notification that goes
dead raises `alert.dead_notice` for the operators in the same transaction, unless it was an
operator alert itself (then it is only logged: no loops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.access_effects import AccessEffects
from bot.adapters.base import Adapter, DeliveryError, RateLimited
from bot.i18n import using_locale
from bot.messages import ChatRef, Outgoing
from bot.notices import render_notice
from storage import writes
from storage.db import Database
from storage.models import OutboxItem, Payment
from tools.access.webhook_events import retry_delay
from tools.alerts import OperatorAlerts
from tools.catalog import Catalog
from tools.clock import Clock
from tools.renewals import Renewals
from tools.views import payment_view

log = logging.getLogger(__name__)
T = TypeVar("T")

LEASE = timedelta(seconds=60)  # how long a claim holds without renewal (a crashed relay's rows
# wait this long before another relay takes them)
SEND_LIMIT = 40.0  # seconds one send may take before it counts as failed (python-telegram-bot
# gives up after ~31 s at worst, the Discord adapter after 20 s); must stay below LEASE
MARGIN = timedelta(seconds=5)  # for the database round trips around a send
MARK_RETRY = 0.5  # seconds between tries to record outcomes while the database is away
DEFER_AFTER = 0.25  # a chat busy for longer than this is skipped for now, not waited for


@dataclass
class _Claim:
    """One batch's claim: its token, how long its lease holds, and the rows still ours that
    are not handled yet (in order)."""

    token: str
    until: datetime
    waiting: list[int]


Then = Callable[[Session], None]


class _Marks:
    """What became of each handled row, written at once and only while our claim token is
    on the row: the first outcome starts a transaction, and the outcomes that arrive while it
    is under way go together in the next one (group commit: the rows sent or skipped in one
    statement), so a fast platform does not cost a commit per message and a slow one gets
    each row marked right after its send."""

    def __init__(
        self, db: Database, claim: _Claim, clock: Clock, retry: float = MARK_RETRY
    ) -> None:
        self.db = db
        self.claim = claim
        self.token = claim.token
        self.clock = clock
        self.retry = retry
        self._waited = False  # the database was away: said once
        self.ours = 0
        self._queue: list[tuple[OutboxItem, dict[str, Any], Then | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    def add(self, item: OutboxItem, values: dict[str, Any], then: Then | None = None) -> None:
        """Record `values` on the row (and release it); `then` runs in the same transaction
        when the row was still ours. `{"status": "sent"}` (or "skipped") alone also stamps
        `sent_at` and clears the last error."""
        self._queue.append((item, values, then))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write())

    async def _write(self) -> None:
        """Write the outcomes queued so far. When the database is away (restarting, a cut
        connection), try again every `retry` seconds while our lease holds: a message already
        sent must be marked, or another relay would send it again once the lease runs out."""
        while self._queue:
            batch, self._queue = self._queue, []
            now = self.clock()
            try:
                self.ours += await self.db.run(partial(self._record, batch=batch, now=now))
            except Exception as exc:
                if self.clock() + MARGIN >= self.claim.until:  # the rows stay claimed; the
                    self._error = exc  # next relay tries them once the lease has run out
                    return
                if not self._waited:  # one line per batch, not one per try
                    self._waited = True
                    log.warning(
                        "outcomes of %s notices not recorded yet (%s); trying again",
                        len(batch),
                        type(exc).__name__,
                    )
                self._queue[:0] = batch
                await asyncio.sleep(self.retry)

    def _record(self, session: Session, *, batch: list, now: datetime) -> int:
        groups: dict[str, list[int]] = {}
        ours: set[int] = set()
        for item, values, _then in batch:
            if set(values) == {"status"}:  # sent or skipped: one statement for them all
                groups.setdefault(values["status"], []).append(item.id)
            else:
                ours |= writes.settle_outbox(session, [item.id], self.token, **values)
        for status, ids in groups.items():
            ours |= writes.settle_outbox(
                session, ids, self.token, status=status, sent_at=now, last_error=None
            )
        for item, _values, then in batch:
            if item.id not in ours:
                log.warning(
                    "outbox %s (%s) was taken over by another relay; our outcome is not recorded",
                    item.id,
                    item.kind,
                )
            elif then is not None:
                then(session)
        return len(ours)

    async def written(self) -> int:
        """Wait until every outcome is written; how many rows were still ours."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self._error is not None:
            raise self._error
        return self.ours


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
        access: AccessEffects | None = None,
        send_limit: float = SEND_LIMIT,
    ) -> None:
        # before each send, the lease must still cover the send (renewed when it would not)
        self.renew_below = timedelta(seconds=send_limit) + MARGIN
        if self.renew_below >= LEASE:
            raise ValueError(f"a send may take at most {LEASE - MARGIN} under a lease of {LEASE}")
        self.send_limit = send_limit
        self.db = db
        self.renewals = renewals
        self.access = access  # does the `access.*` rows (what a paid plan opens)
        self.alerts = alerts
        self.catalog = catalog
        self.adapters = dict(adapters)
        # adapters that speak for some chats of their platform only (a console: its user)
        self.own_chats = {
            name: tuple(only)
            for name, adapter in self.adapters.items()
            if (only := getattr(adapter, "own_chats", None)) is not None
        }
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
        """Deliver one batch of due notifications; returns how many were handled as ours.

        The batch costs a claim and a read of its payments, then the outcomes, each written
        as soon as its row is handled (several per commit when the platform is fast), plus a
        lease renewal now and then when the platform is slow.
        """
        claim, claimed = await self._claim()
        if not claimed:
            return 0
        marks = _Marks(self.db, claim, self.clock)
        try:
            payments = await self._payments(claimed)
            waiting: dict[tuple[str, str], int] = {}  # per chat: how many we deferred so far
            for item in claimed:
                if await self._still_ours(claim, item.id):
                    await self._deliver(item, marks, payments, waiting)
                    claim.waiting.remove(item.id)
        except Exception:  # e.g. the database went away: give back what was not sent, so
            for item in claimed:  # it goes out as soon as the database is back, not after
                if item.id in claim.waiting:  # the lease (the marks wait for it)
                    self._defer(marks, item, 0)
            raise
        finally:
            handled = await marks.written()  # also when stopped: what was sent is recorded
        return handled

    async def _claim(self) -> tuple[_Claim, list[OutboxItem]]:
        now = self.clock()
        claim = _Claim(uuid.uuid4().hex, now + LEASE, [])
        rows = await self.db.run(
            lambda session: writes.claim_outbox(
                session,
                now,
                self.batch,
                claim.token,
                claim.until,
                platforms=list(self.adapters),
                skip_locked=not self.db.is_sqlite,
                chats=self.own_chats,
            )
        )
        claim.waiting = [row.id for row in rows]
        return claim, rows

    async def _still_ours(self, claim: _Claim, item_id: int) -> bool:
        """Before a send: renew the lease of the rows still waiting when what is left of it
        would not cover one more send; False when this row is not ours any more."""
        if item_id not in claim.waiting:  # lost at an earlier renewal: another relay has it
            return False
        now = self.clock()
        if claim.until - now >= self.renew_below:
            return True
        until = now + LEASE
        waiting, token = list(claim.waiting), claim.token
        kept = await self.db.run(
            lambda session: writes.renew_outbox_lease(session, waiting, token, until)
        )
        lost = [i for i in claim.waiting if i not in kept]
        if lost:
            log.warning("outbox %s taken over by another relay; left to it", lost)
        claim.waiting = [i for i in claim.waiting if i in kept]
        claim.until = until
        return item_id in kept

    async def _payments(self, items: list[OutboxItem]) -> dict[int, Payment]:
        ids = {int(i.payload["payment_id"]) for i in items if i.payload.get("payment_id")}
        if not ids:
            return {}
        async with self.db.sessions() as session:
            rows = (await session.scalars(select(Payment).where(Payment.id.in_(ids)))).all()
        return {p.id: p for p in rows}

    async def _deliver(
        self,
        item: OutboxItem,
        marks: _Marks,
        payments: dict[int, Payment],
        waiting: dict[tuple[str, str], int],
    ) -> None:
        """Send one notification and record at once what became of it (sent, skipped as
        outdated, failed or deferred)."""
        adapter = self.adapters[item.chat_platform]
        target = ChatRef(item.chat_platform, item.chat_id)
        send_wait = getattr(adapter, "send_wait", None)
        chat = (item.chat_platform, item.chat_id)
        ahead = waiting.get(chat, 0)
        if send_wait is not None and (wait := send_wait(target, ahead)) > DEFER_AFTER:
            waiting[chat] = ahead + 1  # this chat is busy: others go first, in order
            self._defer(marks, item, wait)
            return
        try:
            if item.kind.startswith("access.") and self.access is not None:
                self._done(marks, item, await self._bounded(self.access.perform(item)))
                return
            if not await self._still_relevant(item):
                self._done(marks, item, "skipped")
                return
            messages = self._render(item, target, payments)
            if not messages:  # outdated (a warning for a payment that moved on): not sent
                self._done(marks, item, "skipped")
                return
            cards: list[tuple[int, str]] = []
            with using_locale(item.locale):  # adapters may word their own labels too
                for n, message in enumerate(messages):
                    message = replace(message, key=f"outbox:{item.id}:{n}")  # same on retries
                    if message.edit_of:
                        self._edit_soon(adapter, message, item.id)
                        continue
                    ref = await self._send(adapter, message)
                    if ref and message.payment_id:  # a card: later notices edit this one
                        cards.append((message.payment_id, ref))
        except RateLimited as exc:
            self._defer(marks, item, exc.retry_after)
            return
        except DeliveryError as exc:
            self._failed(marks, item, exc)
            return
        except Exception as exc:  # a bug in rendering must not stop the relay
            log.exception("outbox %s could not be rendered or sent", item.id)
            self._failed(marks, item, DeliveryError(repr(exc)))
            return
        self._done(marks, item, "sent", lambda session: writes.remember_cards(session, cards))

    async def _send(self, adapter: Adapter, message: Outgoing) -> str | None:
        """One send, bounded (see `_bounded`)."""
        return await self._bounded(adapter.send(message))

    async def _bounded(self, work: Awaitable[T]) -> T:
        """A send or an access change that outlasts `send_limit` is given up (and retried
        later), so the lease renewed before it cannot run out under it."""
        try:
            async with asyncio.timeout(self.send_limit):
                return await work
        except TimeoutError:
            raise DeliveryError(f"no answer within {self.send_limit:g} s") from None

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
        if item.kind == "payment.card" and (
            card_ref and item.dedupe_key == f"payment:{item.payload.get('payment_id')}:card"
        ):
            return []  # the card reached the chat meanwhile (e.g. asked for again): not twice
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

    def _done(
        self, marks: _Marks, item: OutboxItem, status: str, then: Then | None = None
    ) -> None:
        marks.add(item, {"status": status}, then)

    def _defer(self, marks: _Marks, item: OutboxItem, seconds: float) -> None:
        """Try again later without counting an attempt (limits are not failures)."""
        marks.add(
            item,
            dict(
                attempts=max(item.attempts - 1, 0),
                next_attempt_at=self.clock() + timedelta(seconds=seconds),
            ),
        )

    def _failed(self, marks: _Marks, item: OutboxItem, exc: DeliveryError) -> None:
        now = self.clock()
        error = str(exc)[:500]
        if item.kind == "access.event":  # the shop's service: retried for days
            schedule = retry_delay(max(item.attempts, 1))
            give_up = exc.permanent or schedule is None
            backoff = schedule.total_seconds() if schedule is not None else 0.0
        else:
            expired = now - item.created_at > self.give_up_after
            give_up = exc.permanent or (item.attempts >= self.max_attempts and expired)
            backoff = min(2**item.attempts, 300)
        if give_up:

            def dead(session: Session) -> None:
                log.warning("outbox %s dead after %s attempts: %s", item.id, item.attempts, exc)
                self._tell_dead(session, item, error)

            marks.add(item, dict(status="dead", last_error=error), dead)
            return
        delay = exc.retry_after or backoff

        def retry(session: Session) -> None:
            log.info("outbox %s retry in %ss: %s", item.id, delay, exc)

        marks.add(
            item, dict(last_error=error, next_attempt_at=now + timedelta(seconds=delay)), retry
        )

    def _tell_dead(self, session: Session, row: OutboxItem, error: str) -> None:
        """Tell the operators that a notification will never arrive (same transaction)."""
        if row.kind.startswith("alert."):  # an alert about an alert could loop forever
            log.error(
                "operator alert %s to %s:%s could not be delivered: %s",
                row.kind,
                row.chat_platform,
                row.chat_id,
                error,
            )
            return
        if self.alerts is None:
            return
        self.alerts.write(
            session,
            self.clock(),
            f"dead:{row.id}",
            "alert.dead_notice",
            payment_id=row.payload.get("payment_id"),
            notice=row.kind,
            chat=f"{row.chat_platform}:{row.chat_id}",
            error=error,
        )
        self.wake()
