"""Payment URIs for QR codes.

Every wallet family has its own URI convention for "pay this amount to this address":

* ``bitcoin`` / ``litecoin`` -- BIP-21: ``bitcoin:ADDR?amount=0.00123&label=Shop``
* ``ethereum`` -- EIP-681, amounts in integer base units (wei for the native coin):
  ``ethereum:ADDR@1?value=50000000000000000`` or, for an ERC-20/BEP-20 style token,
  ``ethereum:TOKEN@56/transfer?address=ADDR&uint256=1000000``
* ``solana`` -- Solana Pay: ``solana:ADDR?amount=1.5&spl-token=MINT&label=Shop&memo=42``
* ``tron`` -- ``tron:ADDR?amount=12.5&token=CONTRACT`` (``token`` for TRC-20)
* ``ripple`` -- ``ripple:ADDR?amount=10&dt=123456789`` (``dt`` is the destination tag)

Money is handled exclusively as :class:`decimal.Decimal`; amounts are rendered exactly, never
through ``float`` and never in scientific notation.  Conversions to integer base units use pure
integer arithmetic, so they are independent of the active decimal context precision.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import quote

__all__ = ["SCHEMES", "format_plain", "payment_uri", "to_base_units"]

#: Schemes understood by :func:`payment_uri`.
SCHEMES: frozenset[str] = frozenset(
    {"bitcoin", "litecoin", "ethereum", "solana", "tron", "ripple"}
)

#: Largest sensible ``decimals`` value (uint256 cannot hold more than ~77 decimal digits).
MAX_DECIMALS = 77

#: Largest XRP Ledger destination tag (an unsigned 32-bit integer).
MAX_DESTINATION_TAG = 2**32 - 1

# Addresses, token contracts and mints across all supported chains are plain alphanumerics
# (base58, bech32, or 0x-prefixed hex).  Anything else would corrupt the URI.
_ADDRESS_RE = re.compile(r"[A-Za-z0-9]+")


def format_plain(amount: Decimal) -> str:
    """Render ``amount`` exactly as a plain decimal string.

    No exponent is ever used, trailing fractional zeros (and a dangling ``.``) are trimmed and
    any zero (including ``-0`` and ``0E-8``) renders as ``"0"``.  Negative values keep their
    sign.  The result always round-trips: ``Decimal(format_plain(x)) == x``.

    >>> format_plain(Decimal("0.00123000"))
    '0.00123'
    >>> format_plain(Decimal("1E+3"))
    '1000'

    :raises TypeError: if ``amount`` is not a :class:`~decimal.Decimal`.
    :raises ValueError: if ``amount`` is NaN or infinite.
    """
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {amount}")
    if amount.is_zero():
        return "0"
    # The "f" presentation of Decimal is exact (no rounding to context precision).
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_base_units(amount: Decimal, decimals: int) -> int:
    """Convert ``amount`` to an exact integer number of base units (``amount * 10**decimals``).

    Uses integer arithmetic only.  Trailing zeros do not count as extra precision, so
    ``Decimal("1.500")`` with ``decimals=1`` is fine (15).

    :raises TypeError: if ``amount`` is not a Decimal or ``decimals`` is not an int.
    :raises ValueError: if ``amount`` is not finite, or has more fractional digits than
        ``decimals`` allows (it cannot be represented exactly in base units), or ``decimals``
        is out of range.
    """
    _check_decimals(decimals)
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {amount}")
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    coefficient = int("".join(map(str, digits))) if digits else 0
    shift = exponent + decimals
    if shift >= 0:
        units = coefficient * 10**shift
    else:
        units, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise ValueError(
                f"amount {format_plain(amount)} has more than {decimals} decimal places"
            )
    return -units if sign else units


def payment_uri(
    *,
    scheme: str,
    address: str,
    amount: Decimal,
    decimals: int,
    chain_id: int | None = None,
    token_contract: str | None = None,
    memo: str | None = None,
    label: str | None = None,
) -> str:
    """Build a wallet payment URI suitable for a QR code.

    :param scheme: one of :data:`SCHEMES` (case-insensitive).
    :param address: recipient address.
    :param amount: amount in whole coins/tokens (e.g. ``Decimal("0.05")`` ETH); must be > 0.
    :param decimals: decimals of the coin or token (8 for BTC, 18 for ETH, 6 for USDT on
        Ethereum/Tron, ...).  For every scheme the amount must be representable exactly with
        that many decimal places, otherwise :class:`ValueError` is raised.
    :param chain_id: EVM chain id (``@CHAINID`` in EIP-681); only valid for ``ethereum``,
        omitted from the URI when ``None``.
    :param token_contract: token contract / SPL mint.  Supported for ``ethereum`` (ERC-20
        style ``transfer``), ``solana`` (``spl-token``) and ``tron`` (``token``).
    :param memo: ``solana``: the ``memo`` parameter; ``ripple``: the destination tag
        (``dt``, a decimal integer 0..2**32-1).  Other schemes have no memo field, so passing
        one raises :class:`ValueError` rather than silently dropping it.
    :param label: human readable label, percent-encoded.  Emitted for ``bitcoin``,
        ``litecoin`` and ``solana``; ignored by the other schemes, which define no label.
    :raises ValueError: unknown scheme, bad address, non-positive / non-finite amount,
        too many decimal places, or a parameter the scheme cannot carry.
    :raises TypeError: if ``amount`` is not a Decimal.
    """
    if not isinstance(scheme, str) or scheme.lower() not in SCHEMES:
        raise ValueError(f"unknown payment URI scheme: {scheme!r}")
    scheme = scheme.lower()
    _check_token(address, "address")
    if token_contract is not None:
        _check_token(token_contract, "token_contract")
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, got {type(amount).__name__}")
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"amount must be a positive finite Decimal, got {amount}")
    units = to_base_units(amount, decimals)  # validates decimals and exactness
    if chain_id is not None and scheme != "ethereum":
        raise ValueError(f"chain_id is only meaningful for ethereum, not {scheme}")
    if memo is not None and scheme not in {"solana", "ripple"}:
        raise ValueError(f"scheme {scheme} has no memo field; refusing to drop memo {memo!r}")
    if token_contract is not None and scheme not in {"ethereum", "solana", "tron"}:
        raise ValueError(f"scheme {scheme} does not support token_contract")

    plain = format_plain(amount)
    params: list[tuple[str, str]]

    if scheme in {"bitcoin", "litecoin"}:
        params = [("amount", plain)]
        if label is not None:
            params.append(("label", label))
        return f"{scheme}:{address}?{_query(params)}"

    if scheme == "ethereum":
        target = token_contract if token_contract is not None else address
        if chain_id is not None:
            if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
                raise ValueError(f"chain_id must be a positive int, got {chain_id!r}")
            target = f"{target}@{chain_id}"
        if token_contract is None:
            return f"ethereum:{target}?{_query([('value', str(units))])}"
        params = [("address", address), ("uint256", str(units))]
        return f"ethereum:{target}/transfer?{_query(params)}"

    if scheme == "solana":
        params = [("amount", plain)]
        if token_contract is not None:
            params.append(("spl-token", token_contract))
        if label is not None:
            params.append(("label", label))
        if memo is not None:
            params.append(("memo", memo))
        return f"solana:{address}?{_query(params)}"

    if scheme == "tron":
        params = [("amount", plain)]
        if token_contract is not None:
            params.append(("token", token_contract))
        return f"tron:{address}?{_query(params)}"

    # ripple
    params = [("amount", plain)]
    if memo is not None:
        params.append(("dt", str(_destination_tag(memo))))
    return f"ripple:{address}?{_query(params)}"


def _query(params: list[tuple[str, str]]) -> str:
    """Join ``params`` as a query string, percent-encoding every value (RFC 3986, UTF-8)."""
    return "&".join(f"{key}={quote(value, safe='')}" for key, value in params)


def _check_token(value: str, what: str) -> None:
    """Reject empty or non-alphanumeric addresses / contracts that would corrupt the URI."""
    if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
        raise ValueError(f"{what} must be a non-empty alphanumeric string, got {value!r}")


def _check_decimals(decimals: int) -> None:
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError(f"decimals must be an int, got {type(decimals).__name__}")
    if not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"decimals must be within 0..{MAX_DECIMALS}, got {decimals}")


def _destination_tag(memo: str) -> int:
    """Parse an XRP Ledger destination tag (unsigned 32-bit decimal integer)."""
    if not memo.isascii() or not memo.isdigit():
        raise ValueError(f"ripple destination tag must be a decimal integer, got {memo!r}")
    tag = int(memo)
    if tag > MAX_DESTINATION_TAG:
        raise ValueError(f"ripple destination tag out of range (max {MAX_DESTINATION_TAG})")
    return tag
