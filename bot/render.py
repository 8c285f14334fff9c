"""Cards and notifications → localized `Outgoing` messages (plain text + QR + buttons).

Everything here runs inside `using_locale(...)`; every customer-facing word goes through `_()`.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.i18n import _, count_in, crypto, duration, listing, money, ngettext, when
from bot.messages import Button, ChatRef, Outgoing
from tools import cards as c
from tools.catalog import Coin
from tools.qr import qr_png
from tools.uris import format_plain

STATUS_LABELS = {
    "waiting": "waiting for payment",
    "confirming": "payment seen, confirming",
    "confirmed": "confirmed",
    "sending": "confirmed, settling",
    "partially_paid": "partially paid",
    "finished": "paid",
    "failed": "failed",
    "refunded": "refunded",
    "expired": "expired",
    "cancelled": "cancelled",
}


def status_label(status: str) -> str:
    label = STATUS_LABELS.get(status)
    return _(label) if label else status


def _status_label_strings() -> None:  # pragma: no cover - only for message extraction
    _("waiting for payment"), _("payment seen, confirming"), _("confirmed")
    _("confirmed, settling"), _("partially paid"), _("paid"), _("failed"), _("refunded")
    _("expired"), _("cancelled")


def payment_buttons(p: c.PaymentView) -> tuple[Button, ...]:
    out = []
    if p.status in ("waiting", "partially_paid"):
        out.append(Button(_("Copy address"), copy=p.pay_address))
        if p.memo:
            out.append(Button(_("Copy memo / tag"), copy=p.memo))
    if "status" in p.actions:
        out.append(Button(_("Check status"), f"/status {p.id}"))
    if "cancel" in p.actions:
        out.append(Button(_("Cancel payment"), f"/cancel {p.id}"))
    if "retry" in p.actions:
        out.append(Button(_("New payment"), f"/retry {p.id}"))
    if "new" in p.actions:
        out.append(Button(_("New payment"), f"/buy {p.plan.code} {p.coin.code}"))
    return tuple(out)


def _left(expires_at: datetime, now: datetime) -> str:
    seconds = max((expires_at - now).total_seconds(), 0)
    return duration(seconds)


class Markup:
    """How the card marks text up: plain text here, HTML in `Html` (Telegram), Discord
    markdown in `Markdown`."""

    def esc(self, text: str) -> str:
        return text

    def b(self, text: str) -> str:
        return self.esc(text)

    def code(self, text: str) -> str:
        return self.esc(text)

    def block(self, text: str) -> str:
        """Something to copy on its own (an address)."""
        return self.code(text)

    def deadline(self, expires_at: datetime, now: datetime) -> str:
        left = _left(expires_at, now)
        template = ngettext(
            "Pay before {deadline} ({left} left).",
            "Pay before {deadline} ({left} left).",
            count_in(left),
        )
        return self.esc(template).format(deadline=self.esc(when(expires_at)), left=self.esc(left))


class Html(Markup):
    def esc(self, text: str) -> str:
        return html.escape(text, quote=False)

    def b(self, text: str) -> str:
        return f"<b>{self.esc(text)}</b>"

    def code(self, text: str) -> str:
        return f"<code>{self.esc(text)}</code>"


class Markdown(Markup):
    """Discord: escaped markdown; the deadline is a timestamp every client shows in its own
    time zone and counts down live (`<t:UNIX:R>`), so the card never goes stale."""

    SPECIAL = re.compile(r"([\\*_~`|<>\[\]#])")

    def esc(self, text: str) -> str:
        return self.SPECIAL.sub(r"\\\1", text)

    def b(self, text: str) -> str:
        return f"**{self.esc(text)}**"

    def code(self, text: str) -> str:
        return f"`{text.replace('`', '')}`"

    def block(self, text: str) -> str:
        return f"```{text.replace('`', '')}```"

    def deadline(self, expires_at: datetime, now: datetime) -> str:
        stamp = int(expires_at.replace(tzinfo=expires_at.tzinfo or UTC).timestamp())
        return self.esc(_("Pay before {deadline} ({countdown}).")).format(
            deadline=f"<t:{stamp}:t>", countdown=f"<t:{stamp}:R>"
        )


PLAIN, HTML, MARKDOWN = Markup(), Html(), Markdown()


def payment_text(
    p: c.PaymentView, now: datetime, *, reused: bool = False, markup: Markup = PLAIN
) -> str:
    """The payment card. Every template and value is escaped for `markup`; the amount and the
    address are code spans (monospace, easy to copy), the title is bold."""
    m = markup
    lines = []
    if reused:
        lines.append(m.esc(_("You already have an open payment for this plan and coin:")))
    lines.append(
        m.b(
            _("Payment #{id} · {plan} plan ({days} days)").format(
                id=p.id, plan=p.plan.name, days=p.plan.period_days
            )
        )
    )
    if p.test:  # right under the title, in bold: a sandbox card is never taken for real
        lines.append(m.b(sandbox_stamp()))
    lines.append(m.esc(_("Status: {status}")).format(status=m.esc(status_label(p.status))))
    lines.append(m.esc(_("Price: {price}")).format(price=m.esc(money(p.price, p.price_currency))))
    if p.status in ("waiting", "partially_paid", "expired", "confirming"):
        amount = p.remaining if p.status == "partially_paid" else p.pay_amount
        lines.append(  # the amount is copied into wallets: always with a dot, every digit
            m.esc(_("Send exactly: {amount} {coin}")).format(
                amount=m.code(format_plain(amount)), coin=m.esc(p.coin.symbol)
            )
        )
        lines.append(
            m.esc(_("Network: {network} (send only on this network)")).format(
                network=m.b(p.coin.network)
            )
        )
        lines.append(m.esc(_("Address: {address}")).format(address=m.block(p.pay_address)))
        if p.memo:
            lines.append(
                m.esc(
                    _("Memo / destination tag: {memo} (required, or the payment is lost)")
                ).format(memo=m.code(p.memo))
            )
    if p.actually_paid:
        lines.append(
            m.esc(_("Received so far: {paid} {coin}")).format(
                paid=m.esc(crypto(p.actually_paid)), coin=m.esc(p.coin.symbol)
            )
        )
    if p.status == "waiting":
        lines.append(m.deadline(p.expires_at, now))
        lines.append(m.esc(_("Send the exact amount; network fees are on you.")))
    elif p.status == "expired":
        lines.append(
            m.esc(_("This quote has expired; do not send money to this address any more."))
        )
    elif p.status == "cancelled":
        lines.append(m.esc(_("You cancelled this payment; do not send money for it any more.")))
    if p.late:
        lines.append(m.esc(_("This payment arrived after its deadline.")))
    return "\n".join(lines)


def sandbox_stamp() -> str:
    """The first line of every sandbox payment card (and notice with a QR code)."""
    return _("🧪 TEST · sandbox payment: no real money. Never send real coins to this address.")


def payment_out(
    target: ChatRef,
    p: c.PaymentView,
    now: datetime,
    *,
    reused: bool = False,
    edit_of: str | None = None,
) -> Outgoing:
    """The payment card in every markup. An edit carries no image: the platform keeps the QR
    it shows (`image_name` says whether the card still shows one)."""
    show_qr = p.status in ("waiting", "partially_paid")
    return Outgoing(
        target=target,
        text=payment_text(p, now, reused=reused),
        html=payment_text(p, now, reused=reused, markup=HTML),
        markdown=payment_text(p, now, reused=reused, markup=MARKDOWN),
        image=qr_png(p.uri) if show_qr and edit_of is None else None,
        image_name=f"payment-{p.id}.png" if show_qr else None,
        buttons=payment_buttons(p),
        edit_of=edit_of,
        payment_id=p.id,
        extra={"status": p.status, **({"uri": p.uri} if show_qr else {})},
    )


def without_picture(message: Outgoing) -> Outgoing:
    """A card (or notice) with a QR code, as text: the payment link the QR carries is written
    out instead, to copy into a wallet (where the platform refused the picture, or the card
    is too long to be a caption)."""
    uri = message.extra.get("uri")
    if not uri:
        return replace(message, image=None, image_name=None)
    line = _("Payment link: {uri}")
    return replace(
        message,
        text=f"{message.text}\n{line.format(uri=uri)}",
        html=message.html and f"{message.html}\n{HTML.esc(line).format(uri=HTML.code(uri))}",
        markdown=message.markdown
        and f"{message.markdown}\n{MARKDOWN.esc(line).format(uri=MARKDOWN.code(uri))}",
        image=None,
        image_name=None,
    )


def error_text(code: str, params: dict[str, Any]) -> str:
    valid = ", ".join(str(v) for v in params.get("valid", []))
    texts = {
        "unknown_plan": _("I don't know the plan “{name}”. Plans: {valid}."),
        "unknown_coin": _("I don't accept “{name}”. Coins: {valid}."),
        "ambiguous_coin": _("“{name}” exists on several networks. Pick one: {valid}."),
        "below_minimum": _(
            "That is under the provider's minimum for {coin}: at least "
            "{minimum} {coin}. Please pick another coin or a bigger plan."
        ),
        "coin_unavailable": _("{coin} is temporarily unavailable. Please pick another coin."),
        "not_found": _("Payment #{payment_id} was not found."),
        "no_payments": _("You have no payments yet. See /plans to get started."),
        "not_retryable": _(
            "Payment #{payment_id} is {status}; only failed or expired payments can be retried."
        ),
        "too_many_open": _(
            "You already have {count} open payments ({ids}). Pay one or let it "
            "expire before starting another."
        ),
        "sandbox_only": _("Paying by command only works with the sandbox provider."),
        "already_final": _("Payment #{payment_id} is already {status}."),
        "bad_amount": _(
            "The amount must be a number greater than zero, at most ten times the "
            "price, with at most {decimals} decimals."
        ),
        "nothing_to_retry": _("You have no failed or expired payment to retry."),
        "nothing_to_pay": _("You have no payment waiting for money. Start one with /buy."),
        "already_paid": _("Payment #{payment_id} is already paid; it is being confirmed."),
        "no_coin": _("No coin can pay for this plan right now. Please try again later."),
        "need_plan": _("Which plan would you like? Plans: {valid}."),
        "need_coin": _("Which coin would you like to pay with? Coins: {valid}."),
        "provider_down": _(
            "The payment provider is not reachable right now. Please try again in a minute."
        ),
        **_cancel_errors(),
    }
    template = texts.get(code, _("Sorry, that did not work. Please try again."))
    values = dict(params)
    values["valid"] = valid
    if "status" in values:
        values["status"] = status_label(str(values["status"]))
    if "ids" in values:
        values["ids"] = ", ".join(f"#{i}" for i in values["ids"])
    if "minimum" in values:
        values["minimum"] = crypto(Decimal(str(values["minimum"])))
    if "coin" in values:
        values["coin"] = str(values["coin"]).upper()
    for key in ("paid", "remaining"):
        if key in values:
            values[key] = crypto(Decimal(str(values[key])))
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return template


def render_card(card: c.Card, target: ChatRef, now: datetime) -> list[Outgoing]:
    match card:
        case c.PaymentCard(payment=p, reused=reused, effect=effect):
            return [_with_note(payment_out(target, p, now, reused=reused), effect_text(effect))]
        case c.StatusCard(payment=p):
            return [payment_out(target, p, now)]
        case c.CancelledCard(payment=p):
            return [_cancelled(p, target)]
        case c.PlansCard():
            return [_plans(card, target)]
        case c.PlanCard():
            return [_user_plan(card, target)]
        case c.CurrenciesCard(coins=coins):
            lines = [_("Coins I accept:")]
            lines += [f"• {coin.code} — {coin_label(coin)}" for coin in coins]
            lines.append(_("Buy with /buy PLAN COIN, e.g. /buy pro sol."))
            return [Outgoing(target, "\n".join(lines))]
        case c.RecommendationCard():
            return [_recommendation(card, target)]
        case c.EstimateCard(plan=plan, option=o, min_amount=minimum):
            text = _(
                "{plan} ({price}) costs {amount} {coin} right now, plus about {fee} network "
                "fee ({network}). Minimum for {coin}: {minimum}."
            ).format(
                plan=plan.name,
                price=money(plan.price, plan.currency),
                amount=crypto(o.pay_amount),
                coin=o.coin.symbol,
                fee=money(o.fee_usd, "USD"),
                network=o.coin.network,
                minimum=crypto(minimum),
            )
            buttons = (
                Button(
                    _("Buy {plan} with {coin}").format(plan=plan.name, coin=o.coin.symbol),
                    f"/buy {plan.code} {o.coin.code}",
                ),
            )
            if card.below_minimum:  # /buy would refuse it: offer the coins that can pay
                text += "\n" + error_text(
                    "below_minimum", {"coin": o.coin.symbol, "minimum": minimum}
                )
                buttons = (
                    Button(
                        _("Which coin for {plan}?").format(plan=plan.name),
                        f"/recommend {plan.code}",
                    ),
                )
            if card.effect is not None:
                text += "\n" + effect_text(card.effect)
            return [Outgoing(target, text, buttons=buttons)]
        case c.HistoryCard():
            return [_history(card, target)]
        case c.ErrorCard(code="need_plan", params=params):
            coin = params.get("coin") or ""
            buttons = tuple(
                Button(p_name, f"/buy {p_name} {coin}" if coin else f"/recommend {p_name}")
                for p_name in params["valid"]
            )
            return [Outgoing(target, error_text("need_plan", params), buttons=buttons)]
        case c.ErrorCard(code="which_to_cancel", params=params):
            buttons = tuple(
                Button(_("Cancel #{id}").format(id=i), f"/cancel {i}") for i in params["ids"]
            )
            return [Outgoing(target, error_text("which_to_cancel", params), buttons=buttons)]
        case c.ErrorCard(code=code, params=params):
            return [Outgoing(target, error_text(code, params))]
        case c.PlanDetailsCard():
            return [_plan_details(card, target)]
        case c.ConfirmTimesCard():
            return [_confirm_times(card, target)]
        case c.AnswerCard():
            return [_answer(card, target)]
        case c.NoticeCard(code="sandbox_paid", params=params):
            text = _(
                "Sandbox: sent {amount} {coin} for payment #{payment_id}. Watch the status "
                "change in a few seconds."
            ).format(
                amount=crypto(Decimal(params["amount"])),
                coin=params["coin"].upper(),
                payment_id=params["payment_id"],
            )
            return [Outgoing(target, text)]
    raise TypeError(f"no renderer for {type(card).__name__}")


def _cancel_errors() -> dict[str, str]:
    """Why a payment could not be cancelled (see `tools.cancels`)."""
    return {
        "nothing_to_cancel": _(
            "You have no open payment to cancel. Plans never renew by themselves, so there "
            "is nothing else to cancel."
        ),
        "which_to_cancel": _(
            "You have several open payments ({ids}). Which one should I cancel? Tap it, or "
            "send /cancel ID."
        ),
        "already_cancelled": _("Payment #{payment_id} is already cancelled."),
        "not_cancellable": _(
            "Payment #{payment_id} is {status}; only a payment still waiting for money can be "
            "cancelled."
        ),
        "cancel_partially_paid": _(
            "Payment #{payment_id} has already received {paid} {coin}, so it cannot be "
            "cancelled: that money would be lost. Send the remaining {remaining} {coin} to "
            "complete it, or contact the shop to sort it out."
        ),
        "cancel_in_flight": _(
            "Money for payment #{payment_id} is already on its way, so it cannot be "
            "cancelled. It completes by itself; check it with /status {payment_id}."
        ),
        "sandbox_cancelled": _(
            "Payment #{payment_id} was cancelled, so the sandbox does not pay it. Start a new "
            "payment with /buy."
        ),
    }


def _cancelled(p: c.PaymentView, target: ChatRef) -> Outgoing:
    """The answer to a cancel: what happened, what not to do, and a fresh start."""
    text = _(
        "🚫 Payment #{id} is cancelled. Do not send money to its address any more. If "
        "money still arrives for it, it is not lost: we will tell you and sort it out."
    ).format(id=p.id)
    again = Button(_("New payment"), f"/buy {p.plan.code} {p.coin.code}")
    return Outgoing(target, text, buttons=(again,))


def _plans(card: c.PlansCard, target: ChatRef) -> Outgoing:
    lines = [_("Plans:")]
    for plan in card.plans:
        mark = " ★" if plan.code == card.current else ""
        lines.append(
            _("• {name}{mark}: {price} per {days} days — {features}").format(
                name=plan.name,
                mark=mark,
                price=money(plan.price, plan.currency),
                days=plan.period_days,
                features=listing(plan.features),
            )
        )
    lines.append(
        _("Buy with /buy PLAN COIN, e.g. /buy pro sol. Not sure which coin? /recommend PLAN")
    )
    buttons = tuple(
        Button(_("Which coin for {plan}?").format(plan=p.name), f"/recommend {p.code}")
        for p in card.plans
    )
    return Outgoing(target, "\n".join(lines), buttons=buttons)


def _plan_details(card: c.PlanDetailsCard, target: ChatRef) -> Outgoing:
    plan = card.plan
    lines = [
        _("{plan}: {price} per {days} days.").format(
            plan=plan.name, price=money(plan.price, plan.currency), days=plan.period_days
        ),
        _("Features: {features}").format(features=listing(plan.features)),
    ]
    if card.current:
        lines.append(_("This is your current plan."))
    pick = Button(_("Which coin for {plan}?").format(plan=plan.name), f"/recommend {plan.code}")
    return Outgoing(
        target, "\n".join(lines), buttons=(pick, Button(_("Plans and prices"), "/plans"))
    )


def _confirm_times(card: c.ConfirmTimesCard, target: ChatRef) -> Outgoing:
    """How long coins take to confirm, and what confirming means."""
    if card.asked is not None:
        lines = [
            _("{coin} payments usually confirm in about {time}.").format(
                coin=card.asked.name, time=duration(card.asked.confirm_minutes * 60)
            )
        ]
    else:
        lines = [_("Typical confirmation times, fastest first:")]
        lines += [f"• {coin.name}: {duration(coin.confirm_minutes * 60)}" for coin in card.coins]
    lines.append(
        _(
            "Confirming means the network has seen your payment and is adding it to its "
            "blocks; your plan starts once the payment is complete. /status shows where your "
            "payment is."
        )
    )
    return Outgoing(target, "\n".join(lines))


def _answer(card: c.AnswerCard, target: ChatRef) -> Outgoing:
    """The fixed answers to everyday questions (`tools.actions.EVERYDAY`)."""
    coins = listing(coin.name for coin in card.coins)
    plans = Button(_("Plans and prices"), "/plans")
    match card.topic:
        case "wrong_amount":
            text = "\n".join(
                [
                    _(
                        "Sent too little? The payment shows as partially paid: send the rest to "
                        "the same address before its deadline. /status shows how much is "
                        "missing and until when."
                    ),
                    _(
                        "Sent too much? Your plan is activated all the same; the extra is "
                        "recorded and the shop is told."
                    ),
                    _(
                        "Sent another coin, or on the wrong network? I cannot see or recover "
                        "it. Please contact the shop with your payment number (see /history); "
                        "whether those coins can be recovered depends on the wallet that "
                        "received them."
                    ),
                ]
            )
            return Outgoing(target, text)
        case "refund":
            text = _(
                "Refunds are handled by the shop, not by me. Please contact the shop, quoting "
                "your payment number from /history."
            )
            return Outgoing(target, text)
        case "payment_methods":
            text = _(
                "We accept cryptocurrency only (no cards, bank transfers or PayPal). "
                "Coins: {coins}."
            ).format(coins=coins)
            return Outgoing(
                target, text, buttons=(plans, Button(_("Coins I accept"), "/currencies"))
            )
    text = _(
        "Sorry, that is not something we sell or accept. This shop sells subscription "
        "plans, paid in cryptocurrency: {coins}."
    ).format(coins=coins)
    return Outgoing(target, text, buttons=(plans,))


def _user_plan(card: c.PlanCard, target: ChatRef) -> Outgoing:
    if card.current is None:
        lines = [_("You have no active plan.")]
    else:
        lines = [
            _("Your plan: {plan}, active until {end}.").format(
                plan=card.current.name, end=when(card.expires_at)
            )
        ]
        lines.append(_("Features: {features}").format(features=listing(card.current.features)))
    buttons: tuple[Button, ...] = ()
    if card.next_plan and card.upgrade_price is not None:
        price = money(card.upgrade_price, card.next_plan.currency)
        if card.current and card.expires_at:  # the full price: nothing is prorated
            lines.append(
                _(
                    "Upgrade to {plan}: {price} for {days} days from payment (the full price; "
                    "your {current} plan runs alongside until {end}, with no credit). "
                    "Adds {features}."
                ).format(
                    plan=card.next_plan.name,
                    price=price,
                    days=card.next_plan.period_days,
                    current=card.current.name,
                    end=when(card.expires_at),
                    features=listing(card.added_features),
                )
            )
        else:
            lines.append(
                _("Start with {plan} for {diff}: {features}.").format(
                    plan=card.next_plan.name, diff=price, features=listing(card.added_features)
                )
            )
        buttons = (
            Button(
                _("Which coin for {plan}?").format(plan=card.next_plan.name),
                f"/recommend {card.next_plan.code}",
            ),
        )
    elif card.current:
        lines.append(_("This is our biggest plan. Thank you!"))
    lines += [_access_line(a) for a in card.access]
    return Outgoing(target, "\n".join(lines), buttons=buttons)


def effect_text(effect: c.PlanEffect | None) -> str:
    """What a purchase does to the plans the customer has, said before they pay."""
    if effect is None:
        return ""
    values = {
        "plan": effect.plan.name,
        "current": effect.current.name,
        "end": when(effect.until),
        "days": effect.plan.period_days,
    }
    if effect.kind == "renewal":
        return _(
            "Renewal: the new {days} days start when your current {plan} plan ends ({end})."
        ).format(**values)
    if effect.kind == "upgrade":
        return _(
            "Upgrade: {plan} starts as soon as this payment completes, at its full price; your "
            "{current} plan runs alongside until {end}, with no credit for its remaining days."
        ).format(**values)
    return _(
        "Note: you have the {current} plan until {end}. {plan} starts as soon as this payment "
        "completes and runs at the same time, not after it: until {end} it adds nothing to "
        "what {current} already gives you."
    ).format(**values)


def _with_note(message: Outgoing, note: str) -> Outgoing:
    """A card with one more line at the end, in each of its markups."""
    if not note:
        return message
    return replace(
        message,
        text=f"{message.text}\n{note}",
        html=message.html and f"{message.html}\n{HTML.esc(note)}",
        markdown=message.markdown and f"{message.markdown}\n{MARKDOWN.esc(note)}",
    )


def _access_line(line: c.AccessLine) -> str:
    if line.kind == "telegram_chat":
        if line.done:
            return _("Private chat: you are in.")
        if line.link:
            return _("Private chat: ask to join with your link {link}").format(link=line.link)
        return _("Private chat: your link is on its way.")
    if line.done:
        return _("Server role: given.")
    return _("Server role: join the server with the invite we sent you, and it is yours.")


def _network_is_name(coin: Coin) -> bool:
    return coin.network.casefold() == coin.name.casefold()


def coin_label(coin: Coin) -> str:
    """A coin with its network ("Tether USDT (ERC20) (Ethereum)"), the network left out when
    it is the coin's own name ("Solana", not "Solana (Solana)")."""
    return coin.name if _network_is_name(coin) else f"{coin.name} ({coin.network})"


