"""QR code rendering for payment URIs (PNG bytes or files).

Uses the ``qrcode`` library with its Pillow image factory and error-correction level M
(~15 % of the symbol may be damaged and still decode), which is the usual choice for
payment QR codes shown on screens.

A drawing is a pure function of its text and sizes, so `qr_png` keeps the last
`DRAWN_KEPT` drawings (about 1 kB of PNG each) and hands the same bytes out again: a payment's
QR is drawn once per process, not on every `/status` card or notice (drawing one costs about
15 ms of CPU). The memo is bounded and never stale (the same text always draws the same
picture), so it is safe in every worker and needs no invalidation.
"""

from __future__ import annotations

import io
import pathlib
from functools import lru_cache

__all__ = ["qr_png", "save_qr_png"]

DRAWN_KEPT = 1024  # drawings kept for reuse (about 1 MB at most)


def qr_png(data: str, *, box_size: int = 8, border: int = 2) -> bytes:
    """Encode ``data`` as a QR code and return it as PNG bytes.

    :param data: text to encode (typically a payment URI from :mod:`tools.uris`).
    :param box_size: size of one QR module in pixels (>= 1).
    :param border: quiet zone width in modules (>= 0; the QR spec recommends 4, 2 is usually
        enough on screens).
    :returns: PNG image; black modules on white, square, side
        ``(modules + 2 * border) * box_size`` pixels.
    :raises ValueError: on empty ``data`` or invalid sizes.
    """
    if not isinstance(data, str) or not data:
        raise ValueError("data must be a non-empty string")
    if isinstance(box_size, bool) or not isinstance(box_size, int) or box_size < 1:
        raise ValueError(f"box_size must be an int >= 1, got {box_size!r}")
    if isinstance(border, bool) or not isinstance(border, int) or border < 0:
        raise ValueError(f"border must be an int >= 0, got {border!r}")
    return _draw(data, box_size, border)


@lru_cache(maxsize=DRAWN_KEPT)
def _draw(data: str, box_size: int, border: int) -> bytes:
    import qrcode  # with Pillow, about 4 MB: loaded by the first drawing, not at start
    from qrcode.constants import ERROR_CORRECT_M
    from qrcode.image.pil import PilImage

    code = qrcode.QRCode(
        version=None,  # smallest version that fits
        error_correction=ERROR_CORRECT_M,
        box_size=box_size,
        border=border,
        image_factory=PilImage,
    )
    code.add_data(data)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_qr_png(data: str, path: pathlib.Path) -> pathlib.Path:
    """Write the QR code for ``data`` to ``path`` as PNG (default sizes) and return ``path``.

    Missing parent directories are created.
    """
    path = pathlib.Path(path)
    png = qr_png(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
