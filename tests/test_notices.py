"""Every notification the relay can send, in every language: crypto amounts are written the
way wallets read them (a dot, no grouping, every decimal), fiat prices the locale's way."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import load_config
from bot.i18n import _, load_catalogs, load_shop_texts, money, using_locale
from bot.messages import ChatRef, Outgoing
from bot.notices import CUSTOMER_NOTICES, OPERATOR_ALERTS, render_notice
from bot.render import render_card
from tools import cards as c
from tools.catalog import Catalog
from tools.states import Status

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ["en", "de", "es", "fr", "zh", "ja"]
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CHAT = ChatRef("fake", "chat-1")
# amounts with a thousands part and many decimals: any locale formatting would show in them
ASKED = Decimal("1234.99333334")
PAID = Decimal("1000.5")
REMAINING = ASKED - PAID  # 234.49333334
SURPLUS = Decimal("1000.00000001")
OVERPAID = ASKED + SURPLUS  # 2234.99333335
PRICE = Decimal("5678.5")  # fiat, shown the locale's way ("5.678,50 $" in German)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    config = load_config(ROOT / "config.toml", {})
    load_catalogs(LOCALES)
    load_shop_texts(config.texts)
    return Catalog.from_config(config.plans, config.coins, "USD")


def view(catalog: Catalog, status: str = "waiting") -> c.PaymentView:
    return c.PaymentView(
        id=42,
        plan=catalog.plan("pro"),
        coin=catalog.coin("sol"),
        price=PRICE,
        price_currency="USD",
        pay_amount=ASKED,
        pay_address="7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU",
        memo=None,
        status=status,
        actually_paid=PAID if status == "partially_paid" else Decimal(0),
        created_at=NOW - timedelta(minutes=5),
        expires_at=NOW + timedelta(minutes=10),
        late=False,
        uri="solana:7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU?amount=1234.99333334",
        retried_from_id=None,
        actions=("status",),
    )


END = (NOW + timedelta(days=30)).isoformat()
BASE = {"payment_id": 42, "plan": "pro", "coin": "sol"}
# kind → (payload as the code writes it, crypto amounts the customer must read, status)
CASES: dict[str, tuple[dict, list[Decimal], str]] = {
    "payment.card": (BASE, [ASKED], "waiting"),
    "payment.warning": ({**BASE, "offset": 60, "seconds_left": 60}, [ASKED], "waiting"),
    "payment.expired": (BASE, [], "expired"),
    "payment.confirming": ({**BASE, "amount": str(ASKED)}, [ASKED], "confirming"),
    "payment.partial": (
        {**BASE, "paid": str(PAID), "asked": str(ASKED), "remaining": str(REMAINING)},
        [PAID, ASKED, REMAINING],
        "partially_paid",
    ),
    "payment.partial_expired": (
        {
            **BASE,
            "paid": str(PAID),
            "asked": str(ASKED),
            "remaining": str(REMAINING),
            "until": (NOW + timedelta(days=1)).isoformat(),
            "uri": "solana:7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU?amount=234.49333334",
        },
        [PAID, ASKED, REMAINING],
        "partially_paid",
    ),
    "payment.activated": ({**BASE, "period_end": END, "paid": str(ASKED)}, [], "finished"),
    "payment.overpaid": (
        {**BASE, "paid": str(OVERPAID), "asked": str(ASKED), "surplus": str(SURPLUS)},
        [OVERPAID, ASKED, SURPLUS],
        "finished",
    ),
    "payment.late_held": ({**BASE, "paid": str(ASKED)}, [], "finished"),
    "payment.cancelled": (BASE, [], "cancelled"),
    "payment.cancelled_money": ({**BASE, "paid": str(PAID)}, [PAID], "cancelled"),
    "payment.failed": (BASE, [], "failed"),
    "payment.refunded": (BASE, [], "refunded"),
    "plan.granted": ({"plan": "pro", "plan_name": "Pro", "period_end": END}, [], ""),
    "plan.revoked": ({"plan": "pro", "plan_name": "Pro"}, [], ""),
    "plan.reminder": (
        {"plan": "pro", "plan_name": "Pro", "period_end": END, "renew": "/buy pro sol"},
        [],
        "",
    ),
    "plan.lapsed": (
        {"plan": "pro", "plan_name": "Pro", "period_end": END, "renew": "/buy pro sol"},
        [],
        "",
    ),
}
ALERT_VALUES = {  # every field an operator alert may name
    **BASE,
    "paid": str(PAID),
    "asked": str(ASKED),
    "recorded": str(PAID),
    "surplus": str(SURPLUS),
    "status": "expired",
    "customer": 7,
    "resource": "chat -100",
    "problem": "not an administrator",
    "fix": "make the bot an administrator",
    "provider_payment_id": "5077",
    "source": "ipn",
    "until": END,
    "since": END,
    "notice": "payment.warning",
    "chat": "fake:chat-1",
    "error": "blocked",
    "count": 10,
    "provider": "nowpayments",
    "window": 60,
    "sender": "127.0.0.1",
    "seconds": 120,
}


def texts(messages: list[Outgoing]) -> str:
    return "\n".join(
        part for m in messages for part in (m.text, m.html, m.markdown) if part is not None
    )


def assert_wallet_amounts(text: str, amounts: list[Decimal], where: str) -> None:
    for amount in amounts:
        plain = format(amount, "f")
        assert plain in text, f"{where}: {plain} missing in {text!r}"
        whole, _sep, decimals = plain.partition(".")
        assert f"{whole},{decimals}" not in text, where  # no decimal comma
        if len(whole) <= 3:
            continue
        grouped = re.escape(whole[:-3]) + r"[.,\s\u00a0\u202f'’]" + re.escape(whole[-3:])
        assert not re.search(grouped, text), f"{where}: grouped amount in {text!r}"


def test_every_kind_the_code_writes_has_its_own_text() -> None:
    """The kinds written to the outbox by tools/ and bot/ are all rendered here and by the
    relay (none falls back to "Update on payment")."""
    written: set[str] = set()
    for path in [*(ROOT / "tools").rglob("*.py"), *(ROOT / "bot").rglob("*.py")]:
        if "access" in path.parts:  # Standard Webhooks event types, sent as `access.event`
            continue
        written |= set(
            re.findall(r"[\"']((?:payment|plan|alert)\.[a-z_]+)[\"']", path.read_text())
        )
    written |= {f"payment.{s.value}" for s in (Status.FAILED, Status.REFUNDED, Status.EXPIRED)}
    assert written <= set(CUSTOMER_NOTICES) | set(OPERATOR_ALERTS)
    assert set(CASES) == set(CUSTOMER_NOTICES)


@pytest.mark.parametrize("lang", LOCALES)
@pytest.mark.parametrize("kind", CUSTOMER_NOTICES)
def test_customer_notices_write_amounts_to_send_as_wallets_read_them(catalog, kind, lang):
    payload, amounts, status = CASES[kind]
    v = view(catalog, status) if status else None
    with using_locale(lang):
        messages = render_notice(kind, dict(payload), CHAT, v, NOW, card_ref="card-1")
        fallback = _("Update on payment #{id}.").format(id=42)
        price = money(PRICE, "USD")
    assert messages and fallback not in messages[0].text
    text = texts(messages)
    assert_wallet_amounts(text, amounts, f"{kind} in {lang}")
    if v is not None:  # the card edited along with the notice shows the price
        assert price in text  # fiat stays localized: "5.678,50 $" in German
        if lang in ("de", "es", "fr"):
            assert re.search(r"5\D?678,50", price)


@pytest.mark.parametrize("lang", LOCALES)
@pytest.mark.parametrize("kind", sorted(OPERATOR_ALERTS))
def test_operator_alerts_write_exact_amounts(catalog, kind, lang):
    with using_locale(lang):  # the relay renders in the operator's row locale
        (message,) = render_notice(kind, dict(ALERT_VALUES), CHAT, view(catalog), NOW, "card-1")
    assert message.text.startswith("[operator] ")
    for amount in (PAID, ASKED, SURPLUS):
        if f"{amount}" in message.text:
            assert_wallet_amounts(message.text, [amount], kind)


@pytest.mark.parametrize("lang", LOCALES)
def test_sandbox_and_estimate_messages_write_amounts_as_wallets_read_them(catalog, lang):
    plan, coin = catalog.plan("pro"), catalog.coin("sol")
    option = c.CoinOption(coin, ASKED, Decimal("0.01"), PRICE + Decimal("0.01"), 1)
    cards = [
        (
            c.NoticeCard("sandbox_paid", {"payment_id": 42, "amount": str(PAID), "coin": "sol"}),
            [PAID],
        ),
        (c.EstimateCard(plan, option, Decimal("1000.02")), [ASKED, Decimal("1000.02")]),
        (
            c.ErrorCard("below_minimum", {"coin": "sol", "minimum": "1000.02"}),
            [Decimal("1000.02")],
        ),
    ]
    for card, amounts in cards:
        with using_locale(lang):
            text = texts(render_card(card, CHAT, NOW))
        assert_wallet_amounts(text, amounts, f"{type(card).__name__} in {lang}")