def _recommendation(card: c.RecommendationCard, target: ChatRef) -> Outgoing:
    lines = [
        _("Best coins for {plan} ({price}):").format(
            plan=card.plan.name, price=money(card.plan.price, card.plan.currency)
        )
    ]
    for n, o in enumerate(card.options, 1):
        template = (
            _("{n}. {coin}: {amount} {symbol}, about {total} in total, ~{minutes} min to confirm")
            if _network_is_name(o.coin)  # "Solana", not "Solana (Solana)"
            else _(
                "{n}. {coin} ({network}): {amount} {symbol}, about {total} in total, "
                "~{minutes} min to confirm"
            )
        )
        lines.append(
            template.format(
                n=n,
                coin=o.coin.name,
                network=o.coin.network,
                amount=crypto(o.pay_amount),
                symbol=o.coin.symbol,
                total=money(o.total_usd, card.plan.currency),
                minutes=o.confirm_minutes,
            )
        )
    if card.most_expensive is not None and card.savings > 0:
        lines.append(
            _("The best choice saves {savings} compared with {coin}.").format(
                savings=money(card.savings, card.plan.currency), coin=card.most_expensive.name
            )
        )
    if card.below_minimum:
        lines.append(
            _("Under the provider minimum for this plan: {coins}.").format(
                coins=", ".join(x.upper() for x in card.below_minimum)
            )
        )
    buttons = tuple(
        Button(
            _("Pay with {coin}").format(
                coin=o.coin.symbol
                + (f" ({o.coin.network})" if o.coin.symbol != o.coin.name else "")
            ),
            f"/buy {card.plan.code} {o.coin.code}",
        )
        for o in card.options
    )
    return Outgoing(target, "\n".join(lines), buttons=buttons)


def _history(card: c.HistoryCard, target: ChatRef) -> Outgoing:
    if not card.items:
        return Outgoing(target, error_text("no_payments", {}))
    lines = [_("Your last payments:")]
    buttons: list[Button] = []
    for p in card.items:
        lines.append(
            _("#{id} · {date} · {plan} · {amount} {coin} · {status}").format(
                id=p.id,
                date=when(p.created_at),
                plan=p.plan.name,
                amount=crypto(p.pay_amount),
                coin=p.coin.symbol,
                status=status_label(p.status),
            )
        )
        for b in (b for b in payment_buttons(p) if not b.copy):
            buttons.append(Button(f"#{p.id}: {b.label}", b.action))
    lines.append(
        _("{count} successful, {total} spent in total.").format(
            count=card.success_count, total=money(card.total_spent, card.currency)
        )
    )
    return Outgoing(target, "\n".join(lines), buttons=tuple(buttons))
