"""Provider webhooks that arrive together are applied together: one transaction for many.

An IPN alone costs a transaction: a pooled connection, BEGIN, its statements, COMMIT, each
a socket write and a trip through SQLAlchemy and the driver. Under load most of that is the
same for every IPN, so the webhooks waiting while a batch runs go into the next one (group
commit): one BEGIN, one statement locking all their payments (`storage.event_writes.
event_payments`, in one global order, so two workers' batches cannot deadlock), each event's
own statements, one COMMIT. Nothing waits for a batch to fill: an IPN that finds fewer than
`at_once` batches running starts one at once, alone, so a quiet shop answers as fast as
before; the IPNs that find `at_once` batches running wait for the next.

Each webhook is answered only after the transaction holding its event committed. When a
batch fails as a whole (a deadlock with some other writer, a bug in one event's path), its
events are applied again one by one, so one bad event fails only its own webhook (503, the
provider retries) and the others are applied. Events a batch cannot take (a top-up, an
unknown payment or status) are applied alone after it, through `PaymentEvents.apply_event`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from tools.providers.base import ProviderEvent
from tools.transitions import ApplyResult, PaymentEvents, observed_status

log = logging.getLogger(__name__)

AT_ONCE = 2  # batches in flight: one in the database while the next is put together
LARGEST = 64  # events in one batch


class _Waiting:
    __slots__ = ("event", "source", "answer")

    def __init__(self, event: ProviderEvent, source: str, answer: asyncio.Future) -> None:
        self.event = event
        self.source = source
        self.answer = answer


class EventBatches:
    def __init__(
        self, events: PaymentEvents, *, at_once: int = AT_ONCE, largest: int = LARGEST
    ) -> None:
        self.events = events
        self.at_once = at_once
        self.largest = largest
        self._waiting: list[_Waiting] = []
        self._running: set[asyncio.Task[None]] = set()
        self.sizes: deque[int] = deque(maxlen=1000)  # the latest batches' sizes
        self.failed = 0  # batches that failed as a whole (their events then went alone)

    async def apply(self, event: ProviderEvent, source: str) -> ApplyResult:
        """Apply `event` in the next batch; its result once that batch committed. Raises what
        applying it alone raised."""
        answer: asyncio.Future[ApplyResult] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(event, source, answer))
        self._launch()
        return await answer

    async def close(self) -> None:
        """Wait for the batches running and those waiting for a turn."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _launch(self) -> None:
        while self._waiting and len(self._running) < self.at_once:
            batch = [w for w in self._waiting[: self.largest] if not w.answer.done()]
            del self._waiting[: self.largest]
            if not batch:  # all of them given up by their callers
                continue
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._launch()

    async def _run(self, batch: list[_Waiting]) -> None:
        try:
            await self._apply(batch)
        except BaseException:  # cancelled while stopping: nobody waits for ever
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.cancel()
            raise

    async def _apply(self, batch: list[_Waiting]) -> None:
        self.sizes.append(len(batch))
        together = [w for w in batch if observed_status(w.event) is not None]
        results: list[ApplyResult | None] = [None] * len(together)
        if len(together) > 1:
            results = await self._together(together)
        for waiting, result in zip(together, results, strict=True):
            if result is not None and not waiting.answer.done():
                waiting.answer.set_result(result)
        for waiting in batch:  # the rest: alone, each in its own transaction
            if not waiting.answer.done():
                await self._alone(waiting)

    async def _together(self, batch: list[_Waiting]) -> list[ApplyResult | None]:
        events = self.events
        now = events.clock()
        items = [(w.event, observed_status(w.event), w.source) for w in batch]
        try:
            results = await events.db.run(lambda session: events.apply_many(session, items, now))
        except Exception:
            self.failed += 1
            log.warning(
                "a batch of %d provider events failed as a whole; applying each alone",
                len(batch),
                exc_info=True,
            )
            return [None] * len(batch)
        if any(r is not None and r.outcome in ("applied", "ignored") for r in results):
            events.on_change()
        return results

    async def _alone(self, waiting: _Waiting) -> None:
        try:
            result = await self.events.apply_event(waiting.event, waiting.source)
        except Exception as exc:  # the webhook answers it (503: the provider retries)
            if not waiting.answer.done():
                waiting.answer.set_exception(exc)
            return
        if not waiting.answer.done():
            waiting.answer.set_result(result)
