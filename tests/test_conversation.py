"""Commands and bad input through the fake adapter: short answers, no crashes, no changes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.conversation import clean_text
from storage.models import Payment
from tests.helpers import buy


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
        ("/pay 1 -5", "/pay PAYMENT_ID"),
        ("/pay 1 lots", "/pay PAYMENT_ID"),
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


async def test_locale_hint_is_used_until_a_choice(app, fake) -> None:
    reply = await fake.say("/plans", user="bob", locale="de-AT")
    assert "299,00\xa0$" in reply[0].text
    reply = await fake.say("/plans", user="carol", locale="pt-BR")
    assert "$299.00" in reply[0].text


async def test_start_deep_link_opens_the_flow(app, fake) -> None:
    reply = await fake.say("/start buy_pro")
    assert "Best coins for Pro" in reply[0].text
    reply = await fake.say("/start buy_pro_sol")
    assert "Payment #" in reply[0].text


async def test_buttons_map_onto_commands(app, fake) -> None:
    pid = await buy(fake, "/buy pro sol")
    card = fake.sent[-1]
    assert card.buttons[0].action == f"/status {pid}"
    reply = await fake.say("", button=card.buttons[0].action)
    assert f"Payment #{pid}" in reply[0].text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(min_size=1, max_size=300))
async def test_nothing_a_user_types_crashes_or_creates_payments(app, fake, text) -> None:
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
