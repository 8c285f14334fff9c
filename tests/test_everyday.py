"""Everyday questions in plain words get real answers in the customer's language: the plans,
one plan, confirmation times, a wrong amount, refunds, payment methods, things not sold."""

from __future__ import annotations

import pytest

from bot.agent.router import Intent
from storage.models import Payment
from tests.helpers import count_rows
from tools.actions import CustomerActions
from tools.caller import Caller
from tools.cards import PlansCard


def texts(replies) -> str:
    return "\n".join(r.text for r in replies)


def commands(replies) -> list[str]:
    return [b.action for r in replies for b in r.buttons if b.action]


@pytest.mark.parametrize("locale", ["en", "es"])
async def test_what_plans_answers_like_the_plans_command(app, fake, locale) -> None:
    asked = {"en": "what plans do you have", "es": "¿qué planes tienen?"}[locale]
    free = await fake.say(asked, locale=locale)
    command = await fake.say("/plans", locale=locale)
    assert [(r.text, r.buttons) for r in free] == [(r.text, r.buttons) for r in command]
    if locale == "en":
        assert "Pro" in free[0].text and "$299.00" in free[0].text
    else:
        assert free[0].text.startswith("Planes:") and "299,00" in free[0].text


async def test_plan_details_shows_one_plan_with_a_coin_button(app, fake) -> None:
    reply = await fake.say("what does pro include")
    assert len(reply) == 1
    text = reply[0].text
    assert text.startswith("Pro: $299.00 per 30 days.")
    assert "Priority email support" in text and "Business" not in text
    assert commands(reply) == ["/recommend pro", "/plans"]
    assert await count_rows(app, Payment) == 0


async def test_plan_details_in_german_with_the_shops_feature_names(app, fake) -> None:
    reply = await fake.say("was ist im starter alles drin", locale="de")
    assert reply[0].text.startswith("Starter: 49,00\xa0$ für 30 Tage.")
    assert "Community-Support" in reply[0].text
    assert "/recommend starter" in commands(reply)


async def test_without_a_known_plan_or_coin_the_answer_is_the_list(app, fake) -> None:
    await fake.say("/plans")  # alice exists
    actions = CustomerActions(app.shop, Caller(1, "fake", "alice", "en"))
    for args in ({}, {"plan": "gold"}):
        result = await actions.everyday("plan_details", args)
        assert isinstance(result.card, PlansCard)
    for args in ({}, {"coin": "usdt"}, {"coin": "doge"}):  # none, ambiguous, unknown
        result = await actions.everyday("confirmation_time", args)
        assert result.card.asked is None and len(result.card.coins) > 3
    assert await actions.everyday("get_user_plan", {}) is None


async def test_confirmation_time_of_bitcoin_names_the_configured_minutes(app, fake) -> None:
    reply = await fake.say("how long does bitcoin take to confirm")
    text = texts(reply)
    assert "Bitcoin payments usually confirm in about 30 minutes." in text
    assert "Confirming means" in text and "/status" in text


async def test_confirmation_time_in_chinese(app, fake) -> None:
    reply = await fake.say("比特币确认要多久", locale="zh")
    assert "Bitcoin" in reply[0].text and "30" in reply[0].text and "确认" in reply[0].text


async def test_confirmation_time_without_a_coin_lists_the_fastest_first(app, fake) -> None:
    text = texts(await fake.say("how long do confirmations take"))
    assert text.startswith("Typical confirmation times, fastest first:")
    assert "• Bitcoin: 30 minutes" in text
    lines = [line for line in text.splitlines() if line.startswith("• ")]
    assert lines[0].endswith("1 minute") and lines[-1] == "• Bitcoin: 30 minutes"


