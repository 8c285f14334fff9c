"""Outbox notifications (kind + payload) → localized `Outgoing` messages."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.i18n import _, crypto, duration, when
from bot.messages import Button, ChatRef, Outgoing
from bot.render import payment_out
from tools.cards import PaymentView
from tools.qr import qr_png

OPERATOR_ALERTS = {
    "alert.late": "late payment #{id}: {paid} {coin} arrived after the deadline",
    "alert.overpaid": "payment #{id} overpaid by {surplus} {coin}",
    "alert.extra_money": "payment #{id} is {status}, but the provider reports {paid} {coin} "
    "paid (recorded: {recorded}); check it",
    "alert.unfinished": "payment #{id} left its monitoring window as {status}: {paid} of "
    "{asked} {coin} received; check it",
    "alert.closed_with_money": "payment #{id} is {status} after {paid} {coin} arrived; check "
    "whether it was returned",
    "alert.unknown_status": "provider payment {provider_payment_id} reported the unknown "
    "status {status!r} ({source}); nothing was changed",
}


def render_notice(
    kind: str,
    payload: dict[str, Any],
    target: ChatRef,
    view: PaymentView | None,
    now: datetime,
    card_ref: str | None = None,
) -> list[Outgoing]:
    """The short new message for a notification, plus an in-place edit of the payment card."""
    pid = payload.get("payment_id")
    coin = view.coin.symbol if view else str(payload.get("coin", "")).upper()
    status_button = (Button(_("Check status"), f"/status {pid}"),)
    retry_button = (Button(_("New payment"), f"/retry {pid}"),)
    out: Outgoing
    if kind == "payment.warning":
        left = duration(max(int(payload.get("seconds_left", 0)), 0))
        amount = crypto(view.pay_amount) if view else ""
        out = Outgoing(
            target,
            _("⏳ Payment #{id}: {left} left to send {amount} {coin}.").format(
                id=pid, left=left, amount=amount, coin=view.coin.symbol if view else coin
            ),
            buttons=status_button,
        )
    elif kind == "payment.expired":
        out = Outgoing(
            target,
            _(
                "⌛ Payment #{id} expired: its quote is no longer valid, so do "
                "not send money to its address. Tap “New payment” for a fresh "
                "quote."
            ).format(id=pid),
            buttons=retry_button,
        )
    elif kind == "payment.confirming":
        out = Outgoing(
            target,
            _(
                "🔎 Payment #{id}: we see {amount} {coin} on the chain and are "
                "waiting for confirmations."
            ).format(id=pid, amount=crypto(Decimal(payload["amount"])), coin=coin),
            buttons=status_button,
        )
    elif kind == "payment.partial":
        text = _(
            "⚠️ Payment #{id}: received {paid} of {asked} {coin}. Send {remaining} {coin} "
            "more to the same address to complete it."
        ).format(
            id=pid,
            paid=crypto(Decimal(payload["paid"])),
            asked=crypto(Decimal(payload["asked"])),
            remaining=crypto(Decimal(payload["remaining"])),
            coin=coin,
        )
        uri = str(payload.get("uri", ""))
        out = Outgoing(
            target,
            text,
            image=qr_png(uri) if uri else None,
            image_name=f"payment-{pid}-rest.png",
            buttons=status_button,
            extra={"uri": uri} if uri else {},
        )
    elif kind == "payment.activated":
        end = datetime.fromisoformat(payload["period_end"])
        out = Outgoing(
            target,
            _(
                "✅ Payment #{id} is complete. Your {plan} plan is active until {end}. Thank you!"
            ).format(id=pid, plan=view.plan.name if view else payload.get("plan"), end=when(end)),
        )
    elif kind == "payment.late_held":
        out = Outgoing(
            target,
            _(
                "Payment #{id} arrived after its deadline. An operator will check "
                "it and get back to you."
            ).format(id=pid),
        )
    elif kind == "payment.failed":
        out = Outgoing(
            target,
            _("❌ Payment #{id} failed. You can start a new one.").format(id=pid),
            buttons=retry_button,
        )
    elif kind == "payment.refunded":
        again = (Button(_("New payment"), f"/buy {payload.get('plan')} {payload.get('coin')}"),)
        out = Outgoing(target, _("↩️ Payment #{id} was refunded.").format(id=pid), buttons=again)
    elif kind in OPERATOR_ALERTS:  # operators read English (DESIGN: operator text may stay so)
        out = Outgoing(
            target,
            "[operator] "
            + OPERATOR_ALERTS[kind].format(
                id=pid, coin=coin, **{k: v for k, v in payload.items() if k != "coin"}
            ),
        )
    else:
        out = Outgoing(target, _("Update on payment #{id}.").format(id=pid))
    result = [out]
    if view is not None and card_ref:
        result.append(payment_out(target, view, now, edit_of=card_ref))
    return result
