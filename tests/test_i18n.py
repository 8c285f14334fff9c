"""Catalogs are complete, placeholders match, and money is formatted per locale."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, _, crypto, load_catalogs, money, normalize_locale, using_locale

LOCALES = ["en", "de", "es", "fr", "zh", "ja"]
TRANSLATED = [lang for lang in LOCALES if lang != "en"]
PLACEHOLDER = re.compile(r"\{(\w*)\}")
# messages that may read the same as English in another language (names, commands, codes)
SAME_OK = {
    "Status: {status}",
    "#{id} · {date} · {plan} · {amount} {coin} · {status}",
    "Memo / destination tag: {memo} (required, or the payment is lost)",
}


def _catalog(lang: str):
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "paybot.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def _forms(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """A message's id or translation as a tuple of its forms (one, or one per plural form)."""
    return value if isinstance(value, tuple) else (value,)


def _template_ids() -> set[str]:
    with (LOCALES_DIR / "paybot.pot").open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


@pytest.mark.parametrize("lang", LOCALES)
def test_every_message_is_translated(lang: str) -> None:
    catalog = _catalog(lang)
    ids = {m.id for m in catalog if m.id}
    assert ids == _template_ids(), "run python locales/update.py"
    missing = [m.id for m in catalog if m.id and not all(_forms(m.string))]
    assert missing == []
    assert not [m.id for m in catalog if m.id and m.fuzzy]


@pytest.mark.parametrize("lang", LOCALES)
def test_placeholders_match_the_source(lang: str) -> None:
    for m in _catalog(lang):
        if m.id:
            wanted = sorted(PLACEHOLDER.findall(_forms(m.id)[0]))
            for form in _forms(m.string):
                assert sorted(PLACEHOLDER.findall(form)) == wanted, m.id


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_are_really_translated(lang: str) -> None:
    same = [
        m.id
        for m in _catalog(lang)
        if m.id and _forms(m.id)[0] in _forms(m.string) and m.id not in SAME_OK
    ]
    assert same == []


def test_the_shipped_configuration_speaks_every_language() -> None:
    from bot.config import load_config

    assert load_config(LOCALES_DIR.parent / "config.toml", {}).shop.locales == LOCALES


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_shipped_plan_feature_is_translated(lang: str) -> None:
    from bot.config import load_config

    config = load_config(LOCALES_DIR.parent / "config.toml", {})
    features = {f for plan in config.plans.values() for f in plan.features}
    texts = config.texts[lang]
    assert sorted(features - texts.keys()) == []
    assert [f for f in features if texts[f] == f] == []
    assert sorted(texts.keys() - features) == []  # no leftovers from features since renamed


def test_the_features_of_a_plan_read_in_the_customers_language() -> None:
    from bot.i18n import listing, load_shop_texts

    load_shop_texts({"de": {"Daily reports": "Tägliche Berichte", "API access": "API-Zugang"}})
    try:
        items = ["1 project", "Daily reports", "API access"]
        with using_locale("en"):
            assert listing(items) == "1 project, Daily reports, and API access"
        with using_locale("de"):  # untranslated words stay as configured
            assert listing(items) == "1 project, Tägliche Berichte und API-Zugang"
        with using_locale("ja"):
            assert listing(items) == "1 project、Daily reports、API access"
    finally:
        load_shop_texts({})


def test_kept_lists_follow_new_shop_texts() -> None:
    """Lists of shop words are kept per language (Babel is slow): texts loaded later (a
    new configuration) are read, never a list written with the old ones."""
    from bot.i18n import listing, load_shop_texts

    items = ["Daily reports", "API access"]
    load_shop_texts({"de": {"Daily reports": "Tägliche Berichte"}})
    try:
        with using_locale("de"):
            assert listing(items) == "Tägliche Berichte und API access"
            load_shop_texts({"de": {"Daily reports": "Berichte", "API access": "API-Zugang"}})
            assert listing(items) == "Berichte und API-Zugang"
    finally:
        load_shop_texts({})


def test_kept_amounts_dates_and_durations_are_babels() -> None:
    """What the kept formatting writes is what Babel writes for these arguments and this
    language, whatever was asked before (1.5 and 1.50 are equal keys of a dict)."""
    from datetime import UTC, datetime

    from babel.dates import format_datetime, format_timedelta
    from babel.numbers import format_currency

    from bot.i18n import duration, when

    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    for lang in ("en", "de", "ja"):
        with using_locale(lang):
            for amount in (Decimal("1.5"), Decimal("1.50"), Decimal("1.505"), Decimal("299")):
                for currency in ("USD", "EUR", "JPY"):
                    assert money(amount, currency) == format_currency(
                        amount, currency, locale=lang
                    )
            assert (
                when(moment)
                == format_datetime(moment, format="medium", tzinfo=UTC, locale=lang) + " UTC"
            )
            long = format_timedelta(300, granularity="second", format="long", locale=lang)
            assert duration(300) == (long.replace(" ", "") if lang == "ja" else long)


