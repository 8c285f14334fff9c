"""German words for the offline router (see :mod:`bot.agent.lexicons.schema`)."""

from __future__ import annotations

from bot.agent.lexicons.schema import Lexicon

# fmt: off
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
            "rechnung": 2.0, "mochte": 1.5, "will": 1.5, "wurde+gern*": 0.8, "gern": 0.5,
            "gerne": 0.5, "nehme": 1.5, "gib mir": 1.5,
        },
        "retry_failed_payment": {
            "erneut": 2.5, "nochmal": 2.0, "noch einmal": 2.0, "wiederhol*": 3.5,
            "neu starten": 3.0, "neu versuchen": 3.0, "versuch*": 1.0, "probier*": 1.0,
            "fehlgeschlagen*": 1.5, "gescheitert": 1.5, "abgelaufen": 1.0, "neu": 0.5,
        },
        "check_payment_status": {
            "wurde+storniert": 5.0, "warum+storniert": 5.0, "ist+storniert": 5.0,
            "wurde+abgebrochen": 5.0, "warum+abgebrochen": 5.0,
            "status": 2.5, "bestatig*": 2.0, "angekommen": 2.5, "ankommen": 2.0, "durch": 1.5,
            "bekommen": 1.5, "erhalten": 1.5, "eingegangen": 2.5, "neuigkeit*": 2.0,
            "wo bleibt": 2.5, "pruf*": 1.5, "uberpruf*": 1.5, "bezahlt": 1.2, "gezahlt": 1.2,
            "schon+bezahlt": 3.0, "nicht+aktiv": 1.5, "warum+nicht": 0.5, "geld": 1.0,
            "geld+bekommen": 1.0, "erfolgreich": 2.0, "nachsehen": 1.5, "nachschauen": 1.5,
            "geschickt": 1.0, "gesendet": 1.0, "gekauft": 1.0, "uberwiesen": 1.0,
            "mein* zahlung": 1.0, "ist+zahlung": 1.0,
        },
        "cancel_payment": {
            "stornier*": 4.0, "stornier*+kauf*": 2.0, "storno": 4.0, "abbrech*": 3.5,
            "abbruch": 3.0, "brich+ab": 3.5, "breche+ab": 3.5, "annullier*": 4.0, "losch*": 2.5,
            "zuruckzieh*": 2.5, "nicht mehr": 1.0, "cancel*": 3.5,
        },
        "get_payment_history": {
            "zahlungen": 2.0, "zahlungsverlauf": 3.0, "verlauf": 2.5, "*historie": 3.0,
            "transaktionen": 2.5, "rechnungen": 2.0, "bisher*": 1.5, "bisher+*zahlt": 1.5,
            "fruher*": 1.0, "alle+zahlungen": 1.0, "letzte*": 0.5, "zeig*": 0.3, "anzeigen": 0.3,
            "auflisten": 0.5, "liste": 0.5, "zahlung+fehlgeschlagen*": 3.0,
            "zahlung+gescheitert": 3.0, "zahlung+schiefgegangen": 3.0,
        },
        "language": {
            "sprache": 3.0, "sprich": 1.5, "sprichst": 1.5, "sprechen": 1.5, "wechsel*": 1.0,
            "umstell*": 1.0, "stell+um": 1.0, "antworte*": 1.0, "auf+umstellen": 1.0,
            "auf": 0.8,
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
    "time_words": frozenset(
        """min minute minuten h std stunde stunden sek sekunde sekunden tag tage tagen
        woche wochen monat monate monaten""".split()
    ),
    "time_before": frozenset("vor seit".split()),
    "coin_cues": {
        "create_crypto_payment": frozenset("mit per uber".split()),
        "get_payment_estimate": frozenset(["in"]),
    },
    "coin_cues_after": {},
    "not_plan_after": frozenset("monat jahr woche tag".split()),
    "domain": frozenset(
        """stornier* storno abbrech* annullier* plan* abo* tarif* coin* *wahrung* krypto* token*
        *zahl* preis* kost* rechnung* geld gebuhr* verlauf *historie transaktion* status
        bestellung* kauf* netzwerk* wallet buch* sprache* sprich* sprechen""".split()
    ),
    "languages": {
        "englisch": "en", "deutsch": "de", "spanisch": "es", "franzosisch": "fr",
        "chinesisch": "zh", "japanisch": "ja",
    },
    "coin_names": {},
    "coin_families": {},
    "plan_names": {},
    "negations": (r"\b(?:nicht|kein\w*|nie|niemals|storniere\w*)\b",),
    "thanks": (r"\b(?:danke\w*|vielen\s+dank|tschüss|tschuss|ciao|auf\s+wiedersehen)\b",),
    "keep_payment": (
        r"nicht\s+(?:\w+\s+)?(?:storn|abbrech|annull|lösch|losch|cancel)",
        r"(?:storn|annull|lösch|losch)\w*\s+(?:\w+\s+){0,2}nicht\b(?!\s+mehr)",
        r"\bbrich\w*\s+(?:\w+\s+){0,3}nicht\s+ab\b",
    ),
}
# fmt: on
