"""The nine things a customer can ask for, bound to one caller.

Slash commands call these directly; the agent's LangChain tools wrap them. Each returns short
English content for the model and a typed card for the chat adapters. Expected problems come
back as an `ErrorCard` (and the same short text), never as an exception.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, replace
from decimal import Decimal

from tools.caller import Caller
from tools.cards import (
    AnswerCard,
    CancelledCard,
    Card,
    ConfirmTimesCard,
    ErrorCard,
    NoticeCard,
    PaymentView,
    PlanDetailsCard,
    PlanEffect,
)
from tools.clock import Clock
from tools.currencies import CurrencyDesk
from tools.errors import ShopError
from tools.payments import PaymentService
from tools.plans import PlanBook
from tools.uris import format_plain

# everyday questions the offline router recognises (its intent model's `NEW_INTENTS`) and
# `CustomerActions.everyday` answers: read-only, nothing is bought or changed
EVERYDAY = (
    "list_plans",
    "plan_details",
    "confirmation_time",
    "wrong_amount",
    "refund",
    "payment_methods",
    "not_sold",
)
# the fixed answers among them, in the words of the shop's policy (see bot/render.py)
_ANSWERS = {
    "wrong_amount": "Too little: partially paid, send the rest to the same address before the "
    "deadline (/status shows how much). Too much: the plan is activated, the surplus recorded "
    "and the shop told. Wrong coin or network: the bot cannot recover it; contact the shop.",
    "refund": "Refunds are handled by the shop, not by the bot: contact the shop quoting the "
    "payment number from /history.",
    "payment_methods": "Only cryptocurrency is accepted (no cards, bank or PayPal).",
    "not_sold": "The shop sells only its subscription plans, paid in the accepted coins.",
}


@dataclass(frozen=True)
class ToolResult:
    content: str
    card: Card


@dataclass(frozen=True)
class Shop:
    """Everything the actions need; built once by the app."""

    plans: PlanBook
    currencies: CurrencyDesk
    payments: PaymentService
    clock: Clock


def _payment_line(p: PaymentView) -> str:
    return (
        f"#{p.id} {p.plan.name} {format_plain(p.pay_amount)} {p.coin.code} "
        f"({p.coin.network}) status={p.status} paid={format_plain(p.actually_paid)}"
    )


def _effect_line(effect: PlanEffect | None) -> str:
    """For the model: what the purchase does to the plans the customer has (see PlanEffect)."""
    if effect is None:
        return ""
    until = f"{effect.until:%Y-%m-%d}"
    if effect.kind == "renewal":
        return f" Renewal: the new period starts when the current one ends ({until})."
    if effect.kind == "upgrade":
        return (
            f" Upgrade at the full price (no credit): {effect.plan.name} starts when paid; "
            f"{effect.current.name} runs alongside until {until}."
        )
    return (
        f" The customer has the higher {effect.current.name} plan until {until}: "
        f"{effect.plan.name} starts when paid and runs alongside it, not after it."
    )


class CustomerActions:
    def __init__(self, shop: Shop, caller: Caller) -> None:
        self.shop = shop
        self.caller = caller

    async def _run(self, work: Awaitable[tuple[str, Card]]) -> ToolResult:
        try:
            content, card = await work
        except ShopError as exc:
            return ToolResult(f"Error: {exc}", ErrorCard(exc.code, exc.params))
        return ToolResult(content, card)

    async def plans(self) -> ToolResult:
        async def work() -> tuple[str, Card]:
            card = await self.shop.plans.all_plans(self.caller.user_id, self.shop.clock())
            text = "; ".join(f"{p.code}: {p.price} {p.currency}" for p in card.plans)
            return f"Plans: {text}", card

        return await self._run(work())

    async def everyday(self, intent: str, args: dict[str, object]) -> ToolResult | None:
        """The answer to an everyday question (one of `EVERYDAY`); None for any other intent.
        Arguments are the router's (a plan or coin name, validated against the catalog)."""
        plan, coin = args.get("plan"), args.get("coin")
        match intent:
            case "list_plans":
                return await self.plans()
            case "plan_details":
                return await self.plan_details(str(plan) if plan else None)
            case "confirmation_time":
                return await self.confirmation_time(str(coin) if coin else None)
            case "wrong_amount" | "refund" | "payment_methods" | "not_sold":
                coins = (await self.shop.currencies.available()).coins
                names = ", ".join(c.code for c in coins)
                return ToolResult(f"{_ANSWERS[intent]} Coins: {names}.", AnswerCard(intent, coins))
        return None

    async def plan_details(self, plan: str | None) -> ToolResult:
        """One plan's features, price and period; all plans when none (or no known one) was
        named."""
        catalog = self.shop.plans.catalog
        try:
            found = catalog.plan(plan) if plan else None
        except ShopError:
            found = None
        if found is None:
            return await self.plans()
        current, _ = await self.shop.plans.current(self.caller.user_id, self.shop.clock())
        text = (
            f"{found.name}: {found.price} {found.currency} per {found.period_days} days; "
            f"features: {', '.join(found.features)}."
        )
        coins = tuple(coin.code for coin in catalog.coins)
        return ToolResult(text, PlanDetailsCard(found, current == found.code, coins))

    async def confirmation_time(self, coin: str | None) -> ToolResult:
        """How long a coin typically takes to confirm; without one (or an unknown or ambiguous
        one), the accepted coins fastest first."""
        catalog = self.shop.plans.catalog
        try:
            asked = catalog.coin(coin) if coin else None
        except ShopError:
            asked = None
        if asked is not None:
            text = f"{asked.code} usually confirms in about {asked.confirm_minutes} min."
            return ToolResult(text, ConfirmTimesCard((asked,), asked))
        coins = (await self.shop.currencies.available()).coins
        fastest = tuple(sorted(coins, key=lambda c: c.confirm_minutes))
        text = "; ".join(f"{c.code} ~{c.confirm_minutes} min" for c in fastest)
        return ToolResult(f"Typical confirmation times: {text}.", ConfirmTimesCard(fastest))

    async def situation(self) -> str:
        """A few words on the caller for the model's prompt: plan and open payments (only
        the caller's own, and no addresses)."""
        now = self.shop.clock()
        code, end = await self.shop.plans.current(self.caller.user_id, now)
        plan = f"{code} until {end:%Y-%m-%d}" if code and end else "none"
        open_ones = await self.shop.payments.open_payments(self.caller)
        payments = "; ".join(
            f"#{p.id} {p.plan.code} {format_plain(p.remaining)} {p.coin.code} {p.status}, "
            f"due {p.expires_at:%H:%M} UTC"
            for p in open_ones[:3]
        )
        return f"current plan: {plan}; open payments: {payments or 'none'}"

    async def get_user_plan(self) -> ToolResult:
        async def work() -> tuple[str, Card]:
            card = await self.shop.plans.user_plan(self.caller.user_id, self.shop.clock())
            if card.current is None:
                text = "The customer has no active plan."
            else:
                text = f"Current plan {card.current.name}, ends {card.expires_at:%Y-%m-%d}."
            if card.next_plan:
                text += (
                    f" Next plan up: {card.next_plan.name}, {card.upgrade_price} "
                    f"{card.next_plan.currency} (the full price for "
                    f"{card.next_plan.period_days} days from payment; no credit for the "
                    "current plan, which runs alongside)."
                )
            return text, card

        return await self._run(work())

    async def get_available_cryptocurrencies(self) -> ToolResult:
        async def work() -> tuple[str, Card]:
            card = await self.shop.currencies.available()
            return "Accepted: " + ", ".join(f"{c.code} ({c.network})" for c in card.coins), card

        return await self._run(work())

    async def recommend_best_currency(self, plan: str | None = None) -> ToolResult:
        async def work() -> tuple[str, Card]:
            name = plan
            if not name:
                current, _ = await self.shop.plans.current(self.caller.user_id, self.shop.clock())
                name = current or self.shop.plans.catalog.plans[0].code
            card = await self.shop.currencies.recommend(name)
            best = ", ".join(f"{o.coin.code} (total {o.total_usd})" for o in card.options)
            return f"Best coins for {card.plan.name}: {best}; saves {card.savings}.", card

        return await self._run(work())

    async def _effect(self, plan: str) -> PlanEffect | None:
        return await self.shop.plans.effect(self.caller.user_id, plan, self.shop.clock())

    def _require(self, plan: str | None, coin: str | None) -> tuple[str, str]:
        catalog = self.shop.plans.catalog
        if not plan:
            raise ShopError(
                "need_plan",
                f"Which plan? {', '.join(catalog.plan_codes)}",
                valid=catalog.plan_codes,
                coin=coin or "",
            )
        if not coin:
            raise ShopError(
                "need_coin",
                f"Which coin? {', '.join(catalog.coin_codes)}",
                valid=catalog.coin_codes,
                plan=plan,
            )
        return plan, coin

    async def get_payment_estimate(self, plan: str | None, coin: str | None) -> ToolResult:
        if plan and not coin:  # "how much is pro": the price in the shop's currency, and a
            return await self.plan_details(plan)  # tap to pick a coin

        async def work() -> tuple[str, Card]:
            card = await self.shop.currencies.estimate(*self._require(plan, coin))
            card = replace(card, effect=await self._effect(card.plan.code))
            o = card.option
            text = (
                f"{card.plan.name} costs {format_plain(o.pay_amount)} {o.coin.code} "
                f"plus about {o.fee_usd} USD network fee."
            )
            if card.below_minimum:
                text += (
                    f" That is under the provider's minimum of {format_plain(card.min_amount)} "
                    f"{o.coin.code}: it cannot be bought with this coin; suggest another coin."
                )
            return text + _effect_line(card.effect), card

        return await self._run(work())

    async def create_crypto_payment(self, plan: str | None, coin: str | None) -> ToolResult:
        async def work() -> tuple[str, Card]:
            card = await self.shop.payments.create(self.caller, *self._require(plan, coin))
            card = replace(card, effect=await self._effect(card.payment.plan.code))
            verb = "Open payment returned" if card.reused else "Payment created"
            return f"{verb}: {_payment_line(card.payment)}{_effect_line(card.effect)}", card

        return await self._run(work())

    async def retry_failed_payment(self, payment_id: int | None = None) -> ToolResult:
        async def work() -> tuple[str, Card]:
            card = await self.shop.payments.retry(
                self.caller, None if payment_id is None else int(payment_id)
            )
            card = replace(card, effect=await self._effect(card.payment.plan.code))
            return (
                f"New payment created: {_payment_line(card.payment)}{_effect_line(card.effect)}",
                card,
            )

        return await self._run(work())

    async def check_payment_status(self, payment_id: int | None = None) -> ToolResult:
        async def work() -> tuple[str, Card]:
            card = await self.shop.payments.status(
                self.caller, None if payment_id is None else int(payment_id)
            )
            return _payment_line(card.payment), card

        return await self._run(work())

    async def cancel_payment(self, payment_id: int | None = None) -> ToolResult:
        async def work() -> tuple[str, Card]:
            view = await self.shop.payments.cancel(
                self.caller, None if payment_id is None else int(payment_id)
            )
            return f"Payment #{view.id} cancelled; do not send money to it.", CancelledCard(view)

        return await self._run(work())

    async def get_payment_history(self, limit: int = 5) -> ToolResult:
        async def work() -> tuple[str, Card]:
            card = await self.shop.payments.history(self.caller, limit)
            lines = "; ".join(_payment_line(p) for p in card.items) or "no payments"
            return (
                f"{card.success_count} successful, total {card.total_spent} "
                f"{card.currency}. {lines}"
            ), card

        return await self._run(work())

    async def sandbox_pay(self, payment_id: int | None, amount: Decimal | None) -> ToolResult:
        """Sandbox: pay a payment (the latest one waiting for money without an id)."""

        async def work() -> tuple[str, Card]:
            view = await self.shop.payments.sandbox_pay(self.caller, payment_id, amount)
            return f"Sandbox payment sent for #{view.id}", NoticeCard(
                "sandbox_paid",
                {
                    "payment_id": view.id,
                    "amount": format_plain(amount or view.remaining),
                    "coin": view.coin.code,
                },
            )

        return await self._run(work())
