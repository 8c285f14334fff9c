"""Tests for tools.providers.addresses (sandbox deposit addresses and their encodings)."""

from __future__ import annotations

import contextlib
import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.providers.addresses import (
    BITCOIN_ALPHABET,
    KINDS,
    RIPPLE_ALPHABET,
    _sponge256,
    b58check_decode,
    b58check_encode,
    b58decode,
    b58encode,
    bech32_decode,
    bech32_encode,
    keccak256,
    sandbox_address,
    sandbox_memo,
    segwit_decode,
    segwit_encode,
    to_checksum_address,
)

# --------------------------------------------------------------------------- base58

# Bitcoin Core src/test/data/base58_encode_decode.json
BASE58_VECTORS = [
    ("", ""),
    ("61", "2g"),
    ("626262", "a3gV"),
    ("636363", "aPEr"),
    ("73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"),
    ("00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"),
    ("516b6fcd0f", "ABnLTmg"),
    ("bf4f89001e670274dd", "3SEo3LWLoPntC"),
    ("572e4794", "3EFU7m"),
    ("ecac89cad93923c02321", "EJDM8drfXA6uyA"),
    ("10c8511e", "Rt5zm"),
    ("00000000000000000000", "1111111111"),
]


@pytest.mark.parametrize(("hex_data", "encoded"), BASE58_VECTORS)
def test_base58_vectors(hex_data: str, encoded: str) -> None:
    assert b58encode(bytes.fromhex(hex_data)) == encoded
    assert b58decode(encoded) == bytes.fromhex(hex_data)


def test_base58_solana_system_program() -> None:
    assert b58encode(bytes(32)) == "1" * 32


@given(st.binary(max_size=64))
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data
    assert b58decode(b58encode(data, RIPPLE_ALPHABET), RIPPLE_ALPHABET) == data


def test_base58_rejects_invalid_characters() -> None:
    for bad in ("0", "O", "I", "l", "abc+"):
        with pytest.raises(ValueError):
            b58decode(bad)


def test_base58check_detects_corruption() -> None:
    text = b58check_encode(b"\x41" + bytes(range(20)))
    assert b58check_decode(text) == b"\x41" + bytes(range(20))
    index = len(text) // 2
    replacement = "2" if text[index] != "2" else "3"
    with pytest.raises(ValueError, match="checksum"):
        b58check_decode(text[:index] + replacement + text[index + 1 :])


# --------------------------------------------------------------------------- TRON / XRP


def test_tron_known_vector() -> None:
    # USDT TRC-20 contract
    payload = bytes.fromhex("41a614f803b6fd780986a42c78ec9c7f77e6ded13c")
    assert b58check_encode(payload) == "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    assert b58check_decode("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t") == payload


def test_ripple_known_vectors() -> None:
    # genesis account, ACCOUNT_ZERO and ACCOUNT_ONE of the XRP Ledger
    genesis = bytes.fromhex("00b5f762798a53d543a014caf8b297cff8f2f937e8")
    assert b58check_encode(genesis, RIPPLE_ALPHABET) == "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"
    assert b58check_encode(bytes(21), RIPPLE_ALPHABET) == "rrrrrrrrrrrrrrrrrrrrrhoLvTp"
    assert b58check_encode(bytes(20) + b"\x01", RIPPLE_ALPHABET) == "rrrrrrrrrrrrrrrrrrrrBZbvji"


# --------------------------------------------------------------------------- sandbox addresses


def _a_real_wallet_accepts(kind: str, address: str) -> bool:
    """Whether `address` is a valid mainnet address of `kind` (what a wallet checks before
    it pays). EVM, Solana, TRON and XRP testnets use the mainnet format, so this covers them;
    for Bitcoin and Litecoin the public testnets are checked too."""
    try:
        if kind in ("bitcoin", "litecoin"):
            for hrp in ("bc", "tb") if kind == "bitcoin" else ("ltc", "tltc"):
                with contextlib.suppress(ValueError):
                    segwit_decode(hrp, address)
                    return True
            return False
        if kind == "evm":
            return re.fullmatch(r"0x[0-9a-fA-F]{40}", address) is not None
        if kind == "solana":
            return len(b58decode(address)) == 32
        if kind == "tron":
            payload = b58check_decode(address)
            return len(payload) == 21 and payload[0] == 0x41
        payload = b58check_decode(address, RIPPLE_ALPHABET)
        return len(payload) == 21 and payload[0] == 0x00
    except ValueError:
        return False


