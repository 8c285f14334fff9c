"""English words for the offline router (see :mod:`bot.agent.lexicons.schema`)."""

from __future__ import annotations

from bot.agent.lexicons.schema import Lexicon

# fmt: off
EN: Lexicon = {
    "intents": {
        "get_user_plan": {
            "my+plan": 2.5, "my+subscription": 2.5, "my+membership": 2.5, "my current": 1.5,
            "current+plan": 1.5, "current+subscription": 1.5, "plan+have": 1.5,
            "subscription+have": 1.5, "am i on": 2.5, "subscribed": 2.5, "active": 1.0,
            "expire*": 1.5, "valid": 1.0, "current": 0.8, "currently": 0.5, "subscription": 0.8,
            "membership": 0.8, "plan": 0.5, "tier": 0.5, "do i have": 1.5, "worth": 2.5,
            "upgrade+give*": 3.0, "upgrade+get": 2.5, "upgrade+offer*": 2.5, "what+upgrade": 1.5,
            "upgrade+worth": 1.5,
        },
        "recommend_best_currency": {
            "recommend*": 3.0, "recomend*": 3.0, "suggest*": 3.0, "best": 1.5, "cheapest": 2.5,
            "lowest": 1.5, "fee*": 1.0, "should": 1.2, "should+pay": 1.5, "should+use": 1.5,
            "choose": 1.0, "best+coin": 1.0, "best+currency": 1.0, "best+crypto*": 1.0,
            "which+coin": 0.8, "which+currency": 0.8, "which+crypto": 0.5, "what+coin": 0.8,
            "use": 0.3,
            "currency for": 2.5, "coin for": 2.5, "crypto for": 2.5,
        },
        "get_available_cryptocurrencies": {
            "accept*": 3.0, "support*": 2.5, "available": 2.0, "coins": 1.2, "currencies": 1.2,
            "cryptocurrencies": 1.5, "cryptos": 1.2, "tokens": 1.2, "crypto": 1.0,
            "payment methods": 2.5, "methods": 1.0, "options": 1.0, "do you take": 2.0,
            "can i pay": 2.5, "all+coins": 1.0, "what+coins": 1.0, "which+coins": 1.0,
            "what+currencies": 1.0, "which+currencies": 1.0, "can+use": 1.0, "list": 0.8,
            "all": 0.5, "take": 0.5,
        },
        "get_payment_estimate": {
            "cost*": 2.5, "price*": 2.5, "pricing": 2.5, "how much": 2.5, "how many": 2.0,
            "estimate": 2.5, "quote": 2.5, "expensive": 2.0, "need": 0.5, "would+be": 0.5,
        },
        "create_crypto_payment": {
            "buy": 3.0, "purchase": 3.0, "subscribe": 3.0, "order": 2.5, "checkout": 3.0,
            "sign+up": 3.0, "upgrade": 2.5, "renew*": 2.5, "pay": 2.0, "paying": 2.0,
            "create": 3.0, "invoice": 2.0, "get me": 1.5, "go with": 1.5, "want": 1.5,
            "would like": 1.5, "take": 0.8, "paid+with": 1.0,
        },
        "retry_failed_payment": {
            "timed out": 2.0, "fresh quote": 3.0, "new quote": 3.0,
            "retry": 4.0, "re try": 4.0, "try again": 3.0, "again": 1.5, "redo": 3.0,
            "restart": 3.0, "once more": 2.0, "one more time": 2.0, "fail*": 1.5, "expired": 1.0,
            "try": 0.5, "try+again": 1.5,
        },
        "check_payment_status": {
            "was+cancel*": 5.0, "why+cancel*": 5.0, "is+cancelled": 5.0, "is+canceled": 5.0,
            "status": 2.5, "confirm*": 2.0, "go through": 2.5, "went through": 2.5,
            "receive*": 2.0, "arrive*": 2.0, "done": 1.5, "update": 1.5, "check": 1.0,
            "where+payment": 2.0, "paid": 1.2, "already paid": 3.0, "not+active": 1.5,
            "why+not": 0.5, "get+money": 2.0, "money": 1.0, "sent": 1.0, "bought": 1.0,
            "success*": 2.0, "pending": 2.0, "my payment": 1.0, "is+payment": 1.0,
        },
        "cancel_payment": {
            "cancel*": 4.0, "cancel*+purchase*": 2.0, "cancel*+order*": 1.5, "abort": 3.5,
            "call off": 3.5, "void": 2.5, "withdraw": 2.0, "changed+mind": 2.0,
            "delete+payment": 3.0, "remove+payment": 3.0, "stop+payment": 3.0, "no longer": 1.0,
            "anymore": 1.0,
        },
        "get_payment_history": {
            "history": 3.0, "payments": 2.0, "transactions": 2.5, "invoices": 2.0,
            "purchases": 2.0, "my payments": 1.0, "all+payments": 1.0, "previous": 1.0,
            "past": 1.0, "before": 1.0, "so far": 1.5, "did+pay": 2.0, "made": 0.5, "last": 0.5,
            "show": 0.3, "list": 0.5, "payment+fail*": 3.0, "payment+went wrong": 3.0,
        },
        "language": {
            "language": 3.0, "languages": 3.0, "speak": 1.5, "talk": 1.0, "switch": 1.0,
            "change+language": 1.0, "reply+in": 1.0, "answer+in": 1.0, "set+language": 1.0,
            "in": 0.8,
        },
        "help": {
            "^hi": 2.0, "^hello": 2.0, "^hey": 2.0, "^yo": 2.0, "help": 2.5, "bot": 2.0,
            "what can you do": 3.0, "commands": 2.5, "how+work": 2.5, "^good morning": 2.5,
            "^good evening": 2.5, "thank*": 2.0, "start": 2.0, "menu": 2.0, "who are you": 2.0,
        },
    },
    "stopwords": frozenset(
        """a an the i me my mine you your u we our us it its they them is are am was were be
        been being do does did to of for in on at by with from about as into via and or but
        if then so not no yes please pls plz can could would should will shall may might must
        have has had get got this that these those there here what whats which who when where
        why how rn now just still also too very really much many more any some again ok okay
        oh like want need tell let know wondering guys moment lot appreciate s d ll re ve m t
        r either neither other whether together one way yet ago hour hours called"""
        .split()
    ),
    "numbers": {
        "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
        "eight": 8, "nine": 9, "ten": 10, "twenty": 20,
    },
    "id_anchors": frozenset(
        "payment invoice order transaction id nr no number".split()
    ),
    "count_before": frozenset("last latest recent past previous top first".split()),
    "count_nouns": frozenset("payments invoices transactions purchases orders".split()),
    "currency_words": frozenset("usd dollar dollars bucks eur euro euros cent cents gbp".split()),
    "time_words": frozenset(
        """min mins minute minutes h hr hrs hour hours sec secs second seconds day days
        week weeks month months""".split()
    ),
    "time_before": frozenset("since".split()),
    "coin_cues": {
        "create_crypto_payment": frozenset("with using via paying".split()),
        "get_payment_estimate": frozenset(["in"]),
    },
    "coin_cues_after": {},
    "not_plan_after": frozenset("month year week day".split()),
    "domain": frozenset(
        """cancel* abort plan* subscri* member* tier coin* currenc* crypto* token* pay* paid price*
        pricing cost* invoice* money fee* history transaction* status order* buy purchase*
        checkout network* wallet retry refund* language* speak""".split()
    ),
    "languages": {
        "english": "en", "german": "de", "spanish": "es", "french": "fr", "chinese": "zh",
        "mandarin": "zh", "japanese": "ja",
    },
    "coin_names": {},
    "coin_families": {},
    "plan_names": {},
    "negations": (r"\b(?:not|don'?t|doesn'?t|never|cancel|stop)\b",),
    "thanks": (r"\b(?:thanks?|thank\s+you|thx|ty|cheers|bye|goodbye|see\s+you)\b",),
    "keep_payment": (
        r"\b(?:don'?t|do not|never|not|no need to)\s+(?:\w+\s+){0,2}cancel",
        r"\bkeep\b",
    ),
}
# fmt: on
