"""Tests for tools.uris (payment URIs)."""

from __future__ import annotations

from decimal import Decimal, localcontext
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.uris import format_plain, payment_uri, to_base_units

ETH_ADDR = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
USDT_ERC20 = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
BTC_ADDR = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
SOL_ADDR = "J2TyrUD9BLdhNLj23Cg84dn4VQxW5spibH6Kc4xP88Jz"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
TRON_ADDR = "TSMWxui5K7czutKMGSGG18Pw7BcHxE9MCu"
USDT_TRC20 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
XRP_ADDR = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"


def query(uri: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(uri).query, keep_blank_values=True, strict_parsing=True))


# --------------------------------------------------------------------------- format_plain


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.00123000", "0.00123"),
        ("1.50", "1.5"),
        ("10", "10"),
        ("10.000", "10"),
        ("1E+3", "1000"),
        ("1.2E-7", "0.00000012"),
        ("0", "0"),
        ("-0", "0"),
        ("0E-8", "0"),
        ("0.000", "0"),
        ("-2.50", "-2.5"),
        (
            "123456789012345678901234567890.123456789012345678",
            "123456789012345678901234567890.123456789012345678",
        ),
    ],
)
def test_format_plain(value: str, expected: str) -> None:
    assert format_plain(Decimal(value)) == expected


