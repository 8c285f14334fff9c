"""A whole purchase in each language: buy, be warned, pay through signed NOWPayments IPNs,
be confirmed, read the history — and not one English sentence on the way.

Names and IPN fields carry non-ASCII text, so the signature path is shown to be unaffected.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import func, select

from bot.adapters.fake import FakeAdapter
from bot.app import App
from bot.i18n import LOCALES_DIR
from storage.models import Activation, Payment
from tests.conftest import ManualClock, free_port, nowpayments_config
from tests.helpers import payment_id_in, settle

NAMES = {
    "de": "Jürgen Groß",
    "es": "José Núñez",
    "fr": "Zoé Lefèvre",
    "zh": "王小明",
    "ja": "山田太郎",
}
WANT_PRO_WITH_SOL = {  # free text, understood by the offline router
    "de": "ich möchte pro mit sol kaufen",
    "es": "quiero comprar pro con sol",
    "fr": "je voudrais acheter pro avec sol",
    "zh": "我想用sol买pro",
    "ja": "proプランをsolで買いたい",
}
PLACEHOLDER = re.compile(r"\{\w*\}")


def english_fragments(lang: str) -> set[str]:
    """Pieces of English source text (between placeholders, three words or more) that the
    language's catalog translates: none of them may reach a customer of that language."""
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "paybot.po").open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    fragments = set()
    for message in catalog:
        source = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not source or source in strings:
            continue
        for piece in PLACEHOLDER.split(source):
            piece = piece.strip(" .,:;!?()–—·\n")
            if len(piece.split()) >= 3 and not any(piece in text for text in strings):
                fragments.add(piece)
    return fragments


@pytest.fixture
async def shop(db_url: str, nowpayments, clock: ManualClock):
    fake = FakeAdapter()
    config = nowpayments_config(db_url, nowpayments.url, free_port())
    app = App(config, adapters=[fake], clock=clock)
    await app.start(background=False)
    await app.webhooks.start()
    yield app, fake
    await app.stop()


@pytest.mark.parametrize("lang", ["de", "es", "fr", "zh", "ja"])
async def test_a_whole_purchase_in_the_customers_language(shop, nowpayments, clock, lang):
    app, fake = shop
    user = f"user-{lang}"

    async def say(text: str) -> list:
        return await fake.say(text, user=user, name=NAMES[lang], locale=lang)

    await say("/start")
    (asked,) = [m for m in await say(WANT_PRO_WITH_SOL[lang]) if m.payment_id]
    assert "SOL" in asked.text and "Pro" in asked.text
    (card,) = [m for m in await say("/buy pro xrp") if m.payment_id]
    pid = payment_id_in(card.text)
    async with app.db.sessions() as session:
        payment = await session.get(Payment, pid)
    # the amount to pay keeps every decimal and a dot in every language: it is copied
    assert format(payment.pay_amount, "f") in card.text and payment.payin_extra_id in card.text
    await settle(app, clock, 10 * 60 + 1, step=30)  # the 5-minute warning arrives
    remote = int(payment.provider_payment_id)
    hook = f"http://127.0.0.1:{app.config.webhooks.port}/webhooks/nowpayments"
    paid = Decimal(str(nowpayments.payments[remote].body["pay_amount"]))
    for status in ("confirming", "finished"):
        nowpayments.set_state(remote, status, paid)
        body = nowpayments.ipn_body(
            remote, status, paid, customer_note=f"{NAMES[lang]} ✓ 支払い — café"
        )
        assert await nowpayments.send_ipn(remote, body, url=hook) == 200
    await settle(app, clock)
    await say("/history")
    await say("/plans")  # every plan's features
    (mine,) = await say("/plan")  # the customer's plan and what the next one adds
    assert mine.text.count("\n") >= 2
    async with app.db.sessions() as session:
        assert (await session.get(Payment, pid)).status == "finished"
        activations = await session.scalar(
            select(func.count()).select_from(Activation).where(Activation.payment_id == pid)
        )
    assert activations == 1
    texts = [m.text for m in fake.sent if m.target.chat_id == user]
    kinds = {
        "warning": "⏳",
        "confirming": "🔎",
        "activated": "✅",
    }
    for kind, mark in kinds.items():
        assert any(t.startswith(mark) for t in texts), f"no {kind} notice"
    english = english_fragments(lang) | {f for p in app.config.plans.values() for f in p.features}
    leaked = [(f, t) for t in texts for f in english if f in t]
    assert leaked == []
