"""Tests for tools.qr (QR code PNG rendering)."""

from __future__ import annotations

import io
import pathlib

import pytest
import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from tools.qr import qr_png, save_qr_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
URI = "ethereum:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed@1?value=50000000000000000"


def reference_matrix(data: str, border: int) -> list[list[bool]]:
    """Module matrix (True = dark, quiet zone included) the library computes for ``data``."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=border)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def open_png(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_png_signature_and_format() -> None:
    png = qr_png(URI)
    assert png.startswith(PNG_SIGNATURE)
    image = open_png(png)
    assert image.format == "PNG"
    assert image.mode in {"1", "L", "RGB"}


@pytest.mark.parametrize(("box_size", "border"), [(8, 2), (4, 4), (1, 0), (10, 1)])
def test_size_matches_modules(box_size: int, border: int) -> None:
    image = open_png(qr_png(URI, box_size=box_size, border=border))
    modules = len(reference_matrix(URI, border))
    assert image.size == (modules * box_size, modules * box_size)
    # a real QR symbol is at least version 1 (21 modules) and this URI needs more
    assert modules - 2 * border > 21


def test_default_size_is_reasonable() -> None:
    image = open_png(qr_png(URI))
    width, height = image.size
    assert width == height
    assert 200 <= width <= 1000
    assert width % 8 == 0  # default box_size


@pytest.mark.parametrize("data", [URI, "bitcoin:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"])
def test_pixels_match_qr_modules(data: str) -> None:
    """Sample the centre of every module: the image must encode exactly this QR matrix."""
    box_size, border = 6, 2
    image = open_png(qr_png(data, box_size=box_size, border=border)).convert("L")
    matrix = reference_matrix(data, border)
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            pixel = image.getpixel(
                (col * box_size + box_size // 2, row * box_size + box_size // 2)
            )
            assert (pixel < 128) == dark, (row, col)
    # finder pattern top-left is dark, quiet zone is light
    assert image.getpixel((border * box_size, border * box_size)) < 128
    assert image.getpixel((0, 0)) > 128


def test_different_data_gives_different_png() -> None:
    assert qr_png("solana:abc?amount=1") != qr_png("solana:abc?amount=2")
    assert qr_png(URI) == qr_png(URI)


def test_save_qr_png(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "nested" / "invoice.png"
    result = save_qr_png(URI, target)
    assert result == target
    assert target.read_bytes() == qr_png(URI)
    assert open_png(target.read_bytes()).format == "PNG"


@pytest.mark.parametrize(
    "kwargs", [{"data": ""}, {"data": URI, "box_size": 0}, {"data": URI, "border": -1}]
)
def test_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        qr_png(**kwargs)  # type: ignore[arg-type]


async def test_payment_qr_is_drawn_once_for_its_card_and_every_status(
    app, fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The buy card and later `/status` cards show one drawing (issue 18: `/status` redrew
    the QR every time, ~16 ms each). Counted at the qrcode library's own drawing call."""
    drawings: list[str] = []
    make_image = qrcode.QRCode.make_image

    def counted(self, *args, **kwargs):
        drawings.append(self.data_list[0].data.decode())
        return make_image(self, *args, **kwargs)

    monkeypatch.setattr(qrcode.QRCode, "make_image", counted)
    card = (await fake.say("/buy pro sol"))[0]
    statuses = [(await fake.say(f"/status {card.payment_id}"))[0] for _ in range(3)]
    assert card.image and all(s.image == card.image for s in statuses)
    assert len(drawings) <= 1  # 0 when an earlier test in this process drew the same link
    assert open_png(card.image).format == "PNG"