def test_format_plain_ignores_context_precision() -> None:
    value = Decimal("98765432109876543210.123456789012345678")
    with localcontext() as ctx:
        ctx.prec = 5
        assert format_plain(value) == "98765432109876543210.123456789012345678"
        assert to_base_units(value, 18) == 98765432109876543210123456789012345678


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_format_plain_rejects_non_finite(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        format_plain(bad)


def test_format_plain_rejects_float() -> None:
    with pytest.raises(TypeError):
        format_plain(0.1)  # type: ignore[arg-type]


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_format_plain_round_trips(value: Decimal) -> None:
    text = format_plain(value)
    assert "e" not in text.lower()
    assert Decimal(text) == value
    if "." in text:
        assert not text.endswith("0") and not text.endswith(".")


# --------------------------------------------------------------------------- bitcoin / litecoin


def test_bitcoin_bip21() -> None:
    uri = payment_uri(
        scheme="bitcoin",
        address=BTC_ADDR,
        amount=Decimal("0.00123000"),
        decimals=8,
        label="Pro plan & more",
    )
    assert uri == f"bitcoin:{BTC_ADDR}?amount=0.00123&label=Pro%20plan%20%26%20more"
    assert query(uri) == {"amount": "0.00123", "label": "Pro plan & more"}


def test_bitcoin_without_label_and_litecoin() -> None:
    assert (
        payment_uri(scheme="bitcoin", address=BTC_ADDR, amount=Decimal("1"), decimals=8)
        == f"bitcoin:{BTC_ADDR}?amount=1"
    )
    ltc = "ltc1qszg0076jg5ttyl7js2gg7gsz3e7gxvmd3xtd0f"
    assert (
        payment_uri(scheme="LiteCoin", address=ltc, amount=Decimal("2.5000"), decimals=8)
        == f"litecoin:{ltc}?amount=2.5"
    )


def test_bitcoin_small_amount_not_scientific() -> None:
    uri = payment_uri(scheme="bitcoin", address=BTC_ADDR, amount=Decimal("1E-8"), decimals=8)
    assert uri == f"bitcoin:{BTC_ADDR}?amount=0.00000001"


def test_bitcoin_too_many_decimals_raises() -> None:
    with pytest.raises(ValueError, match="decimal places"):
        payment_uri(scheme="bitcoin", address=BTC_ADDR, amount=Decimal("1E-9"), decimals=8)


def test_label_unicode_is_percent_encoded_utf8() -> None:
    uri = payment_uri(
        scheme="bitcoin", address=BTC_ADDR, amount=Decimal("1"), decimals=8, label="Café?=/#"
    )
    raw_label = uri.split("label=", 1)[1]
    assert all(c not in raw_label for c in "?=/# &")
    assert unquote(raw_label) == "Café?=/#"


# --------------------------------------------------------------------------- ethereum (EIP-681)


def test_eip681_native_exact_wei() -> None:
    uri = payment_uri(
        scheme="ethereum", address=ETH_ADDR, amount=Decimal("0.05"), decimals=18, chain_id=1
    )
    assert uri == f"ethereum:{ETH_ADDR}@1?value=50000000000000000"


def test_eip681_native_without_chain_id() -> None:
    uri = payment_uri(scheme="ethereum", address=ETH_ADDR, amount=Decimal("2"), decimals=18)
    assert uri == f"ethereum:{ETH_ADDR}?value=2000000000000000000"
    assert "@" not in uri


def test_eip681_erc20_usdt_six_decimals() -> None:
    uri = payment_uri(
        scheme="ethereum",
        address=ETH_ADDR,
        amount=Decimal("12.345678"),
        decimals=6,
        chain_id=1,
        token_contract=USDT_ERC20,
    )
    assert uri == f"ethereum:{USDT_ERC20}@1/transfer?address={ETH_ADDR}&uint256=12345678"


def test_eip681_bep20_on_bsc() -> None:
    uri = payment_uri(
        scheme="ethereum",
        address=ETH_ADDR,
        amount=Decimal("10"),
        decimals=18,
        chain_id=56,
        token_contract=USDT_ERC20,
    )
    assert uri == (
        f"ethereum:{USDT_ERC20}@56/transfer?address={ETH_ADDR}&uint256=10000000000000000000"
    )


def test_eip681_token_without_chain_id() -> None:
    uri = payment_uri(
        scheme="ethereum",
        address=ETH_ADDR,
        amount=Decimal("1"),
        decimals=6,
        token_contract=USDT_ERC20,
    )
    assert uri == f"ethereum:{USDT_ERC20}/transfer?address={ETH_ADDR}&uint256=1000000"


@pytest.mark.parametrize(
    ("amount", "decimals"),
    [("0.0000001", 6), ("1.1234567", 6), ("0.0000000000000000001", 18), ("0.5", 0)],
)
def test_eip681_too_many_decimals_raises(amount: str, decimals: int) -> None:
    with pytest.raises(ValueError, match="decimal places"):
        payment_uri(
            scheme="ethereum",
            address=ETH_ADDR,
            amount=Decimal(amount),
            decimals=decimals,
            token_contract=USDT_ERC20,
        )


def test_trailing_zeros_are_not_extra_precision() -> None:
    uri = payment_uri(
        scheme="ethereum",
        address=ETH_ADDR,
        amount=Decimal("1.500000000"),
        decimals=6,
        token_contract=USDT_ERC20,
    )
    assert query(uri)["uint256"] == "1500000"


@pytest.mark.parametrize("chain_id", [0, -1, True])
def test_eip681_bad_chain_id(chain_id: int) -> None:
    with pytest.raises(ValueError):
        payment_uri(
            scheme="ethereum",
            address=ETH_ADDR,
            amount=Decimal("1"),
            decimals=18,
            chain_id=chain_id,
        )


@given(
    decimals=st.integers(min_value=0, max_value=30),
    units=st.integers(min_value=1, max_value=10**40),
    token=st.booleans(),
)
def test_eip681_base_units_round_trip(decimals: int, units: int, token: bool) -> None:
    amount = Decimal(f"{units}E-{decimals}")
    uri = payment_uri(
        scheme="ethereum",
        address=ETH_ADDR,
        amount=amount,
        decimals=decimals,
        chain_id=137,
        token_contract=USDT_ERC20 if token else None,
    )
    value = query(uri)["uint256" if token else "value"]
    assert value.isdigit()
    assert int(value) == units


@given(
    decimals=st.integers(min_value=0, max_value=18),
    data=st.data(),
)
def test_any_decimal_within_places_round_trips(decimals: int, data: st.DataObject) -> None:
    amount = data.draw(
        st.decimals(
            min_value=Decimal(1).scaleb(-decimals),
            max_value=Decimal("1e12"),
            places=decimals,
            allow_nan=False,
            allow_infinity=False,
        )
    )
    uri = payment_uri(scheme="ethereum", address=ETH_ADDR, amount=amount, decimals=decimals)
    units = int(query(uri)["value"])
    with localcontext() as ctx:
        ctx.prec = 100  # exact: amount has at most 13 + 18 significant digits
        assert Decimal(units) / Decimal(10) ** decimals == amount
    assert units == to_base_units(amount, decimals)
    # the decimal-amount schemes carry the same exact value
    sol = payment_uri(scheme="solana", address=SOL_ADDR, amount=amount, decimals=decimals)
    assert Decimal(query(sol)["amount"]) == amount


@given(
    decimals=st.integers(min_value=0, max_value=18),
    units=st.integers(min_value=1, max_value=10**30),
    extra=st.integers(min_value=1, max_value=9),
)
def test_more_places_than_decimals_always_raises(decimals: int, units: int, extra: int) -> None:
    # the last digit ``extra`` sits at place ``decimals + 1`` and is never zero
    amount = Decimal(f"{units * 10 + extra}E-{decimals + 1}")
    with pytest.raises(ValueError):
        payment_uri(scheme="ethereum", address=ETH_ADDR, amount=amount, decimals=decimals)


# --------------------------------------------------------------------------- solana / tron / xrp


def test_solana_pay_native() -> None:
    uri = payment_uri(scheme="solana", address=SOL_ADDR, amount=Decimal("1.50"), decimals=9)
    assert uri == f"solana:{SOL_ADDR}?amount=1.5"


def test_solana_pay_spl_with_label_and_memo() -> None:
    uri = payment_uri(
        scheme="solana",
        address=SOL_ADDR,
        amount=Decimal("0.5"),
        decimals=6,
        token_contract=USDC_MINT,
        label="My Shop",
        memo="order#42",
    )
    assert uri == (
        f"solana:{SOL_ADDR}?amount=0.5&spl-token={USDC_MINT}&label=My%20Shop&memo=order%2342"
    )


def test_tron_native_and_trc20() -> None:
    assert (
        payment_uri(scheme="tron", address=TRON_ADDR, amount=Decimal("12.50"), decimals=6)
        == f"tron:{TRON_ADDR}?amount=12.5"
    )
    assert payment_uri(
        scheme="tron",
        address=TRON_ADDR,
        amount=Decimal("12.5"),
        decimals=6,
        token_contract=USDT_TRC20,
    ) == (f"tron:{TRON_ADDR}?amount=12.5&token={USDT_TRC20}")


def test_ripple_destination_tag() -> None:
    uri = payment_uri(
        scheme="ripple", address=XRP_ADDR, amount=Decimal("10.000"), decimals=6, memo="123456789"
    )
    assert uri == f"ripple:{XRP_ADDR}?amount=10&dt=123456789"
    plain = payment_uri(scheme="ripple", address=XRP_ADDR, amount=Decimal("10"), decimals=6)
    assert plain == f"ripple:{XRP_ADDR}?amount=10"


@pytest.mark.parametrize("tag", ["abc", "-1", "4294967296", "1.5", ""])
def test_ripple_bad_destination_tag(tag: str) -> None:
    with pytest.raises(ValueError):
        payment_uri(scheme="ripple", address=XRP_ADDR, amount=Decimal("1"), decimals=6, memo=tag)


# --------------------------------------------------------------------------- validation


def test_unknown_scheme_raises() -> None:
    with pytest.raises(ValueError, match="unknown"):
        payment_uri(scheme="dogecoin", address="D123", amount=Decimal("1"), decimals=8)


@pytest.mark.parametrize("amount", ["0", "-1", "NaN", "Infinity"])
def test_non_positive_or_non_finite_amount_raises(amount: str) -> None:
    with pytest.raises(ValueError):
        payment_uri(scheme="bitcoin", address=BTC_ADDR, amount=Decimal(amount), decimals=8)


@pytest.mark.parametrize("amount", [0.05, 1, "0.05"])
def test_non_decimal_amount_raises(amount: object) -> None:
    with pytest.raises(TypeError):
        payment_uri(scheme="bitcoin", address=BTC_ADDR, amount=amount, decimals=8)  # type: ignore[arg-type]


@pytest.mark.parametrize("address", ["", "bc1q?amount=100", "abc def", "0x12&x=1"])
def test_bad_address_raises(address: str) -> None:
    with pytest.raises(ValueError):
        payment_uri(scheme="bitcoin", address=address, amount=Decimal("1"), decimals=8)


@pytest.mark.parametrize("scheme", ["bitcoin", "litecoin", "ethereum", "tron"])
def test_memo_on_scheme_without_memo_raises(scheme: str) -> None:
    with pytest.raises(ValueError, match="memo"):
        payment_uri(scheme=scheme, address=ETH_ADDR, amount=Decimal("1"), decimals=8, memo="7")


@pytest.mark.parametrize("scheme", ["bitcoin", "litecoin", "ripple"])
def test_token_on_scheme_without_tokens_raises(scheme: str) -> None:
    with pytest.raises(ValueError, match="token_contract"):
        payment_uri(
            scheme=scheme,
            address=BTC_ADDR,
            amount=Decimal("1"),
            decimals=8,
            token_contract=USDT_ERC20,
        )


def test_chain_id_on_non_evm_raises() -> None:
    with pytest.raises(ValueError, match="chain_id"):
        payment_uri(scheme="tron", address=TRON_ADDR, amount=Decimal("1"), decimals=6, chain_id=1)


@pytest.mark.parametrize("decimals", [-1, 78])
def test_decimals_out_of_range_raises(decimals: int) -> None:
    with pytest.raises(ValueError):
        payment_uri(scheme="bitcoin", address=BTC_ADDR, amount=Decimal("1"), decimals=decimals)
