"""The offline assistant's questions are answered by the next message: "which coin?" -> "eth"
-> the payment card, in every language; wrong answers, expiry, commands, other customers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.fake import FakeAdapter
from bot.agent.followup import QUESTION_TTL, Question, asked, ordinal, read_answer
from bot.agent.router import IntentRouter
from bot.commands import help_text
from bot.i18n import _, using_locale
from bot.render import error_text
from storage import repos
from storage.models import Payment, PendingQuestion, User
from tests.conftest import ManualClock
from tests.fakes.openai_server import Call, Reply
from tests.helpers import buy, count_rows, payment_id_in
from tests.test_router import COINS, PLANS
from tools.cards import ErrorCard

COIN_CODES = ["btc", "eth", "ltc", "sol", "pol", "bnb", "trx", "usdttrc20", "usdterc20"]
COIN_CODES += ["usdc", "xrp"]
PLAN_CODES = ["starter", "pro", "business"]

# (want Pro, the coin question's answer, its code) in each language
BUY_PRO = {
    "en": ("I want to buy pro", "eth", "eth"),
    "de": ("ich möchte pro kaufen", "mit solana", "sol"),
    "es": ("quiero comprar pro", "con ethereum", "eth"),
    "fr": ("je veux acheter pro", "avec litecoin", "ltc"),
    "zh": ("我想买pro", "用sol", "sol"),
    "ja": ("proを買いたい", "solで", "sol"),
}
# (pay with Solana, "the second one") in each language: the second plan offered is Pro
PAY_WITH_SOL = {
    "en": ("I want to pay with solana", "the second one"),
    "de": ("ich will mit solana zahlen", "der zweite"),
    "es": ("pagar con solana", "el segundo"),
    "fr": ("payer avec solana", "le deuxième"),
    "zh": ("用sol买", "第二个"),
    "ja": ("solanaで払いたい", "2番目"),
}
NOT_UNDERSTOOD = "Sorry, I didn't understand that."


async def say(fake: FakeAdapter, clock: ManualClock, text: str, **kw) -> list:
    """A message a little later than the last one (free text is rate-limited per customer)."""
    clock.advance(5)
    return await fake.say(text, **kw)


async def payments(app) -> list[tuple[str, str, str]]:
    async with app.db.sessions() as session:
        rows = (await session.scalars(select(Payment).order_by(Payment.id))).all()
    return [(p.plan, p.pay_currency, p.status) for p in rows]


def asked_for_coin(lang: str, plan: str = "pro") -> str:
    with using_locale(lang):
        return error_text("need_coin", {"valid": COIN_CODES, "plan": plan})


@pytest.mark.parametrize("lang", list(BUY_PRO))
async def test_a_purchase_over_three_turns_in_every_language(app, fake, clock, lang) -> None:
    want, coin_answer, coin = BUY_PRO[lang]
    reply = await say(fake, clock, want, locale=lang)
    assert reply[0].text == asked_for_coin(lang)
    reply = await say(fake, clock, coin_answer, locale=lang)
    assert payment_id_in(reply[0].text) == 1
    assert await payments(app) == [("pro", coin, "waiting")]
    assert await count_rows(app, PendingQuestion) == 0  # answered: nothing left open


@pytest.mark.parametrize("lang", list(PAY_WITH_SOL))
async def test_the_plan_question_answered_by_position(app, fake, clock, lang) -> None:
    pay_with_sol, second = PAY_WITH_SOL[lang]
    reply = await say(fake, clock, pay_with_sol, locale=lang)
    with using_locale(lang):
        assert reply[0].text == error_text("need_plan", {"valid": PLAN_CODES})
    assert [b.label for b in reply[0].buttons] == PLAN_CODES
    reply = await say(fake, clock, second, locale=lang)
    assert payment_id_in(reply[0].text) == 1
    assert await payments(app) == [("pro", "sol", "waiting")]


@pytest.mark.parametrize(
    ("answer", "plan"), [("pro", "pro"), ("the business one", "business"), ("3", "business")]
)
async def test_the_plan_question_answered_by_name_or_number(
    app, fake, clock, answer, plan
) -> None:
    await say(fake, clock, "I want to pay with solana")
    reply = await say(fake, clock, answer)
    assert payment_id_in(reply[0].text) == 1
    assert await payments(app) == [(plan, "sol", "waiting")]


@pytest.mark.parametrize(("answer", "cancelled"), [("#2", 2), ("1", 1), ("the second one", 2)])
async def test_which_payment_to_cancel_is_answered(app, fake, clock, answer, cancelled) -> None:
    await buy(fake, "/buy pro sol")
    await buy(fake, "/buy pro eth")
    reply = await say(fake, clock, "cancel my payment")
    assert "several open payments (#1, #2)" in reply[0].text
    reply = await say(fake, clock, answer)
    assert f"Payment #{cancelled} is cancelled" in reply[0].text
    statuses = [status for _, _, status in await payments(app)]
    assert statuses[cancelled - 1] == "cancelled" and statuses.count("cancelled") == 1


async def test_two_questions_in_a_row_make_one_purchase(app, fake, clock) -> None:
    """A coin named in several networks is one more question: "usdt" -> which network?"""
    await say(fake, clock, "I want to buy pro")
    reply = await say(fake, clock, "usdt")
    assert "usdttrc20, usdterc20" in reply[0].text
    reply = await say(fake, clock, "trc20")
    assert payment_id_in(reply[0].text) == 1
    assert await payments(app) == [("pro", "usdttrc20", "waiting")]


async def test_a_wrong_answer_lists_the_choices_and_the_question_stays_open(
    app, fake, clock
) -> None:
    await say(fake, clock, "upgrade to business")
    reply = await say(fake, clock, "dogecoin")
    assert reply[0].text == error_text("unknown_coin", {"name": "dogecoin", "valid": COIN_CODES})
    reply = await say(fake, clock, "eth")
    assert payment_id_in(reply[0].text) == 1
    assert await payments(app) == [("business", "eth", "waiting")]


async def test_a_second_wrong_answer_drops_the_question(app, fake, clock) -> None:
    await say(fake, clock, "I want to buy pro")
    reply = await say(fake, clock, "dogecoin")
    assert reply[0].text.startswith("I don't accept “dogecoin”.")
    reply = await say(fake, clock, "dogecoin")  # no answer: read on its own, a polite no
    assert reply[0].text.startswith("Sorry, that is not something we sell or accept.")
    reply = await say(fake, clock, "eth")
    assert reply[0].payment_id is None, reply[0].text  # answers no question
    assert await payments(app) == []


async def test_chatter_drops_the_question(app, fake, clock) -> None:
    await say(fake, clock, "I want to buy pro")
    reply = await say(fake, clock, "what's the weather like today")
    assert reply[0].text.startswith(NOT_UNDERSTOOD)
    await say(fake, clock, "eth")
    assert await payments(app) == []
    await say(fake, clock, "I want to buy pro")  # asked again, answered right away
    await say(fake, clock, "eth")
    assert await payments(app) == [("pro", "eth", "waiting")]


async def test_a_different_request_replaces_the_question(app, fake, clock) -> None:
    await say(fake, clock, "I want to buy pro")
    reply = await say(fake, clock, "upgrade to business")  # asks again, for Business
    assert reply[0].text == asked_for_coin("en", "business")
    await say(fake, clock, "eth")
    reply = await say(fake, clock, "show my payment history")
    assert "#1" in reply[0].text
    reply = await say(fake, clock, "sol")  # the history asked nothing
    assert reply[0].payment_id is None, reply[0].text  # answers no question
    assert await payments(app) == [("business", "eth", "waiting")]


async def test_a_command_clears_the_question(app, fake, clock) -> None:
    await say(fake, clock, "I want to buy pro")
    await say(fake, clock, "/plans")
    assert await count_rows(app, PendingQuestion) == 0
    reply = await say(fake, clock, "eth")  # a coin alone: at most a new question
    assert reply[0].payment_id is None, reply[0].text  # answers no question
    assert await payments(app) == []


async def test_a_question_expires_after_ten_minutes(app, fake, clock) -> None:
    await say(fake, clock, "I want to buy pro")
    clock.advance(QUESTION_TTL.total_seconds() - 10)
    reply = await fake.say("eth")  # still open just before
    assert payment_id_in(reply[0].text) == 1
    await say(fake, clock, "I want to buy business")
    clock.advance(QUESTION_TTL.total_seconds())
    reply = await fake.say("eth")
    assert reply[0].payment_id is None, reply[0].text  # answers no question
    assert await payments(app) == [("pro", "eth", "waiting")]


async def test_customers_sharing_a_chat_keep_their_own_questions(app, fake, clock) -> None:
    await say(fake, clock, "I want to buy pro", user="alice", chat="room")
    await say(fake, clock, "I want to buy business", user="bob", chat="room")
    reply = await say(fake, clock, "eth", user="alice", chat="room")
    assert payment_id_in(reply[0].text) == 1
    reply = await say(fake, clock, "sol", user="bob", chat="room")
    assert payment_id_in(reply[0].text) == 2
    reply = await say(fake, clock, "ltc", user="carol", chat="room")  # asked nothing
    assert reply[0].payment_id is None, reply[0].text  # answers no question
    async with app.db.sessions() as session:
        rows = (await session.scalars(select(Payment).order_by(Payment.id))).all()
        owners = [(await session.get(User, p.user_id)).platform_user_id for p in rows]
    assert owners == ["alice", "bob"]
    assert await payments(app) == [("pro", "eth", "waiting"), ("business", "sol", "waiting")]


async def test_a_question_is_answered_only_in_its_chat(app, fake, clock) -> None:
    await say(fake, clock, "I want to buy pro", user="alice", chat="dm")
    reply = await say(fake, clock, "eth", user="alice", chat="other")
    assert reply[0].payment_id is None, reply[0].text  # answers no question
    reply = await say(fake, clock, "eth", user="alice", chat="dm")
    assert payment_id_in(reply[0].text) == 1


async def test_nothing_is_asked_in_a_group(app, fake, clock) -> None:
    """Free text in a group gets the private-chat link (payment details stay private), so
    no question is ever left open in a group."""
    reply = await say(fake, clock, "I want to buy pro", chat="group", private=False)
    assert "private chat" in reply[0].text
    assert await count_rows(app, PendingQuestion) == 0


async def test_an_answer_is_checked_by_the_tool_like_any_call(app, fake, clock) -> None:
    """The answer goes through the same tool: a coin under the minimum is refused there."""
    await say(fake, clock, "I want to buy starter")
    reply = await say(fake, clock, "bitcoin")
    assert "0.0008 BTC" in reply[0].text
    assert await payments(app) == []


async def test_one_worker_takes_a_question(app, clock) -> None:
    """Two workers reading the same answer: one of them gets the question."""
    async with app.db.transaction() as session:
        user = await repos.get_or_create_user(session, "fake", "alice", "alice", clock())
    values = dict(
        tool="create_crypto_payment",
        code="need_coin",
        slot="coin",
        args={"plan": "pro"},
        options=["eth"],
        strikes=0,
        expires_at=clock() + timedelta(minutes=10),
    )
    for plan in ("pro", "business"):  # asked twice: one row, the last question
        async with app.db.transaction() as session:
            await repos.put_question(
                session, "fake", "alice", user.id, {**values, "args": {"plan": plan}}
            )
    assert await count_rows(app, PendingQuestion) == 1
    async with app.db.transaction() as first:
        row = await repos.take_question(first, "fake", "alice", user.id, clock())
        assert row is not None and row.args == {"plan": "business"}
    async with app.db.transaction() as second:
        assert await repos.take_question(second, "fake", "alice", user.id, clock()) is None


# ---------------------------------------------------------------------------- pieces


@pytest.fixture(scope="module")
def router() -> IntentRouter:
    return IntentRouter(PLANS, COINS)


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("the second one", 1),
        ("2nd", 1),
        ("der zweite", 1),
        ("die dritte bitte", 2),
        ("el segundo", 1),
        ("la primera", 0),
        ("le deuxième", 1),
        ("la première", 0),
        ("第二个", 1),
        ("第三個", 2),
        ("2番目", 1),
        ("二つ目", 1),
        ("the last one", -1),
        ("最後", -1),
        ("eth", None),
        ("a second coin", 1),
    ],
)
def test_ordinals(text: str, index: int | None) -> None:
    assert ordinal(text) == index


def test_a_question_keeps_only_what_the_customer_chose() -> None:
    card = ErrorCard("need_coin", {"valid": ["btc", "eth"], "plan": "pro"})
    args = {"plan": "pro", "coin": "", "user_id": 7, "price": "1", "url": "http://x"}
    question = asked("create_crypto_payment", args, [card])
    assert question == Question(
        "create_crypto_payment", "need_coin", "coin", {"plan": "pro"}, ("btc", "eth")
    )
    assert asked("get_payment_history", {}, [card]) is None  # not a question of that tool
    assert asked("create_crypto_payment", args, [ErrorCard("no_payments")]) is None


def test_entities_without_an_intent(router: IntentRouter) -> None:
    found = router.entities("mit dogecoin oder solana")
    assert found.coins == ("sol",) and found.unknown == ("dogecoin",)
    assert router.entities("#12").ids == (12,) and router.entities("12").bare == (12,)


def test_an_answer_cannot_name_another_customers_payment_by_itself(router) -> None:
    """The id goes to the cancel tool, which checks ownership; the question adds nothing."""
    question = Question("cancel_payment", "which_to_cancel", "payment_id", {}, ("3", "4"))
    reading = read_answer(question, "99", router)
    assert reading.kind == "answer" and reading.args == {"payment_id": 99}
    assert read_answer(question, "the fifth one", router).kind == "wrong"


async def test_a_question_the_models_tool_asked_is_answered_without_the_model(
    hosted_app, model_server, fake
) -> None:
    """A tool that asks ("Which coin?") asks the same whoever called it: the next message
    that answers it completes the call without another model call; anything else goes to the
    model as usual."""
    text = "I'd like the bigger package please"
    assert not hosted_app.agent.sure(hosted_app.agent.router.route(text))
    model_server.then(Call("create_crypto_payment", {"plan": "pro"}))  # the card ends it
    replies = await fake.say(text)
    assert any("Which coin" in r.text for r in replies)
    assert await count_rows(hosted_app, PendingQuestion) == 1
    asked = len(model_server.requests)
    replies = await fake.say("eth")
    assert payment_id_in(replies[0].text) == 1
    assert len(model_server.requests) == asked and model_server.unscripted == 0
    assert await payments(hosted_app) == [("pro", "eth", "waiting")]


async def test_a_model_question_left_for_chatter_goes_to_the_model(
    hosted_app, model_server, fake
) -> None:
    model_server.then(Call("create_crypto_payment", {"plan": "pro"}))
    await fake.say("I'd like the bigger package please")
    model_server.then(Reply("Happy to chat."))
    replies = await fake.say("tell me something nice about your weekend")
    assert [r.text for r in replies] == ["Happy to chat."]
    assert await payments(hosted_app) == []


@pytest.mark.parametrize("text", ["not pro", "nicht pro", "no, don't buy pro"])
def test_a_negation_never_answers_a_payment_question(router, text) -> None:
    question = Question("create_crypto_payment", "need_plan", "plan", {"coin": "sol"}, ("pro",))
    assert read_answer(question, text, router).kind == "other"


def test_dont_cancel_never_answers_which_payment(router) -> None:
    question = Question("cancel_payment", "which_to_cancel", "payment_id", {}, ("3", "4"))
    assert read_answer(question, "don't cancel #3", router).kind == "other"
    assert read_answer(question, "#3", router).args == {"payment_id": 3}


# a customer's first conversation in each language: (which plans?, how much is business?,
# I want pro, the coin answer, its code)
FIRST_TALK = {
    "en": ("which plans do you have?", "how much is business", "I want pro", "eth", "eth"),
    "de": ("welche pläne gibt es?", "was kostet business", "ich will pro", "mit sol", "sol"),
    "es": ("¿qué planes hay?", "cuánto cuesta business", "quiero pro", "con eth", "eth"),
    "fr": ("quels forfaits avez-vous ?", "combien coûte business", "je veux pro", "en eth", "eth"),
    "zh": ("有哪些套餐？", "business多少钱", "我要pro", "用sol", "sol"),
    "ja": ("どんなプランがありますか？", "businessはいくら？", "proがほしい", "ETHで", "eth"),
}


@pytest.mark.parametrize("lang", list(FIRST_TALK))
async def test_a_first_conversation_in_every_language(app, fake, clock, lang) -> None:
    """Plans, a price, a purchase assembled over turns with one wrong answer on the way."""
    plans, price, want, coin_answer, coin = FIRST_TALK[lang]
    reply = await say(fake, clock, plans, locale=lang)
    command = await say(fake, clock, "/plans", locale=lang)
    assert [r.text for r in reply] == [r.text for r in command]
    reply = await say(fake, clock, price, locale=lang)
    assert "599" in reply[0].text and "Business" in reply[0].text, reply[0].text
    assert await payments(app) == []
    reply = await say(fake, clock, want, locale=lang)
    assert reply[0].text == asked_for_coin(lang)
    reply = await say(fake, clock, "dogecoin", locale=lang)  # not a coin the shop takes
    with using_locale(lang):
        wrong = error_text("unknown_coin", {"name": "dogecoin", "valid": COIN_CODES})
    assert reply[0].text == wrong
    reply = await say(fake, clock, coin_answer, locale=lang)
    assert payment_id_in(reply[0].text) == 1
    assert await payments(app) == [("pro", coin, "waiting")]


async def test_a_wrong_coin_after_a_price_names_the_coins(app, fake, clock) -> None:
    """After "how much is pro" the price waits for a coin: a coin the shop does not take is
    answered with the coins it does, and the next coin gets the estimate."""
    reply = await say(fake, clock, "how much is pro")
    assert "299" in reply[0].text, reply[0].text
    reply = await say(fake, clock, "dogecoin")
    wrong = error_text("unknown_coin", {"name": "dogecoin", "valid": COIN_CODES})
    assert reply[0].text == wrong
    reply = await say(fake, clock, "eth")
    assert "ETH" in reply[0].text and "299" in reply[0].text, reply[0].text
    assert await payments(app) == []


THANKS = {
    "en": "thanks a lot!",
    "de": "Danke schön",
    "es": "muchas gracias",
    "fr": "merci beaucoup",
    "ja": "ありがとうございます",
    "zh": "谢谢你",
}


@pytest.mark.parametrize("lang", list(THANKS))
async def test_thanks_get_a_short_answer_and_a_second_hello_no_list(
    app, fake, clock, lang
) -> None:
    """A thank-you is answered in a line, never with the command list; a greeting shows the
    list the first time only."""
    with using_locale(lang):
        welcome = _("You're welcome! Write any time you need a plan or a payment.")
        hello = _("Hello! How can I help? /help lists what I do.")
        listing = help_text()
    reply = await say(fake, clock, THANKS[lang], locale=lang)
    assert [r.text for r in reply] == [welcome]
    reply = await say(fake, clock, "hello", locale=lang)
    assert [r.text for r in reply] == [listing]
    reply = await say(fake, clock, "hi", locale=lang)
    assert [r.text for r in reply] == [hello]