@pytest.mark.parametrize("kind", sorted(KINDS))
@given(seed=st.binary(max_size=32))
def test_no_real_wallet_accepts_a_sandbox_address(kind: str, seed: bytes) -> None:
    """Money sent to a sandbox address would be lost: every kind is refused on real networks."""
    assert not _a_real_wallet_accepts(kind, sandbox_address(kind, seed))


def test_the_checker_accepts_real_addresses() -> None:
    """The check above is not blind: real mainnet addresses of each kind pass it."""
    real = {
        "bitcoin": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "litecoin": segwit_encode("ltc", 0, bytes(range(20))),
        "evm": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "solana": b58encode(bytes(range(32))),
        "tron": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        "ripple": "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh",
    }
    assert all(_a_real_wallet_accepts(kind, address) for kind, address in real.items())


@given(st.binary(max_size=32))
def test_sandbox_tron_address(seed: bytes) -> None:
    address = sandbox_address("tron", seed)
    assert address.startswith("TEST0") and len(address) == 34  # the length of a TRON address
    with pytest.raises(ValueError):
        b58decode(address)  # "0" is not base58


@given(st.binary(max_size=32))
def test_sandbox_ripple_address(seed: bytes) -> None:
    address = sandbox_address("ripple", seed)
    assert address.startswith("rTEST0") and 25 <= len(address) <= 35
    assert set(address[6:]) <= set(RIPPLE_ALPHABET)
    with pytest.raises(ValueError):
        b58decode(address, RIPPLE_ALPHABET)


# --------------------------------------------------------------------------- bech32


def test_bip173_p2wpkh_vector() -> None:
    program = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
    address = segwit_encode("bc", 0, program)
    assert address == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    assert segwit_decode("bc", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4") == (0, program)


def test_bip173_p2wsh_testnet_vector() -> None:
    program = bytes.fromhex("1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262")
    expected = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
    assert segwit_encode("tb", 0, program) == expected
    assert segwit_decode("tb", expected) == (0, program)


@pytest.mark.parametrize(
    "valid",
    [
        "A12UEL5L",
        "a12uel5l",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11" + "q" * 82 + "c8247j",  # 90 characters, the maximum
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    ],
)
def test_bip173_valid_checksums(valid: str) -> None:
    hrp, data = bech32_decode(valid)
    assert bech32_encode(hrp, data) == valid.lower()


@pytest.mark.parametrize(
    "invalid",
    [
        "pzry9x0s0muk",  # no separator
        "1pzry9x0s0muk",  # empty hrp
        "x1b4n0q5v",  # invalid data character
        "li1dgmt3",  # too short checksum
        "A1G7SGD8",  # checksum calculated with uppercase hrp
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",  # altered checksum
        "bc1qw508d6qejxtdg4y5r3zarvaRy0c5xw7kv8f3t4",  # mixed case
    ],
)
def test_bip173_invalid(invalid: str) -> None:
    with pytest.raises(ValueError):
        bech32_decode(invalid)


@pytest.mark.parametrize(("kind", "hrp"), [("bitcoin", "bcrt"), ("litecoin", "rltc")])
def test_sandbox_segwit_addresses_are_regtest(kind: str, hrp: str) -> None:
    address = sandbox_address(kind, b"invoice-1")
    assert address.startswith(hrp + "1q")
    assert len(address) == len(hrp) + 1 + 1 + 32 + 6  # hrp, '1', version, 160 bits, checksum
    version, program = segwit_decode(hrp, address)
    assert version == 0 and len(program) == 20
    assert segwit_encode(hrp, 0, program) == address
    for other in ("bc", "tb", "ltc", "tltc"):  # mainnet and public testnet prefixes
        with pytest.raises(ValueError):
            segwit_decode(other, address)


# --------------------------------------------------------------------------- keccak / EIP-55


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
        (
            b"The quick brown fox jumps over the lazy dog",
            "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15",
        ),
    ],
)
def test_keccak256_vectors(message: bytes, digest: str) -> None:
    assert keccak256(message).hex() == digest