@pytest.mark.parametrize(
    ("locale", "text", "words"),
    [
        (
            "en",
            "oops i sent usdt on ERC20 instead of trc20 what now",
            ("partially paid", "/status"),
        ),
        ("fr", "j'ai envoyé le mauvais montant", ("partiellement payé", "/status")),
        (
            "ja",
            "金額間違えて少なく送ってしまいました…どうすればいいですか",
            ("一部支払い済み", "/status"),
        ),
    ],
)
async def test_wrong_amount_explains_too_little_too_much_and_wrong_network(
    app, fake, locale, text, words
) -> None:
    answer = texts(await fake.say(text, locale=locale))
    for word in words:
        assert word in answer
    assert "/history" in answer
    if locale == "en":
        assert "same address" in answer and "the extra is recorded" in answer
        assert "cannot see or recover" in answer
    assert await count_rows(app, Payment) == 0


@pytest.mark.parametrize(
    ("locale", "text", "word"),
    [
        ("en", "I want my money back, the reports aren't what I expected", "Refunds are handled"),
        ("de", "ich will mein geld zurück", "Erstattungen"),
        ("fr", "je veux être remboursé", "remboursements"),
    ],
)
async def test_refund_points_to_the_shop_with_the_payment_number(
    app, fake, locale, text, word
) -> None:
    answer = texts(await fake.say(text, locale=locale))
    assert word in answer and "/history" in answer
    assert await count_rows(app, Payment) == 0


@pytest.mark.parametrize(
    ("locale", "text", "word"),
    [
        ("en", "can i just pay with paypal", "cryptocurrency only"),
        ("ja", "クレジットカード使えますか", "暗号資産のみ"),
        ("de", "geht auch Kreditkarte?", "nur Kryptowährungen"),
    ],
)
async def test_payment_methods_lists_the_coins_and_buys_nothing(
    app, fake, locale, text, word
) -> None:
    reply = await fake.say(text, locale=locale)
    answer = texts(reply)
    assert word in answer and "Bitcoin" in answer and "Solana" in answer
    assert "/currencies" in commands(reply)
    assert await count_rows(app, Payment) == 0


@pytest.mark.parametrize(
    ("locale", "text", "word"),
    [
        ("en", "do u take doge", "not something we sell or accept"),
        ("zh", "收狗狗币吗", "不出售也不接受"),
        ("es", "aceptan cardano?", "no lo vendemos"),
    ],
)
async def test_not_sold_is_a_polite_no_and_never_a_payment(app, fake, locale, text, word) -> None:
    reply = await fake.say(text, locale=locale)
    answer = texts(reply)
    assert word in answer and "Bitcoin" in answer
    assert commands(reply) == ["/plans"]
    assert not any(r.image for r in reply)  # no payment card, no QR
    assert await count_rows(app, Payment) == 0


async def test_chatter_gets_the_command_list_once_then_one_line(app, fake) -> None:
    first = texts(await fake.say("what's the weather"))
    assert "Sorry, I didn't understand that." in first and "/plans – plans and prices" in first
    second = texts(await fake.say("tell me a joke"))
    assert second == (
        "Sorry, I didn't understand that. "
        "I can help with plans and payments; /help lists what I do."
    )
    other = texts(await fake.say("tell me a joke", user="bob"))  # another chat: the list
    assert "/plans – plans and prices" in other


async def test_chatter_in_german_gets_the_short_line_too(app, fake) -> None:
    await fake.say("wie ist das Wetter", locale="de")
    again = texts(await fake.say("erzähl mir einen Witz", locale="de"))
    assert "/help" in again and "Zahlungen" in again and "/plans" not in again


def test_answered_everyday_intents_may_skip_a_hosted_model(app) -> None:
    sure = app.agent.sure
    assert sure(Intent("refund", {}, 0.95))
    assert sure(Intent("list_plans", {}, 0.95))
    assert sure(Intent("confirmation_time", {}, 0.95))
    assert sure(Intent("plan_details", {"plan": "pro"}, 0.95))
    assert not sure(Intent("plan_details", {}, 0.95))  # which plan "it" is: the model knows
    assert not sure(Intent("refund", {}, 0.5))


def test_every_new_intent_of_the_model_has_an_answer() -> None:
    from bot.agent.intent_model import NEW_INTENTS
    from tools.actions import EVERYDAY

    assert set(NEW_INTENTS) <= set(EVERYDAY)
