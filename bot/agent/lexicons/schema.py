"""The shape of a word table, and the evidence that does not depend on the language.

Words are written in plain lowercase; the router folds them like the user's text (accents
stripped from Latin letters, ``ß`` -> ``ss``, German ``ae``/``oe``/``ue`` -> ``a``/``o``/``u``,
a few Traditional Chinese characters -> Simplified), so "Währung"/"Waehrung", "qué"/"que" and
"買"/"买" match the same entry. Intent features use a tiny syntax:

* ``"word"``  - one token; fnmatch wildcards allowed (``"zahlung*"``); small typos of words
  with 5+ letters are corrected by the router before matching;
* ``"a b"``   - a contiguous phrase;
* ``"a+b"``   - every part occurs somewhere in the message;
* ``"^a b"``  - a phrase at the very start of the message (greetings: "hello ..." but not
  "translate hello").

Chinese and Japanese entries are whole words ("历史", "支払い"): the router cuts runs of CJK
characters into the longest entries it knows, so write each word the way it is cut, without
wildcards.

Weights: ~3 a decisive word, ~2 strong, ~1 supporting, <1 a weak hint.
"""

from __future__ import annotations

from typing import TypedDict


class Lexicon(TypedDict):
    intents: dict[str, dict[str, float]]  # intent -> {feature: weight}
    stopwords: frozenset[str]  # filler words: known, but no evidence for any intent
    numbers: dict[str, int]  # number words usable as a count ("last five payments")
    id_anchors: frozenset[str]  # a number right after one of these is a payment id
    count_before: frozenset[str]  # "last 3" -> a count
    count_nouns: frozenset[str]  # "3 payments" -> a count
    currency_words: frozenset[str]  # "49 dollars", "50元" -> an amount, never an id
    time_words: frozenset[str]  # "20 min", "2h", "10分钟": a duration, never an id or count
    time_before: frozenset[str]  # "vor 10", "hace 20": a duration follows, never an id
    coin_cues: dict[str, frozenset[str]]  # word right before a coin -> intent it hints at
    coin_cues_after: dict[str, frozenset[str]]  # the same right after it (Japanese particles)
    not_plan_after: frozenset[str]  # "49 euro pro monat": "pro" is not the plan here
    domain: frozenset[str]  # shop words; a message with none of them (and no entity) is
    # probably chatter: "can you recommend a good movie"
    languages: dict[str, str]  # a language's name -> its code ("französisch" -> "fr")
    coin_names: dict[str, str]  # a local coin name -> a catalog alias ("比特币" -> "bitcoin")
    coin_families: dict[str, str]  # a local name of a coin sold on several networks -> its
    # first word in the catalog ("泰达币" -> "usdt"); one Latin letter ("U") counts beside CJK
    plan_names: dict[str, str]  # a local spelling of a plan name -> the name ("プロ" -> "pro")
    negations: tuple[str, ...]  # regexes: a message matching one never starts a payment
    thanks: tuple[str, ...]  # regexes: a thank-you or goodbye (a greeting that ends a talk)
    keep_payment: tuple[str, ...]  # regexes: a message matching one never cancels a payment


# Evidence that comes from entities rather than words (language independent).
ENTITY_WEIGHTS: dict[str, dict[str, float]] = {
    "plan": {
        "get_payment_estimate": 1.6,
        "create_crypto_payment": 0.6,
        "recommend_best_currency": 0.4,
    },
    "coin": {"get_payment_estimate": 0.8, "create_crypto_payment": 0.8},
    "payment_id": {
        "retry_failed_payment": 0.8,
        "check_payment_status": 0.8,
        "create_crypto_payment": -1.0,
        "cancel_payment": 0.8,
    },  # an existing payment is no new one
    "count": {"get_payment_history": 1.5},
    "language": {"language": 1.2},  # weak alone: "translate hello into spanish"
}
# "with <coin>" hints at buying, "in <coin>" at a price question
COIN_CUE_WEIGHTS = {"create_crypto_payment": 1.5, "get_payment_estimate": 0.6}