def test_texts_for_a_language_the_shop_does_not_speak_are_refused(tmp_path) -> None:
    from bot.config import ConfigError, load_config

    config = tmp_path / "config.toml"
    shipped = (LOCALES_DIR.parent / "config.toml").read_text()
    config.write_text(shipped + '\n[texts.pt]\n"1 project" = "1 projeto"\n')
    with pytest.raises(ConfigError, match="texts for pt: not in shop.locales"):
        load_config(config, {})


def test_template_matches_the_source_code() -> None:
    """Every `_()` string in the code is in the template (catalogs are not stale)."""
    found: set[str] = set()
    root = LOCALES_DIR.parent
    for path in [*(root / "bot").rglob("*.py"), *(root / "tools").rglob("*.py")]:
        from babel.messages.extract import extract_python

        with path.open("rb") as handle:
            keywords = {"_": None, "ngettext": (1, 2)}
            for _lineno, func, message, _comments in extract_python(handle, keywords, [], {}):
                if func == "_" and isinstance(message, str):
                    found.add(message)
                elif func == "ngettext" and isinstance(message, tuple) and message[0]:
                    found.add(message[:2])
    assert found <= _template_ids()


def test_formatting_per_locale() -> None:
    load_catalogs(LOCALES)
    with using_locale("en"):
        assert money(Decimal("299"), "USD") == "$299.00"
        assert crypto(Decimal("1234.00461234")) == "1234.00461234"
        assert _("Plans:") == "Plans:"
    with using_locale("de"):
        assert money(Decimal("299"), "USD") == "299,00\xa0$"
        assert crypto(Decimal("1234.00461234")) == "1234.00461234"  # as wallets read it
        assert crypto(Decimal("0.000000000000000001")) == "0.000000000000000001"
        assert _("Plans:") == "Pläne:"
    # crypto amounts are written as wallets read them in every language (a dot, no grouping,
    # every decimal); fiat follows the locale's conventions
    expected = {
        "es": ("299,00\xa0US$", "1234.00461234"),
        "fr": ("299,00\xa0$US", "1234.00461234"),
        "zh": ("US$299.00", "1234.00461234"),
        "ja": ("$299.00", "1234.00461234"),
    }
    for lang, (price, amount) in expected.items():
        with using_locale(lang):
            assert money(Decimal("299"), "USD") == price
            assert crypto(Decimal("1234.00461234")) == amount
            assert crypto(Decimal("1e-18")).endswith("000000000000000001")
            assert _("Plans:") != "Plans:"


def test_durations_read_as_each_language_writes_them() -> None:
    """Babel writes "1 分" in Japanese; Japanese and Chinese set no space there."""
    from bot.i18n import duration, time_until

    expected = {
        "en": ("1 minute", "in 2 hours"),
        "de": ("1 Minute", "in 2 Stunden"),
        "es": ("1 minuto", "dentro de 2 horas"),
        "fr": ("1 minute", "dans 2 heures"),
        "zh": ("1分钟", "2小时后"),
        "ja": ("1分", "2時間後"),
    }
    for lang, (one_minute, in_two_hours) in expected.items():
        with using_locale(lang):
            assert duration(60) == one_minute
            assert time_until(7200) == in_two_hours


def test_the_words_around_a_time_left_agree_with_its_number() -> None:
    """Spanish: "queda 1 minuto", "quedan 2 minutos" (not "quedan 1 minuto")."""
    from datetime import UTC, datetime, timedelta

    from bot.render import PLAIN

    load_catalogs(LOCALES)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with using_locale("es"):
        assert "(queda 1 minuto)" in PLAIN.deadline(now + timedelta(seconds=60), now)
        assert "(quedan 2 minutos)" in PLAIN.deadline(now + timedelta(seconds=120), now)
    with using_locale("ja"):
        assert "（残り1分）" in PLAIN.deadline(now + timedelta(seconds=60), now)
    with using_locale("en"):
        assert "(1 minute left)" in PLAIN.deadline(now + timedelta(seconds=60), now)


def test_locale_resolution() -> None:
    assert normalize_locale("de-AT", LOCALES) == "de"
    assert normalize_locale("de_DE", LOCALES) == "de"
    assert normalize_locale("en-GB", LOCALES) == "en"
    assert normalize_locale("pt-BR", LOCALES) is None
    assert normalize_locale("zh-hans", LOCALES) == "zh"
    assert normalize_locale("zh-CN", LOCALES) == "zh"
    assert normalize_locale("zh-TW", LOCALES) == "zh"
    assert normalize_locale("es-419", LOCALES) == "es"
    assert normalize_locale("es-ES", LOCALES) == "es"
    assert normalize_locale("fr-CA", LOCALES) == "fr"
    assert normalize_locale("ja-JP", LOCALES) == "ja"
    assert normalize_locale("zz-top", LOCALES) is None
    assert normalize_locale(None, LOCALES) is None
