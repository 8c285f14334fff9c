"""The payment service: create, look up, retry, and apply provider events (DESIGN §3)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from storage import repos
from storage.db import Database
from storage.models import Payment, User
from tools.caller import Caller
from tools.cards import HistoryCard, PaymentCard, PaymentView, StatusCard
from tools.catalog import Catalog
from tools.clock import Clock
from tools.errors import ProviderError, ShopError
from tools.policy import PaymentSettings, deadline, effective_status, next_check
from tools.providers.base import Order, PaymentProvider, ProviderEvent
from tools.states import FINAL, MONEY_SEEN, OPEN, RANK, RETRYABLE, Status, can_move, parse_status
from tools.uris import payment_uri

log = logging.getLogger(__name__)

ACTIONS: dict[Status, tuple[str, ...]] = {
    Status.WAITING: ("status",),
    Status.CONFIRMING: ("status",),
    Status.CONFIRMED: ("status",),
    Status.SENDING: ("status",),
    Status.PARTIALLY_PAID: ("status",),
    Status.FINISHED: (),
    Status.FAILED: ("retry",),
    Status.EXPIRED: ("retry",),
    Status.REFUNDED: ("new",),
}


@dataclass(frozen=True)
class ApplyResult:
    outcome: str  # applied, duplicate, ignored, unknown_payment
    payment_id: int | None = None
    status: str | None = None


class PaymentService:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        provider: PaymentProvider,
        clock: Clock,
        settings: PaymentSettings,
        *,
        operators: Mapping[str, list[str]] | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.provider = provider
        self.clock = clock
        self.settings = settings
        self.operators = dict(operators or {})
        self.on_change = on_change

    # --- views ---------------------------------------------------------------------------

    def view(self, p: Payment) -> PaymentView:
        plan = self.catalog.plan(p.plan)
        coin = self.catalog.coin(p.pay_currency)
        remaining = max(p.pay_amount - p.actually_paid, Decimal(0))
        return PaymentView(
            id=p.id,
            plan=plan,
            coin=coin,
            price=p.price_amount,
            price_currency=p.price_currency,
            pay_amount=p.pay_amount,
            pay_address=p.pay_address,
            memo=p.payin_extra_id,
            status=p.status,
            actually_paid=p.actually_paid,
            created_at=p.created_at,
            expires_at=p.expires_at,
            late=p.late,
            uri=self.uri(p, remaining if p.status == Status.PARTIALLY_PAID else p.pay_amount),
            retried_from_id=p.retried_from_id,
            actions=ACTIONS[parse_status(p.status)],
        )

    def uri(self, p: Payment, amount: Decimal) -> str:
        coin = self.catalog.coin(p.pay_currency)
        return payment_uri(
            scheme=coin.uri_scheme,
            address=p.pay_address,
            amount=amount,
            decimals=coin.decimals,
            chain_id=coin.chain_id,
            token_contract=coin.token_contract,
            memo=p.payin_extra_id,
            label=f"Payment {p.id}",
        )

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
        if len(open_ones) >= self.settings.max_open_per_user:
            raise ShopError(
                "too_many_open",
                f"You already have {len(open_ones)} open payments; finish or let them expire.",
                count=len(open_ones),
                ids=[p.id for p in open_ones],
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
            created_at=now,
            updated_at=now,
            expires_at=expires,
            next_check_at=next_check(now, expires, self.settings.warnings, set()),
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
        async with self.db.sessions() as session:
            if payment_id is None:
                payment = await repos.latest_payment(session, caller.user_id)
            else:
                payment = await repos.payment_of_user(session, payment_id, caller.user_id)
        if payment is None:
            raise _not_found(payment_id)
        return StatusCard(self.view(payment))

    async def retry(self, caller: Caller, payment_id: int) -> PaymentCard:
        async with self.db.sessions() as session:
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

    async def history(self, caller: Caller, limit: int = 5) -> HistoryCard:
        limit = max(1, min(int(limit), 20))
        async with self.db.sessions() as session:
            items = await repos.recent_payments(session, caller.user_id, limit)
            finished = await repos.sum_finished(session, caller.user_id)
        total = sum((p.price_amount for p in finished), Decimal(0))
        currency = finished[0].price_currency if finished else self.catalog.plans[0].currency
        return HistoryCard(tuple(self.view(p) for p in items), len(finished), total, currency)

    async def sandbox_pay(
        self, caller: Caller | None, payment_id: int, amount: Decimal | None
    ) -> PaymentView:
        """Sandbox only: pay a payment (fully, or `amount` of it). `caller=None` = operator."""
        pay = getattr(self.provider, "pay", None)
        if pay is None:
            raise ShopError("sandbox_only", "Paying by command only works with the sandbox.")
        async with self.db.sessions() as session:
            if caller is None:
                payment = await session.get(Payment, payment_id)
            else:
                payment = await repos.payment_of_user(session, payment_id, caller.user_id)
        if payment is None:
            raise _not_found(payment_id)
        if parse_status(payment.status) in FINAL:
            raise ShopError(
                "already_final",
                f"Payment #{payment_id} is already {payment.status}.",
                payment_id=payment_id,
                status=payment.status,
            )
        if amount is not None and amount <= 0:
            raise ShopError("bad_amount", "The amount must be more than zero.")
        await pay(
            payment.provider_payment_id,
            payment.pay_amount,
            amount if amount is not None else payment.pay_amount - payment.actually_paid,
        )
        self.on_change()
        return self.view(payment)

    # --- provider events -----------------------------------------------------------------

    async def handle_webhook(
        self, headers: Mapping[str, str], body: bytes, source: str = "ipn"
    ) -> ApplyResult:
        """Verify, then apply: the one path for IPNs and sandbox events alike."""
        event = self.provider.verify_and_parse_webhook(headers, body)
        return await self.apply_event(event, source)

    async def apply_event(self, event: ProviderEvent, source: str) -> ApplyResult:
        try:
            observed = parse_status(event.status)
        except ValueError:
            from tools.providers.base import WebhookRejected

            raise WebhookRejected(400, f"unknown status {event.status!r}") from None
        now = self.clock()
        async with self.db.transaction() as session:
            payment = await repos.payment_by_provider_id(
                session,
                self.provider.name,
                event.provider_payment_id,
                lock=not self.db.is_sqlite,
            )
            if payment is None:
                await repos.audit(
                    session,
                    now,
                    f"provider:{self.provider.name}",
                    "unknown_payment",
                    event.provider_payment_id,
                    source=source,
                )
                return ApplyResult("unknown_payment")
            fresh = await repos.record_event(
                session,
                payment_id=payment.id,
                provider=self.provider.name,
                dedupe_key=f"{self.provider.name}:{event.dedupe_key}",
                received_at=now,
                source=source,
                old_status=payment.status,
                new_status=observed.value,
                applied=False,
                raw=event.raw[:20000],
            )
            if not fresh:
                return ApplyResult("duplicate", payment.id, payment.status)
            moved = await self.transition(session, payment, observed, event, now)
        if moved:
            self.on_change()
        return ApplyResult("applied" if moved else "ignored", payment.id, payment.status)

    async def transition(
        self,
        session: AsyncSession,
        payment: Payment,
        observed: Status,
        event: ProviderEvent | None,
        now: datetime,
    ) -> bool:
        """Apply one observation to a payment inside the caller's transaction."""
        old = parse_status(payment.status)
        paid = max(event.actually_paid if event else Decimal(0), payment.actually_paid)
        new = effective_status(
            observed, paid, payment.pay_amount, self.settings.underpaid_tolerance
        )
        more_money = new is old is Status.PARTIALLY_PAID and paid > payment.actually_paid
        if not (can_move(old, new) or more_money):
            return False
        values: dict[str, object] = dict(
            status=new.value,
            status_rank=RANK[new],
            actually_paid=paid,
            updated_at=now,
            last_event_at=now,
        )
        late = payment.late or (old is Status.EXPIRED and new in MONEY_SEEN)
        values["late"] = late
        if new in MONEY_SEEN or new in FINAL:
            values["next_check_at"] = None
        if new is Status.EXPIRED:
            values["next_check_at"] = payment.expires_at + self.settings.monitoring
        if new is Status.FINISHED:
            values["paid_at"] = now
            if paid > payment.pay_amount:
                values["surplus"] = paid - payment.pay_amount
        if event is not None and event.outcome_amount is not None:
            values.update(
                outcome_amount=event.outcome_amount, outcome_currency=event.outcome_currency
            )
        if not await repos.compare_and_set_status(
            session, payment.id, payment.status_rank, payment.status, values
        ):
            return False
        for key, value in values.items():
            setattr(payment, key, value)
        await self._mark_event_applied(session, payment, event)
        await self._consequences(session, payment, old, new, now)
        return True

    async def _mark_event_applied(
        self, session: AsyncSession, payment: Payment, event: ProviderEvent | None
    ) -> None:
        if event is None:
            return
        from sqlalchemy import update

        from storage.models import PaymentEvent

        await session.execute(
            update(PaymentEvent)
            .where(PaymentEvent.dedupe_key == f"{self.provider.name}:{event.dedupe_key}")
            .values(applied=True)
        )

    async def _consequences(
        self, session: AsyncSession, p: Payment, old: Status, new: Status, now: datetime
    ) -> None:
        user = await session.get(User, p.user_id)
        locale = (user.locale if user else None) or "en"
        base = {"payment_id": p.id, "plan": p.plan, "coin": p.pay_currency}

        async def tell(kind: str, key: str, **extra: object) -> None:
            await repos.enqueue(
                session,
                chat_platform=p.chat_platform,
                chat_id=p.chat_id,
                user_id=p.user_id,
                kind=kind,
                payload=_jsonable({**base, **extra}),
                locale=locale,
                dedupe_key=f"payment:{p.id}:{key}",
                created_at=now,
            )

        if new is Status.CONFIRMING:
            await tell("payment.confirming", "confirming", amount=p.actually_paid)
        elif new is Status.PARTIALLY_PAID:
            remaining = p.pay_amount - p.actually_paid
            await tell(
                "payment.partial",
                f"partial:{p.actually_paid.normalize()}",
                paid=p.actually_paid,
                asked=p.pay_amount,
                remaining=remaining,
                uri=self.uri(p, remaining),
            )
        elif new is Status.FINISHED:
            await self._finish(session, p, now, tell)
        elif new in (Status.FAILED, Status.REFUNDED, Status.EXPIRED):
            await tell(f"payment.{new.value}", new.value)
        if p.late and new is Status.FINISHED:
            await self._alert(
                session,
                now,
                f"late:{p.id}",
                "alert.late",
                payment_id=p.id,
                paid=p.actually_paid,
                coin=p.pay_currency,
            )

    async def _finish(self, session: AsyncSession, p: Payment, now: datetime, tell) -> None:
        if p.late and not self.settings.activate_late:
            await tell("payment.late_held", "late_held", paid=p.actually_paid)
            return
        plan = self.catalog.plan(p.plan)
        start = now
        for active in await repos.active_activations(session, p.user_id, now):
            if active.plan == plan.code:
                start = max(start, active.period_end)
        end = start + timedelta(days=plan.period_days)
        if await repos.add_activation(
            session,
            payment_id=p.id,
            user_id=p.user_id,
            plan=plan.code,
            period_start=start,
            period_end=end,
            source="payment",
            created_at=now,
        ):
            await tell(
                "payment.activated",
                "activated",
                period_end=end.isoformat(),
                paid=p.actually_paid,
                late=p.late,
            )
        if p.surplus:
            await self._alert(
                session,
                now,
                f"overpaid:{p.id}",
                "alert.overpaid",
                payment_id=p.id,
                surplus=p.surplus,
                coin=p.pay_currency,
            )

    async def _alert(
        self, session: AsyncSession, now: datetime, key: str, kind: str, **payload: object
    ) -> None:
        """Tell every configured operator (their private chat is their user id)."""
        await repos.audit(session, now, "system", kind, key, **_jsonable(payload))
        for platform, ids in self.operators.items():
            for op_id in ids:
                await repos.enqueue(
                    session,
                    chat_platform=platform,
                    chat_id=str(op_id),
                    user_id=None,
                    kind=kind,
                    payload=_jsonable(payload),
                    locale="en",
                    dedupe_key=f"{key}:{platform}:{op_id}",
                    created_at=now,
                )


def _not_found(payment_id: int | None) -> ShopError:
    if payment_id is None:
        return ShopError("no_payments", "You have no payments yet.")
    return ShopError("not_found", f"Payment #{payment_id} was not found.", payment_id=payment_id)


def _jsonable(data: Mapping[str, object]) -> dict[str, object]:
    """Outbox payloads are JSON: money travels as exact strings, never floats."""
    out: dict[str, object] = {}
    for key, value in data.items():
        out[key] = format(value, "f") if isinstance(value, Decimal) else value
    return out
