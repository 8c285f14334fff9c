"""A sandbox payment cannot be taken for a real one: its card (and the partial-payment notice
that carries a QR code) says TEST in the customer's language, the payment link in the QR is
labelled TEST, and the address is one no real wallet accepts (tests/test_addresses.py)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
import zxingcpp
from PIL import Image

from bot.i18n import using_locale
from bot.render import sandbox_stamp
from storage.models import Payment
from tests.helpers import payment_id_in, settle
from tools.catalog import Catalog
from tools.views import payment_link

LANGS = ["en", "de", "es", "fr", "zh", "ja"]


def _qr(png: bytes) -> str:
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return code.text


@pytest.mark.parametrize("lang", LANGS)
async def test_a_sandbox_card_says_test_in_every_language(app, fake, lang: str) -> None:
    [card] = await fake.say("/buy pro btc", user=f"user-{lang}", locale=lang)
    with using_locale(lang):
        stamp = sandbox_stamp()
    assert "TEST" in stamp and (lang == "en" or "sandbox payment" not in stamp)
    assert card.text.splitlines()[1] == stamp  # right under the title, on every platform
    assert f"<b>{stamp}</b>" in card.html and "TEST" in card.markdown.splitlines()[1]
    uri = _qr(card.image)
    assert uri.startswith("bitcoin:bcrt1q")  # regtest: no real wallet pays it
    assert f"label=TEST%20payment%20{payment_id_in(card.text)}" in uri


async def test_the_partial_payment_notice_says_test_too(app, fake, clock) -> None:
    [card] = await fake.say("/buy pro sol")
    pid = payment_id_in(card.text)
    await fake.say(f"/pay {pid} 0.5")
    await settle(app, clock, seconds=5)
    [notice] = [m for m in fake.sent if m.image is not None and m is not card]
    assert notice.text.splitlines()[1] == sandbox_stamp()
    assert _qr(notice.image).startswith("solana:TEST0")


def test_a_real_providers_payment_is_not_marked(config) -> None:
    catalog = Catalog.from_config(config.plans, config.coins, config.shop.price_currency)
    payment = Payment(
        id=7,
        provider="nowpayments",
        pay_currency="btc",
        pay_address="bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        pay_amount=Decimal("0.001"),
        payin_extra_id=None,
    )
    uri = payment_link(catalog, payment, payment.pay_amount)
    assert uri.endswith("label=Payment%207") and "TEST" not in uri
