"""Word tables for :mod:`bot.agent.router`, one table per language.

Add a language by writing one more :class:`Lexicon` and registering it in ``LEXICONS``; the
router merges every table, so mixed sentences ("ich will pro with solana kaufen") just work.

Words are written in plain lowercase; the router folds them like the user's text
(``ä``/``ae`` -> ``a``, ``ö``/``oe`` -> ``o``, ``ü``/``ue`` -> ``u``, ``ß`` -> ``ss``), so
both spellings of a German word match. Intent features use a tiny syntax:

* ``"word"``  - one token; fnmatch wildcards allowed (``"zahlung*"``); small typos of words
  with 5+ letters are corrected by the router before matching;
* ``"a b"``   - a contiguous phrase;
* ``"a+b"``   - every part occurs somewhere in the message;
* ``"^a b"``  - a phrase at the very start of the message (greetings: "hello ..." but not
  "translate hello").

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
    currency_words: frozenset[str]  # "49 dollars" -> an amount, never an id
    coin_cues: dict[str, frozenset[str]]  # word right before a coin -> intent it hints at
    not_plan_after: frozenset[str]  # "49 euro pro monat": "pro" is not the plan here
    domain: frozenset[str]  # shop words; a message with none of them (and no entity) is
    # probably chatter: "can you recommend a good movie"


# fmt: off
EN: Lexicon = {
    "intents": {
        "get_user_plan": {
            "my+plan": 2.5, "my+subscription": 2.5, "my+membership": 2.5, "my current": 1.5,
            "current+plan": 1.5, "current+subscription": 1.5, "plan+have": 1.5,
            "subscription+have": 1.5, "am i on": 2.5, "subscribed": 2.5, "active": 1.0,
            "expire*": 1.5, "current": 0.8, "currently": 0.5, "subscription": 0.8,
            "membership": 0.8, "plan": 0.5, "tier": 0.5, "do i have": 1.5, "worth": 2.5,
            "upgrade+give*": 3.0, "upgrade+get": 2.5, "upgrade+offer*": 2.5, "what+upgrade": 1.5,
            "upgrade+worth": 1.5,
        },
        "recommend_best_currency": {
            "recommend*": 3.0, "recomend*": 3.0, "suggest*": 3.0, "best": 1.5, "cheapest": 2.5,
            "lowest": 1.5, "fee*": 1.0, "should": 1.2, "should+pay": 1.5, "choose": 1.0,
            "best+coin": 1.0, "best+currency": 1.0, "best+crypto*": 1.0, "which+coin": 0.8,
            "which+currency": 0.8, "which+crypto": 0.5, "what+coin": 0.8, "use": 0.3,
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
            "create": 3.0, "invoice": 2.0, "get me": 1.5, "go with": 1.5, "want": 0.8,
            "would like": 0.8, "take": 0.8, "paid+with": 1.0,
        },
        "retry_failed_payment": {
            "retry": 4.0, "re try": 4.0, "try again": 3.0, "again": 1.5, "redo": 3.0,
            "restart": 3.0, "once more": 2.0, "one more time": 2.0, "fail*": 1.5, "expired": 1.0,
            "try": 0.5, "try+again": 1.5,
        },
        "check_payment_status": {
            "status": 2.5, "confirm*": 2.0, "go through": 2.5, "went through": 2.5,
            "receive*": 2.0, "arrive*": 2.0, "done": 1.5, "update": 1.5, "check": 1.0,
            "where+payment": 2.0, "paid": 1.2, "already paid": 3.0, "not+active": 1.5,
            "why+not": 0.5, "get+money": 2.0, "money": 1.0, "sent": 1.0, "bought": 1.0,
            "success*": 2.0, "pending": 2.0, "my payment": 1.0, "is+payment": 1.0,
        },
        "get_payment_history": {
            "history": 3.0, "payments": 2.0, "transactions": 2.5, "invoices": 2.0,
            "purchases": 2.0, "my payments": 1.0, "all+payments": 1.0, "previous": 1.0,
            "past": 1.0, "before": 1.0, "so far": 1.5, "did+pay": 2.0, "made": 0.5, "last": 0.5,
            "show": 0.3, "list": 0.5, "payment+fail*": 3.0, "payment+went wrong": 3.0,
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
        r either neither other whether together one way yet ago hour hours"""
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
    "coin_cues": {
        "create_crypto_payment": frozenset("with using via paying".split()),
        "get_payment_estimate": frozenset(["in"]),
    },
    "not_plan_after": frozenset("month year week day".split()),
    "domain": frozenset(
        """plan* subscri* member* tier coin* currenc* crypto* token* pay* paid price* pricing
        cost* invoice* money fee* history transaction* status order* buy purchase* checkout
        network* wallet retry refund*""".split()
    ),
}

