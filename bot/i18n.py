"""Translations (gettext catalogs read with Babel) and locale-aware formatting.

The locale lives in a context variable for one handler or one delivery; `_()` reads it.
The shop's own words from `config.toml` (plan features) are not in the catalogs: `[texts.<lang>]`
translates them, and `shop_text()` looks them up (the configured text when there is none).
Log lines are never translated.
"""

from __future__ import annotations

import contextvars
import io
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_timedelta
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "paybot"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("paybot_locale", default="en")
_catalogs: dict[str, NullTranslations] = {}
_shop_texts: dict[str, dict[str, str]] = {}


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


def shop_text(text: str) -> str:
    """One of the shop's own words in the current language, as configured when untranslated."""
    return _shop_texts.get(_current.get(), {}).get(text, text)


def listing(items: Iterable[str]) -> str:
    """Shop words as the current language lists them ("A, B, and C", "A、B和C")."""
    return format_list([shop_text(i) for i in items], locale=_current.get())


def normalize_locale(hint: str | None, supported: Iterable[str]) -> str | None:
    """Map `de-AT`, `de_DE`, `zh-Hans` ... onto a supported base language, or None."""
    if not hint:
        return None
    supported = list(supported)
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


def money(amount: Decimal, currency: str) -> str:
    """A fiat amount for people: `$299.00` in English, `299,00 $` in German."""
    return format_currency(amount, currency, locale=_current.get())


def crypto(amount: Decimal) -> str:
    """A crypto amount, every significant decimal kept (never rounded into a wrong payment)."""
    text = format(amount.normalize(), "f") if amount else "0"
    places = len(text.split(".")[1]) if "." in text else 0
    pattern = "0." + "0" * places if places else "0"  # no grouping: amounts get copied
    return format_decimal(
        amount, format=pattern, locale=_current.get(), decimal_quantization=False
    )


def when(moment: datetime) -> str:
    """A date and time in UTC, written the locale's way (times are shown in UTC, and say so)."""
    return format_datetime(moment, format="medium", tzinfo=UTC, locale=_current.get()) + " UTC"


def duration(seconds: float) -> str:
    return format_timedelta(
        seconds, granularity="second", threshold=1.0, format="long", locale=_current.get()
    )


def time_until(seconds: float) -> str:
    """How far ahead a moment is, the locale's way: "in 3 days", "in 3 Tagen"."""
    return format_timedelta(
        max(seconds, 0),
        granularity="second",
        threshold=1.0,
        add_direction=True,
        format="long",
        locale=_current.get(),
    )
