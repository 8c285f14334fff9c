"""Snapshots of payments for cards, with their payment link and the actions that fit."""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

from storage.models import Payment
from tools.cards import PaymentView
from tools.catalog import Catalog
from tools.states import Status, parse_status
from tools.uris import payment_uri

ACTIONS: dict[Status, tuple[str, ...]] = {
    Status.WAITING: ("status", "cancel"),
    Status.CONFIRMING: ("status",),
    Status.CONFIRMED: ("status",),
    Status.SENDING: ("status",),
    Status.PARTIALLY_PAID: ("status",),
    Status.FINISHED: (),
    Status.FAILED: ("retry",),
    Status.EXPIRED: ("retry",),
    Status.REFUNDED: ("new",),
    Status.CANCELLED: ("new",),
}


def payment_link(catalog: Catalog, p: Payment, amount: Decimal) -> str:
    """The wallet URI (BIP21, EIP-681, Solana Pay, ...) for sending `amount` to the payment."""
    coin = catalog.coin(p.pay_currency)
    if amount <= 0:
        amount = p.pay_amount
    # a remainder finer than the coin can carry is rounded up: never ask for too little
    amount = amount.quantize(Decimal(1).scaleb(-coin.decimals), rounding=ROUND_UP)
    return payment_uri(
        scheme=coin.uri_scheme,
        address=p.pay_address,
        amount=amount,
        decimals=coin.decimals,
        chain_id=coin.chain_id,
        token_contract=coin.token_contract,
        memo=p.payin_extra_id if coin.needs_memo else None,
        label=f"TEST payment {p.id}" if is_test(p) else f"Payment {p.id}",
    )


def is_test(p: Payment) -> bool:
    """A sandbox payment: simulated, its address unusable on any real network."""
    return p.provider == "sandbox"


def payment_view(catalog: Catalog, p: Payment) -> PaymentView:
    status = parse_status(p.status)
    remaining = max(p.pay_amount - p.actually_paid, Decimal(0))
    return PaymentView(
        id=p.id,
        plan=catalog.plan(p.plan),
        coin=catalog.coin(p.pay_currency),
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
        uri=payment_link(
            catalog, p, remaining if status is Status.PARTIALLY_PAID else p.pay_amount
        ),
        retried_from_id=p.retried_from_id,
        actions=ACTIONS[status],
        test=is_test(p),
    )
