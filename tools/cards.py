"""Typed cards: what a tool shows, before any language or platform is chosen.

Tools return one of these as their artifact; `bot/render.py` turns it into localized text,
a QR image and buttons for each platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tools.catalog import Coin, Plan


@dataclass(frozen=True)
class PaymentView:
    id: int
    plan: Plan
    coin: Coin
    price: Decimal
    price_currency: str
    pay_amount: Decimal
    pay_address: str
    memo: str | None
    status: str
    actually_paid: Decimal
    created_at: datetime
    expires_at: datetime
    late: bool
    uri: str
    retried_from_id: int | None
    actions: tuple[str, ...]  # "status", "cancel", "retry", "new"
    test: bool = False  # made by the sandbox provider: no real money, the card says TEST

    @property
    def remaining(self) -> Decimal:
        return max(self.pay_amount - self.actually_paid, Decimal(0))


@dataclass(frozen=True)
class PlansCard:
    plans: tuple[Plan, ...]
    current: str | None


@dataclass(frozen=True)
class PlanCard:
    current: Plan | None
    expires_at: datetime | None
    next_plan: Plan | None
    upgrade_price: Decimal | None  # the next plan's full price: nothing is prorated
    added_features: tuple[str, ...]
    access: tuple[AccessLine, ...] = ()


@dataclass(frozen=True)
class PlanEffect:
    """What buying `plan` does to the plans the customer already has (see `PlanBook.effect`).

    renewal: the same plan runs until `until`; the new period starts there.
    upgrade: a lower plan runs until `until`; the new one starts at payment, at full price,
      and the lower one runs alongside (no credit).
    alongside: a higher plan runs until `until`; the new lower one starts at payment and runs
      at the same time, not after it.
    """

    kind: str  # renewal, upgrade, alongside
    plan: Plan
    current: Plan
    until: datetime


@dataclass(frozen=True)
class AccessLine:
    """One thing the customer's plan opens, as they see it in /plan."""

    kind: str  # telegram_chat, discord_role, webhook
    link: str | None  # their own join link, while they have not used it
    done: bool  # in the chat, or the role given


@dataclass(frozen=True)
class CurrenciesCard:
    coins: tuple[Coin, ...]


@dataclass(frozen=True)
class CoinOption:
    coin: Coin
    pay_amount: Decimal
    fee_usd: Decimal
    total_usd: Decimal
    confirm_minutes: int


@dataclass(frozen=True)
class RecommendationCard:
    plan: Plan
    options: tuple[CoinOption, ...]  # best first
    savings: Decimal  # best vs the most expensive eligible option
    most_expensive: Coin | None
    below_minimum: tuple[str, ...] = ()


@dataclass(frozen=True)
class EstimateCard:
    plan: Plan
    option: CoinOption
    min_amount: Decimal
    effect: PlanEffect | None = None

    @property
    def below_minimum(self) -> bool:
        """The plan costs less in this coin than the provider accepts: /buy would refuse it
        (the same comparison as the provider's, so no Buy button is offered for it)."""
        return self.option.pay_amount < self.min_amount


@dataclass(frozen=True)
class PaymentCard:
    payment: PaymentView
    reused: bool = False  # an open payment for the same plan and coin was returned
    effect: PlanEffect | None = None  # what it does to the plans the customer has


@dataclass(frozen=True)
class StatusCard:
    payment: PaymentView


@dataclass(frozen=True)
class CancelledCard:
    """The customer's payment was just cancelled."""

    payment: PaymentView


@dataclass(frozen=True)
class HistoryCard:
    items: tuple[PaymentView, ...]
    success_count: int
    total_spent: Decimal
    currency: str


@dataclass(frozen=True)
class ErrorCard:
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NoticeCard:
    """A short message without data of its own (e.g. "sandbox payment sent")."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanDetailsCard:
    """One plan: what it includes, its price and period (an everyday question)."""

    plan: Plan
    current: bool  # the customer's active plan
    coins: tuple[str, ...] = ()  # the codes of the coins it can be paid with


@dataclass(frozen=True)
class ConfirmTimesCard:
    """How long coins typically take to confirm: the one asked about, or the fastest first."""

    coins: tuple[Coin, ...]
    asked: Coin | None = None


@dataclass(frozen=True)
class AnswerCard:
    """A fixed answer to an everyday question (see `tools.actions.EVERYDAY`): `topic` is one
    of wrong_amount, refund, payment_methods, not_sold; `coins` the accepted ones."""

    topic: str
    coins: tuple[Coin, ...] = ()


Card = (
    PlansCard
    | PlanCard
    | CurrenciesCard
    | RecommendationCard
    | EstimateCard
    | PaymentCard
    | StatusCard
    | CancelledCard
    | HistoryCard
    | ErrorCard
    | NoticeCard
    | PlanDetailsCard
    | ConfirmTimesCard
    | AnswerCard
)
