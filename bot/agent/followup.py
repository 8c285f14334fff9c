"""Questions the offline assistant asked, answered by the customer's next message.

The router reads one message at a time, so "upgrade to business" -> "Which coin would you like
to pay with?" -> "eth" would end in "not understood". When a tool answers a turn of the router
with a question (an `ErrorCard` whose code asks for one argument: `need_coin`, `need_plan`,
`ambiguous_coin`, `which_to_cancel`), the conversation keeps a `Question`: the tool, the
arguments the customer already chose, the argument asked for and the choices offered. The next
message is read against it (`read_answer`):

- an answer ("eth", "mit bitcoin", "用sol", "pro", "#12", "the second one", "2番目") completes
  the arguments and the tool is called again with them: it validates them like any call
  (catalog, ownership), and may ask the next question ("I want to pay with solana" -> "which
  plan?" -> "pro" -> the payment card);
- a wrong answer ("dogecoin": one word nobody knows) gets a short answer listing the choices,
  and the question stays open for one more message;
- anything else (a different clear request, chatter) drops the question and is routed as
  usual.

A question holds only what the customer chose (plan code, coin code, payment id), never a
user, chat, price or address: the caller still comes from the adapter when the tool runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bot.agent.router import CANCEL, MONEY_TOOLS, Entities, IntentRouter, fold
from tools.cards import Card, ErrorCard, PlanDetailsCard

QUESTION_TTL = timedelta(minutes=10)  # a question left unanswered this long is forgotten
# the questions tools ask (the code of their ErrorCard) -> the argument each asks for
SLOTS = {
    "need_plan": "plan",
    "need_coin": "coin",
    "ambiguous_coin": "coin",
    "which_to_cancel": "payment_id",
}
# the tools whose questions are followed up, and the arguments a question may keep for them
TOOL_ARGS = {
    "create_crypto_payment": ("plan", "coin"),
    "get_payment_estimate": ("plan", "coin"),
    "cancel_payment": ("payment_id",),
}
MAX_NAME = 40  # characters of a plan or coin name kept
MAX_STRIKES = 1  # wrong answers after which the question stays open
WRONG_ANSWER_WORDS = 3  # a wrong answer is one unknown word among at most this many
SHORT_ANSWER_WORDS = 4  # an answer this short that names what was asked is taken as one

# "the second one" in the six languages, on `fold`ed text (no accents, lowercase, Simplified)
_LATIN_ORDINALS = {
    0: r"first|1st|erst(?:e[nrms]?)?|primer[oa]?|premiere?|1(?:er|re)",
    1: r"second|2nd|zweit(?:e[nrms]?)?|segund[oa]|deuxieme|seconde",
    2: r"third|3rd|dritt(?:e[nrms]?)?|tercer[oa]?|troisieme",
    3: r"fourth|4th|viert(?:e[nrms]?)?|cuart[oa]|quatrieme",
    4: r"fifth|5th|funft(?:e[nrms]?)?|quint[oa]|cinquieme",
    -1: r"last|letzt(?:e[nrms]?)?|ultim[oa]|derniere?",
}
_ORDINAL_RES = [
    (index, re.compile(rf"(?<![^\W_])(?:{words})(?![^\W_])"))
    for index, words in _LATIN_ORDINALS.items()
]
_CJK_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CJK_ORDINAL_RE = re.compile(
    r"第\s*([一二两三四五1-9])|([一二三四五1-9])\s*(?:番目|つ目|个目|個目)"
)
_CJK_FIRST_LAST = (("最初", 0), ("最后", -1), ("最後", -1))


@dataclass(frozen=True)
class Question:
    tool: str  # the tool to call again with the answer
    code: str  # what was asked (an ErrorCard code, see SLOTS)
    slot: str  # the argument asked for
    args: Mapping[str, object] = field(default_factory=dict)  # chosen so far
    options: tuple[str, ...] = ()  # the choices offered, in the order shown
    strikes: int = 0  # answers that did not fit so far


@dataclass(frozen=True)
class Reading:
    kind: str  # "answer", "wrong" (ask again) or "other" (not an answer: route it)
    args: Mapping[str, object] = field(default_factory=dict)  # for "answer": call with these
    card: Card | None = None  # for "wrong": what to say


def _kept(tool: str, args: Mapping[str, object]) -> dict[str, object]:
    """The arguments of `tool` a question may keep, checked for type and size."""
    kept: dict[str, object] = {}
    for name in TOOL_ARGS.get(tool, ()):
        value = args.get(name)
        if name == "payment_id" and isinstance(value, int) and not isinstance(value, bool):
            kept[name] = value
        elif name != "payment_id" and isinstance(value, str) and 0 < len(value) <= MAX_NAME:
            kept[name] = value
    return kept


def asked(tool: str, args: Mapping[str, object], cards: Sequence[Card]) -> Question | None:
    """The question a turn ended with: the tool it called answered with one of SLOTS, or a
    price asked without a coin was answered in the shop's currency ("how much is pro" ->
    "... in btc?" asks for that price in a coin)."""
    if tool == "get_payment_estimate" and len(cards) == 1:
        if isinstance(cards[0], PlanDetailsCard) and "plan" in args and "coin" not in args:
            kept = _kept(tool, {"plan": args["plan"]})
            return Question(tool, "need_coin", "coin", kept, cards[0].coins[:50])
    if tool not in TOOL_ARGS or len(cards) != 1 or not isinstance(cards[0], ErrorCard):
        return None
    card = cards[0]
    slot = SLOTS.get(card.code)
    if slot is None or slot not in TOOL_ARGS[tool]:
        return None
    offered = card.params.get("ids" if slot == "payment_id" else "valid") or ()
    options = tuple(str(o)[:MAX_NAME] for o in offered)[:50]
    kept = {k: v for k, v in _kept(tool, args).items() if k != slot}
    return Question(tool, card.code, slot, kept, options)


def ordinal(text: str) -> int | None:
    """The position an answer points at ("the second one" -> 1, "the last" -> -1), or None."""
    low = fold(text)
    for index, pattern in _ORDINAL_RES:
        if pattern.search(low):
            return index
    if m := _CJK_ORDINAL_RE.search(low):
        digit = m.group(1) or m.group(2)
        return (_CJK_DIGITS.get(digit) or int(digit)) - 1
    for word, index in _CJK_FIRST_LAST:
        if word in low:
            return index
    return None


def read_answer(question: Question, text: str, router: IntentRouter, sure: float = 0.9) -> Reading:
    """How the customer's message relates to the open question (see the module's doc); a
    second wrong answer is no answer: the question is dropped and the message routed."""
    reading = _read(question, text, router, sure)
    if reading.kind == "wrong" and question.strikes >= MAX_STRIKES:
        return Reading("other")
    return reading


def _read(question: Question, text: str, router: IntentRouter, sure: float) -> Reading:
    intent = router.route(text)
    found = router.entities(text)
    if intent is not None and intent.tool != question.tool:
        if not _aims_at(question, text, found):
            return Reading("other")  # "I want pro" when a coin was asked: a new request
        if intent.confidence >= sure and found.words > SHORT_ANSWER_WORDS:
            return Reading("other")  # a different clear request replaces the question
    if (found.negated and question.tool in MONEY_TOOLS) or (
        found.keep and question.tool == CANCEL
    ):
        return Reading("other")  # "not pro", "don't cancel #12": never an answer
    names = TOOL_ARGS[question.tool]
    said: dict[str, object] = {}
    if "plan" in names and len(found.plans) == 1:
        said["plan"] = found.plans[0]
    if "coin" in names and len(found.coins) == 1:
        said["coin"] = found.coins[0]
    if question.slot != "payment_id" and question.slot not in said:
        if (named := _named_option(text, question.options)) is not None:
            said[question.slot] = named  # "trc20" of usdttrc20, usdterc20
    position = ordinal(text)
    if position is None and question.slot != "payment_id" and len(found.bare) == 1:
        position = found.bare[0] - 1 if found.bare[0] > 0 else None  # "2": the second choice
    if "payment_id" in names and position is None:
        ids = found.ids or found.bare
        if len(ids) == 1:
            said["payment_id"] = ids[0]
    if question.slot not in said and position is not None:
        if not -len(question.options) <= position < len(question.options):
            return _wrong(question, "")  # "the fifth one" of two
        choice = question.options[position]
        said[question.slot] = int(choice) if question.slot == "payment_id" else choice
    if said:
        return Reading("answer", _kept(question.tool, {**question.args, **said}))
    if intent is not None and intent.confidence >= sure and intent.tool == question.tool:
        # the same request again
        return Reading("answer", _kept(question.tool, {**question.args, **intent.args}))
    if (
        question.slot != "payment_id"
        and len(found.unknown) == 1
        and found.words <= WRONG_ANSWER_WORDS
        and not found.ids
    ):
        return _wrong(question, found.unknown[0][:MAX_NAME])
    return Reading("other")


def _aims_at(question: Question, text: str, found: Entities) -> bool:
    """Whether a message names what was asked ("eth", "mit bitcoin", "#12", "the second
    one", "3", "trc20" of the networks offered), or tries to in a word nobody knows
    ("dogecoin"): an answer, right or wrong, whatever it would mean on its own ("eth" alone
    asks whether Ethereum is accepted)."""
    position = ordinal(text)
    if question.slot == "payment_id":
        return bool(found.ids or found.bare) or position is not None
    named = found.plans if question.slot == "plan" else found.coins
    if named or position is not None or len(found.bare) == 1:  # "3": the third choice
        return True
    if _named_option(text, question.options) is not None:
        return True
    return len(found.unknown) == 1 and found.words <= WRONG_ANSWER_WORDS


def _named_option(text: str, options: Sequence[str]) -> str | None:
    """The one option whose code holds the whole message ("trc20" -> "usdttrc20")."""
    typed = re.sub(r"[\W_]", "", fold(text))
    hits = [o for o in options if len(typed) >= 3 and typed in o.lower()]
    return hits[0] if len(hits) == 1 else None


def _wrong(question: Question, word: str) -> Reading:
    """Ask again, naming what did not fit: "I don't accept “dogecoin”. Coins: ..." """
    valid = list(question.options)
    if question.slot == "payment_id":
        ids = [int(o) for o in valid]
        return Reading("wrong", card=ErrorCard(question.code, {"ids": ids}))
    if word:
        code = "unknown_coin" if question.slot == "coin" else "unknown_plan"
        return Reading("wrong", card=ErrorCard(code, {"name": word, "valid": valid}))
    code = "need_coin" if question.slot == "coin" else "need_plan"
    return Reading("wrong", card=ErrorCard(code, {"valid": valid, **question.args}))
