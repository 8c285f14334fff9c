"""The payment service: what a customer does with payments (create, look up, retry, history).

Provider events are applied by `tools.transitions.PaymentEvents`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal

from storage import reads, repos
from storage.db import Database
from storage.models import Payment
from tools import cancels
from tools.caller import Caller
from tools.cards import HistoryCard, PaymentCard, PaymentView, StatusCard
from tools.catalog import Catalog
from tools.clock import Clock
from tools.errors import ProviderError, ShopError
from tools.policy import PaymentSettings, deadline, next_check
from tools.providers.base import Order, PaymentProvider
from tools.states import FINAL, IN_FLIGHT, OPEN, RANK, RETRYABLE, Status, parse_status
from tools.views import payment_view

log = logging.getLogger(__name__)


class PaymentService:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        provider: PaymentProvider,
        clock: Clock,
        settings: PaymentSettings,
        *,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.provider = provider
        self.clock = clock
        self.settings = settings
        self.on_change = on_change

    def view(self, p: Payment) -> PaymentView:
        return payment_view(self.catalog, p)

    # --- customer actions ----------------------------------------------------------------

    async def create(
        self, caller: Caller, plan_name: str, coin_name: str, *, retried_from: int | None = None
    ) -> PaymentCard:
        plan = self.catalog.plan(plan_name)
        coin = self.catalog.coin(coin_name)
        async with self.db.sessions() as session:
            open_ones = await repos.payments_with_status(
                session, caller.user_id, [s.value for s in OPEN]
            )
        for p in open_ones:
            if p.plan == plan.code and p.pay_currency == coin.code and p.status == Status.WAITING:
                if p.expires_at > self.clock():
                    return PaymentCard(self.view(p), reused=True)
        now = self.clock()
        live = [p for p in open_ones if p.status in IN_FLIGHT or p.expires_at > now]
        if len(live) >= self.settings.max_open_per_user:
            raise ShopError(
                "too_many_open",
                f"You already have {len(live)} open payments; finish or let them expire.",
                count=len(live),
                ids=[p.id for p in live],
            )
        order = Order(
            order_id=f"paybot-{uuid.uuid4().hex[:20]}",
            description=f"{plan.name} plan, {plan.period_days} days",
            price_amount=plan.price,
            price_currency=plan.currency,
            coin=coin,
        )
        try:
            created = await self.provider.create_payment(order)
        except ProviderError as exc:
            raise ShopError(exc.code, str(exc), **exc.params) from None
        now = self.clock()
        expires = deadline(now, self.settings.ttl, created.expires_at)
        payment = Payment(
            user_id=caller.user_id,
            chat_platform=caller.platform,
            chat_id=caller.chat_id,
            order_id=order.order_id,
            plan=plan.code,
            price_amount=plan.price,
            price_currency=plan.currency,
            pay_currency=coin.code,
            pay_amount=created.pay_amount,
            pay_address=created.pay_address,
            payin_extra_id=created.payin_extra_id,
            provider=self.provider.name,
            provider_payment_id=created.provider_payment_id,
            status=Status.WAITING.value,
            status_rank=RANK[Status.WAITING],
            actually_paid=Decimal(0),
            topup_paid=Decimal(0),
            created_at=now,
            updated_at=now,
            expires_at=expires,
            next_check_at=next_check(now, expires, self.settings.warnings, set()),
            next_poll_at=now + self.settings.poll_after,
            warnings_sent="",
            retried_from_id=retried_from,
            late=False,
        )
        async with self.db.transaction() as session:
            session.add(payment)
        log.info(
            "payment %s created: %s %s via %s",
            payment.id,
            plan.code,
            coin.code,
            self.provider.name,
        )
        return PaymentCard(self.view(payment))

    async def status(self, caller: Caller, payment_id: int | None) -> StatusCard:
        if payment_id is None:
            payment = await self.db.read(lambda c: reads.latest_payment(c, caller.user_id))
        else:
            payment = await self.db.read(
                lambda c: reads.payment_of_user(c, payment_id, caller.user_id)
            )
        if payment is None:
            raise _not_found(payment_id)
        return StatusCard(self.view(payment))

    async def retry(self, caller: Caller, payment_id: int | None) -> PaymentCard:
        """A fresh payment like a failed or expired one (the latest such one without an id)."""
        async with self.db.sessions() as session:
            if payment_id is None:
                retryable = await repos.payments_with_status(
                    session, caller.user_id, [s.value for s in RETRYABLE]
                )
                if not retryable:
                    raise ShopError("nothing_to_retry", "There is no failed or expired payment.")
                old = retryable[-1]
                payment_id = old.id
            else:
                old = await repos.payment_of_user(session, payment_id, caller.user_id)
        if old is None:
            raise _not_found(payment_id)
        if parse_status(old.status) not in RETRYABLE:
            raise ShopError(
                "not_retryable",
                f"Payment #{payment_id} is {old.status}; only failed or expired payments can be "
                "retried.",
                payment_id=payment_id,
                status=old.status,
            )
        return await self.create(caller, old.plan, old.pay_currency, retried_from=old.id)

    async def cancel(self, caller: Caller, payment_id: int | None) -> PaymentView:
        """Cancel the caller's payment that still waits for money (the only one without an
        id): see `tools.cancels`."""
        now = self.clock()
        payment = await self.db.run(
            lambda session: cancels.cancel(
                session, caller.user_id, payment_id, now, self.settings, caller.locale
            )
        )
        log.info("payment %s cancelled by its customer", payment.id)
        self.on_change()  # the card edit goes out at once
        return self.view(payment)

    async def open_payments(self, caller: Caller) -> list[PaymentView]:
        """The caller's payments still waiting for money or with money on its way."""
        now = self.clock()
        async with self.db.sessions() as session:
            rows = await repos.payments_with_status(
                session, caller.user_id, [s.value for s in OPEN]
            )
        return [self.view(p) for p in rows if p.status in IN_FLIGHT or p.expires_at > now]

    async def history(self, caller: Caller, limit: int = 5) -> HistoryCard:
        limit = max(1, min(int(limit), 20))
        items, finished = await self.db.read(
            lambda c: (
                reads.recent_payments(c, caller.user_id, limit),
                reads.finished_prices(c, caller.user_id),
            )
        )
        total = sum((p.price_amount for p in finished), Decimal(0))
        currency = finished[0].price_currency if finished else self.catalog.plans[0].currency
        return HistoryCard(tuple(self.view(p) for p in items), len(finished), total, currency)

    async def sandbox_pay(
        self, caller: Caller | None, payment_id: int | None, amount: Decimal | None
    ) -> PaymentView:
        """Sandbox only: pay a payment (fully, or `amount` of it). `caller=None` = operator.
        Without an id, the caller's latest payment still waiting for money (an earlier one,
        paid or expired, is never picked by accident)."""
        pay = getattr(self.provider, "pay", None)
        if pay is None:
            raise ShopError("sandbox_only", "Paying by command only works with the sandbox.")
        async with self.db.sessions() as session:
            if payment_id is None and caller is not None:
                unpaid = await repos.payments_with_status(
                    session, caller.user_id, [Status.WAITING.value, Status.PARTIALLY_PAID.value]
                )
                now = self.clock()
                payment = next((p for p in reversed(unpaid) if p.expires_at > now), None)
                if payment is None:
                    raise ShopError("nothing_to_pay", "There is no payment waiting for money.")
                payment_id = payment.id
            elif payment_id is None:
                raise ShopError("not_found", "Which payment?", payment_id=payment_id)
            elif caller is None:
                payment = await repos.payment_by_id(session, payment_id)
            else:
                payment = await repos.payment_of_user(session, payment_id, caller.user_id)
        if payment is None:
            raise _not_found(payment_id)
        if payment.status == Status.CANCELLED:  # the sandbox pays no cancelled payment
            raise ShopError(
                "sandbox_cancelled",
                f"Payment #{payment_id} was cancelled; the sandbox does not pay it.",
                payment_id=payment_id,
            )
        if parse_status(payment.status) in FINAL:
            raise ShopError(
                "already_final",
                f"Payment #{payment_id} is already {payment.status}.",
                payment_id=payment_id,
                status=payment.status,
            )
        coin = self.catalog.coin(payment.pay_currency)
        if amount is None:
            amount = payment.pay_amount - payment.actually_paid
            if amount <= 0:
                raise ShopError(
                    "already_paid",
                    f"Payment #{payment_id} is already paid.",
                    payment_id=payment_id,
                )
        elif (
            not amount.is_finite()
            or amount <= 0
            or amount > payment.pay_amount * 10
            or amount.as_tuple().exponent < -coin.decimals  # type: ignore[operator]
        ):
            raise ShopError(
                "bad_amount",
                "The amount must be positive, at most ten times the price, "
                f"with at most {coin.decimals} decimals.",
                decimals=coin.decimals,
            )
        await pay(payment.provider_payment_id, payment.pay_amount, amount)
        self.on_change()
        return self.view(payment)


def _not_found(payment_id: int | None) -> ShopError:
    if payment_id is None:
        return ShopError("no_payments", "You have no payments yet.")
    return ShopError("not_found", f"Payment #{payment_id} was not found.", payment_id=payment_id)
