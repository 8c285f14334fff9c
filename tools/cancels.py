"""A customer cancels a payment they no longer want (one unit of work, under the locks).

Only a payment still `waiting` for money can be cancelled, and only by its owner (someone
else's id reads exactly like a missing one). A payment where money was already seen
(`partially_paid`, `confirming`, `confirmed`, `sending`) is refused: the money is there or on
its way, and cancelling would only hide it; the customer is told to complete it (or that it
completes by itself). Finished, failed, refunded and expired payments are over already.

The move is the same compare-and-set as a provider event's, taken in the one lock order
(customer, then payment): a payment event racing the cancel either lands first (the cancel
is refused) or after it (the money is a late payment, see `tools.transitions`); never both
lost. The cancel is recorded as a `customer` event in the payment's story, the countdown
stops (`next_check_at` moves to the end of the monitoring window, where the sweeper drops
it quietly), the reconciliation poller keeps reading it like an expired payment until then,
and the payment no longer takes one of the customer's open-payment slots. A `payment.cancelled`
outbox row updates the payment's card in its chat.

Neither provider can cancel a payment: NOWPayments has no such endpoint, and the sandbox
simply refuses to pay a cancelled one (`PaymentService.sandbox_pay`). The address is no
longer shown or watched as a payment of ours; money that still reaches it is kept.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import writes
from storage.models import Payment
from storage.repos import MAX_ID
from tools.errors import ShopError
from tools.money import jsonable
from tools.policy import PaymentSettings, next_poll
from tools.states import IN_FLIGHT, RANK, Status, parse_status

SOURCE = "customer"  # the payment event's source: the customer cancelled it


def _open_of(session: Session, user_id: int, now: datetime) -> list[Payment]:
    """The customer's payments still open (purchases, not top-ups), oldest first."""
    rows = session.scalars(
        select(Payment)
        .where(
            Payment.user_id == user_id,
            Payment.parent_payment_id.is_(None),
            Payment.status.in_(
                [Status.WAITING.value, Status.PARTIALLY_PAID.value, *(s.value for s in IN_FLIGHT)]
            ),
        )
        .order_by(Payment.id)
    ).all()
    return [p for p in rows if p.status != Status.WAITING or p.expires_at > now]


def choose(session: Session, user_id: int, now: datetime) -> int:
    """`/cancel` without an id: the customer's one open payment; a clear refusal when there
    is none, or a question when several are waiting (cancelling cannot be undone)."""
    open_ones = _open_of(session, user_id, now)
    waiting = [p for p in open_ones if p.status == Status.WAITING]
    if len(waiting) > 1:
        raise ShopError(
            "which_to_cancel",
            "Several payments are open; say which one to cancel: "
            + ", ".join(f"#{p.id}" for p in waiting),
            ids=[p.id for p in waiting],
        )
    if waiting:
        return waiting[0].id
    if open_ones:  # money seen on them: the refusal explains it
        return open_ones[-1].id
    raise ShopError("nothing_to_cancel", "There is no open payment to cancel.")


def cancel(
    session: Session,
    user_id: int,
    payment_id: int | None,
    now: datetime,
    settings: PaymentSettings,
    locale: str,
) -> Payment:
    """Cancel the caller's payment inside the caller's transaction; raises `ShopError` (and
    changes nothing) when it is not theirs or no longer waiting."""
    writes.lock_customer(session, user_id)
    if payment_id is None:
        payment_id = choose(session, user_id, now)
    payment = writes.lock_payment(session, payment_id) if 0 < payment_id <= MAX_ID else None
    if payment is None or payment.user_id != user_id:
        raise ShopError(
            "not_found", f"Payment #{payment_id} was not found.", payment_id=payment_id
        )
    for _ in range(3):
        _check(payment)
        values: dict[str, object] = dict(
            status=Status.CANCELLED.value,
            status_rank=RANK[Status.CANCELLED],
            updated_at=now,
            # the countdown stops; watched for late money until the monitoring window ends
            next_check_at=payment.expires_at + settings.monitoring,
            next_poll_at=next_poll(Status.CANCELLED, now, payment.expires_at, settings),
        )
        old = payment.status
        if writes.compare_and_set_status(session, payment, values):
            break
        session.refresh(payment)  # an event moved it meanwhile (SQLite): judge it again
    else:
        raise RuntimeError(f"payment {payment.id} kept changing under a cancel")
    session.refresh(payment)
    writes.record_event(
        session,
        payment_id=payment.id,
        provider=payment.provider,
        dedupe_key=f"{payment.provider}:cancel:{payment.id}",
        received_at=now,
        source=SOURCE,
        old_status=old,
        new_status=Status.CANCELLED.value,
        applied=True,
        raw="",
    )
    writes.enqueue(  # the card in its chat shows it cancelled (no address, no countdown)
        session,
        chat_platform=payment.chat_platform,
        chat_id=payment.chat_id,
        user_id=payment.user_id,
        kind="payment.cancelled",
        payload=jsonable(
            {"payment_id": payment.id, "plan": payment.plan, "coin": payment.pay_currency}
        ),
        locale=locale,
        dedupe_key=f"payment:{payment.id}:cancelled",
        created_at=now,
    )
    return payment


def _check(payment: Payment) -> None:
    status = parse_status(payment.status)
    params: dict[str, object] = {"payment_id": payment.id, "status": status.value}
    if payment.parent_payment_id is not None:  # a top-up belongs to its purchase
        raise ShopError(
            "not_cancellable", f"Payment #{payment.id} is a top-up of another one.", **params
        )
    if status is Status.CANCELLED:
        raise ShopError("already_cancelled", f"Payment #{payment.id} is cancelled.", **params)
    if status is Status.PARTIALLY_PAID:
        raise ShopError(
            "cancel_partially_paid",
            f"Payment #{payment.id} has already received {payment.actually_paid} "
            f"{payment.pay_currency}; it cannot be cancelled. Send the rest or contact the shop.",
            paid=payment.actually_paid,
            remaining=max(payment.pay_amount - payment.actually_paid, Decimal(0)),
            coin=payment.pay_currency,
            **params,
        )
    if status in IN_FLIGHT:
        raise ShopError(
            "cancel_in_flight",
            f"Money for payment #{payment.id} is already on its way; it cannot be cancelled.",
            **params,
        )
    if status is not Status.WAITING:
        raise ShopError(
            "not_cancellable",
            f"Payment #{payment.id} is {status.value}; only a payment waiting for money can be "
            "cancelled.",
            **params,
        )
