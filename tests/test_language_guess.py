"""The language of a customer's words, when the chat platform gives no hint."""

from __future__ import annotations

import pytest

from bot.agent.language import LanguageGuesser
from bot.app import catalog_names
from tests.conftest import make_config
from tools.catalog import Catalog

LOCALES = ["en", "de", "es", "fr", "zh", "ja"]


@pytest.fixture(scope="module")
def guesser() -> LanguageGuesser:
    config = make_config("sqlite+aiosqlite://")
    catalog = Catalog.from_config(config.plans, config.coins, config.shop.price_currency)
    return LanguageGuesser(LOCALES, neutral=catalog_names(catalog))


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Zeige meine Zahlungen", "de"),
        ("Was kostet Pro in Bitcoin?", "de"),
        ("show my payments", "en"),
        ("which currency should I use for pro", "en"),
        ("cuánto cuesta el plan pro", "es"),
        ("quiero comprar pro con sol", "es"),
        ("combien coûte le plan business", "fr"),
        ("je veux payer en sol", "fr"),
        ("我想用 sol 买 pro", "zh"),
        ("我的付款記錄", "zh"),  # traditional characters
        ("支払い履歴を見せて", "ja"),
        ("proプランをsolで買いたい", "ja"),
    ],
)
def test_each_language_is_told_by_its_words(guesser, text, lang) -> None:
    assert guesser.guess(text) == lang


@pytest.mark.parametrize("text", ["pro btc", "ok", "#12", "?", "BTC", "👍", "usdt trc20", ""])
def test_words_of_no_language_say_nothing(guesser, text) -> None:
    assert guesser.guess(text) is None


def test_only_the_shops_languages_are_guessed() -> None:
    assert LanguageGuesser(["en", "fr"]).guess("Zeige meine Zahlungen") is None


async def test_german_words_get_german_replies_and_pushes(app, fake) -> None:
    # no hint from the platform (like the console and Discord messages)
    reply = await fake.say("Zeige meine Zahlungen", user="jo", locale=None)
    assert "Sie haben noch keine Zahlungen" in reply[0].text
    reply = await fake.say("/plans", user="jo", locale=None)  # the language stays
    assert reply[0].text.startswith("Pläne")
    reply = await fake.say("show my payments", user="jo", locale=None)
    assert "You have no payments yet" in reply[0].text
    reply = await fake.say("ok", user="jo", locale=None)  # no language: English stays
    assert "Sorry, I didn't understand that." in reply[0].text


async def test_a_platform_hint_and_a_chosen_language_come_first(app, fake) -> None:
    reply = await fake.say("Zeige meine Zahlungen", user="kim", locale="en")
    assert "You have no payments yet" in reply[0].text
    await fake.say("/language fr", user="lee", locale=None)
    reply = await fake.say("Zeige meine Zahlungen", user="lee", locale=None)
    assert "Vous n'avez" in reply[0].text or "Vous n’avez" in reply[0].text, reply[0].text
