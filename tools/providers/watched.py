"""A provider wrapper that tells the operators when the provider stays unreachable.

`WatchedProvider` implements the provider interface by calling the provider it wraps, so
every caller (payments, the reconciliation poller, the sweeper's question before expiry) is
covered. An availability failure is a `ProviderError` with code `provider_down` (network
errors, timeouts, 5xx, and the answers that leave us unable to use the provider: a refused API
key, 429, an unusable answer) or a `TimeoutError`/`OSError` escaping the provider. When such
failures continue, with no answer in between, for `down_after`, `alert.provider_down` is raised
once; the first answer afterwards raises `alert.provider_up` once. A business refusal (amount
under the minimum, coin unavailable, any other 4xx) is an answer: the provider is reachable.
A call its caller gave up on (cancelled) counts as neither. The state lives in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from tools.alerts import OperatorAlerts
from tools.catalog import Coin
from tools.clock import Clock
from tools.errors import ProviderError
from tools.providers.base import Order, PaymentProvider, ProviderEvent, ProviderPayment

log = logging.getLogger(__name__)
T = TypeVar("T")
UNAVAILABLE = "provider_down"  # the ProviderError code of availability failures


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
        self._failing_since: datetime | None = None  # first failure after the last answer
        self._last_error = ""
        self._alerted = False  # alert.provider_down raised for the current outage

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
        if self._failing_since is None:
            self._failing_since = now
        cause = getattr(exc, "detail", "") or str(exc) or type(exc).__name__
        self._last_error = f"{call}: {cause}"[:300]
        if self._alerted or now - self._failing_since < self._down_after:
            return
        self._alerted = True  # before the await: concurrent failures raise it once
        since = self._failing_since
        await self._raise(
            f"provider_down:{self.name}:{since.isoformat()}",
            "alert.provider_down",
            provider=self.name,
            since=since.isoformat(),
            error=self._last_error,
        )

    async def _answered(self) -> None:
        since, alerted = self._failing_since, self._alerted
        self._failing_since, self._alerted = None, False
        if since is None or not alerted:
            return
        now = self._clock()
        await self._raise(
            f"provider_up:{self.name}:{since.isoformat()}",
            "alert.provider_up",
            provider=self.name,
            since=since.isoformat(),
            seconds=int((now - since).total_seconds()),
        )

    async def _raise(self, key: str, kind: str, **payload: object) -> None:
        """Raise an alert; never let a database problem hide the provider's own answer."""
        try:
            await self._alerts.raise_alert(key, kind, **payload)
        except Exception:
            log.exception("operator alert %s could not be written", kind)
