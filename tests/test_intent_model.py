"""The intent model: its shipped weights are what training produces, it stays small, and the
everyday intents no tool answers get the conversation layer's answers (tests/test_everyday.py)."""

from __future__ import annotations

import json

import pytest

from bot.agent.intent_model import NEW_INTENTS, WEIGHTS, IntentModel
from bot.agent.router import Intent, IntentRouter
from tests.test_router import COINS, PLANS


@pytest.fixture(scope="module")
def router() -> IntentRouter:
    return IntentRouter(PLANS, COINS, model=IntentModel.load())


def test_the_shipped_weights_are_what_training_produces() -> None:
    """Retrain from the corpus and the everyday tune set (scikit-learn, the `test` extra):
    the same vocabulary, classes and calibration, and weights equal to the last rounded digit
    (a different BLAS may round one weight the other way)."""
    from bot.agent import train

    shipped = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    assert train.drift(train.train(), shipped) == [], "retrain: python -m bot.agent.train"


def test_the_weights_stay_small() -> None:
    # ~11,000 features x 19 intents of 16-bit weights (base64) and the vocabulary: it grows
    # with the training sets, not with traffic
    assert WEIGHTS.stat().st_size < 800_000
    model = IntentModel.load()
    assert set(NEW_INTENTS) < set(model.classes)
    first, sure = model.calibration
    assert 0 < first[0] < sure[0] < 1 and (first[1], sure[1]) == (0.6, 0.9)


def test_the_calibration_is_monotone() -> None:
    model = IntentModel.load()
    values = [model.confidence(p / 100) for p in range(101)]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        ("what plans do you have", "list_plans", {}),
        ("what does the business plan include", "plan_details", {"plan": "business"}),
        ("how long does a bitcoin payment take to confirm", "confirmation_time", {"coin": "btc"}),
        ("buy pro with btc", "create_crypto_payment", {"plan": "pro", "coin": "btc"}),
    ],
)
def test_new_intents_and_their_entities(router: IntentRouter, text, tool, args) -> None:
    intent = router.route(text)
    assert intent is not None and (intent.tool, intent.args) == (tool, args)


def test_a_new_intent_is_sure_in_front_of_a_model_once_answered(hosted_app) -> None:
    """Every new intent has an answer of its own now: a confident one never reaches the hosted
    model, except a plan's details without the plan (the model's memory knows which)."""
    for tool in NEW_INTENTS:
        args = {"plan": "pro"} if tool == "plan_details" else {}
        assert hosted_app.agent.sure(Intent(tool, args, 1.0))
    assert not hosted_app.agent.sure(Intent("plan_details", {}, 1.0))
    assert hosted_app.agent.sure(Intent("get_user_plan", {}, 1.0))


async def test_a_new_intent_offline_is_answered(app, fake) -> None:
    assert app.agent.router.model is not None  # the default: the intent model decides
    reply = await fake.say("what plans do you have")
    assert reply[0].text.startswith("Plans:") and "didn't understand" not in reply[0].text
