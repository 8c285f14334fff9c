"""A provider wrapper that tells the operators when the provider stays unreachable.

`WatchedProvider` implements the provider interface by calling the provider it wraps, so
every caller (payments, the reconciliation poller, the sweeper's question before expiry) is
covered. An availability failure is a `ProviderError` with code `provider_down` (network
errors, timeouts, 5xx, and the answers that leave us unable to use the provider: a refused API
key, 429, an unusable answer) or a `TimeoutError`/`OSError` escaping the provider. When such
failures continue, with no answer in between, for `down_after`, `alert.provider_down` is raised
once; the first answer afterwards raises `alert.provider_up` once. A business refusal (amount
under the minimum, coin unavailable, any other 4xx) is an answer: the provider is reachable.
A call its caller gave up on (cancelled) counts as neither. The outage is the deployment's,
not this process's: its start, last error and whether it was reported live in the database
(`operator_state`, key `provider:<name>`), so failures seen by any worker add up, an answer
seen by any worker ends it, and each alert is raised by one worker only. An answer first
looks without a lock (and not again for a second when it found nothing), so the usual
answer costs one read at most.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from storage import operator_state
from tools.alerts import OperatorAlerts
from tools.catalog import Coin
from tools.clock import Clock
from tools.errors import ProviderError
from tools.providers.base import Order, PaymentProvider, ProviderEvent, ProviderPayment

log = logging.getLogger(__name__)
T = TypeVar("T")
UNAVAILABLE = "provider_down"  # the ProviderError code of availability failures
QUIET = timedelta(seconds=1)  # after an answer found no outage, the next ones do not look


class WatchedProvider:
    def __init__(
        self,
        provider: PaymentProvider,
        alerts: OperatorAlerts,
        clock: Clock,
        down_after: timedelta,
    ) -> None:
        self.inner = provider
        self.name = provider.name
        self._alerts = alerts
        self._clock = clock
        self._down_after = down_after
        self._key = f"provider:{provider.name}"  # the outage's row in operator_state
        self._checked_at: datetime | None = None  # an answer found no outage then

    def __getattr__(self, name: str) -> Any:
        """Whatever else the provider offers (the sandbox's `pay`, `close`, ...), unwatched."""
        if name == "inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def currencies(self) -> list[str]:
        return await self._watch("currencies", self.inner.currencies())

    async def min_amount(self, coin: Coin) -> Decimal:
        return await self._watch("min_amount", self.inner.min_amount(coin))

    async def estimate(self, price: Decimal, currency: str, coin: Coin) -> Decimal:
        return await self._watch("estimate", self.inner.estimate(price, currency, coin))

    async def create_payment(self, order: Order) -> ProviderPayment:
        return await self._watch("create_payment", self.inner.create_payment(order))

    async def get_payment(self, provider_payment_id: str) -> ProviderEvent:
        return await self._watch("get_payment", self.inner.get_payment(provider_payment_id))

    def precheck(self, headers: Mapping[str, str]) -> None:
        self.inner.precheck(headers)

    def verify_and_parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        return self.inner.verify_and_parse_webhook(headers, body)  # no call to the provider

    async def _watch(self, call: str, work: Awaitable[T]) -> T:
        try:
            result = await work
        except ProviderError as exc:
            if exc.code == UNAVAILABLE:
                await self._failed(call, exc)
            else:
                await self._answered()
            raise
        except (TimeoutError, OSError) as exc:
            await self._failed(call, exc)
            raise
        await self._answered()
        return result

    async def _failed(self, call: str, exc: Exception) -> None:
        now = self._clock()
        cause = getattr(exc, "detail", "") or str(exc) or type(exc).__name__
        error = f"{call}: {cause}"[:300]
        self._checked_at = None  # the next answer must look in the database
        key, down_after = self._key, self._down_after

        def failed(session: Session) -> bool:
            state = operator_state.locked(session, key)
            if state.since is None:
                state.since = now
            state.detail = error
            if state.alerted_at is not None or now - state.since < down_after:
                return False
            state.alerted_at = now
            since = state.since.isoformat()
            return self._alerts.write(
                session,
                now,
                f"provider_down:{self.name}:{since}",
                "alert.provider_down",
                provider=self.name,
                since=since,
                error=error,
            )

        await self._change("alert.provider_down", failed)

    async def _answered(self) -> None:
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < QUIET:
            return
        # the answers arriving while this one looks do not look too (the poller has a hundred
        # reads under way: they would all look at once)
        self._checked_at = now
        key = self._key
        try:
            async with self._alerts.db.sessions() as session:  # a look, no lock
                failing = await session.run_sync(lambda sync: operator_state.since(sync, key))
        except Exception:  # the provider answered: a database problem must not hide that
            log.exception("the provider's outage state could not be read")
            self._checked_at = None  # the next answer looks again
            return
        if failing is None:
            self._checked_at = now
            return

        def answered(session: Session) -> bool:
            state = operator_state.locked(session, key)
            since, alerted = state.since, state.alerted_at
            state.since = state.alerted_at = None
            state.detail = ""
            if since is None or alerted is None:
                return False
            return self._alerts.write(
                session,
                now,
                f"provider_up:{self.name}:{since.isoformat()}",
                "alert.provider_up",
                provider=self.name,
                since=since.isoformat(),
                seconds=int((now - since).total_seconds()),
            )

        await self._change("alert.provider_up", answered)
        self._checked_at = now

    async def _change(self, kind: str, work: Callable[[Session], bool]) -> None:
        """Change the shared outage state, raising an alert in the same transaction; never let
        a database problem hide the provider's own answer."""
        try:
            new = await self._alerts.db.run(work)
        except Exception:
            log.exception("operator alert %s could not be written", kind)
            return
        if new:
            log.warning("operator alert %s (%s)", kind, self._key)
            self._alerts.on_change()
