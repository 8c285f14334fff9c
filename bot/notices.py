"""Outbox notifications (kind + payload) → localized `Outgoing` messages: payment notices
(with an in-place edit of the payment card), plan reminders and lapses, operator alerts."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.i18n import _, count_in, crypto, duration, ngettext, time_until, when
from bot.messages import Button, ChatRef, Outgoing
from bot.render import payment_out, sandbox_stamp
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
    "alert.reversed_after_finish": "payment #{id} finished ({paid} {coin}, plan {plan}) but "
    "the provider now reports it {status}; the plan stays active: revoke it with /admin "
    "revoke if the money is gone",
    "alert.access_refused": "access for customer {customer} to {resource} was refused: "
    "{problem}. Fix: {fix} (paybot tries again every few minutes)",
    "alert.unknown_status": "provider payment {provider_payment_id} reported the unknown "
    "status {status!r} ({source}); nothing was changed",
    "alert.partial_expired": "payment #{id} expired partially paid: {paid} of {asked} {coin} "
    "received; the customer can still top up until {until}",
    "alert.dead_notice": "a {notice} notification to {chat}{about} was given up: {error}",
    "alert.bad_signatures": "{count} {provider} webhooks with a missing or bad signature in "
    "{window} s, the last from {sender}; check the IPN secret, or someone is probing",
    "alert.provider_down": "the payment provider {provider} has been unreachable since "
    "{since}; last error: {error}",
    "alert.provider_up": "the payment provider {provider} answers again (unreachable since "
    "{since}, {seconds} s)",
    "alert.cancelled_money": "payment #{id} was cancelled by its customer, but {paid} {coin} "
    "arrived for it (now {status}); it is handled as a late payment: check it",
}


# what the relay can tell a customer (besides `OPERATOR_ALERTS` and `access.*` effects)
CUSTOMER_NOTICES = (
    "payment.card",
    "payment.warning",
    "payment.expired",
    "payment.confirming",
    "payment.partial",
    "payment.partial_expired",
    "payment.activated",
    "payment.overpaid",
    "payment.late_held",
    "payment.cancelled",
    "payment.cancelled_money",
    "payment.failed",
    "payment.refunded",
    "plan.granted",
    "plan.revoked",
    "plan.reminder",
    "plan.lapsed",
)


def operator_text(kind: str, payload: dict[str, Any], pid: object, coin: str) -> str:
    """An operator alert in English: times as UTC, the payment named only when there is one."""
    values = {k: v for k, v in payload.items() if k != "coin"}
    for key in ("until", "since"):
        if isinstance(values.get(key), str):
            with contextlib.suppress(ValueError):
                moment = datetime.fromisoformat(values[key]).astimezone(UTC)
                values[key] = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    values["about"] = f" about payment #{pid}" if pid else ""
    return "[operator] " + OPERATOR_ALERTS[kind].format(id=pid, coin=coin, **values)


def render_notice(
    kind: str,
    payload: dict[str, Any],
    target: ChatRef,
    view: PaymentView | None,
    now: datetime,
    card_ref: str | None = None,
) -> list[Outgoing]:
    """The short new message for a notification, plus an in-place edit of the payment card.
    `payment.card` is the payment's card itself, made again from the payment (one whose
    direct answer could not be sent)."""
    pid = payload.get("payment_id")
    if kind == "payment.card":
        return [payment_out(target, view, now)] if view is not None else []
    if kind == "payment.cancelled":  # the customer was answered; only the card changes
        return [payment_out(target, view, now, edit_of=card_ref)] if view and card_ref else []
    coin = view.coin.symbol if view else str(payload.get("coin", "")).upper()
    status_button = (Button(_("Check status"), f"/status {pid}"),)
    retry_button = (Button(_("New payment"), f"/retry {pid}"),)
    out: Outgoing
    if kind == "payment.warning":
        left = duration(max(int(payload.get("seconds_left", 0)), 0))
        amount = crypto(view.pay_amount) if view else ""
        template = ngettext(  # the words agree with the number: "queda 1 minuto"
            "⏳ Payment #{id}: {left} left to send {amount} {coin}.",
            "⏳ Payment #{id}: {left} left to send {amount} {coin}.",
            count_in(left),
        )
        out = Outgoing(
            target,
            template.format(
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
        if view is not None and view.test:  # the QR again: marked like the card
            text = f"{text}\n{sandbox_stamp()}"
        uri = str(payload.get("uri", ""))
        out = Outgoing(
            target,
            text,
            image=qr_png(uri) if uri else None,
            image_name=f"payment-{pid}-rest.png",
            buttons=status_button,
            extra={"uri": uri} if uri else {},
        )
    elif kind == "payment.partial_expired":
        out = _partial_expired(payload, target, pid, coin, status_button)
    elif kind == "payment.overpaid":
        out = Outgoing(
            target,
            _(
                "💰 Payment #{id}: {paid} {coin} arrived, {surplus} {coin} more than the "
                "{asked} {coin} asked. Your plan is active; the extra is recorded and the shop "
                "has been told about it, so there is nothing you need to do."
            ).format(
                id=pid,
                paid=crypto(Decimal(payload["paid"])),
                asked=crypto(Decimal(payload["asked"])),
                surplus=crypto(Decimal(payload["surplus"])),
                coin=coin,
            ),
        )
    elif kind == "payment.activated":
        end = datetime.fromisoformat(payload["period_end"])
        out = Outgoing(
            target,
            _(
                "✅ Payment #{id} is complete. Your {plan} plan is active until {end}. Thank you!"
            ).format(id=pid, plan=view.plan.name if view else payload.get("plan"), end=when(end)),
        )
    elif kind == "payment.cancelled_money":
        out = Outgoing(
            target,
            _(
                "💡 Payment #{id} was cancelled, but {paid} {coin} arrived for it after all. "
                "It is not lost: we handle it as a late payment, and the shop has been told."
            ).format(id=pid, paid=crypto(Decimal(payload["paid"])), coin=coin),
            buttons=status_button,
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
    elif kind == "plan.granted":
        out = Outgoing(
            target,
            _("🎁 We gave you the {plan} plan until {end}. Enjoy!").format(
                plan=payload.get("plan_name") or payload.get("plan"),
                end=when(datetime.fromisoformat(payload["period_end"])),
            ),
        )
    elif kind == "plan.revoked":
        out = Outgoing(
            target,
            _(
                "Your {plan} plan was ended by the shop. If you think this is a mistake, "
                "please contact us."
            ).format(plan=payload.get("plan_name") or payload.get("plan")),
        )
    elif kind in ("plan.reminder", "plan.lapsed"):
        out = _plan_notice(kind, payload, target, now)
    elif kind in OPERATOR_ALERTS:  # operators read English (DESIGN: operator text may stay so)
        return [Outgoing(target, operator_text(kind, payload, pid, coin))]  # no card edit
    else:
        out = Outgoing(target, _("Update on payment #{id}.").format(id=pid))
    result = [out]
    if view is not None and card_ref:
        result.append(payment_out(target, view, now, edit_of=card_ref))
    return result


def _plan_notice(kind: str, payload: dict[str, Any], target: ChatRef, now: datetime) -> Outgoing:
    """A plan is about to end, or has ended; the Renew button (when the plan is still sold)
    runs the same command as typing it, which creates a payment for the same plan."""
    plan = payload.get("plan_name") or payload.get("plan")
    renew = str(payload.get("renew") or "")
    end = datetime.fromisoformat(payload["period_end"])
    if kind == "plan.reminder":
        text = _("🔔 Your {plan} plan ends on {date} ({left}).").format(
            plan=plan, date=when(end), left=time_until((end - now).total_seconds())
        )
        if renew:
            text += " " + _("Renew now to keep it without a gap.")
    else:
        text = _("⌛ Your {plan} plan has ended.").format(plan=plan)
        if renew:
            text += " " + _("Tap “Renew” to get it back.")
    buttons = (Button(_("Renew"), renew),) if renew else ()
    return Outgoing(target, text, buttons=buttons)


def _partial_expired(
    payload: dict[str, Any], target: ChatRef, pid: object, coin: str, buttons: tuple[Button, ...]
) -> Outgoing:
    """A partly paid payment reached its deadline (or its monitoring window ended): what
    arrived, what is missing, that the money is recorded, and what happens next."""
    amounts = {
        "id": pid,
        "paid": crypto(Decimal(payload["paid"])),
        "asked": crypto(Decimal(payload["asked"])),
        "remaining": crypto(Decimal(payload["remaining"])),
        "coin": coin,
    }
    text = _(
        "⌛ Payment #{id} reached its deadline partly paid: {paid} of {asked} {coin} arrived, "
        "{remaining} {coin} is missing. Your money is recorded."
    ).format(**amounts)
    until = payload.get("until")
    uri = str(payload.get("uri") or "")
    if until:
        text += " " + _(
            "Send the missing {remaining} {coin} to the same address before {until} and the "
            "payment completes. Otherwise the shop, which has been told, will contact you about "
            "the money received."
        ).format(until=when(datetime.fromisoformat(until)), **amounts)
    else:
        text += " " + _(
            "The payment can no longer be completed; the shop has been told and will contact "
            "you about the money received."
        )
        uri = ""
    return Outgoing(
        target,
        text,
        image=qr_png(uri) if uri else None,
        image_name=f"payment-{pid}-rest.png" if uri else None,
        buttons=buttons,
        extra={"uri": uri} if uri else {},
    )
