"""The provider interface every payment provider implements (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tools.catalog import Coin


@dataclass(frozen=True)
class Order:
    order_id: str  # ASCII, ours
    description: str  # ASCII
    price_amount: Decimal
    price_currency: str
    coin: Coin


@dataclass(frozen=True)
class ProviderPayment:
    provider_payment_id: str
    pay_address: str
    pay_amount: Decimal
    payin_extra_id: str | None
    expires_at: datetime | None  # the provider's own quote expiry, when it has one


@dataclass(frozen=True)
class ProviderEvent:
    """One observation of a payment's state at the provider (IPN, poll or sandbox)."""

    provider_payment_id: str
    status: str
    actually_paid: Decimal
    outcome_amount: Decimal | None = None
    outcome_currency: str | None = None
    fees: Mapping[str, Decimal] = field(default_factory=dict)  # deposit, withdrawal, service
    fee_currency: str | None = None
    parent_payment_id: str | None = None  # a top-up: more money to an already used address
    raw: str = ""

    @property
    def dedupe_key(self) -> str:
        return f"{self.provider_payment_id}:{self.status}:{self.actually_paid.normalize()}"


class WebhookRejected(Exception):
    """A webhook that must not be applied; `http_status` is what the sender gets."""

    def __init__(self, http_status: int, reason: str) -> None:
        super().__init__(reason)
        self.http_status = http_status
        self.reason = reason


class PaymentProvider(Protocol):
    name: str

    async def currencies(self) -> list[str]: ...

    async def min_amount(self, coin: Coin) -> Decimal: ...

    async def estimate(self, price: Decimal, currency: str, coin: Coin) -> Decimal: ...

    async def create_payment(self, order: Order) -> ProviderPayment: ...

    async def get_payment(self, provider_payment_id: str) -> ProviderEvent: ...

    def precheck(self, headers: Mapping[str, str]) -> None:
        """Cheap refusal from the headers alone (e.g. no signature): raises `WebhookRejected`
        before the body is read. Passing it proves nothing; the full check follows."""
        ...

    def verify_and_parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """Check the signature and read the event; raises `WebhookRejected`. Synchronous and
        free of shared state, so it may run in a worker thread."""
        ...
