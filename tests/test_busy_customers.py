"""Free text that costs a lot: floods of messages and very long messages, through the fake
adapter; and the router's work kept off the event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from langchain_core.messages import HumanMessage

from bot.agent.offline_model import OfflineRouterModel
from bot.agent.router import IntentRouter
from bot.agent.runner import AgentRunner
from tests.test_router import COINS, PLANS

ASK = "which coins do you accept"  # answered with the list of coins
SLOW_DOWN = "You're sending messages too fast. Please wait a moment."
SLOW_DOWN_DE = "Sie senden Nachrichten zu schnell. Bitte warten Sie einen Moment."
STORY = (
    "Last summer my family and I travelled along the coast, and every evening we watched the "
    "fishing boats come back while the children collected shells on the beach. "
)


async def test_a_flood_of_free_text_is_slowed_down_while_others_are_served(
    app, fake, clock
) -> None:
    """20 messages at once from one customer: five are answered, the sixth is told (once, in
    their language) to slow down, the rest never reach the agent; another customer writing at
    the same moment is served as usual, and so are the flooding customer's commands."""
    flood = [fake.say(ASK, user="mallory", locale="de") for _ in range(20)]
    await asyncio.gather(*flood, fake.say(ASK, user="bob"))
    mallory, bob = fake.texts("mallory"), fake.texts("bob")
    assert mallory.count(SLOW_DOWN_DE) == 1
    assert len(mallory) == 6  # five answers (one message each) and the one warning
    assert app.metrics.turns["router"] == 6  # mallory's five and bob's one turn
    assert mallory.count(mallory[0]) == 5 and mallory[0].startswith("Akzeptierte Coins:")
    assert len(bob) == 1 and bob[0].startswith("Coins I accept:")

    (plans,) = await fake.say("/plans", user="mallory", locale="de")  # commands still work
    assert "Pro" in plans.text
    assert await fake.say(ASK, user="mallory", locale="de") == []

    clock.advance(3)  # 20 a minute: one more message's worth
    (answer,) = await fake.say(ASK, user="mallory", locale="de")
    assert answer.text == mallory[0] and app.metrics.turns["router"] == 7
    (again,) = await fake.say(ASK, user="mallory", locale="de")
    assert again.text == SLOW_DOWN_DE  # a new burst is told again, once

    clock.advance(60)
    for _ in range(5):  # a full allowance again
        (answer,) = await fake.say(ASK, user="mallory", locale="de")
        assert answer.text == mallory[0]


@pytest.mark.parametrize("length", [4_000, 20_000])
@pytest.mark.parametrize(
    ("start", "locale"),
    [("I want to buy Pro with Bitcoin. ", "en"), ("我想用比特币买Pro。", "zh")],
)
async def test_a_very_long_message_is_answered_on_what_it_starts_with(
    app, fake, start: str, locale: str, length: int
) -> None:
    text = (start + STORY * (length // len(STORY) + 1))[:length]
    replies = await fake.say(text, user="longwinded", locale=locale)
    assert replies and replies[0].payment_id is not None  # the payment card for Pro in BTC
    assert "BTC" in replies[0].text and "Pro" in replies[0].text


class WhereRouted(IntentRouter):
    """The real router, noting which thread each message is routed in."""

    def __init__(self) -> None:
        super().__init__(PLANS, COINS)
        self.threads: list[int] = []

    def route(self, text: str):
        self.threads.append(threading.get_ident())
        return super().route(text)


async def test_the_router_works_off_the_event_loop() -> None:
    router = WhereRouted()
    model = OfflineRouterModel(router=router)
    answer = await model.ainvoke([HumanMessage("I want to buy Pro with Bitcoin")])
    assert answer.tool_calls[0]["args"] == {"plan": "pro", "coin": "btc"}
    assert len(router.threads) == 1 and router.threads[0] != threading.get_ident()
    # in front of a hosted model, the runner asks the router whether it can answer alone
    runner = AgentRunner(router, "Shop", list(PLANS), list(COINS))
    assert await runner.router_alone("I want to buy Pro with Bitcoin")
    assert len(router.threads) == 2 and router.threads[1] != threading.get_ident()
    assert not await runner.router_alone("I want to buy Pro with Bitcoin. " + STORY * 5)
    assert len(router.threads) == 2  # too long to be sure of: the model reads it all


def test_a_long_message_is_routed_on_its_beginning() -> None:
    router = IntentRouter(PLANS, COINS)
    chatter = "zq " * 10_000  # once enough unknown words to overflow the softmax
    assert router.route("buy pro with btc " + chatter) is None  # no sentence stands out
    assert router.route("buy pro with btc. " + chatter).args == {"plan": "pro", "coin": "btc"}
    status = router.route("hello. What is the status of payment 42? " + STORY * 20)
    assert (status.tool, status.args) == ("check_payment_status", {"payment_id": 42})
    assert router.route("hello! " + STORY * 20).tool == "help"
    assert router.route("I don't want to buy pro. " + STORY * 20) is None
    assert router.route("what is the weather today? " + STORY * 20) is None
