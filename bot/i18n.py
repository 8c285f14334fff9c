"""Translations (gettext catalogs read with Babel) and locale-aware formatting.

The locale lives in a context variable for one handler or one delivery; `_()` reads it.
The shop's own words from `config.toml` (plan features) are not in the catalogs: `[texts.<lang>]`
translates them, and `shop_text()` looks them up (the configured text when there is none).
Log lines are never translated.
"""

from __future__ import annotations

import contextvars
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_timedelta
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import NullTranslations, Translations

from tools.uris import format_plain

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "paybot"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("paybot_locale", default="en")
_catalogs: dict[str, NullTranslations] = {}
_shop_texts: dict[str, dict[str, str]] = {}
MEMO = 4096  # formatted amounts, dates, durations and lists kept per kind (`lru_cache`)


def load_catalogs(locales: Iterable[str], directory: Path = LOCALES_DIR) -> None:
    """Read `locales/<lang>/LC_MESSAGES/paybot.po` for each language (once per process)."""
    for lang in locales:
        po = directory / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        if not po.exists():
            _catalogs[lang] = NullTranslations()
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        _catalogs[lang] = Translations(buffer, domain=DOMAIN)


def load_shop_texts(texts: Mapping[str, Mapping[str, str]]) -> None:
    """The shop's own words per language (`[texts.<lang>]` in the config), replacing any
    loaded before."""
    _shop_texts.clear()
    _shop_texts.update({lang: dict(words) for lang, words in texts.items()})
    _listing.cache_clear()  # lists of shop words were written with the old ones


def shop_text(text: str) -> str:
    """One of the shop's own words in the current language, as configured when untranslated."""
    return _shop_texts.get(_current.get(), {}).get(text, text)


def listing(items: Iterable[str]) -> str:
    """Shop words as the current language lists them ("A, B, and C", "A、B和C")."""
    return _listing(tuple(items), _current.get())


# Babel parses the locale and the CLDR pattern on every call (a fifth of a command's own CPU
# before): what it writes depends only on the arguments and the language, so the answers are
# kept, a few thousand of each (the catalog's prices, features and dates are a handful)
@lru_cache(maxsize=MEMO)
def _listing(items: tuple[str, ...], locale: str) -> str:
    words = _shop_texts.get(locale, {})
    return format_list([words.get(i, i) for i in items], locale=locale)


def normalize_locale(hint: str | None, supported: Iterable[str]) -> str | None:
    """Map `de-AT`, `de_DE`, `zh-Hans` ... onto a supported base language, or None."""
    if not hint:
        return None
    return _normalized(hint, tuple(supported))


@lru_cache(maxsize=MEMO)  # every message asks it of its platform's language hint
def _normalized(hint: str, supported: tuple[str, ...]) -> str | None:
    try:
        parsed = Locale.parse(hint.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        base = hint.replace("_", "-").split("-")[0].lower()
        return base if base in supported else None
    return parsed.language if parsed.language in supported else None


def language_name(code: str) -> str:
    """A language's name in that language ("Deutsch" for de)."""
    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:]


@contextmanager
def using_locale(locale: str) -> Iterator[None]:
    token = _current.set(locale)
    try:
        yield
    finally:
        _current.reset(token)


def _(message: str) -> str:
    catalog = _catalogs.get(_current.get())
    return catalog.gettext(message) if catalog else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """A message whose words agree with the number `n` ("queda 1 minuto", "quedan 2
    minutos"), by the language's plural rule."""
    catalog = _catalogs.get(_current.get())
    if catalog is None:
        return singular if n == 1 else plural
    return catalog.ngettext(singular, plural, n)


def money(amount: Decimal, currency: str) -> str:
    """A fiat amount for people: `$299.00` in English, `299,00 $` in German."""
    return _money(str(amount), currency, _current.get())  # 1.0 and 1.00 are equal keys


@lru_cache(maxsize=MEMO)
def _money(amount: str, currency: str, locale: str) -> str:
    return format_currency(Decimal(amount), currency, locale=locale)


def crypto(amount: Decimal) -> str:
    """A crypto amount, written the way wallets read it in every language: a dot, no
    grouping, every significant decimal (never rounded into a wrong payment). Customers copy
    these into wallets, where `1,99333334` is another number or an error."""
    return format_plain(amount)


def when(moment: datetime) -> str:
    """A date and time in UTC, written the locale's way (times are shown in UTC, and say so)."""
    return _when(moment, _current.get())


@lru_cache(maxsize=MEMO)
def _when(moment: datetime, locale: str) -> str:
    return format_datetime(moment, format="medium", tzinfo=UTC, locale=locale) + " UTC"


# Babel (CLDR) writes "1 分", "2 時間後" in Japanese; Japanese text sets no space there
_UNSPACED = {"ja", "zh"}
_SPACE_AFTER_DIGIT = re.compile(r"(?<=\d)[ \u00a0\u202f]+")


def _unspaced(text: str) -> str:
    return _SPACE_AFTER_DIGIT.sub("", text) if _current.get() in _UNSPACED else text


def duration(seconds: float) -> str:
    """How long, the locale's way, rounded to its largest unit: "1 minute", "2 Stunden"."""
    return _duration(seconds, _current.get())


@lru_cache(maxsize=MEMO)
def _duration(seconds: float, locale: str) -> str:
    text = format_timedelta(
        seconds, granularity="second", threshold=1.0, format="long", locale=locale
    )
    return _SPACE_AFTER_DIGIT.sub("", text) if locale in _UNSPACED else text


def count_in(text: str) -> int:
    """The number a `duration()` shows ("2 minutos" → 2), for the words that agree with it."""
    found = re.search(r"\d+", text)
    return int(found.group()) if found else 0


def time_until(seconds: float) -> str:
    """How far ahead a moment is, the locale's way: "in 3 days", "in 3 Tagen"."""
    return _unspaced(
        format_timedelta(
            max(seconds, 0),
            granularity="second",
            threshold=1.0,
            add_direction=True,
            format="long",
            locale=_current.get(),
        )
    )
