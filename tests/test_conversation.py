"""Commands and bad input through the fake adapter: short answers, no crashes, no changes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import App
from bot.conversation import clean_text
from storage.models import Payment
from tests.conftest import make_config
from tests.helpers import buy, payment_id_in, settle


async def _payments(app) -> int:
    async with app.db.sessions() as session:
        return (await session.execute(select(func.count()).select_from(Payment))).scalar_one()


async def test_unknown_plan_and_coin_list_the_valid_ones(app, fake) -> None:
    reply = await fake.say("/buy platinum sol")
    assert "platinum" in reply[0].text and "starter, pro, business" in reply[0].text
    reply = await fake.say("/buy pro dogecoin")
    assert "dogecoin" in reply[0].text and "btc" in reply[0].text and "usdttrc20" in reply[0].text
    reply = await fake.say("/buy pro usdt")
    assert "usdttrc20, usdterc20" in reply[0].text
    assert await _payments(app) == 0


async def test_under_the_minimum_names_the_minimum(app, fake) -> None:
    reply = await fake.say("/buy starter btc")
    assert "0.0008 BTC" in reply[0].text
    assert await _payments(app) == 0


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("/buy", "/buy PLAN COIN"),
        ("/buy pro", "/buy PLAN COIN"),
        ("/retry", "no failed or expired payment to retry"),
        ("/retry abc", "/retry [PAYMENT_ID]"),
        ("/status x y", "/status [PAYMENT_ID]"),
        ("/estimate pro", "/estimate PLAN COIN"),
        ("/pay 1 -5", "/pay [PAYMENT_ID [AMOUNT]]"),
        ("/pay 1 lots", "/pay [PAYMENT_ID [AMOUNT]]"),
        ("/pay", "no payment waiting for money"),
        ("/history 0", "/history [COUNT]"),
        ("/language", "/language CODE"),
        ("/language xx", "Languages: en, de"),
    ],
)
async def test_malformed_commands_get_their_usage(app, fake, command, usage) -> None:
    reply = await fake.say(command)
    assert usage in reply[0].text


async def test_unknown_command_gets_help(app, fake) -> None:
    reply = await fake.say("/frobnicate")
    assert "Unknown command /frobnicate" in reply[0].text and "/buy PLAN COIN" in reply[0].text


async def test_retry_of_a_payment_that_is_not_failed_says_why(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    reply = await fake.say(f"/retry {pid}")
    assert "only failed or expired payments can be retried" in reply[0].text
    assert await _payments(app) == 1


async def test_same_plan_and_coin_returns_the_open_payment(app, fake) -> None:
    first = await buy(fake, "/buy pro sol")
    reply = await fake.say("/buy pro sol")
    assert f"#{first}" in reply[0].text and "already have an open payment" in reply[0].text
    assert await _payments(app) == 1


async def test_open_payment_limit(app, fake) -> None:
    for coin in ("sol", "eth", "ltc"):
        await buy(fake, f"/buy pro {coin}")
    reply = await fake.say("/buy pro trx")
    assert "already have 3 open payments" in reply[0].text
    assert await _payments(app) == 3


async def test_language_choice_sticks_and_beats_the_hint(app, fake) -> None:
    reply = await fake.say("/language de")
    assert reply[0].text == "Sprache auf Deutsch gestellt."
    reply = await fake.say("/plans", locale="en")
    assert reply[0].text.startswith("Pläne:")
    assert "299,00\xa0$" in reply[0].text


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("bitte auf Deutsch", "Sprache auf Deutsch gestellt."),
        ("switch to German please", "Sprache auf Deutsch gestellt."),
        ("change language", "/language CODE"),
        ("passer en japonais", "言語を日本語に設定しました。"),
        ("change language to klingon", "Languages: en, de, es, fr, zh, ja"),  # not ours
    ],
)
async def test_language_in_plain_words(app, fake, text, answer) -> None:
    reply = await fake.say(text)
    assert answer in reply[0].text


async def test_locale_hint_is_used_until_a_choice(app, fake) -> None:
    reply = await fake.say("/plans", user="bob", locale="de-AT")
    assert "299,00\xa0$" in reply[0].text
    reply = await fake.say("/plans", user="carol", locale="pt-BR")
    assert "$299.00" in reply[0].text


async def test_without_a_hint_replies_and_pushes_speak_the_shops_default(
    db_url, fake, clock
) -> None:
    german_shop = App(make_config(db_url, shop__default_locale="de"), adapters=[fake], clock=clock)
    await german_shop.start(background=False)
    try:
        card = (await fake.say("/buy pro sol", locale=None))[0]  # like the console: no hint
        assert card.text.startswith("Zahlung #")
        before = len(fake.sent)
        await settle(german_shop, clock, 10 * 60, step=30)
        (warning,) = fake.sent[before:]
        assert warning.text.startswith("⏳ Zahlung #"), warning.text
    finally:
        await german_shop.stop()


async def test_start_deep_link_opens_the_flow(app, fake) -> None:
    reply = await fake.say("/start buy_pro")
    assert "Best coins for Pro" in reply[0].text
    reply = await fake.say("/start buy_pro_sol")
    assert "Payment #" in reply[0].text


async def test_buttons_map_onto_commands(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    card = fake.sent[-1]
    copy, check, cancel = card.buttons
    assert copy.copy is not None and copy.copy in card.text  # "copy address" copies it exactly
    assert check.action == f"/status {pid}"
    assert (cancel.label, cancel.action) == ("Cancel payment", f"/cancel {pid}")
    reply = await fake.say("", button=check.action)
    assert f"Payment #{pid}" in reply[0].text
    assert "<code>" in card.html and "<b>Payment" in card.html


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(min_size=1, max_size=300))
async def test_nothing_a_user_types_crashes_or_creates_payments(app, fake, clock, text) -> None:
    clock.advance(3)  # at a human pace (a flood is answered once, see test_busy_customers)
    replies = await fake.say(text, user="fuzz")
    if clean_text(text).strip():
        assert replies, "every message gets an answer"
    for reply in replies:
        assert "Traceback" not in reply.text and "something went wrong" not in reply.text
    async with app.db.sessions() as session:
        others = (
            await session.execute(
                select(func.count()).select_from(Payment).where(Payment.chat_id != "fuzz")
            )
        ).scalar_one()
    assert others == 0


@pytest.mark.parametrize(
    "text",
    [
        "I don't want to buy pro with btc",
        "Nicht kaufen: Pro mit Bitcoin",
        "please do not retry payment 1",
    ],
)
async def test_negations_never_start_a_payment(app, fake, text) -> None:
    await buy(fake, "/buy pro sol", user="neg")
    await fake.say("/pay 1", user="neg")
    before = await _payments(app)
    await fake.say(text, user="neg")
    assert await _payments(app) == before


async def test_ids_beyond_any_payment_are_not_found(app, fake) -> None:
    huge = "9" * 25
    for text in (f"/status {huge[:18]}", f"Retry payment {huge}", f"status of payment {huge}"):
        reply = await fake.say(text)
        assert "was not found" in reply[0].text or "no failed or expired" in reply[0].text, text
        assert "something went wrong" not in reply[0].text


@pytest.mark.parametrize(
    ("amount", "answer"),
    [("1e6", "at most ten times"), ("0.0000000001", "at most 9 decimals")],
)
async def test_sandbox_pay_checks_the_amount(app, fake, amount, answer) -> None:
    pid = await buy(fake, "/buy pro sol")
    reply = await fake.say(f"/pay {pid} {amount}")
    assert answer in reply[0].text


async def test_sandbox_pay_twice_when_already_paid(app, fake, clock) -> None:
    pid = await buy(fake, "/buy pro sol")
    await fake.say(f"/pay {pid}")
    await app.countdown.sweep(clock())
    reply = await fake.say(f"/pay {pid}")
    assert "already paid" in reply[0].text


async def test_retry_without_id_takes_the_latest_failed_or_expired(app, fake, clock) -> None:
    from tests.helpers import settle

    pid = await buy(fake, "/buy pro ltc")
    await settle(app, clock, seconds=901, step=60)
    reply = await fake.say("retry my payment")
    assert "Payment #" in reply[0].text and f"#{pid} " not in reply[0].text
    async with app.db.sessions() as session:
        newest = (await session.scalars(select(Payment).order_by(Payment.id.desc()))).first()
    assert newest.retried_from_id == pid


async def test_pay_and_retry_without_id_take_this_customers_latest(app, fake, clock) -> None:
    """On a database that already has payments (the README's examples run twice), `/pay`
    pays the customer's newest payment still waiting for money and `/retry` renews the newest
    expired one: never an older, paid or expired one, never another customer's."""
    paid = await buy(fake, "/buy pro sol")
    await fake.say("/pay")
    await settle(app, clock, seconds=5)
    expired = await buy(fake, "/buy pro btc")
    await settle(app, clock, seconds=901, step=60)
    await buy(fake, "/buy pro eth", user="someone-else")
    newest = await buy(fake, "/buy pro ltc")
    reply = await fake.say("/pay")
    assert f"#{newest}" in reply[0].text and "Sandbox: sent" in reply[0].text
    await settle(app, clock, seconds=5)
    assert "no payment waiting for money" in (await fake.say("/pay"))[0].text
    reply = await fake.say("/retry")
    retried = payment_id_in(reply[0].text)
    assert retried > newest
    async with app.db.sessions() as session:
        again = await session.get(Payment, retried)
        first = await session.get(Payment, paid)
    assert again.retried_from_id == expired and again.pay_currency == "btc"
    assert first.status == "finished"


async def test_a_failed_reply_does_not_stop_the_conversation(app, fake) -> None:
    from bot.adapters.base import DeliveryError

    fake.fail_next(DeliveryError("network down"))
    await fake.say("/plans")  # this answer is lost, and logged
    reply = await fake.say("/plans")
    assert reply and reply[0].text.startswith("Plans:")


async def test_a_lost_card_is_queued_once_and_never_sent_twice(app, fake) -> None:
    """A card that cannot be sent goes through the outbox, one row per payment; when the
    chat got the card meanwhile (the customer asked for it), the queued one is not sent."""
    from bot.adapters.base import DeliveryError
    from storage.models import OutboxItem

    for _ in range(2):  # the card, then the same open payment again: both lost
        fake.fail_next(DeliveryError("network down"), times=2)
        assert await fake.say("/buy pro sol") == []
    async with app.db.sessions() as session:
        rows = (await session.scalars(select(OutboxItem))).all()
    assert [(r.kind, r.dedupe_key, r.payload["payment_id"]) for r in rows] == [
        ("payment.card", "payment:1:card", 1)
    ]
    status = await fake.say("/status 1")  # the customer asks: the card arrives directly
    assert status[0].payment_id == 1
    assert await app.notifier.drain() == 1
    async with app.db.sessions() as session:
        assert (await session.scalars(select(OutboxItem.status))).one() == "skipped"
    assert [m.payment_id for m in fake.sent] == [1]


async def test_operator_commands_are_refused_to_everyone_else_and_audited(db_url, clock) -> None:
    from bot.adapters.fake import FakeAdapter
    from bot.app import App
    from storage.models import AuditEntry
    from tests.conftest import make_config

    config = make_config(db_url, OPERATORS__DISCORD='["op1"]')
    chat = FakeAdapter("discord")
    app = App(config, adapters=[chat], clock=clock)
    await app.start(background=False)
    try:
        refused = await chat.say("/admin stats 7d", user="mallory")
        assert refused[0].text.startswith("Unknown command /admin.")  # nothing to discover
        allowed = await chat.say("/admin stats", user="op1")
        assert "Unknown command" not in allowed[0].text
        async with app.db.sessions() as session:
            rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        assert [(r.actor, r.action, r.subject) for r in rows] == [
            ("discord:mallory", "admin.refused", "/admin stats 7d"),
            ("discord:op1", "admin.command", "/admin stats"),
        ]
    finally:
        await app.stop()


async def test_cards_carry_discord_markdown_with_a_live_countdown(app, fake) -> None:
    from bot.render import MARKDOWN

    card = (await fake.say("/buy pro sol"))[0]
    async with app.db.sessions() as session:
        payment = (await session.scalars(select(Payment))).one()
    stamp = int(payment.expires_at.timestamp())
    assert card.markdown.startswith(f"**Payment \\#{payment.id} · Pro plan (30 days)**")
    assert f"<t:{stamp}:t> (<t:{stamp}:R>)" in card.markdown  # each client counts down
    assert f"```{payment.pay_address}```" in card.markdown
    assert card.extra["status"] == "waiting" and card.image_name == f"payment-{payment.id}.png"
    assert MARKDOWN.esc("*bold* _it_ `x` <@1> [a](b) # h") == (
        r"\*bold\* \_it\_ \`x\` \<@1\> \[a\](b) \# h"
    )


async def test_a_known_customer_is_read_and_changes_are_still_written(app, fake) -> None:
    """A known customer's command costs one read, no write transaction; a new name, a new
    platform language (not chosen with /language) and a chosen one still reach the row."""
    from storage.models import User

    async def row():
        async with app.db.sessions() as session:
            return (await session.scalars(select(User).where(User.platform_user_id == "al"))).one()

    await fake.say("/help", user="al", name="Al", locale="en")
    writes = []
    original = app.db.transaction

    def counted():
        writes.append(1)
        return original()

    app.db.transaction = counted
    try:
        await fake.say("/help", user="al", name="Al", locale="en")
        assert writes == []  # nothing changed: nothing written
        await fake.say("/help", user="al", name="Al Smith", locale="de")
        assert len(writes) == 1
    finally:
        app.db.transaction = original
    user = await row()
    assert (user.display_name, user.locale) == ("Al Smith", "de")
    await fake.say("/language fr", user="al", name="Al Smith", locale="de")
    reply = await fake.say("/help", user="al", name="Al Smith", locale="de")
    assert (await row()).locale == "fr" and "Voici" in reply[0].text