DE: Lexicon = {
    "intents": {
        "get_user_plan": {
            "mein*+plan": 2.5, "mein*+abo*": 2.5, "mein*+tarif": 2.5, "welch*+plan": 1.0,
            "welch*+abo*": 1.0, "welch*+tarif": 1.0, "plan+hab*": 1.5, "abo*+hab*": 1.5,
            "tarif+hab*": 1.5, "hab* ich": 1.0, "aktuell*": 1.0, "aktiv*": 1.0, "lauft+ab": 1.5,
            "ablauf*": 1.5, "abonniert": 2.5, "bin ich": 1.5, "kunde": 0.8, "momentan": 0.5,
            "abo": 0.8, "abonnement": 0.8, "tarif": 0.8, "plan": 0.5, "lohn*": 2.5,
            "upgrade+bring*": 3.0, "upgrade+bekomm*": 2.5, "was+upgrade": 1.5,
            "upgrade+lohn*": 1.5,
        },
        "recommend_best_currency": {
            "empfehl*": 3.0, "empfiehl*": 3.0, "beste*": 1.5, "am besten": 2.0, "gunstigst*": 2.5,
            "billigst*": 2.5, "niedrigst*": 1.5, "gebuhr*": 1.0, "soll": 1.2, "sollte": 1.2,
            "womit": 1.5, "welch*+wahrung": 0.8, "welch*+coin": 0.8, "welch*+kryptowahrung": 0.5,
            "beste*+wahrung": 1.0, "beste*+coin": 1.0, "beste*+krypto*": 1.0, "verwenden": 0.3,
            "nehmen": 0.3, "wahrung fur": 2.5, "coin fur": 2.5, "krypto fur": 2.5,
        },
        "get_available_cryptocurrencies": {
            "akzeptier*": 3.0, "unterstutz*": 2.5, "verfugbar*": 2.0, "nehmt+ihr": 2.5,
            "nehmt": 1.5, "coins": 1.2, "*wahrungen": 1.2, "kryptowahrungen": 0.3, "krypto": 1.0,
            "zahlungsmethod*": 2.5, "zahlungsart*": 2.5, "zahlungsoption*": 2.5,
            "kann ich mit": 1.5, "kann+ich+*zahlen": 2.5, "mit welchen": 1.5, "welch*+coins": 1.0,
            "welch*+*wahrungen": 1.0, "gibt es": 0.5, "liste": 0.8, "alle": 0.5,
        },
        "get_payment_estimate": {
            "kost*": 2.5, "preis*": 2.5, "wie viel": 2.5, "wieviel": 2.5, "teuer": 2.5,
            "brauch*": 0.5, "was+muss": 1.5, "ware": 0.3,
        },
        "create_crypto_payment": {
            "kauf": 3.0, "kaufe": 3.0, "kaufen": 3.0, "bestell*": 3.0, "abonnieren": 3.0,
            "abonniere": 3.0, "buchen": 3.0, "buche": 3.0, "bezahlen": 1.5, "bezahle": 2.0,
            "zahlen": 1.5, "zahle": 2.0, "upgrade": 2.5, "verlanger*": 2.5, "erstell*": 3.0,
            "rechnung": 2.0, "mochte": 0.8, "will": 0.8, "wurde+gern*": 0.8, "gern": 0.5,
            "gerne": 0.5, "nehme": 1.0, "gib mir": 1.5,
        },
        "retry_failed_payment": {
            "erneut": 2.5, "nochmal": 2.0, "noch einmal": 2.0, "wiederhol*": 3.5,
            "neu starten": 3.0, "neu versuchen": 3.0, "versuch*": 1.0, "probier*": 1.0,
            "fehlgeschlagen*": 1.5, "gescheitert": 1.5, "abgelaufen": 1.0, "neu": 0.5,
        },
        "check_payment_status": {
            "status": 2.5, "bestatig*": 2.0, "angekommen": 2.5, "ankommen": 2.0, "durch": 1.5,
            "bekommen": 1.5, "erhalten": 1.5, "eingegangen": 2.5, "neuigkeit*": 2.0,
            "wo bleibt": 2.5, "pruf*": 1.5, "uberpruf*": 1.5, "bezahlt": 1.2, "gezahlt": 1.2,
            "schon+bezahlt": 3.0, "nicht+aktiv": 1.5, "warum+nicht": 0.5, "geld": 1.0,
            "geld+bekommen": 1.0, "erfolgreich": 2.0, "nachsehen": 1.5, "nachschauen": 1.5,
            "geschickt": 1.0, "gesendet": 1.0, "gekauft": 1.0, "uberwiesen": 1.0,
            "mein* zahlung": 1.0, "ist+zahlung": 1.0,
        },
        "get_payment_history": {
            "zahlungen": 2.0, "zahlungsverlauf": 3.0, "verlauf": 2.5, "*historie": 3.0,
            "transaktionen": 2.5, "rechnungen": 2.0, "bisher*": 1.5, "bisher+*zahlt": 1.5,
            "fruher*": 1.0, "alle+zahlungen": 1.0, "letzte*": 0.5, "zeig*": 0.3, "anzeigen": 0.3,
            "auflisten": 0.5, "liste": 0.5, "zahlung+fehlgeschlagen*": 3.0,
            "zahlung+gescheitert": 3.0, "zahlung+schiefgegangen": 3.0,
        },
        "help": {
            "^hallo": 2.0, "^servus": 2.0, "^moin": 2.0, "^guten morgen": 2.5, "^guten tag": 2.5,
            "^guten abend": 2.5, "bot": 2.0, "hilf*": 2.5, "helfen": 2.0, "was kannst du": 3.0,
            "wie funktioniert": 2.5, "befehle": 2.5, "danke": 2.0, "was machst du": 2.0,
        },
    },
    "stopwords": frozenset(
        """ich du er sie es wir ihr mich mir dich dir uns euch mein meine meinen meinem
        meiner dein deine der die das den dem des ein eine einen einem einer und oder aber
        wenn dann ist sind bin bist war wurde wurden werden wird hat habe hab haben hast habt
        kann kannst konnen konnten sollen will mochte mochten bitte mit fur von vom zu zum
        zur auf an in im bei nach aus uber unter um was wie wo wer welche welcher welches
        welchen welchem wann warum wieso nicht kein keine auch noch schon so ja nein mal doch
        denn gerade jetzt sagen zeig zeige man es gibt vielen dank hier da sich vor einer
        stunde ab fuer bis sehr gibts so""".split()
    ),
    "numbers": {
        "eins": 1, "zwei": 2, "drei": 3, "vier": 4, "funf": 5, "sechs": 6, "sieben": 7,
        "acht": 8, "neun": 9, "zehn": 10, "zwanzig": 20,
    },
    "id_anchors": frozenset(
        "zahlung rechnung bestellung transaktion id nr nummer".split()
    ),
    "count_before": frozenset("letzten letzte neuesten jungsten ersten".split()),
    "count_nouns": frozenset("zahlungen rechnungen transaktionen kaufe bestellungen".split()),
    "currency_words": frozenset("euro eur dollar usd cent franken chf".split()),
    "coin_cues": {
        "create_crypto_payment": frozenset("mit per uber".split()),
        "get_payment_estimate": frozenset(["in"]),
    },
    "not_plan_after": frozenset("monat jahr woche tag".split()),
    "domain": frozenset(
        """plan* abo* tarif* coin* *wahrung* krypto* token* *zahl* preis* kost* rechnung*
        geld gebuhr* verlauf *historie transaktion* status bestell* kauf* netzwerk* wallet
        buch*""".split()
    ),
}
# fmt: on

LEXICONS: dict[str, Lexicon] = {"en": EN, "de": DE}

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
    },  # an existing payment is no new one
    "count": {"get_payment_history": 1.5},
}
# "with <coin>" hints at buying, "in <coin>" at a price question
COIN_CUE_WEIGHTS = {"create_crypto_payment": 1.5, "get_payment_estimate": 0.6}