@given(st.binary(max_size=600))
def test_sponge_matches_hashlib_sha3(data: bytes) -> None:
    """Same permutation with SHA-3 domain padding must equal hashlib (covers multi-block)."""
    assert _sponge256(data, 0x06) == hashlib.sha3_256(data).digest()


def test_keccak_is_not_sha3() -> None:
    assert keccak256(b"") != hashlib.sha3_256(b"").digest()


@pytest.mark.parametrize(
    "address",
    [  # EIP-55 test vectors
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_eip55_vectors(address: str) -> None:
    assert to_checksum_address(address.lower()) == address
    assert to_checksum_address(address.upper()[2:]) == address


@given(st.binary(max_size=32))
def test_sandbox_evm_address(seed: bytes) -> None:
    address = sandbox_address("evm", seed)
    assert re.fullmatch(r"0xTEST[0-9a-f]{36}", address)  # 42 characters, but not hex
    with pytest.raises(ValueError):
        to_checksum_address(address)


# --------------------------------------------------------------------------- sandbox API


def test_sandbox_solana_address() -> None:
    address = sandbox_address("solana", b"seed")
    assert address.startswith("TEST0") and 32 <= len(address) <= 44
    assert set(address[5:]) <= set(BITCOIN_ALPHABET)
    with pytest.raises(ValueError):
        b58decode(address)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_deterministic_per_seed(kind: str) -> None:
    assert sandbox_address(kind, b"order-42") == sandbox_address(kind, b"order-42")
    assert sandbox_address(kind, b"order-42") == sandbox_address(kind, bytearray(b"order-42"))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_different_seeds_give_different_addresses(kind: str) -> None:
    addresses = {sandbox_address(kind, i.to_bytes(4, "big")) for i in range(200)}
    assert len(addresses) == 200


def test_kinds_are_domain_separated() -> None:
    bitcoin = segwit_decode("bcrt", sandbox_address("bitcoin", b"s"))[1]
    litecoin = segwit_decode("rltc", sandbox_address("litecoin", b"s"))[1]
    evm = bytes.fromhex(sandbox_address("evm", b"s")[6:])
    assert len({bitcoin[:18], litecoin[:18], evm}) == 3


def test_pinned_outputs() -> None:
    """Guard against accidental changes of the derivation (addresses stored in sandbox DBs)."""
    assert sandbox_address("bitcoin", b"x") == "bcrt1q3hyem8whxa4g3qkg4ggn3fjywaut8clvl0hvpx"
    assert sandbox_address("evm", b"x") == "0xTEST42b3904678966edb603cfb72524560fda558"
    assert sandbox_address("tron", b"x") == "TEST0ui5K7czutKMGSGG18Pw7BcHxE9MCu"
    assert sandbox_memo(b"x") == "813790581"


@pytest.mark.parametrize("kind", ["", "btc", "Bitcoin", "ethereum", "dogecoin"])
def test_unknown_kind_raises(kind: str) -> None:
    with pytest.raises(ValueError):
        sandbox_address(kind, b"seed")


def test_seed_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        sandbox_address("evm", "seed")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sandbox_memo("seed")  # type: ignore[arg-type]


@given(st.binary(max_size=64))
def test_sandbox_memo_format(seed: bytes) -> None:
    memo = sandbox_memo(seed)
    assert re.fullmatch(r"[1-9][0-9]{8}", memo)
    assert sandbox_memo(seed) == memo
    assert int(memo) <= 2**32 - 1  # valid XRP destination tag


def test_sandbox_memo_varies() -> None:
    memos = {sandbox_memo(i.to_bytes(2, "big")) for i in range(500)}
    assert len(memos) == 500
