"""The router's arguments in all six languages: what makes a sure answer right or wrong.

A number beside a time word is a duration, never a payment id ("paid 30 min ago" is not
payment #30); an amount is never an id; "usdt" with no network named is no coin a tool can
take (the tool asks which network); a plan named with a want-verb is a purchase of that plan
(the app then asks which coin).
"""

from __future__ import annotations

import pytest

from bot.agent.intent_model import IntentModel
from bot.agent.router import IntentRouter
from tests.test_router import COINS, PLANS


@pytest.fixture(scope="module", params=["model", "tables"])
def router(request: pytest.FixtureRequest) -> IntentRouter:
    model = IntentModel.load() if request.param == "model" else None
    return IntentRouter(PLANS, COINS, model=model)


@pytest.fixture(scope="module")
def model_router() -> IntentRouter:
    return IntentRouter(PLANS, COINS, model=IntentModel.load())


DURATIONS = [
    "I sent the eth about 25 minutes ago, is it there yet?",
    "paid 2h ago and it still says waiting",
    "Zahlung vor 35 Minuten gesendet, ist sie angekommen?",
    "hab vor 3 Std bezahlt und nichts passiert",
    "pagué hace 25 minutos, ¿ya llegó el pago?",
    "envié el pago hace 4 horas y sigue pendiente",
    "j'ai payé il y a 25 min, le paiement est passé ?",
    "paiement envoyé y a 4 heures, toujours en attente",
    "我25分钟前付的款，到账了吗",
    "4小时前付款了还没确认",
    "25分前に支払いましたが、届きましたか？",
    "4時間前に払ったのにまだ確認されない",
]


@pytest.mark.parametrize("text", DURATIONS)
def test_a_duration_is_never_a_payment_id(router: IntentRouter, text: str) -> None:
    assert "payment_id" not in (router.route(text) or _none()).args
    assert router.entities(text).ids == () and router.entities(text).bare == ()


@pytest.mark.parametrize(
    ("text", "payment_id"),
    [
        ("payment 31 was sent 25 minutes ago, status?", 31),
        ("Zahlung 31 vor 25 Minuten geschickt, Status?", 31),
        ("el pago 31 lo envié hace 25 minutos, ¿estado?", 31),
        ("paiement 31 envoyé il y a 25 minutes, statut ?", 31),
        ("订单31是25分钟前付的，状态呢", 31),
        ("支払い31は25分前に送金しました。状況は？", 31),
    ],
)
def test_an_id_beside_a_duration_stays_the_id(text: str, payment_id: int) -> None:
    router = IntentRouter(PLANS, COINS)
    assert router.entities(text).ids == (payment_id,)


@pytest.mark.parametrize(
    "text",
    [
        "is my $50 payment confirmed",
        "I sent 0.5 btc, is it there?",
        "hab 50 usdt geschickt, angekommen?",
        "envié 0,01 eth, ¿llegó?",
        "j'ai envoyé 50 € , c'est passé ?",
        "我转了50元，到账了吗",
        "50ドル払いました、届きましたか",
    ],
)
def test_an_amount_is_never_a_payment_id(router: IntentRouter, text: str) -> None:
    assert "payment_id" not in (router.route(text) or _none()).args


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("what does business cost in usdt", "get_payment_estimate"),
        ("buy business with tether", "create_crypto_payment"),
        ("Was kostet Business in USDT?", "get_payment_estimate"),
        ("Ich will Business mit USDT bezahlen", "create_crypto_payment"),
        ("¿Cuánto cuesta business en usdt?", "get_payment_estimate"),
        ("quiero pagar business con usdt", "create_crypto_payment"),
        ("combien coûte business en usdt ?", "get_payment_estimate"),
        ("je veux payer business avec usdt", "create_crypto_payment"),
        ("business用usdt要多少钱", "get_payment_estimate"),
        ("我想用U买business", "create_crypto_payment"),
        ("businessはusdtでいくら？", "get_payment_estimate"),
        ("usdtでbusinessを購入したい", "create_crypto_payment"),
    ],
)
def test_usdt_with_no_network_is_no_coin(router: IntentRouter, text: str, tool: str) -> None:
    intent = router.route(text)
    assert intent is not None and (intent.tool, intent.args) == (tool, {"plan": "business"})


@pytest.mark.parametrize(
    ("text", "coin"),
    [
        ("business用U付多少，trc20的", "usdttrc20"),
        ("我想用U买business，erc20", "usdterc20"),
        ("businessをUで払いたい、trc20で", "usdttrc20"),
    ],
)
def test_u_beside_cjk_is_usdt(text: str, coin: str) -> None:
    router = IntentRouter(PLANS, COINS)
    assert router.entities(text).coins == (coin,)


@pytest.mark.parametrize("text", ["can u help me", "u there?", "thank u"])
def test_u_among_latin_words_is_you(text: str) -> None:
    assert IntentRouter(PLANS, COINS).entities(text).coins == ()


@pytest.mark.parametrize(
    ("text", "plan"),
    [
        ("I want pro", "pro"),
        ("i want the pro plan", "pro"),
        ("ich will pro", "pro"),
        ("ich nehm den pro plan", "pro"),
        ("quiero pro", "pro"),
        ("prefiero pro", "pro"),
        ("je veux pro", "pro"),
        ("pour moi ce sera pro", "pro"),
        ("我要pro", "pro"),
        ("pro就行", "pro"),
        ("proがいい", "pro"),
        ("proプランがいい", "pro"),
    ],
)
def test_a_plan_with_a_want_verb_is_a_purchase(
    model_router: IntentRouter, text: str, plan: str
) -> None:
    intent = model_router.route(text)
    assert intent is not None
    assert (intent.tool, intent.args) == ("create_crypto_payment", {"plan": plan})


def _none():  # noqa: ANN202 - an intent-shaped nothing
    class _No:
        args: dict[str, object] = {}

    return _No()
