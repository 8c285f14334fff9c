"""The embedded simulated provider: no account, no network, statuses driven by the clock.

It keeps its own ledger (`sandbox_events`): paying a payment schedules the steps a real chain
would take (seen → confirmed → finished, or partially paid), and `due_webhooks(now)` hands them
out as signed webhook bodies that go through the same verify-and-apply path as real IPNs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal

from sqlalchemy import select

from storage.db import Database
from storage.models import SandboxTransfer
from tools.catalog import Coin
from tools.clock import Clock
from tools.errors import ProviderError
from tools.providers.addresses import sandbox_address, sandbox_memo
from tools.providers.base import Order, ProviderEvent, ProviderPayment, WebhookRejected

SIGNATURE_HEADER = "x-sandbox-sig"
_HEX128 = re.compile(r"[0-9a-f]{128}")
QUOTE_DECIMALS = 8


class SandboxProvider:
    name = "sandbox"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        rates: Mapping[str, Decimal],
        min_amounts: Mapping[str, Decimal],
        confirm_seconds: int = 2,
        finish_seconds: int = 4,
        quote_ttl_seconds: int = 1200,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rates = dict(rates)
        self._min = dict(min_amounts)
        self._confirm = timedelta(seconds=confirm_seconds)
        self._finish = timedelta(seconds=max(finish_seconds, confirm_seconds))
        self._quote_ttl = timedelta(seconds=quote_ttl_seconds)
        self._secret = secrets.token_bytes(32)  # signs and checks webhooks inside this process

    async def currencies(self) -> list[str]:
        return sorted(self._rates)

    async def min_amount(self, coin: Coin) -> Decimal:
        return self._min.get(coin.code, Decimal(0))

    async def estimate(self, price: Decimal, currency: str, coin: Coin) -> Decimal:
        rate = self._rates.get(coin.code)
        if rate is None or rate <= 0:
            raise ProviderError(
                "coin_unavailable", f"{coin.code} is not available", coin=coin.code
            )
        places = Decimal(1).scaleb(-min(coin.decimals, QUOTE_DECIMALS))
        return (price / rate).quantize(places, rounding=ROUND_UP)

    async def create_payment(self, order: Order) -> ProviderPayment:
        coin = order.coin
        amount = await self.estimate(order.price_amount, order.price_currency, coin)
        minimum = await self.min_amount(coin)
        if amount < minimum:
            raise ProviderError(
                "below_minimum",
                f"{amount} {coin.code} is under the minimum {minimum}",
                minimum=minimum,
                coin=coin.code,
            )
        seed = hashlib.sha256(f"{order.order_id}:{coin.code}".encode()).digest()
        return ProviderPayment(
            provider_payment_id=str(4_000_000_000 + uuid.uuid4().int % 5_000_000_000),
            pay_address=sandbox_address(coin.address_kind, seed),
            pay_amount=amount,
            payin_extra_id=sandbox_memo(seed) if coin.needs_memo else None,
            expires_at=self._clock() + self._quote_ttl,
        )

    async def pay(self, provider_payment_id: str, pay_amount: Decimal, amount: Decimal) -> None:
        """Simulate a customer sending `amount`: schedule the chain's steps from now on."""
        now = self._clock()
        async with self._db.transaction() as session:
            before = await self._paid_so_far(session, provider_payment_id)
            total = before + amount
            if total >= pay_amount:
                steps = [
                    ("confirming", now),
                    ("confirmed", now + self._confirm),
                    ("finished", now + self._finish),
                ]
            else:  # too little: the chain sees it, then the provider calls it partial
                steps = [("confirming", now), ("partially_paid", now + self._finish)]
            for status, due in steps:
                session.add(
                    SandboxTransfer(
                        provider_payment_id=provider_payment_id,
                        status=status,
                        actually_paid=total,
                        due_at=due,
                    )
                )

    async def _paid_so_far(self, session: object, provider_payment_id: str) -> Decimal:
        rows = await session.scalars(  # type: ignore[attr-defined]
            select(SandboxTransfer.actually_paid)
            .where(SandboxTransfer.provider_payment_id == provider_payment_id)
            .order_by(SandboxTransfer.id.desc())
            .limit(1)
        )
        return rows.first() or Decimal(0)

    async def get_payment(self, provider_payment_id: str) -> ProviderEvent:
        now = self._clock()
        async with self._db.sessions() as session:
            row = (
                await session.scalars(
                    select(SandboxTransfer)
                    .where(
                        SandboxTransfer.provider_payment_id == provider_payment_id,
                        SandboxTransfer.due_at <= now,
                    )
                    .order_by(SandboxTransfer.due_at.desc(), SandboxTransfer.id.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return ProviderEvent(provider_payment_id, "waiting", Decimal(0))
        return ProviderEvent(provider_payment_id, row.status, row.actually_paid)

    async def due_webhooks(
        self, now: datetime, limit: int = 500
    ) -> list[tuple[int, dict[str, str], bytes]]:
        """(step id, headers, signed body) for every simulated step that is due, oldest first.
        Mark each one with `delivered()` once it was handed over."""
        async with self._db.sessions() as session:
            rows = (
                await session.scalars(
                    select(SandboxTransfer)
                    .where(SandboxTransfer.delivered_at.is_(None), SandboxTransfer.due_at <= now)
                    .order_by(SandboxTransfer.due_at, SandboxTransfer.id)
                    .limit(limit)
                )
            ).all()
        return [(row.id, *self._webhook(row)) for row in rows]

    async def delivered(self, step_id: int, now: datetime) -> None:
        async with self._db.transaction() as session:
            row = await session.get(SandboxTransfer, step_id)
            if row is not None:
                row.delivered_at = now

    def _webhook(self, row: SandboxTransfer) -> tuple[dict, bytes]:
        body = json.dumps(
            {
                "payment_id": row.provider_payment_id,
                "payment_status": row.status,
                "actually_paid": format(row.actually_paid, "f"),
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        signature = hmac.new(self._secret, body, hashlib.sha512).hexdigest()
        return {SIGNATURE_HEADER: signature}, body

    def precheck(self, headers: Mapping[str, str]) -> None:
        if not _HEX128.fullmatch(_signature(headers)):
            raise WebhookRejected(401, "missing or malformed signature")

    def verify_and_parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        self.precheck(headers)
        given = _signature(headers)
        expected = hmac.new(self._secret, body, hashlib.sha512).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise WebhookRejected(401, "bad signature")
        try:
            data = json.loads(body, parse_float=Decimal)
            return ProviderEvent(
                provider_payment_id=str(data["payment_id"]),
                status=str(data["payment_status"]),
                actually_paid=Decimal(str(data["actually_paid"])),
                raw=body.decode(),
            )
        except (ValueError, KeyError, TypeError, ArithmeticError):
            raise WebhookRejected(400, "malformed body") from None


def _signature(headers: Mapping[str, str]) -> str:
    return next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
